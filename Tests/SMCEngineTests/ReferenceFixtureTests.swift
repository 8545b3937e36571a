import Foundation
import Testing
@testable import SMCEngine

/// Non-default parameters checked against outputs of the Python reference, generated once by
/// `Fixtures/generate.py` (same case list) and committed, so the tests need no Python.
struct FixtureCase: Sendable, CustomTestStringConvertible {
    var input: String
    var output: String
    var compute: @Sendable (CandleSeries) throws -> ReferenceTable

    var testDescription: String { "\(input) → \(output)" }

    /// The generator's file naming: `<input stem>__<output with ' '→'_', '/'→'_', ':' removed>.csv`.
    var expectedFile: String {
        let stem = input.replacingOccurrences(of: ".csv", with: "")
        let cleaned = output.replacingOccurrences(of: " ", with: "_").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: ":", with: "")
        return "\(stem)__\(cleaned).csv"
    }
}

private func swings(_ c: CandleSeries, _ n: Int) -> SwingHighsLows { SMC.swingHighsLows(c, swingLength: n) }
private func frame(_ text: String) throws -> TimeFrame { try TimeFrame(parsing: text) }

private let slice = "eurusd_slice.csv"
private let synthetic = "synthetic_1h.csv"

private let fixtureCasesA: [FixtureCase] = [
    .init(input: slice, output: "swing_highs_lows_3") { swings($0, 3).referenceTable },
    .init(input: slice, output: "swing_highs_lows_10") { swings($0, 10).referenceTable },
    .init(input: slice, output: "swing_highs_lows_1") { swings($0, 1).referenceTable },
    .init(input: slice, output: "swing_highs_lows_13") { swings($0, 13).referenceTable },
    .init(input: slice, output: "swing_highs_lows_50") { swings($0, 50).referenceTable },
    .init(input: slice, output: "bos_choch_20") { SMC.breaksOfStructure($0, swings: swings($0, 20)).referenceTable },
    .init(input: slice, output: "fvg") { SMC.fairValueGaps($0).referenceTable },
    .init(input: slice, output: "fvg_join") { SMC.fairValueGaps($0, joinConsecutive: true).referenceTable },
    .init(input: slice, output: "bos_choch_5_high_low") {
        SMC.breaksOfStructure($0, swings: swings($0, 5), closeBreak: false).referenceTable
    },
    .init(input: slice, output: "bos_choch_3") { SMC.breaksOfStructure($0, swings: swings($0, 3)).referenceTable },
    .init(input: slice, output: "ob_5_close_mitigation") {
        SMC.orderBlocks($0, swings: swings($0, 5), closeMitigation: true).referenceTable
    },
    .init(input: slice, output: "ob_3") { SMC.orderBlocks($0, swings: swings($0, 3)).referenceTable },
    .init(input: slice, output: "liquidity_5_0.02") {
        SMC.liquidity($0, swings: swings($0, 5), rangePercent: 0.02).referenceTable
    },
    .init(input: slice, output: "liquidity_3_0.005") {
        SMC.liquidity($0, swings: swings($0, 3), rangePercent: 0.005).referenceTable
    },
    .init(input: slice, output: "retracements_10") { SMC.retracements($0, swings: swings($0, 10)).referenceTable },
    .init(input: slice, output: "retracements_3") { SMC.retracements($0, swings: swings($0, 3)).referenceTable },
    .init(input: slice, output: "previous_high_low_15m") {
        SMC.previousHighLow($0, timeFrame: try frame("15m")).referenceTable
    },
    .init(input: slice, output: "previous_high_low_1h") {
        SMC.previousHighLow($0, timeFrame: try frame("1h")).referenceTable
    },
    .init(input: slice, output: "previous_high_low_7h") {
        SMC.previousHighLow($0, timeFrame: try frame("7h")).referenceTable
    },
    .init(input: slice, output: "previous_high_low_2D") {
        SMC.previousHighLow($0, timeFrame: try frame("2D")).referenceTable
    },
]
private let fixtureCasesB: [FixtureCase] = ["Sydney", "Tokyo", "New York", "Asian kill zone", "London open kill zone", "New York kill zone",
     "london close kill zone"].map { name in
    FixtureCase(input: slice, output: "sessions_\(name)") {
        try SMC.sessions($0, session: TradingSession(named: name)).referenceTable
    }
}
private let fixtureCasesC: [FixtureCase] = [
    .init(input: slice, output: "sessions_custom_22:30_03:15") {
        try SMC.sessions($0, session: TradingSession(named: "Custom", start: "22:30", end: "03:15")).referenceTable
    },
    .init(input: slice, output: "sessions_London_UTC+2") {
        try SMC.sessions($0, session: TradingSession(named: "London"), timeZone: SessionTimeZone("UTC+2"))
            .referenceTable
    },
    .init(input: slice, output: "sessions_London_GMT-3") {
        try SMC.sessions($0, session: TradingSession(named: "London"), timeZone: SessionTimeZone("GMT-3"))
            .referenceTable
    },
    .init(input: slice, output: "sessions_New York_America/New_York") {
        try SMC.sessions($0, session: TradingSession(named: "New York"),
                         timeZone: SessionTimeZone("America/New_York")).referenceTable
    },
    .init(input: synthetic, output: "fvg") { SMC.fairValueGaps($0).referenceTable },
    .init(input: synthetic, output: "swing_highs_lows_5") { swings($0, 5).referenceTable },
    .init(input: synthetic, output: "bos_choch_5") { SMC.breaksOfStructure($0, swings: swings($0, 5)).referenceTable },
    .init(input: synthetic, output: "ob_5") { SMC.orderBlocks($0, swings: swings($0, 5)).referenceTable },
    .init(input: synthetic, output: "ob_2_close_mitigation") {
        SMC.orderBlocks($0, swings: swings($0, 2), closeMitigation: true).referenceTable
    },
    .init(input: synthetic, output: "liquidity_5") { SMC.liquidity($0, swings: swings($0, 5)).referenceTable },
    .init(input: synthetic, output: "retracements_5") { SMC.retracements($0, swings: swings($0, 5)).referenceTable },
]
private let fixtureCasesD: [FixtureCase] = ["4h", "1D", "W", "2W", "W-MON", "1M", "MS"].map { tf in
    FixtureCase(input: synthetic, output: "previous_high_low_\(tf)") {
        SMC.previousHighLow($0, timeFrame: try frame(tf)).referenceTable
    }
}
private let fixtureCasesE: [FixtureCase] = [
    .init(input: synthetic, output: "sessions_Sydney") {
        try SMC.sessions($0, session: TradingSession(named: "Sydney")).referenceTable
    },
]
// Split in parts: one literal joined with `+` takes the type checker too long.
let fixtureCases: [FixtureCase] = fixtureCasesA + fixtureCasesB + fixtureCasesC + fixtureCasesD + fixtureCasesE

@Suite("Reference outputs for non-default parameters")
struct ReferenceFixtureTests {
    static let inputs: [String: Result<CandleSeries, any Error>] = Dictionary(
        uniqueKeysWithValues: [slice, synthetic].map { name in
            (name, Result { try CandleCSV.parse(readText(TestPaths.fixtures.appendingPathComponent(name))) })
        })

    @Test(arguments: fixtureCases)
    func matchesReference(_ fixture: FixtureCase) throws {
        let candles = try #require(Self.inputs[fixture.input]).get()
        let expected = try ExpectedTable(url: TestPaths.fixtures.appendingPathComponent(fixture.expectedFile))
        expectConforms(try fixture.compute(candles), expected, label: fixture.testDescription)
    }

    /// Every output the generator wrote is covered by a case here (and the other way round).
    @Test func everyGeneratedFileHasACase() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: TestPaths.fixtures.path)
            .filter { $0.contains("__") }
        #expect(Set(files) == Set(fixtureCases.map(\.expectedFile)))
    }
}
