/// Why a candle file was refused, with the 1-based line where the problem is, so a person can fix the file.
public struct CandleCSVError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        /// No header, or a header and no candle rows.
        case emptyFile
        /// The header lacks a required column (`time`/`date`, `open`, `high`, `low`, `close`).
        case missingColumn(String)
        /// A row has fewer fields than the header needs.
        case missingField(column: String)
        case invalidNumber(column: String, text: String)
        case invalidTimestamp(String)
        case highBelowLow(high: Double, low: Double)
        /// The same timestamp as the row before.
        case repeatedTimestamp(String)
        /// Earlier than the row before: candles must be in time order.
        case timestampOutOfOrder(String)
    }

    /// 1-based line number in the file (the header is line 1 unless blank lines precede it).
    public let line: Int
    public let reason: Reason

    public init(line: Int, reason: Reason) {
        self.line = line
        self.reason = reason
    }

    /// Stable machine-readable code.
    public var code: String {
        switch reason {
        case .emptyFile: "empty_file"
        case .missingColumn: "missing_column"
        case .missingField: "missing_field"
        case .invalidNumber: "invalid_number"
        case .invalidTimestamp: "invalid_timestamp"
        case .highBelowLow: "high_below_low"
        case .repeatedTimestamp: "repeated_timestamp"
        case .timestampOutOfOrder: "timestamp_out_of_order"
        }
    }

    public var message: String {
        switch reason {
        case .emptyFile: "the file has no candles"
        case .missingColumn(let name): "missing column '\(name)' in the header"
        case .missingField(let column): "missing field for column '\(column)'"
        case .invalidNumber(let column, let text): "'\(text)' is not a finite number (column '\(column)')"
        case .invalidTimestamp(let text): "'\(text)' is not a supported date/time"
        case .highBelowLow(let high, let low): "high \(high) is below low \(low)"
        case .repeatedTimestamp(let text): "timestamp \(text) repeats the previous row"
        case .timestampOutOfOrder(let text): "timestamp \(text) is earlier than the previous row"
        }
    }

    public var description: String { "line \(line): \(message)" }
}

/// Reads candle CSV text into a `CandleSeries`. Pure: the caller reads the file.
///
/// Accepted layouts (header names are case-insensitive; `<DATE>`-style brackets and quotes are ignored;
/// the delimiter is comma, semicolon or tab, whichever the header uses):
/// - MT5 exports: `Date,Open,High,Low,Close,Tickvol,Volume,Spread` with dates `YYYY.MM.DD HH:MM:SS`, or separate
///   `Date` and `Time` columns;
/// - TradingView exports: `time,open,high,low,close,Volume` with epoch seconds (13-digit values are read as
///   milliseconds) or ISO 8601;
/// - plain `Date,Open,High,Low,Close,Volume` with ISO dates (`YYYY-MM-DD`, optionally `THH:MM[:SS[.fff]]` and
///   `Z`/`±HH:MM`), which are converted to UTC.
///
/// Volume is taken from `Volume` (as the reference does), else `Vol`, else `Tickvol`/`Tick_volume`, else zeros.
/// Times without an offset are taken as UTC.
public enum CandleCSV {
    public static func parse(_ text: String) throws(CandleCSVError) -> CandleSeries {
        var text = text
        let result: Result<CandleSeries, CandleCSVError> = text.withUTF8 { buffer in
            Result { () throws(CandleCSVError) in try parse(buffer: buffer) }
        }
        return try result.get()
    }

