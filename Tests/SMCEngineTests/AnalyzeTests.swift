import Foundation
import Testing
@testable import SMCEngine

/// Reads our CSV back: each cell parsed as its column's type (float32 columns as `Float`), empty = NaN.
func parseOutputCSV(_ csv: String, kinds: [ReferenceTable.Kind]) throws -> (names: [String], columns: [[Double]]) {
    var lines = csv.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.last == "", "ends with a newline")
    lines.removeLast()
    let names = lines[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    var columns = [[Double]](repeating: [], count: names.count)
    for line in lines.dropFirst() {
        let cells = line.split(separator: ",", omittingEmptySubsequences: false)
        guard cells.count == names.count else { throw FixtureError(description: "bad line \(line)") }
        for (c, cell) in cells.enumerated() {
            if cell.isEmpty {
                columns[c].append(.nan)
            } else if kinds[c] == .float32 {
                guard let v = Float(cell) else { throw FixtureError(description: "bad float32 \(cell)") }
                columns[c].append(Double(v))
            } else {
                guard let v = Double(cell) else { throw FixtureError(description: "bad number \(cell)") }
                columns[c].append(v)
            }
        }
    }
    return (names, columns)
}

func bitEqual(_ a: Double, _ b: Double) -> Bool { a.isNaN ? b.isNaN : a.bitPattern == b.bitPattern }

let eurusdSlice: Result<CandleSeries, any Error> = Result {
    try CandleCSV.parse(readText(TestPaths.fixtures.appendingPathComponent("eurusd_slice.csv")))
}

