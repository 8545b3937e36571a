import Testing
@testable import SMCEngine

@Suite("Candle CSV reader")
struct CandleCSVTests {
    /// 2022-10-10 00:00:00 UTC
    let day0: Int64 = 1_665_360_000

    @Test func readsMT5Export() throws {
        let text = """
            Date,Open,High,Low,Close,Tickvol,Volume,Spread
            2022.10.10 00:00:00,0.97312,0.97369,0.97312,0.97357,60,0,20
            2022.10.10 00:15:00,0.9735,0.97362,0.97328,0.97362,57,12,20
            """
        let s = try CandleCSV.parse(text)
        #expect(s.count == 2)
        #expect(s.time == [day0, day0 + 900])
        #expect(s.open == [0.97312, 0.9735])
        #expect(s.high == [0.97369, 0.97362])
        #expect(s.low == [0.97312, 0.97328])
        #expect(s.close == [0.97357, 0.97362])
        // `Volume`, not `Tickvol`, as the reference uses.
        #expect(s.volume == [0, 12])
    }

    @Test func readsTabSeparatedMT5WithSeparateDateAndTime() throws {
        let text = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
            + "2022.10.10\t00:15:00\t1.5\t2.5\t1.0\t2.0\t60\t7\t20\n"
        let s = try CandleCSV.parse(text)
        #expect(s.time == [day0 + 900])
        #expect(s.volume == [7])
    }

    @Test func readsTradingViewEpochSecondsAndMilliseconds() throws {
        let seconds = try CandleCSV.parse("time,open,high,low,close,Volume\n1665360000,1,2,0.5,1.5,100\n1665360900,1,2,0.5,1.5,5\n")
        #expect(seconds.time == [day0, day0 + 900])
        #expect(seconds.volume == [100, 5])
        let millis = try CandleCSV.parse("time,open,high,low,close\n1665360000000,1,2,0.5,1.5\n")
        #expect(millis.time == [day0])
        #expect(millis.volume == [0])
    }

    @Test func readsISO8601WithZoneDesignators() throws {
        let text = """
            time,open,high,low,close,Volume
            2022-10-10T00:00:00Z,1,2,0.5,1.5,1
            2022-10-10T02:15:00+02:00,1,2,0.5,1.5,1
            2022-10-10 00:30:00.250,1,2,0.5,1.5,1
            2022-10-09T21:15-03:30,1,2,0.5,1.5,1
            """
        let s = try CandleCSV.parse(text)
        #expect(s.time == [day0, day0 + 900, day0 + 1800, day0 + 2700])
    }

    @Test func readsPlainDatesCaseInsensitiveSemicolonsCRLFAndBOM() throws {
        let text = "\u{FEFF}DATE;OPEN;HIGH;LOW;CLOSE;VOLUME\r\n2022-10-10;1;2;0.5;1.5;3\r\n2022-10-11;1;2;0.5;1.5;4\r\n\r\n"
        let s = try CandleCSV.parse(text)
        #expect(s.time == [day0, day0 + 86_400])
        #expect(s.volume == [3, 4])
    }

    @Test func quotedFieldsAndExtraColumns() throws {
        let text = "\"Date\",\"Open\",\"High\",\"Low\",\"Close\",\"Note\"\n\"2022-10-10\",\"1\",\"2\",\"0.5\",\"1.5\",\"a, b\"\n"
        let s = try CandleCSV.parse(text)
        #expect(s.count == 1)
        #expect(s.close == [1.5])
    }

    @Test func numbersRoundTripExactly() throws {
        // Long mantissas and exponents take the full parser; results must equal Swift's own conversion.
        let values = ["0.1", "1.0000000000000002", "123456.78901234567", "1e-3", "2.5E+2", "-0.97312", "7"]
        var text = "Date,Open,High,Low,Close\n"
        for (i, v) in values.enumerated() {
            text += "2022-10-\(10 + i),\(v),1e9,-1e9,\(v)\n"
        }
        let s = try CandleCSV.parse(text)
        #expect(s.open == values.map { Double($0)! })
    }

