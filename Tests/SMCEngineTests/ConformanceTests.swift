import Foundation
import Testing
@testable import SMCEngine

/// One test per result file of the reference's own fixtures (`shared/conformance/smartmoneyconcepts/eurusd-15m`).
/// A missing folder fails the tests: conformance must not silently go unchecked.
@Suite("Conformance with smartmoneyconcepts 0.0.27 on EURUSD 15m")
struct ConformanceTests {
    func check(_ file: String, sourceLocation: SourceLocation = #_sourceLocation,
               _ compute: (CandleSeries) throws -> any ReferenceTableConvertible) throws {
        let candles = try eurusd.get()
        let expected = try ExpectedTable(url: TestPaths.conformance.appendingPathComponent(file))
        let got = try compute(candles).referenceTable
        expectConforms(got, expected, label: file, sourceLocation: sourceLocation)
    }

    @Test func candleFileParses() throws {
        let candles = try eurusd.get()
        #expect(candles.count == 24_424)  // the file has no final newline after row 24,424
        // 2022.10.10 00:00:00 UTC
        #expect(candles.time.first == 1_665_360_000)
        #expect(candles.open.first == 0.97312)
    }

    @Test func fvg() throws {
        try check("fvg_result_data.csv") { SMC.fairValueGaps($0) }
    }

    @Test func fvgJoinConsecutive() throws {
        try check("fvg_consecutive_result_data.csv") { SMC.fairValueGaps($0, joinConsecutive: true) }
    }

    @Test func swingHighsLows() throws {
        try check("swing_highs_lows_result_data.csv") { SMC.swingHighsLows($0, swingLength: 5) }
    }

    @Test func bosChoch() throws {
        try check("bos_choch_result_data.csv") {
            SMC.breaksOfStructure($0, swings: SMC.swingHighsLows($0, swingLength: 5))
        }
    }

    @Test func orderBlocks() throws {
        try check("ob_result_data.csv") { SMC.orderBlocks($0, swings: SMC.swingHighsLows($0, swingLength: 5)) }
    }

    @Test func liquidity() throws {
        try check("liquidity_result_data.csv") { SMC.liquidity($0, swings: SMC.swingHighsLows($0, swingLength: 5)) }
    }

    @Test func previousHighLow4h() throws {
        try check("previous_high_low_result_data_4h.csv") {
            SMC.previousHighLow($0, timeFrame: try TimeFrame(parsing: "4h"))
        }
    }

    @Test func previousHighLow1D() throws {
        try check("previous_high_low_result_data_1D.csv") {
            SMC.previousHighLow($0, timeFrame: try TimeFrame(parsing: "1D"))
        }
    }

    @Test func previousHighLowW() throws {
        try check("previous_high_low_result_data_W.csv") {
            SMC.previousHighLow($0, timeFrame: try TimeFrame(parsing: "W"))
        }
    }

    @Test func sessionsLondon() throws {
        try check("sessions_result_data.csv") { try SMC.sessions($0, session: TradingSession(named: "London")) }
    }

    @Test func retracements() throws {
        try check("retracements_result_data.csv") {
            SMC.retracements($0, swings: SMC.swingHighsLows($0, swingLength: 5))
        }
    }
}