@Suite("smc-client analyze, as engine API")
struct AnalyzeTests {
    func refused(_ code: String, containing text: String, sourceLocation: SourceLocation = #_sourceLocation,
                 _ make: () throws -> AnalyzeRequest) {
        do {
            _ = try make()
            Issue.record("expected \(code)", sourceLocation: sourceLocation)
        } catch let error as SMCParameterError {
            #expect(error.code == code, sourceLocation: sourceLocation)
            #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func invalidOptionsAreRefusedWithAClearMessage() {
        refused("unknown_indicator", containing: "valid: fvg, swing_highs_lows, bos_choch, ob, liquidity, previous_high_low, sessions, retracements") {
            try AnalyzeRequest(indicator: "order_blocks")
        }
        refused("missing_indicator", containing: "--summary") { try AnalyzeRequest() }
        refused("incomplete_session", containing: "--start needs --end") {
            try AnalyzeRequest(indicator: "sessions", start: "08:00")
        }
        refused("incomplete_session", containing: "--end needs --start") {
            try AnalyzeRequest(indicator: "sessions", end: "08:00")
        }
        refused("missing_session", containing: "London") { try AnalyzeRequest(indicator: "sessions") }
        refused("conflicting_options", containing: "custom session") {
            try AnalyzeRequest(indicator: "sessions", session: "London", start: "08:00", end: "09:00")
        }
        refused("invalid_session", containing: "unknown session 'Paris'") {
            try AnalyzeRequest(indicator: "sessions", session: "Paris")
        }
        refused("invalid_time", containing: "25:00") {
            try AnalyzeRequest(indicator: "sessions", start: "25:00", end: "26:00")
        }
        refused("invalid_time_zone", containing: "Mars/Olympus") {
            try AnalyzeRequest(indicator: "sessions", session: "London", timeZone: "Mars/Olympus")
        }
        refused("option_not_applicable", containing: "--time-frame does not apply to ob") {
            try AnalyzeRequest(indicator: "ob", timeFrame: "4h")
        }
        refused("option_not_applicable", containing: "--close-break/--no-close-break does not apply to fvg") {
            try AnalyzeRequest(indicator: "fvg", closeBreak: false)
        }
        refused("option_not_applicable", containing: "--swing-length does not apply to sessions") {
            try AnalyzeRequest(indicator: "sessions", swingLength: 5, session: "London")
        }
        refused("option_not_applicable", containing: "does not apply to --summary") {
            try AnalyzeRequest(summary: true, rangePercent: 0.02)
        }
        refused("conflicting_options", containing: "--summary and --indicator") {
            try AnalyzeRequest(indicator: "fvg", summary: true)
        }
        refused("invalid_swing_length", containing: "at least 1") { try AnalyzeRequest(indicator: "ob", swingLength: 0) }
        refused("invalid_range_percent", containing: "finite") {
            try AnalyzeRequest(indicator: "liquidity", rangePercent: .nan)
        }
        refused("invalid_format", containing: "csv, json") { try AnalyzeRequest(indicator: "fvg", format: "xml") }
        refused("invalid_time_frame", containing: "1Q") { try AnalyzeRequest(indicator: "previous_high_low", timeFrame: "1Q") }
    }

    @Test func defaultsAreTheReferences() throws {
        let request = try AnalyzeRequest(indicator: "bos_choch")
        #expect(request.mode == .indicator(.bosChoch) && request.format == .csv)
        #expect(request.parameters == ReferenceParameters())
        #expect(ReferenceParameters().swingLength == 50 && ReferenceParameters().closeBreak)
        #expect(try AnalyzeRequest(summary: true, swingLength: 7, format: "json").mode == .summary)
    }

    /// Each option changes the output, to exactly what the batch detector gives with that parameter.
    @Test func everyOptionReachesTheDetector() throws {
        let candles = try eurusdSlice.get()
        func output(_ request: AnalyzeRequest) throws -> String { try request.output(for: candles) }
        let swings5 = SMC.swingHighsLows(candles, swingLength: 5)
        let cases: [(AnalyzeRequest, AnalyzeRequest, ReferenceTable)] = try [
            (AnalyzeRequest(indicator: "fvg", joinConsecutive: true), AnalyzeRequest(indicator: "fvg"),
             SMC.fairValueGaps(candles, joinConsecutive: true).referenceTable),
            (AnalyzeRequest(indicator: "swing_highs_lows", swingLength: 5), AnalyzeRequest(indicator: "swing_highs_lows"),
             swings5.referenceTable),
            (AnalyzeRequest(indicator: "bos_choch", swingLength: 5), AnalyzeRequest(indicator: "bos_choch"),
             SMC.breaksOfStructure(candles, swings: swings5).referenceTable),
            (AnalyzeRequest(indicator: "bos_choch", swingLength: 5, closeBreak: false),
             AnalyzeRequest(indicator: "bos_choch", swingLength: 5, closeBreak: true),
             SMC.breaksOfStructure(candles, swings: swings5, closeBreak: false).referenceTable),
            (AnalyzeRequest(indicator: "ob", swingLength: 5), AnalyzeRequest(indicator: "ob"),
             SMC.orderBlocks(candles, swings: swings5).referenceTable),
            (AnalyzeRequest(indicator: "ob", swingLength: 5, closeMitigation: true),
             AnalyzeRequest(indicator: "ob", swingLength: 5),
             SMC.orderBlocks(candles, swings: swings5, closeMitigation: true).referenceTable),
            (AnalyzeRequest(indicator: "liquidity", swingLength: 5), AnalyzeRequest(indicator: "liquidity"),
             SMC.liquidity(candles, swings: swings5).referenceTable),
            (AnalyzeRequest(indicator: "liquidity", swingLength: 5, rangePercent: 0.03),
             AnalyzeRequest(indicator: "liquidity", swingLength: 5),
             SMC.liquidity(candles, swings: swings5, rangePercent: 0.03).referenceTable),
            (AnalyzeRequest(indicator: "retracements", swingLength: 5), AnalyzeRequest(indicator: "retracements"),
             SMC.retracements(candles, swings: swings5).referenceTable),
            (AnalyzeRequest(indicator: "previous_high_low", timeFrame: "4h"), AnalyzeRequest(indicator: "previous_high_low"),
             SMC.previousHighLow(candles, timeFrame: TimeFrame(parsing: "4h")).referenceTable),
            (AnalyzeRequest(indicator: "sessions", session: "Tokyo"), AnalyzeRequest(indicator: "sessions", session: "London"),
             SMC.sessions(candles, session: TradingSession(named: "Tokyo")).referenceTable),
            (AnalyzeRequest(indicator: "sessions", start: "22:30", end: "03:15"),
             AnalyzeRequest(indicator: "sessions", session: "London"),
             SMC.sessions(candles, session: TradingSession(start: 22 * 60 + 30, end: 3 * 60 + 15)).referenceTable),
            (AnalyzeRequest(indicator: "sessions", session: "London", timeZone: "America/New_York"),
             AnalyzeRequest(indicator: "sessions", session: "London"),
             SMC.sessions(candles, session: TradingSession(named: "London"),
                          timeZone: SessionTimeZone("America/New_York")).referenceTable),
        ]
        for (with, without, expected) in cases {
            let got = try output(with)
            #expect(got == expected.csv(), "\(with.mode) \(with.parameters)")
            #expect(got != (try output(without)), "option changes the output: \(with.parameters)")
        }
    }

    /// The CSV parsed back (each column as its type) is the batch result bit for bit, and has the reference's
    /// header and one line per candle; the reference's own result file for the call is matched too.
    @Test(arguments: ReferenceIndicator.allCases)
    func csvRoundTripsBitForBit(indicator: ReferenceIndicator) throws {
        let candles = try eurusdSlice.get()
        var p = ReferenceParameters()
        p.swingLength = 5
        p.session = "London"
        let table = try SMC.reference(indicator, candles: candles, parameters: p)
        let request = try AnalyzeRequest(indicator: indicator.rawValue,
                                         swingLength: [.fvg, .previousHighLow, .sessions].contains(indicator) ? nil : 5,
                                         session: indicator == .sessions ? "London" : nil)
        let csv = try request.output(for: candles)
        let parsed = try parseOutputCSV(csv, kinds: table.columns.map(\.kind))
        #expect(parsed.names == table.columnNames)
        for (c, column) in table.columns.enumerated() {
            #expect(parsed.columns[c].count == candles.count)
            let differing = zip(parsed.columns[c], column.values).filter { !bitEqual($0, $1) }.count
            #expect(differing == 0, "\(indicator) \(column.name)")
        }
    }

    @Test func csvMatchesTheReferenceResultFileOnEURUSD() throws {
        let candles = try eurusd.get()
        let csv = try AnalyzeRequest(indicator: "liquidity", swingLength: 5).output(for: candles)
        let expected = try ExpectedTable(url: TestPaths.conformance.appendingPathComponent("liquidity_result_data.csv"))
        let got = try ExpectedTable(csv: csv)
        #expect(got.names == expected.names && got.rowCount == expected.rowCount)
        for c in expected.columns.indices {
            #expect(zip(got.columns[c], expected.columns[c]).allSatisfy { matches($0, $1) })
        }
    }

    @Test(arguments: [ReferenceIndicator.liquidity, .ob, .retracements, .sessions])
    func jsonHasTheSameCells(indicator: ReferenceIndicator) throws {
        let candles = try eurusdSlice.get()
        var p = ReferenceParameters()
        p.swingLength = 5
        p.session = "London"
        let table = try SMC.reference(indicator, candles: candles, parameters: p)
        let request = try AnalyzeRequest(indicator: indicator.rawValue,
                                         swingLength: indicator == .sessions ? nil : 5,
                                         session: indicator == .sessions ? "London" : nil, format: "json")
        let json = try request.output(for: candles)
        // JSONDecoder parses numbers exactly (corelibs' JSONSerialization does not always).
        struct Table: Decodable {
            var indicator: String
            var columns: [String]
            var types: [String]
            var rows: [[Double?]]
        }
        let decoded = try JSONDecoder().decode(Table.self, from: Data(json.utf8))
        #expect(decoded.indicator == indicator.rawValue && decoded.columns == table.columnNames)
        #expect(decoded.types == table.columns.map { $0.kind == .float32 ? "float32" : $0.kind == .integer ? "integer" : "float64" })
        #expect(decoded.rows.count == candles.count)
        var differing = 0
        for (r, row) in decoded.rows.enumerated() {
            for (c, cell) in row.enumerated() {
                let expected = table.columns[c].values[r]
                let value = cell.map { decoded.types[c] == "float32" ? Double(Float($0)) : $0 } ?? .nan
                if !bitEqual(value, expected) { differing += 1 }
            }
        }
        #expect(differing == 0)
    }

    @Test func jsonEscapesStrings() {
        #expect(JSONString.quoted("a\"b\\c\n\u{1}") == "\"a\\\"b\\\\c\\n\\u0001\"")
    }
}

@Suite("Market summary")
struct MarketSummaryTests {
    /// 15-minute candles climbing in waves: each wave makes a higher high and a higher low.
    func uptrend(waves: Int = 40, barsPerLeg: Int = 12) -> CandleSeries {
        var candles: [Candle] = []
        var price = 1.0
        var time: Int64 = 1_700_006_400  // a Wednesday, 00:00 UTC
        for wave in 0..<waves {
            for leg in 0..<2 {
                for _ in 0..<barsPerLeg {
                    let step = leg == 0 ? 0.003 : -0.002
                    let open = price
                    price += step
                    candles.append(Candle(time: time, open: open, high: Swift.max(open, price) + 0.0005,
                                          low: Swift.min(open, price) - 0.0005, close: price, volume: Double(wave)))
                    time += 900
                }
            }
        }
        return CandleSeries(candles)
    }

