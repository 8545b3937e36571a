/// Proleptic Gregorian calendar arithmetic on epoch seconds (UTC), without Foundation, so that parsing and
/// resampling stay allocation-free and deterministic.
public enum CivilTime {
    public static let secondsPerDay: Int64 = 86_400

    /// Days since 1970-01-01 for a civil date (any year, month 1...12, day 1...31).
    public static func days(year: Int, month: Int, day: Int) -> Int64 {
        // Shift the year so that it starts in March: the leap day is then the last day of the "year".
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The civil date of a day number (days since 1970-01-01).
    public static func date(days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }

    public static func isLeapYear(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Floor division that rounds towards negative infinity (times before 1970 stay on the right day).
    @inlinable
    public static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// Day number of an epoch-seconds time.
    @inlinable
    public static func day(of time: Int64) -> Int64 { floorDiv(time, secondsPerDay) }

    /// Weekday of a day number, 0 = Monday ... 6 = Sunday (Python's `weekday()` numbering).
    @inlinable
    public static func weekday(ofDay day: Int64) -> Int {
        // 1970-01-01 was a Thursday (3).
        Int(((day % 7) + 7 + 3) % 7)
    }

    /// `yyyy-mm-dd hh:mm` (UTC) of an epoch time, for people.
    public static func minuteText(_ time: Int64) -> String {
        let (date, second) = split(time)
        return date + " " + twoDigits(second / 3600) + ":" + twoDigits(second % 3600 / 60)
    }

    /// RFC 3339 in UTC, whole seconds: `2024-01-02T00:15:00Z`.
    public static func rfc3339(_ time: Int64) -> String {
        let (date, second) = split(time)
        return date + "T" + twoDigits(second / 3600) + ":" + twoDigits(second % 3600 / 60) + ":" + twoDigits(second % 60) + "Z"
    }

    /// RFC 3339 in UTC with milliseconds: `2024-01-02T00:15:00.250Z` (what the REST API prints).
    public static func rfc3339(millis: Int64) -> String {
        let seconds = floorDiv(millis, 1000)
        return String(rfc3339(seconds).dropLast()) + "." + digits(millis - seconds * 1000, 3) + "Z"
    }

    /// RFC 3339 in UTC with microseconds when there are any: `2025-03-01T09:30:00.123456Z`, else whole seconds.
    public static func rfc3339(micros: Int64) -> String {
        let seconds = floorDiv(micros, 1_000_000)
        let fraction = micros - seconds * 1_000_000
        guard fraction != 0 else { return rfc3339(seconds) }
        return String(rfc3339(seconds).dropLast()) + "." + digits(fraction, 6) + "Z"
    }

    private static func digits(_ v: Int64, _ n: Int) -> String {
        let text = String(v)
        return String(repeating: "0", count: Swift.max(0, n - text.count)) + text
    }

    private static func split(_ time: Int64) -> (date: String, second: Int64) {
        let day = self.day(of: time)
        let (y, m, d) = date(days: day)
        let year = String(y)
        return (String(repeating: "0", count: Swift.max(0, 4 - year.count)) + year + "-" + twoDigits(Int64(m)) + "-" + twoDigits(Int64(d)),
                time - day * secondsPerDay)
    }

    private static func twoDigits(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
}
