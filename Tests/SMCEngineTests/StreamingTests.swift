import Testing
@testable import SMCEngine

/// Swings of a batch result that a stream can know: all but the last real swing (its run may still grow) and the
/// reference's fake swing on the last candle.
func confirmableSwings(_ batch: SwingHighsLows) -> [(index: Int, kind: Int, level: Double)] {
    let n = batch.count
    var swings = (0..<n).filter { !batch.highLow[$0].isNaN && $0 != n - 1 }
        .map { (index: $0, kind: Int(batch.highLow[$0]), level: batch.level[$0]) }
    if !swings.isEmpty { swings.removeLast() }
    return swings
}

struct StreamCheck {
    /// Replays `candles` through every streaming detector and compares with batch mode on the same candles.
    static func replayMatchesBatch(_ candles: CandleSeries, swingLength: Int,
                                   sourceLocation: SourceLocation = #_sourceLocation) throws {
        let n = candles.count
        // Swings.
        var swingStream = SwingStream(swingLength: swingLength)
        let swingEvents = swingStream.feed(candles)
        let batchSwings = SMC.swingHighsLows(candles, swingLength: swingLength)
        let expectedSwings = confirmableSwings(batchSwings)
        #expect(swingEvents.map(\.index) == expectedSwings.map(\.index), sourceLocation: sourceLocation)
        #expect(swingEvents.map(\.kind) == expectedSwings.map(\.kind), sourceLocation: sourceLocation)
        #expect(swingEvents.map(\.level) == expectedSwings.map(\.level), sourceLocation: sourceLocation)
        #expect(swingEvents.allSatisfy { $0.confirmedAt < n && ($0.index == 0 || $0.confirmedAt >= $0.index + swingLength) },
                sourceLocation: sourceLocation)

        // Fair value gaps, plain and joined.
        for join in [false, true] {
            var stream = FairValueGapStream(joinConsecutive: join)
            let events = stream.feed(candles)
            let batch = SMC.fairValueGaps(candles, joinConsecutive: join)
            var gaps: [Int] = []
            var mitigations: [Int: Int] = [:]
            for event in events {
                switch event {
                case .gap(let index, let confirmedAt, let direction, let top, let bottom):
                    gaps.append(index)
                    #expect(confirmedAt == index + (join ? 2 : 1), sourceLocation: sourceLocation)
                    #expect(Double(direction) == batch.direction[index] && top == batch.top[index]
                            && bottom == batch.bottom[index], "gap \(index)", sourceLocation: sourceLocation)
                case .mitigated(let index, let confirmedAt):
                    #expect(mitigations[index] == nil, sourceLocation: sourceLocation)
                    mitigations[index] = confirmedAt
                }
            }
            let expectedGaps = (0..<n).filter { !batch.direction[$0].isNaN && !(join && $0 == n - 2) }
            #expect(gaps == expectedGaps, "join \(join)", sourceLocation: sourceLocation)
            for index in expectedGaps {
                let expected = Int(batch.mitigatedIndex[index])
                #expect(mitigations[index] == (expected == 0 ? nil : expected), "gap \(index) mitigation",
                        sourceLocation: sourceLocation)
            }
        }

        // BOS / CHoCH, both break modes.
        for closeBreak in [true, false] {
            var stream = StructureBreakStream(swingLength: swingLength, closeBreak: closeBreak)
            let events = stream.feed(candles)
            let batch = SMC.breaksOfStructure(candles, swings: batchSwings, closeBreak: closeBreak)
            var emitted = Set<Int>()
            for e in events {
                emitted.insert(e.index)
                let batchDirection = e.kind == .bos ? batch.bos[e.index] : batch.choch[e.index]
                #expect(batchDirection == Double(e.direction) && batch.level[e.index] == e.level
                        && batch.brokenIndex[e.index] == Double(e.brokenIndex), "event \(e.index)",
                        sourceLocation: sourceLocation)
                #expect(e.confirmedAt >= e.brokenIndex && e.confirmedAt < n, sourceLocation: sourceLocation)
            }
            // Batch events the stream did not emit are exactly those a later event could still drop.
            let known = confirmableSwings(batchSwings).map(\.index)
            for i in 0..<n where !(batch.bos[i].isNaN && batch.choch[i].isNaN) {
                let later = known.filter { $0 > Int(batch.brokenIndex[i]) - 2 }.count
                #expect(emitted.contains(i) == (later >= 2), "batch event \(i), close break \(closeBreak)",
                        sourceLocation: sourceLocation)
            }
            #expect(emitted.count == events.count, sourceLocation: sourceLocation)
        }

        // Per-candle families: every row at once.
        for tf in ["15m", "1h", "4h", "1D", "W", "1M"] {
            let frame = try TimeFrame(parsing: tf)
            var stream = PreviousHighLowStream(timeFrame: frame)
            let rows = stream.feed(candles)
            let batch = SMC.previousHighLow(candles, timeFrame: frame)
            #expect(same(rows.map(\.previousHigh), batch.previousHigh), "\(tf)", sourceLocation: sourceLocation)
            #expect(same(rows.map(\.previousLow), batch.previousLow), "\(tf)", sourceLocation: sourceLocation)
            #expect(rows.map { $0.brokenHigh ? 1.0 : 0.0 } == batch.brokenHigh, "\(tf)", sourceLocation: sourceLocation)
            #expect(rows.map { $0.brokenLow ? 1.0 : 0.0 } == batch.brokenLow, "\(tf)", sourceLocation: sourceLocation)
        }
        for name in ["London", "Sydney", "New York kill zone"] {
            let session = try TradingSession(named: name)
            var stream = SessionStream(session: session)
            let rows = stream.feed(candles)
            let batch = try SMC.sessions(candles, session: session)
            #expect(rows.map { $0.active ? 1.0 : 0.0 } == batch.active, sourceLocation: sourceLocation)
            #expect(rows.map(\.high) == batch.high && rows.map(\.low) == batch.low, sourceLocation: sourceLocation)
        }
    }
}