    @Test func uptrendIsBullishOnEveryTimeframe() {
        let summary = MarketSummary(uptrend(), swingLength: 3)
        #expect(summary.timeFrame == "15m")
        #expect(summary.biases.map(\.timeFrame) == ["15m", "1h", "4h", "1D"])
        #expect(summary.biases[0].bias == .bullish && summary.biases[0].swingLength == 3)
        #expect(summary.biases[0].reason.hasPrefix("bullish BOS: close above swing high"))
        #expect(summary.lastBreak?.direction == 1)
        #expect(summary.biases[1].bias == .bullish)
        // 960 candles of 15m = 10 days: too few 1D candles for a swing, so no bias there.
        #expect(summary.biases[3].bias == .neutral && summary.biases[3].reason.contains("no structure break"))
    }

    @Test func higherTimeframesAggregateOnUTCBoundaries() {
        let candles = uptrend(waves: 4)
        let hours = MarketSummary.aggregate(candles, seconds: 3600)
        #expect(hours.count == candles.count / 4)
        for h in 0..<hours.count {
            let part = (4 * h)..<(4 * h + 4)
            #expect(hours.time[h] == candles.time[4 * h] && hours.time[h] % 3600 == 0)
            #expect(hours.open[h] == candles.open[4 * h] && hours.close[h] == candles.close[4 * h + 3])
            #expect(hours.high[h] == part.map { candles.high[$0] }.max() && hours.low[h] == part.map { candles.low[$0] }.min())
            #expect(hours.volume[h] == part.map { candles.volume[$0] }.reduce(0, +))
        }
        let weeks = MarketSummary.aggregate(candles, seconds: 604_800)
        // Weeks start on Monday 00:00 UTC.
        #expect(weeks.time.allSatisfy { CivilTime.weekday(ofDay: CivilTime.day(of: $0)) == 0 && $0 % 86_400 == 0 })
    }

