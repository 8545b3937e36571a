import Foundation
import Testing
@testable import SMCEngine

/// Stream state through a plain JSONEncoder and back, as a server would store it between candles.
enum StreamState {
    static func roundTrip<S: Codable>(_ stream: S) throws -> (copy: S, bytes: Int, json: String) {
        let data = try JSONEncoder().encode(stream)
        return (try JSONDecoder().decode(S.self, from: data), data.count, String(decoding: data, as: UTF8.self))
    }

    /// Runs `stream` over `candles` twice in lockstep: uninterrupted, and replaced by its decoded JSON state
    /// before each candle in `restarts`. The decoded copy must equal the live stream (unless `compareStates` is
    /// false: a state holding NaN is not equal to itself) and the concatenated events must be those of the
    /// uninterrupted run, also as text, which tells -0.0 and NaN signs apart (and the only check with NaN).
    /// Returns the number of events and the state size in bytes at each restart.
    @discardableResult
    static func resume<S: StreamingDetector & Codable & Hashable>(
        _ stream: S, over candles: CandleSeries, restartingBefore restarts: Set<Int>, label: String,
        compareStates: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> (events: Int, sizes: [Int: Int]) {
        var uninterrupted = stream
        var resumed = stream
        var expected: [S.Event] = []
        var got: [S.Event] = []
        var sizes: [Int: Int] = [:]
        for i in 0..<candles.count {
            if restarts.contains(i) {
                let (copy, bytes, _) = try roundTrip(resumed)
                #expect(!compareStates || copy == uninterrupted, "\(label): state decoded before candle \(i)",
                        sourceLocation: sourceLocation)
                #expect(try roundTrip(copy).bytes == bytes, "\(label): re-encoded size before candle \(i)",
                        sourceLocation: sourceLocation)
                resumed = copy
                sizes[i] = bytes
            }
            expected += uninterrupted.feed(candles[i])
            got += resumed.feed(candles[i])
        }
        #expect("\(got)" == "\(expected)", "\(label): events as text", sourceLocation: sourceLocation)
        if compareStates {
            #expect(got == expected, "\(label): events", sourceLocation: sourceLocation)
            #expect(resumed == uninterrupted, "\(label): final state", sourceLocation: sourceLocation)
        }
        return (expected.count, sizes)
    }

    static func size<S: StreamingDetector & Encodable>(of stream: S, after count: Int, of candles: CandleSeries)
        throws -> Int {
        var stream = stream
        _ = stream.feed(candles[0..<count])
        return try JSONEncoder().encode(stream).count
    }
}

@Suite("Serialisable stream state")
struct StreamStateTests {
    static let cuts: Set<Int> = [1, 137, 5000, 12345, 20000]

    @Test(arguments: [5, 50])
    func swingsResumeFromJSON(swingLength: Int) throws {
        let candles = try eurusd.get()
        let (events, _) = try StreamState.resume(SwingStream(swingLength: swingLength), over: candles,
                                                 restartingBefore: Self.cuts, label: "swings \(swingLength)")
        #expect(events > 100)
    }

    @Test(arguments: [false, true])
    func fairValueGapsResumeFromJSON(joinConsecutive: Bool) throws {
        let candles = try eurusd.get()
        let (events, _) = try StreamState.resume(FairValueGapStream(joinConsecutive: joinConsecutive), over: candles,
                                                 restartingBefore: Self.cuts, label: "gaps join \(joinConsecutive)")
        #expect(events > 1000)
    }

    @Test(arguments: [(5, true), (5, false), (50, true)])
    func structureBreaksResumeFromJSON(swingLength: Int, closeBreak: Bool) throws {
        let candles = try eurusd.get()
        let (events, _) = try StreamState.resume(StructureBreakStream(swingLength: swingLength, closeBreak: closeBreak),
                                                 over: candles, restartingBefore: Self.cuts,
                                                 label: "breaks \(swingLength) close \(closeBreak)")
        #expect(events > 10)
    }

