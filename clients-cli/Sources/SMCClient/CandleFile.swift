import Foundation
import SMCEngine

/// A candle CSV read for import (MT5, TradingView or plain OHLCV, as `CandleCSV` reads them), with the line each
/// candle came from, so that a problem found later — by the timeframe check or by the server, which names candles
/// by their index in a request — can be shown as a line of the file the user can open.
public struct CandleFile: Sendable {
    public let candles: CandleSeries
    /// The 1-based line of each candle; empty when the lines could not be matched (then `line(of:)` is nil).
    let lines: [Int]

    /// Parses the file; a malformed one throws with its line and the reason.
    public init(bytes: [UInt8]) throws(CandleCSVError) {
        candles = try CandleCSV.parse(bytes: bytes)
        let rows = Self.rowLines(bytes)
        lines = rows.count == candles.count ? rows : []
    }

    /// The line of the file that holds candle `index`.
    public func line(of index: Int) -> Int? {
        lines.indices.contains(index) ? lines[index] : nil
    }

    /// The lines that hold candles: every non-blank line after the header, numbered as `CandleCSV` numbers them
    /// (a line is blank when it has nothing but spaces, tabs and delimiters).
    static func rowLines(_ bytes: [UInt8]) -> [Int] {
        var out: [Int] = []
        var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var line = 0
        var sawHeader = false
        while start < bytes.count {
            line += 1
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            let blank = bytes[start..<end].allSatisfy { [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: ","),
                                                          UInt8(ascii: ";"), UInt8(ascii: "\r")].contains($0) }
            if !blank {
                if sawHeader { out.append(line) } else { sawHeader = true }
            }
            start = end + 1
        }
        return out
    }

    /// Why the candles do not fit a timeframe.
    public struct TimeframeError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The line at fault, when one is.
        public var line: Int?
        public var message: String
        public var description: String { line.map { "line \($0): \(message)" } ?? message }
    }

    /// The candles' timeframe: `given` when the file fits it, else the one their spacing says.
    ///
    /// The smallest step between candles must be the timeframe (gaps — nights, weekends — only make steps longer)
    /// and every open time on the timeframe's UTC boundary (weeks start on Monday), which is what the server
    /// accepts. Checked before anything is sent, so a wrong file or a wrong
    /// `--timeframe` stores nothing.
    public func timeframe(given: SignalTimeframe?) throws(TimeframeError) -> SignalTimeframe {
        let time = candles.time
        var smallest = Int64.max
        for i in stride(from: 1, to: time.count, by: 1) { smallest = Swift.min(smallest, time[i] - time[i - 1]) }
        let timeframe: SignalTimeframe
        if let given {
            if smallest != .max && smallest != given.seconds {
                throw TimeframeError(
                    line: nil,
                    message: "the candles are \(Self.span(smallest)) apart, not \(given.label): give the file's timeframe"
                        + (SignalTimeframe.inferred(from: candles).map { " (\($0.label))" } ?? ""))
            }
            timeframe = given
        } else {
            guard let inferred = SignalTimeframe.inferred(from: candles) else {
                throw TimeframeError(
                    line: nil,
                    message: smallest == .max
                        ? "one candle says nothing about the timeframe: give --timeframe"
                        : "the candles are \(Self.span(smallest)) apart, which is not a timeframe of the service "
                            + "(\(SignalTimeframe.all.map(\.label).joined(separator: " ")))")
            }
            timeframe = inferred
        }
        for i in 0..<time.count {
            if timeframe.bucketStart(time[i]) != time[i] {
                throw TimeframeError(
                    line: line(of: i),
                    message: "\(Self.rfc3339(time[i])) is not on a \(timeframe.label) boundary (UTC"
                        + (timeframe.seconds == 604_800 ? ", weeks from Monday)" : ")"))
            }
        }
        return timeframe
    }

    static func span(_ seconds: Int64) -> String {
        if let standard = SignalTimeframe.all.first(where: { $0.seconds == seconds }) { return standard.label }
        if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }

    /// `2024-01-02T00:15:00Z`.
    static func rfc3339(_ t: Int64) -> String { CivilTime.rfc3339(t) }
}
