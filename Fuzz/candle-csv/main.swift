// libFuzzer target: CandleCSV.parse(bytes:), the reader of uploaded candle files (Sources/SMCEngine/CandleCSV.swift).
// Built by scripts/fuzz together with the engine files it needs, in one module.
//
// Besides "no crash", it checks what the reader promises:
// - a parsed series is non-empty, its columns have equal lengths, prices and volumes are finite, high ≥ low and
//   times strictly increase;
// - the String entry point agrees with the bytes one;
// - the series written back as CSV (RFC 3339 times or epoch milliseconds, shortest round-trip numbers) reads back
//   to the same series;
// - the first line of the input, used as a number field, reads as exactly what Swift's full `Double` parser gives
//   (the reader's fast decimal path promises that), and is refused when that parser refuses it.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCandleCSV(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    checkFile(bytes)
    checkNumberField(bytes)
    return 0
}

private func checkFile(_ bytes: [UInt8]) {
    let outcome = Result { () throws(CandleCSVError) in try CandleCSV.parse(bytes: bytes) }
    if let text = String(validating: bytes, as: UTF8.self) {
        let fromText = Result { () throws(CandleCSVError) in try CandleCSV.parse(text) }
        require(fromText == outcome, "parse(String) and parse(bytes:) disagree")
    }
    switch outcome {
    case .failure(let error):
        require(error.line >= 1, "error line \(error.line) < 1")
        let lines = bytes.lazy.filter { $0 == UInt8(ascii: "\n") }.count + 1
        require(error.line <= lines + 1, "error line \(error.line) past the end (\(lines) lines)")
        require(!error.code.isEmpty && !error.description.isEmpty)
    case .success(let series):
        checkSeries(series)
        roundTrip(series)
    }
}

private func checkSeries(_ series: CandleSeries) {
    let n = series.count
    require(n >= 1, "empty series accepted")
    require(series.open.count == n && series.high.count == n && series.low.count == n && series.close.count == n
                 && series.volume.count == n, "columns of unequal length")
    for i in 0..<n {
        let c = series[i]
        require(c.open.isFinite && c.high.isFinite && c.low.isFinite && c.close.isFinite && c.volume.isFinite,
                     "non-finite value in row \(i): \(c)")
        require(c.high >= c.low, "high below low in row \(i): \(c)")
        if i > 0 { require(series.time[i - 1] < c.time, "times not strictly increasing at row \(i)") }
    }
}

/// Writes the series as CSV and reads it back: the same candles must come out.
private func roundTrip(_ series: CandleSeries) {
    var csv = "time,open,high,low,close,volume\n"
    for i in 0..<series.count {
        let c = series[i]
        let year = CivilTime.date(days: CivilTime.day(of: c.time)).year
        let time: String
        if (0...9999).contains(year) {
            time = CivilTime.rfc3339(c.time)
        } else if c.time >= 1_000_000_000 {
            time = String(c.time * 1000)  // 13+ digits: read as milliseconds
        } else {
            return  // before year 0 (an offset pushed it back): no spelling the reader takes
        }
        csv += "\(time),\(c.open),\(c.high),\(c.low),\(c.close),\(c.volume)\n"
    }
    let again: CandleSeries
    do {
        again = try CandleCSV.parse(csv)
    } catch {
        fatalError("the series written back does not read: \(error)\n\(csv)")
    }
    require(again == series, "the series written back reads differently\n\(csv)")
}

/// The input's first line as the open/high/low/close field of a one-row file.
private func checkNumberField(_ bytes: [UInt8]) {
    let token = bytes.prefix { $0 != UInt8(ascii: "\n") }
    guard !token.isEmpty, token.count <= 64, token.allSatisfy(isPlainFieldByte) else { return }
    let text = String(decoding: token, as: UTF8.self)
    let csv = "Date,Open,High,Low,Close\n2024-01-02," + [String](repeating: text, count: 4).joined(separator: ",") + "\n"
    let expected = Double(text).flatMap { $0.isFinite ? $0 : nil }
    do {
        let series = try CandleCSV.parse(csv)
        guard let expected else { fatalError("'\(text)' read as \(series.open[0]); Double() refuses it") }
        require(series.open[0].bitPattern == expected.bitPattern,
                     "'\(text)' read as \(series.open[0]), Double() gives \(expected)")
    } catch {
        require(expected == nil, "'\(text)' refused (\(error)); Double() reads \(expected!)")
        require(error.code == "invalid_number", "'\(text)': \(error)")
    }
}

/// Bytes that pass through field splitting and trimming unchanged.
private func isPlainFieldByte(_ b: UInt8) -> Bool {
    b > 0x20 && b < 0x7F && b != UInt8(ascii: ",") && b != UInt8(ascii: ";") && b != UInt8(ascii: "\"")
}

/// `precondition` that prints its message in optimised builds too, so libFuzzer's report says what broke.
private func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String = "") {
    if !condition() { fatalError(message()) }
}
