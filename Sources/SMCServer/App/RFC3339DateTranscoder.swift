import Foundation
import Hummingbird
import Logging
import OpenAPIHummingbird
import OpenAPIRuntime
import PostgresNIO
import Prometheus
import SMCAPI
import SMCEngine
import ServiceLifecycle

/// Compact JSON with stable key order; dates written as RFC 3339 with fractional seconds, read strictly as RFC 3339
/// with or without them (feeders and scripts send `2024-03-10T07:00:00Z`; Foundation's formatter would also take
/// 24:00, Feb 29 of 2023 or `+0100`).
let openAPIConfiguration = OpenAPIRuntime.Configuration(
    dateTranscoder: RFC3339DateTranscoder(), jsonEncodingOptions: [.sortedKeys, .withoutEscapingSlashes])

struct RFC3339DateTranscoder: DateTranscoder {
    /// `2025-06-02T08:15:00.250Z`: UTC, milliseconds, without a date formatter (Foundation's costs tens of
    /// microseconds per date on Linux, and a page of sync changes has thousands).
    func encode(_ date: Date) throws -> String { Self.format(date) }

    static func format(_ date: Date) -> String {
        // To the microsecond first (PostgreSQL's precision), so 0.864 s stored as 0.86399999… still prints .864.
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        return CivilTime.rfc3339(millis: CivilTime.floorDiv(micros, 1000))
    }

    func decode(_ text: String) throws -> Date {
        guard let date = Self.parse(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "'\(text.prefix(40))' is not an RFC 3339 date-time"))
        }
        return date
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` without a formatter (a 10,000-candle batch has 10,000 dates, and
    /// Foundation's formatter costs tens of microseconds each on Linux); nil for anything else.
    static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        func digits(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= b.count else { return nil }
            var v = 0
            for k in at..<(at + n) {
                guard (48...57).contains(b[k]) else { return nil }
                v = v * 10 + Int(b[k] - 48)
            }
            return v
        }
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116, b[13] == 58, b[16] == 58,
              let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2), let hour = digits(11, 2),
              let minute = digits(14, 2), let second = digits(17, 2),
              (1...12).contains(month), day >= 1, day <= CivilTime.daysInMonth(year: year, month: month),
              hour <= 23, minute <= 59, second <= 59
        else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == 46 {
            i += 1
            var scale = 0.1
            let startDigits = i
            while i < b.count, (48...57).contains(b[i]) {
                fraction += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > startDigits else { return nil }
        }
        var offset = 0
        guard i < b.count else { return nil }
        if b[i] == 90 || b[i] == 122 {
            i += 1
        } else if b[i] == 43 || b[i] == 45, b.count == i + 6, b[i + 3] == 58, let oh = digits(i + 1, 2), let om = digits(i + 4, 2),
                  oh <= 23, om <= 59
        {
            offset = (oh * 3600 + om * 60) * (b[i] == 43 ? 1 : -1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let seconds = CivilTime.days(year: year, month: month, day: day) * 86_400 + Int64(hour * 3600 + minute * 60 + second - offset)
        return Date(timeIntervalSince1970: TimeInterval(seconds) + fraction)
    }
}