    private func error(_ text: String) -> CandleCSVError? {
        do {
            _ = try CandleCSV.parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func refusesMissingColumnsOnTheHeaderLine() {
        let e = error("Date,Open,High,Low\n2022-10-10,1,2,0.5\n")
        #expect(e?.line == 1)
        #expect(e?.reason == .missingColumn("close"))
        #expect(error("Open,High,Low,Close\n1,2,0.5,1.5\n")?.reason == .missingColumn("date"))
    }

    @Test func refusesUnparsableNumbersWithTheirLine() {
        let e = error("Date,Open,High,Low,Close\n2022-10-10,1,2,0.5,1.5\n\n2022-10-11,1,abc,0.5,1.5\n")
        #expect(e?.line == 4)
        #expect(e?.reason == .invalidNumber(column: "high", text: "abc"))
        #expect(e?.code == "invalid_number")
        #expect(error("Date,Open,High,Low,Close\n2022-10-10,nan,2,0.5,1.5\n")?.reason
            == .invalidNumber(column: "open", text: "nan"))
        #expect(error("Date,Open,High,Low,Close\n2022-10-10,1,2,0.5,\n")?.reason
            == .invalidNumber(column: "close", text: ""))
    }

    @Test func refusesHighBelowLow() {
        let e = error("Date,Open,High,Low,Close\n2022-10-10,1,2,0.5,1.5\n2022-10-11,1,0.4,0.5,1.5\n")
        #expect(e?.line == 3)
        #expect(e?.reason == .highBelowLow(high: 0.4, low: 0.5))
        #expect(e?.description.hasPrefix("line 3: high 0.4 is below low 0.5") == true)
    }

    @Test func refusesRepeatedAndOutOfOrderTimestamps() {
        let repeated = error("time,open,high,low,close\n1665360000,1,2,0.5,1.5\n1665360000,1,2,0.5,1.5\n")
        #expect(repeated?.line == 3)
        #expect(repeated?.code == "repeated_timestamp")
        let backwards = error("Date,Open,High,Low,Close\n2022.10.10 00:15:00,1,2,0.5,1.5\n2022.10.10 00:00:00,1,2,0.5,1.5\n")
        #expect(backwards?.line == 3)
        #expect(backwards?.reason == .timestampOutOfOrder("2022.10.10 00:00:00"))
    }

    @Test func refusesEmptyFiles() {
        #expect(error("")?.reason == .emptyFile)
        #expect(error("")?.line == 1)
        #expect(error("\n\n")?.reason == .emptyFile)
        let headerOnly = error("Date,Open,High,Low,Close\n")
        #expect(headerOnly?.reason == .emptyFile)
        #expect(headerOnly?.line == 2)
    }

    @Test func refusesBadTimestampsAndShortRows() {
        #expect(error("Date,Open,High,Low,Close\n2022-13-10,1,2,0.5,1.5\n")?.reason == .invalidTimestamp("2022-13-10"))
        #expect(error("Date,Open,High,Low,Close\n2023-02-29,1,2,0.5,1.5\n")?.code == "invalid_timestamp")
        #expect(error("Date,Open,High,Low,Close\n2022-10-10 25:00,1,2,0.5,1.5\n")?.code == "invalid_timestamp")
        #expect(error("Date,Open,High,Low,Close\nyesterday,1,2,0.5,1.5\n")?.line == 2)
        let short = error("Date,Open,High,Low,Close\n2022-10-10,1,2\n")
        #expect(short?.reason == .missingField(column: "low"))
        #expect(short?.line == 2)
    }

    @Test func civilTimeRoundTripsAcrossCenturies() {
        for day in stride(from: Int64(-800_000), through: 800_000, by: 997) {
            let d = CivilTime.date(days: day)
            #expect(CivilTime.days(year: d.year, month: d.month, day: d.day) == day)
        }
        #expect(CivilTime.days(year: 2000, month: 3, day: 1) - CivilTime.days(year: 2000, month: 2, day: 28) == 2)
        #expect(CivilTime.weekday(ofDay: CivilTime.days(year: 2024, month: 1, day: 7)) == 6)  // a Sunday
    }
}
