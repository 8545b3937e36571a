import Testing
@testable import SMCEngine

@Suite("Reference tables and calls by name")
struct ReferenceTableTests {
    @Test func cellsArePrintedAsPandasWritesThem() {
        #expect(ReferenceTable.format(.nan, kind: .float64) == "")
        #expect(ReferenceTable.format(153, kind: .float64) == "153.0")
        #expect(ReferenceTable.format(-1, kind: .float64) == "-1.0")
        #expect(ReferenceTable.format(0.97345555, kind: .float32) == "0.97345555")
        #expect(ReferenceTable.format(Double(Float(0.97369)), kind: .float32) == "0.97369")
        #expect(ReferenceTable.format(Double(Float(0.97369)), kind: .float64) == "0.9736899733543396")
        #expect(ReferenceTable.format(1, kind: .integer) == "1")
        #expect(ReferenceTable.format(1e-05, kind: .float64) == "1e-05")
    }

    @Test func csvHasTheReferenceHeaderAndOneLinePerCandle() throws {
        let candles = try CandleCSV.parse(readText(TestPaths.fixtures.appendingPathComponent("eurusd_slice.csv")))
        var p = ReferenceParameters()
        p.swingLength = 5
        let csv = try SMC.reference(.liquidity, candles: candles, parameters: p).csv()
        let lines = csv.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first == "Liquidity,Level,End,Swept")
        #expect(lines.count == candles.count + 2)  // header, rows, final empty piece
        // Parsing our own CSV back gives the reference's values.
        let expected = try ExpectedTable(url: TestPaths.fixtures.appendingPathComponent("eurusd_slice__liquidity_5_0.02.csv"))
        p.rangePercent = 0.02
        let reparsed = try ExpectedTable(csv: SMC.reference(.liquidity, candles: candles, parameters: p).csv())
        #expect(reparsed.names == expected.names)
        for c in expected.columns.indices {
            #expect(zip(reparsed.columns[c], expected.columns[c]).allSatisfy { matches($0, $1) })
        }
    }

    @Test func everyIndicatorRunsByName() throws {
        let candles = try CandleCSV.parse(readText(TestPaths.fixtures.appendingPathComponent("synthetic_1h.csv")))
        var p = ReferenceParameters()
        p.session = "Tokyo"
        let columnCounts: [ReferenceIndicator: Int] = [
            .fvg: 4, .swingHighsLows: 2, .bosChoch: 4, .ob: 6, .liquidity: 4, .previousHighLow: 4, .sessions: 3,
            .retracements: 3,
        ]
        for indicator in ReferenceIndicator.allCases {
            let table = try SMC.reference(indicator, candles: candles, parameters: p)
            #expect(table.rowCount == candles.count)
            #expect(table.columns.count == columnCounts[indicator])
        }
        var custom = ReferenceParameters()
        custom.start = "08:00"
        custom.end = "09:30"
        let active = try SMC.reference(.sessions, candles: candles, parameters: custom).column(named: "Active")!
        #expect(active.values.contains(1) && active.values.contains(0))
        #expect(throws: SMCParameterError.self) { try SMC.reference(.sessions, candles: candles) }
        var bad = ReferenceParameters()
        bad.timeFrame = "1Q"
        #expect(throws: SMCParameterError.self) { try SMC.reference(.previousHighLow, candles: candles, parameters: bad) }
        bad = ReferenceParameters()
        bad.swingLength = 0
        #expect(throws: SMCParameterError.self) { try SMC.reference(.ob, candles: candles, parameters: bad) }
    }
}

@Suite("Tiny inputs")
struct TinyInputTests {
    /// Every family runs on 0 to 4 candles (the reference's own early-data case is 3 candles with swing length 1)
    /// and returns one row per candle.
    @Test(arguments: 0...4)
    func everyFamilyHandlesTinySeries(count: Int) throws {
        let candles = CandleSeries(randomWalk(count: count, seed: 99))
        var p = ReferenceParameters()
        p.swingLength = 1
        p.session = "London"
        for indicator in ReferenceIndicator.allCases {
            #expect(try SMC.reference(indicator, candles: candles, parameters: p).rowCount == count, "\(indicator)")
        }
    }
}