    @Test(arguments: [(5, false), (5, true), (50, false)])
    func orderBlocksResumeFromJSON(swingLength: Int, closeMitigation: Bool) throws {
        let candles = try eurusd.get()
        let stream = OrderBlockStream(swingLength: swingLength, closeMitigation: closeMitigation)
        let (events, _) = try StreamState.resume(stream, over: candles, restartingBefore: Self.cuts,
                                                 label: "order blocks \(swingLength) close \(closeMitigation)")
        #expect(events > 10)
    }

    @Test(arguments: [5, 50])
    func liquidityResumesFromJSON(swingLength: Int) throws {
        let candles = try eurusd.get()
        let stream = LiquidityStream(swingLength: swingLength, range: SMC.liquidityRange(candles))
        let (events, _) = try StreamState.resume(stream, over: candles, restartingBefore: Self.cuts,
                                                 label: "liquidity \(swingLength)")
        #expect(events > 10)
    }

    @Test(arguments: [5, 50])
    func retracementsResumeFromJSON(swingLength: Int) throws {
        let candles = try eurusd.get()
        let (events, _) = try StreamState.resume(RetracementStream(swingLength: swingLength), over: candles,
                                                 restartingBefore: Self.cuts, label: "retracements \(swingLength)")
        #expect(events > 20_000)
    }

    /// A restart before every candle of a short history, for the states of the warm-up.
    @Test func everyEarlyCandleIsARestartPoint() throws {
        let candles = try eurusd.get()[0..<400]
        let everywhere = Set(0..<400)
        try StreamState.resume(SwingStream(swingLength: 5), over: candles, restartingBefore: everywhere, label: "swings")
        try StreamState.resume(FairValueGapStream(joinConsecutive: true), over: candles, restartingBefore: everywhere,
                               label: "gaps")
        try StreamState.resume(StructureBreakStream(swingLength: 5), over: candles, restartingBefore: everywhere,
                               label: "breaks")
        try StreamState.resume(OrderBlockStream(swingLength: 5), over: candles, restartingBefore: everywhere,
                               label: "order blocks")
        try StreamState.resume(LiquidityStream(swingLength: 5, range: 0.001), over: candles,
                               restartingBefore: everywhere, label: "liquidity")
        try StreamState.resume(RetracementStream(swingLength: 5), over: candles, restartingBefore: everywhere,
                               label: "retracements")
    }

    /// The state holds what is still live, not the history: its size after 20000 candles is of the order of its
    /// size after 5000.
    @Test func stateSizeDoesNotGrowWithHistory() throws {
        let candles = try eurusd.get()
        let range = SMC.liquidityRange(candles)
        var lines: [String] = []
        func check<S: StreamingDetector & Encodable>(_ label: String, _ stream: S) throws {
            let early = try StreamState.size(of: stream, after: 5000, of: candles)
            let late = try StreamState.size(of: stream, after: 20000, of: candles)
            lines.append("\(label): \(early) B after 5000 candles, \(late) B after 20000")
            #expect(late <= 2 * early + 1024, "\(label): \(early) → \(late) bytes")
            #expect(late <= 16 * 1024, "\(label): \(late) bytes")
        }
        for swingLength in [5, 50] {
            try check("swings \(swingLength)", SwingStream(swingLength: swingLength))
            try check("breaks \(swingLength)", StructureBreakStream(swingLength: swingLength))
            try check("order blocks \(swingLength)", OrderBlockStream(swingLength: swingLength))
            try check("liquidity \(swingLength)", LiquidityStream(swingLength: swingLength, range: range))
            try check("retracements \(swingLength)", RetracementStream(swingLength: swingLength))
        }
        try check("gaps", FairValueGapStream())
        try check("gaps joined", FairValueGapStream(joinConsecutive: true))
        print("Stream state sizes (JSON):\n" + lines.joined(separator: "\n"))
    }