    @Test func zonesAreUnmitigatedAndNearestFirst() throws {
        let candles = try eurusd.get()
        let summary = MarketSummary(candles, swingLength: 20)
        #expect(!summary.zones.isEmpty)
        let n = candles.count
        for zone in summary.zones {
            let i = n - 1 - zone.ageCandles
            #expect(candles.time[i] == zone.time && zone.top >= zone.bottom)
            if zone.kind == .fairValueGap {
                // No candle from i + 2 on traded into it.
                let touched = ((i + 2)..<n).contains {
                    zone.direction == 1 ? candles.low[$0] <= zone.top : candles.high[$0] >= zone.bottom
                }
                #expect(!touched, "gap at \(i)")
            }
        }
        #expect(zip(summary.zones, summary.zones.dropFirst()).allSatisfy { $0.distance <= $1.distance })
        if let above = summary.liquidityAbove { #expect(above.level > summary.lastClose && above.swings >= 2) }
        if let below = summary.liquidityBelow { #expect(below.level < summary.lastClose && below.swings >= 2) }
        #expect(summary.liquidityAbove != nil || summary.liquidityBelow != nil)
    }

    @Test func textAndJSONRenderEverything() throws {
        let candles = try eurusd.get()
        let request = try AnalyzeRequest(summary: true, swingLength: 20)
        let text = try request.output(for: candles)
        let summary = MarketSummary(candles, swingLength: 20)
        for b in summary.biases { #expect(text.contains("  \(b.timeFrame) ") && text.contains(b.reason)) }
        #expect(text.contains("Last structure break (15m)") && text.contains("Active zones") && text.contains("above:"))
        #expect(text.hasSuffix("\n"))

        let json = try AnalyzeRequest(summary: true, swingLength: 20, format: "json").output(for: candles)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["candles"] as? Int == candles.count && object["timeFrame"] as? String == "15m")
        let biases = try #require(object["biases"] as? [[String: Any]])
        #expect(biases.map { $0["timeFrame"] as? String } == summary.biases.map(\.timeFrame))
        #expect((object["zones"] as? [Any])?.count == summary.zones.count)
        #expect(object["lastBreak"] is [String: Any] && object["liquidityAbove"] != nil)
    }

    @Test func emptyAndTinyInputsDoNotCrash() {
        #expect(MarketSummary(CandleSeries()).text() == "no candles\n")
        let few = CandleSeries(randomWalk(count: 5, seed: 1))
        let summary = MarketSummary(few, swingLength: 50)
        #expect(summary.biases.first?.bias == .neutral && summary.zones.allSatisfy { $0.ageCandles < 5 })
        _ = summary.json()
    }

    /// The summary's structure uses exactly the swings a stream has confirmed after the same candles.
    @Test(arguments: [(UInt64(3), 2), (4, 5), (5, 1)])
    func confirmedSwingsAreWhatTheStreamEmitted(seed: UInt64, swingLength: Int) {
        let candles = CandleSeries(randomWalk(count: 1500, seed: seed))
        var stream = SwingStream(swingLength: swingLength)
        let emitted = stream.feed(candles)
        let confirmed = SMC.swingHighsLows(candles, swingLength: swingLength).confirmed
        let positions = (0..<candles.count).filter { !confirmed.highLow[$0].isNaN }
        #expect(positions == emitted.map(\.index))
        #expect(positions.map { confirmed.highLow[$0] } == emitted.map { Double($0.kind) })
        #expect(positions.map { confirmed.level[$0] } == emitted.map(\.level))
    }
}