/// A random walk of 15-minute candles.
func randomWalk(count: Int, seed: UInt64, start: Candle? = nil, startIndex: Int = 0) -> [Candle] {
    var generator = SplitMix(seed: seed)
    func uniform() -> Double { Double(generator.next() >> 11) / Double(1 << 53) }
    var price = start?.close ?? 1.1
    var time = start.map { $0.time + 900 } ?? 1_700_006_400
    var candles: [Candle] = []
    for _ in 0..<count {
        let open = price
        // Coarse ticks make ties (equal highs, lows, levels) common.
        price = ((price + (uniform() - 0.5) * 0.004) * 10_000).rounded() / 10_000
        let high = ((Swift.max(open, price) + uniform() * 0.001) * 10_000).rounded() / 10_000
        let low = ((Swift.min(open, price) - uniform() * 0.001) * 10_000).rounded() / 10_000
        candles.append(Candle(time: time, open: open, high: high, low: low, close: price, volume: 1))
        time += 900
    }
    return candles
}

@Suite("Streaming mode")
struct StreamingTests {
    @Test func replayOfTheEURUSDHistoryMatchesBatch() throws {
        try StreamCheck.replayMatchesBatch(try eurusd.get(), swingLength: 5)
    }

    @Test(arguments: [1, 3, 10])
    func replayOfTheFixtureSliceMatchesBatch(swingLength: Int) throws {
        let slice = try CandleCSV.parse(readText(TestPaths.fixtures.appendingPathComponent("eurusd_slice.csv")))
        try StreamCheck.replayMatchesBatch(slice, swingLength: swingLength)
    }

    @Test(arguments: [(UInt64(1), 2), (2, 3), (3, 5), (4, 1)])
    func replayOfRandomWalksMatchesBatch(seed: UInt64, swingLength: Int) throws {
        try StreamCheck.replayMatchesBatch(CandleSeries(randomWalk(count: 3000, seed: seed)), swingLength: swingLength)
    }

    /// No event depends on a candle after its `confirmedAt`: replacing everything after a cut by another random
    /// future never changes, in batch mode, what the stream had confirmed up to the cut.
    @Test(arguments: [UInt64(11), 12, 13, 14, 15, 16])
    func eventsDoNotDependOnLaterCandles(seed: UInt64) {
        let swingLength = Int(seed % 3) + 2
        let history = randomWalk(count: 800, seed: seed)
        var swingStream = SwingStream(swingLength: swingLength)
        var gapStream = FairValueGapStream()
        var joinedStream = FairValueGapStream(joinConsecutive: true)
        var breakStream = StructureBreakStream(swingLength: swingLength)
        var swings: [SwingEvent] = [], gaps: [FairValueGapEvent] = [], joined: [FairValueGapEvent] = []
        var breaks: [StructureBreakEvent] = []
        for candle in history {
            swings += swingStream.feed(candle)
            gaps += gapStream.feed(candle)
            joined += joinedStream.feed(candle)
            breaks += breakStream.feed(candle)
        }
        for cut in stride(from: 100, to: 800, by: 70) {
            for futureSeed in [seed &* 31 &+ UInt64(cut), seed &* 37 &+ UInt64(cut) &+ 1] {
                let future = randomWalk(count: 300, seed: futureSeed, start: history[cut])
                let alternative = CandleSeries(Array(history[0...cut]) + future)
                let batchSwings = SMC.swingHighsLows(alternative, swingLength: swingLength)
                for s in swings where s.confirmedAt <= cut {
                    #expect(batchSwings.highLow[s.index] == Double(s.kind) && batchSwings.level[s.index] == s.level,
                            "swing \(s.index) confirmed at \(s.confirmedAt), cut \(cut)")
                }
                for (events, join) in [(gaps, false), (joined, true)] {
                    let batch = SMC.fairValueGaps(alternative, joinConsecutive: join)
                    for event in events {
                        switch event {
                        case .gap(let index, let confirmedAt, let direction, let top, let bottom) where confirmedAt <= cut:
                            #expect(batch.direction[index] == Double(direction) && batch.top[index] == top
                                    && batch.bottom[index] == bottom, "gap \(index), cut \(cut)")
                        case .mitigated(let index, let confirmedAt) where confirmedAt <= cut:
                            #expect(batch.mitigatedIndex[index] == Double(confirmedAt), "mitigation \(index), cut \(cut)")
                        default:
                            break
                        }
                    }
                }
                let batchBreaks = SMC.breaksOfStructure(alternative, swings: batchSwings)
                for e in breaks where e.confirmedAt <= cut {
                    let direction = e.kind == .bos ? batchBreaks.bos[e.index] : batchBreaks.choch[e.index]
                    #expect(direction == Double(e.direction) && batchBreaks.level[e.index] == e.level
                            && batchBreaks.brokenIndex[e.index] == Double(e.brokenIndex),
                            "structure break \(e.index) confirmed at \(e.confirmedAt), cut \(cut)")
                }
            }
        }
    }
}