    /// Prices beyond the float32 range (levels round to infinity), sums and differences that overflow, and
    /// candles with NaN and infinite values: the state still goes through a plain JSONEncoder and comes back bit
    /// for bit.
    @Test(arguments: [UInt64(7), 8, 9])
    func nonFiniteStateEncodesWithAPlainJSONEncoder(seed: UInt64) throws {
        var candles: [Candle] = randomWalk(count: 1500, seed: seed).enumerated().map { i, c in
            // Around 1.6e308: float32 levels are infinite, sums of two levels overflow.
            let scale = i < 750 ? 1.45e308 : 1e300
            var c = Candle(time: c.time, open: c.open * scale, high: c.high * scale, low: c.low * scale,
                           close: c.close * scale, volume: Double(i % 7))
            if i % 97 == 13 { c.high = .nan }
            if i % 89 == 5 { c.low = -.infinity }
            if i % 101 == 50 { c.close = .infinity }
            if i % 83 == 9 { c.volume = .infinity }
            return c
        }
        candles.append(contentsOf: randomWalk(count: 500, seed: seed + 100, start: candles.last))
        let series = CandleSeries(candles)
        let restarts = Set(stride(from: 0, to: series.count, by: 7))
        for swingLength in [1, 3] {
            try StreamState.resume(SwingStream(swingLength: swingLength), over: series, restartingBefore: restarts,
                                   label: "swings", compareStates: false)
            try StreamState.resume(StructureBreakStream(swingLength: swingLength, closeBreak: false), over: series,
                                   restartingBefore: restarts, label: "breaks", compareStates: false)
            try StreamState.resume(OrderBlockStream(swingLength: swingLength), over: series,
                                   restartingBefore: restarts, label: "order blocks", compareStates: false)
            try StreamState.resume(LiquidityStream(swingLength: swingLength, range: 1e306), over: series,
                                   restartingBefore: restarts, label: "liquidity", compareStates: false)
            try StreamState.resume(RetracementStream(swingLength: swingLength), over: series,
                                   restartingBefore: restarts, label: "retracements", compareStates: false)
        }
        try StreamState.resume(FairValueGapStream(joinConsecutive: true), over: series, restartingBefore: restarts,
                               label: "gaps", compareStates: false)
        // The special values did reach the state.
        var blocks = OrderBlockStream(swingLength: 1)
        var retracements = RetracementStream(swingLength: 1)
        var texts = ""
        for i in 0..<series.count {
            _ = blocks.feed(series[i])
            _ = retracements.feed(series[i])
            if i % 50 == 0 { texts += try StreamState.roundTrip(blocks).json + StreamState.roundTrip(retracements).json }
        }
        #expect(texts.contains("\"inf\"") && texts.contains("\"-inf\"") && texts.contains("nan\""))
    }

    @Test func doublesRoundTripBitForBit() throws {
        struct Box: Codable, Hashable {
            @JSONSafe var values: [Double]
        }
        let values: [Double] = [0, -0.0, 1.1, 0.1 + 0.2, .leastNonzeroMagnitude, -.greatestFiniteMagnitude, .infinity, -.infinity,
                                .nan, -.nan, .signalingNaN, Double(bitPattern: 0x7ff8_0000_0000_1234),
                                Double(bitPattern: 0xfff0_0000_0000_0001)]
        let data = try JSONEncoder().encode(Box(values: values))
        let back = try JSONDecoder().decode(Box.self, from: data)
        #expect(back.values.map(\.bitPattern) == values.map(\.bitPattern))
        #expect(String(decoding: data, as: UTF8.self).contains(#""inf","-inf","nan","-nan","nan:7ff4000000000000""#))
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Box.self, from: Data(#"{"values":[1,"nan:0000000000000001"]}"#.utf8))
        }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Box.self, from: Data(#"{"values":["x"]}"#.utf8)) }
    }

    @Test func eventsAreCodable() throws {
        let candles = try eurusd.get()[0..<3000]
        func check<S: StreamingDetector>(_ stream: S) throws where S.Event: Codable {
            var stream = stream
            let events = stream.feed(candles)
            #expect(!events.isEmpty)
            #expect(try JSONDecoder().decode([S.Event].self, from: JSONEncoder().encode(events)) == events)
        }
        try check(SwingStream(swingLength: 5))
        try check(FairValueGapStream())
        try check(StructureBreakStream(swingLength: 5))
        try check(OrderBlockStream(swingLength: 5))
        try check(LiquidityStream(swingLength: 5, range: 0.002))
        let kind = try JSONEncoder().encode(StructureBreakEvent.Kind.choch)
        #expect(String(decoding: kind, as: UTF8.self) == #""choch""#)
    }
}