    public static func parse(bytes: [UInt8]) throws(CandleCSVError) -> CandleSeries {
        let result: Result<CandleSeries, CandleCSVError> = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(CandleCSVError) in try parse(buffer: buffer) }
        }
        return try result.get()
    }

    // MARK: - Implementation

    private struct Columns {
        var date: Int?
        var time: Int?
        var open = -1, high = -1, low = -1, close = -1
        var volume: Int?
        var highestIndex: Int { max(open, high, low, close, date ?? 0, time ?? 0, volume ?? 0) }
    }

    private static func parse(buffer: UnsafeBufferPointer<UInt8>) throws(CandleCSVError) -> CandleSeries {
        var position = 0
        let end = buffer.count
        // UTF-8 byte order mark.
        if end >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF { position = 3 }

        var lineNumber = 0
        var fields: [Range<Int>] = []
        fields.reserveCapacity(16)
        var columns: Columns?
        var delimiter: UInt8 = UInt8(ascii: ",")
        var series = CandleSeries(capacity: max(16, end / 48))
        var previousTime: Int64 = .min

        while position < end {
            lineNumber += 1
            var lineEnd = position
            while lineEnd < end, buffer[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            let nextPosition = lineEnd + 1
            var contentEnd = lineEnd
            if contentEnd > position, buffer[contentEnd - 1] == UInt8(ascii: "\r") { contentEnd -= 1 }
            defer { position = nextPosition }
            if isBlank(buffer, position, contentEnd) { continue }

            guard let cols = columns else {
                delimiter = detectDelimiter(buffer, position, contentEnd)
                split(buffer, position, contentEnd, delimiter, into: &fields)
                columns = try mapHeader(buffer, fields, line: lineNumber)
                continue
            }

            split(buffer, position, contentEnd, delimiter, into: &fields)
            if fields.count <= cols.highestIndex {
                throw CandleCSVError(line: lineNumber,
                                     reason: .missingField(column: missingColumnName(cols, fieldCount: fields.count)))
            }
            let t = try parseTime(buffer, fields, cols, line: lineNumber)
            let o = try number(buffer, fields[cols.open], column: "open", line: lineNumber)
            let h = try number(buffer, fields[cols.high], column: "high", line: lineNumber)
            let l = try number(buffer, fields[cols.low], column: "low", line: lineNumber)
            let c = try number(buffer, fields[cols.close], column: "close", line: lineNumber)
            let v = try cols.volume.map { i throws(CandleCSVError) in
                try number(buffer, fields[i], column: "volume", line: lineNumber)
            } ?? 0
            if h < l { throw CandleCSVError(line: lineNumber, reason: .highBelowLow(high: h, low: l)) }
            if series.count > 0 {
                if t == previousTime {
                    throw CandleCSVError(line: lineNumber, reason: .repeatedTimestamp(timeText(buffer, fields, cols)))
                }
                if t < previousTime {
                    throw CandleCSVError(line: lineNumber, reason: .timestampOutOfOrder(timeText(buffer, fields, cols)))
                }
            }
            previousTime = t
            series.append(Candle(time: t, open: o, high: h, low: l, close: c, volume: v))
        }
        if columns == nil || series.isEmpty {
            throw CandleCSVError(line: max(1, lineNumber + (columns == nil ? 0 : 1)), reason: .emptyFile)
        }
        return series
    }

    private static func isBlank(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        var i = start
        while i < end {
            let c = b[i]
            if c != UInt8(ascii: " ") && c != UInt8(ascii: "\t") && c != UInt8(ascii: ",") && c != UInt8(ascii: ";") {
                return false
            }
            i += 1
        }
        return true
    }

    private static func detectDelimiter(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> UInt8 {
        var commas = 0, semicolons = 0, tabs = 0
        for i in start..<end {
            switch b[i] {
            case UInt8(ascii: ","): commas += 1
            case UInt8(ascii: ";"): semicolons += 1
            case UInt8(ascii: "\t"): tabs += 1
            default: break
            }
        }
        if tabs > commas && tabs >= semicolons { return UInt8(ascii: "\t") }
        if semicolons > commas { return UInt8(ascii: ";") }
        return UInt8(ascii: ",")
    }

    /// Splits a line into trimmed field ranges; double quotes protect delimiters and are not part of the field.
    private static func split(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ delimiter: UInt8,
                              into fields: inout [Range<Int>]) {
        fields.removeAll(keepingCapacity: true)
        var i = start
        while true {
            var fieldStart = i
            var fieldEnd = i
            var inQuotes = false
            while i < end {
                let c = b[i]
                if c == UInt8(ascii: "\"") { inQuotes.toggle() } else if c == delimiter && !inQuotes { break }
                i += 1
            }
            fieldEnd = i
            while fieldStart < fieldEnd, isTrimmable(b[fieldStart]) { fieldStart += 1 }
            while fieldEnd > fieldStart, isTrimmable(b[fieldEnd - 1]) { fieldEnd -= 1 }
            fields.append(fieldStart..<fieldEnd)
            if i >= end { break }
            i += 1  // skip the delimiter
        }
    }

    @inline(__always)
    private static func isTrimmable(_ c: UInt8) -> Bool {
        c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\"")
    }

    private static func mapHeader(_ b: UnsafeBufferPointer<UInt8>, _ fields: [Range<Int>], line: Int)
        throws(CandleCSVError) -> Columns
    {
        var names: [String] = []
        for range in fields {
            var bytes = Array(b[range])
            if bytes.first == UInt8(ascii: "<"), bytes.last == UInt8(ascii: ">"), bytes.count >= 2 {
                bytes = Array(bytes.dropFirst().dropLast())
            }
            names.append(String(decoding: bytes, as: UTF8.self).lowercased())
        }
        func index(_ candidates: String...) -> Int? {
            for candidate in candidates { if let i = names.firstIndex(of: candidate) { return i } }
            return nil
        }
        var columns = Columns()
        let datetime = index("datetime", "date_time", "date time", "timestamp", "time_stamp")
        let date = index("date", "day")
        let time = index("time")
        if let datetime {
            columns.date = datetime
        } else if let date, let time {
            columns.date = date
            columns.time = time
        } else if let single = date ?? time {
            columns.date = single
        } else {
            throw CandleCSVError(line: line, reason: .missingColumn("date"))
        }
        guard let open = index("open") else { throw CandleCSVError(line: line, reason: .missingColumn("open")) }
        guard let high = index("high") else { throw CandleCSVError(line: line, reason: .missingColumn("high")) }
        guard let low = index("low") else { throw CandleCSVError(line: line, reason: .missingColumn("low")) }
        guard let close = index("close") else { throw CandleCSVError(line: line, reason: .missingColumn("close")) }
        columns.open = open
        columns.high = high
        columns.low = low
        columns.close = close
        columns.volume = index("volume", "vol", "tickvol", "tick_volume", "tick volume", "real_volume")
        return columns
    }

    private static func missingColumnName(_ c: Columns, fieldCount: Int) -> String {
        let ordered: [(String, Int?)] = [("date", c.date), ("time", c.time), ("open", c.open), ("high", c.high),
                                         ("low", c.low), ("close", c.close), ("volume", c.volume)]
        return ordered.first { ($0.1 ?? -1) >= fieldCount }?.0 ?? "?"
    }

    private static func text(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: b[range]), as: UTF8.self)
    }

    private static func timeText(_ b: UnsafeBufferPointer<UInt8>, _ fields: [Range<Int>], _ c: Columns) -> String {
        var s = text(b, fields[c.date!])
        if let t = c.time { s += " " + text(b, fields[t]) }
        return s
    }

    // MARK: Numbers

    /// Exact powers of ten up to 1e22 (all representable), for the correctly rounded fast path.
    private static let powersOfTen: [Double] = (0...22).map { e in
        var p = 1.0
        for _ in 0..<e { p *= 10 }
        return p
    }

    private static func number(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, column: String, line: Int)
        throws(CandleCSVError) -> Double
    {
        if let value = fastDecimal(b, range) { return value }
        let s = text(b, range)
        if let value = Double(s), value.isFinite { return value }
        throw CandleCSVError(line: line, reason: .invalidNumber(column: column, text: s))
    }

    /// Plain decimals with at most 15 significant digits: an exact integer divided by an exact power of ten is a
    /// single correctly rounded operation, so this equals what a full parser returns.
    @inline(__always)
    private static func fastDecimal(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Double? {
        var i = range.lowerBound
        let end = range.upperBound
        guard i < end else { return nil }
        var negative = false
        if b[i] == UInt8(ascii: "-") { negative = true; i += 1 } else if b[i] == UInt8(ascii: "+") { i += 1 }
        var mantissa: UInt64 = 0
        var digits = 0
        var fractionDigits = 0
        var seenPoint = false
        var any = false
        while i < end {
            let c = b[i]
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                any = true
                if mantissa == 0 && c == UInt8(ascii: "0") {
                    // leading zeros are not significant
                } else {
                    digits += 1
                    if digits > 15 { return nil }
                    mantissa = mantissa * 10 + UInt64(c - UInt8(ascii: "0"))
                }
                if seenPoint { fractionDigits += 1 }
            } else if c == UInt8(ascii: ".") && !seenPoint {
                seenPoint = true
            } else {
                return nil
            }
            i += 1
        }
        guard any, fractionDigits <= 22 else { return nil }
        let value = Double(mantissa) / powersOfTen[fractionDigits]
        return negative ? -value : value
    }

    // MARK: Timestamps

    private static func parseTime(_ b: UnsafeBufferPointer<UInt8>, _ fields: [Range<Int>], _ c: Columns, line: Int)
        throws(CandleCSVError) -> Int64
    {
        if let timeIndex = c.time {
            // Separate date and time columns (MT5 `<DATE>\t<TIME>`).
            let dateRange = fields[c.date!]
            guard let day = parseDate(b, dateRange.lowerBound, dateRange.upperBound, allowTrailing: false),
                  let seconds = parseTimeOfDay(b, fields[timeIndex])
            else { throw CandleCSVError(line: line, reason: .invalidTimestamp(timeText(b, fields, c))) }
            return day.days * CivilTime.secondsPerDay + seconds
        }
        let range = fields[c.date!]
        if let t = parseTimestamp(b, range) { return t }
        throw CandleCSVError(line: line, reason: .invalidTimestamp(text(b, range)))
    }

    @inline(__always)
    private static func digit(_ c: UInt8) -> Int? {
        c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") ? Int(c - UInt8(ascii: "0")) : nil
    }

    /// Reads exactly `count` digits at `i`.
    @inline(__always)
    private static func fixedDigits(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ count: Int, _ end: Int) -> Int? {
        guard i + count <= end else { return nil }
        var value = 0
        for k in i..<(i + count) {
            guard let d = digit(b[k]) else { return nil }
            value = value * 10 + d
        }
        return value
    }

    /// `YYYY-MM-DD`, `YYYY.MM.DD` or `YYYY/MM/DD`; returns the day number and where the date ended.
    private static func parseDate(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, allowTrailing: Bool)
        -> (days: Int64, next: Int)?
    {
        guard let year = fixedDigits(b, start, 4, end), start + 4 < end else { return nil }
        let separator = b[start + 4]
        guard separator == UInt8(ascii: "-") || separator == UInt8(ascii: ".") || separator == UInt8(ascii: "/"),
              let month = fixedDigits(b, start + 5, 2, end), start + 7 < end, b[start + 7] == separator,
              let day = fixedDigits(b, start + 8, 2, end)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= CivilTime.daysInMonth(year: year, month: month) else {
            return nil
        }
        let next = start + 10
        if !allowTrailing && next != end { return nil }
        return (CivilTime.days(year: year, month: month, day: day), next)
    }

    /// `HH:MM[:SS[.fraction]]` as seconds of the day (fractions are dropped).
    private static func parseTimeOfDay(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int64? {
        guard let (seconds, next) = parseClock(b, range.lowerBound, range.upperBound), next == range.upperBound else {
            return nil
        }
        return seconds
    }

    private static func parseClock(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> (Int64, Int)? {
        guard let hour = fixedDigits(b, start, 2, end), start + 2 < end, b[start + 2] == UInt8(ascii: ":"),
              let minute = fixedDigits(b, start + 3, 2, end)
        else { return nil }
        var i = start + 5
        var second = 0
        if i < end, b[i] == UInt8(ascii: ":") {
            guard let s = fixedDigits(b, i + 1, 2, end) else { return nil }
            second = s
            i += 3
            if i < end, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: ",") {
                i += 1
                let fractionStart = i
                while i < end, digit(b[i]) != nil { i += 1 }
                if i == fractionStart { return nil }
            }
        }
        guard hour <= 23, minute <= 59, second <= 59 else { return nil }
        return (Int64(hour * 3600 + minute * 60 + second), i)
    }

    private static func parseTimestamp(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int64? {
        let start = range.lowerBound
        let end = range.upperBound
        guard start < end else { return nil }
        // Epoch seconds (or milliseconds when 13+ digits), optionally with a fraction.
        var allDigits = true
        var integerEnd = end
        var sawPoint = false
        for i in start..<end {
            let c = b[i]
            if c == UInt8(ascii: ".") && !sawPoint { sawPoint = true; integerEnd = i; continue }
            if digit(c) == nil { allDigits = false; break }
        }
        if allDigits && integerEnd > start && (integerEnd - start) != 8 {
            let count = integerEnd - start
            guard count <= 16 else { return nil }
            var value: Int64 = 0
            for i in start..<integerEnd { value = value * 10 + Int64(b[i] - UInt8(ascii: "0")) }
            return count >= 13 ? value / 1000 : value
        }
        guard let (days, afterDate) = parseDate(b, start, end, allowTrailing: true) else { return nil }
        var seconds = days * CivilTime.secondsPerDay
        var i = afterDate
        if i == end { return seconds }
        guard b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: " ") || b[i] == UInt8(ascii: "t") else { return nil }
        while i < end, b[i] == UInt8(ascii: " ") || b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: "t") { i += 1 }
        guard let (clock, afterClock) = parseClock(b, i, end) else { return nil }
        seconds += clock
        i = afterClock
        while i < end, b[i] == UInt8(ascii: " ") { i += 1 }
        if i == end { return seconds }
        // Zone designator: Z, UTC, GMT, or ±HH[:MM] / ±HHMM.
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") { return i + 1 == end ? seconds : nil }
        if end - i == 3 {
            let word = String(decoding: UnsafeBufferPointer(rebasing: b[i..<end]), as: UTF8.self).uppercased()
            if word == "UTC" || word == "GMT" { return seconds }
        }
        let sign: Int64
        switch b[i] {
        case UInt8(ascii: "+"): sign = 1
        case UInt8(ascii: "-"): sign = -1
        default: return nil
        }
        i += 1
        guard let hours = fixedDigits(b, i, 2, end) else { return nil }
        i += 2
        var minutes = 0
        if i < end {
            if b[i] == UInt8(ascii: ":") { i += 1 }
            guard let m = fixedDigits(b, i, 2, end) else { return nil }
            minutes = m
            i += 2
        }
        guard i == end, hours <= 23, minutes <= 59 else { return nil }
        // Local time = UTC + offset, so UTC = local - offset.
        return seconds - sign * Int64(hours * 3600 + minutes * 60)
    }
}
