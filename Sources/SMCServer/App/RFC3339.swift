import Crypto
import Foundation
import SMCEngine

/// RFC 3339 date-times, exact to the microsecond (what PostgreSQL keeps).
enum RFC3339 {
    private static let pattern =
        #"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"#

    static func micros(_ text: String) -> Int64? {
        guard text.utf8.count <= 40, let match = text.wholeMatch(of: try! Regex(pattern)) else { return nil }
        func int(_ i: Int) -> Int? { match.output[i].substring.flatMap { Int($0) } }
        guard let year = int(1), let month = int(2), let day = int(3), let hour = int(4), let minute = int(5),
            let second = int(6), (1...9999).contains(year), (1...12).contains(month),
            (1...CivilTime.daysInMonth(year: year, month: month)).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        var fraction: Int64 = 0
        if let digits = match.output[7].substring?.dropFirst() {
            let six = String((digits + "000000").prefix(6))
            fraction = Int64(six)!
        }
        var offset: Int64 = 0
        if let zone = match.output[8].substring, zone != "Z", zone != "z" {
            let sign: Int64 = zone.first == "-" ? -1 : 1
            let parts = zone.dropFirst().split(separator: ":")
            guard let h = Int64(parts[0]), let m = Int64(parts[1]), h < 24, m < 60 else { return nil }
            offset = sign * (h * 3600 + m * 60)
        }
        let seconds = CivilTime.days(year: year, month: month, day: day) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - offset
        return seconds * 1_000_000 + fraction
    }

    static func date(micros: Int64) -> Date {
        Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }
}
