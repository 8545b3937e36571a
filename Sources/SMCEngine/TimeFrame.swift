/// A resampling period with pandas' `resample` bin rules (the reference's `previous_high_low` resamples).
///
/// Accepted spellings: `15m`/`15min`/`15T`, `1h`/`1H`, `1D`/`1d`/`D`, `W`/`1W`/`2W`/`W-MON`…, `1M`/`M`/`ME`
/// (month end), `MS` (month start). Pandas 3 refuses `15m`, `1H` and `1M`; we read them as the minutes, hours and
/// month-end periods they meant in earlier pandas.
public struct TimeFrame: Sendable, Hashable, CustomStringConvertible {
    public enum Unit: Sendable, Hashable {
        case minute
        case hour
        case day
        /// Weeks ending on `anchor` (0 = Monday … 6 = Sunday); pandas `W` is `W-SUN`.
        case week(anchor: Int)
        case monthEnd
        case monthStart
    }

    public var count: Int
    public var unit: Unit

    public init(count: Int, unit: Unit) {
        self.count = count
        self.unit = unit
    }

    public static let day = TimeFrame(count: 1, unit: .day)

    public init(parsing text: String) throws(SMCParameterError) {
        let trimmed = text.trimmingWhitespace
        var digits = ""
        var rest = Substring(trimmed)
        while let c = rest.first, c.isASCII, c.isNumber { digits.append(c); rest = rest.dropFirst() }
        let n = digits.isEmpty ? 1 : (Int(digits) ?? 0)
        let unitText = String(rest)
        let invalid = SMCParameterError(code: "invalid_time_frame",
                                        message: "unsupported time frame '\(text)' (use e.g. 15m, 1h, 4h, 1D, W, 1M)")
        guard n >= 1 else { throw invalid }
        let weekdays = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
        switch unitText {
        case "m", "min", "T", "Min", "MIN": self.init(count: n, unit: .minute)
        case "h", "H": self.init(count: n, unit: .hour)
        case "D", "d": self.init(count: n, unit: .day)
        case "W", "w": self.init(count: n, unit: .week(anchor: 6))
        case "M", "ME":
            guard n == 1 else { throw invalid }
            self.init(count: 1, unit: .monthEnd)
        case "MS":
            guard n == 1 else { throw invalid }
            self.init(count: 1, unit: .monthStart)
        default:
            let upper = unitText.uppercased()
            if upper.hasPrefix("W-"), let anchor = weekdays.firstIndex(of: String(upper.dropFirst(2))) {
                self.init(count: n, unit: .week(anchor: anchor))
            } else {
                throw invalid
            }
        }
    }

    /// The equivalent pandas 3 frequency alias (what the reference would be called with today).
    public var pandasAlias: String {
        switch unit {
        case .minute: "\(count)min"
        case .hour: "\(count)h"
        case .day: "\(count)D"
        case .week(let anchor): "\(count)W-" + ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"][anchor]
        case .monthEnd: "ME"
        case .monthStart: "MS"
        }
    }

    public var description: String { pandasAlias }

    /// Fixed length in seconds for minute/hour/day periods.
    var fixedSeconds: Int64? {
        switch unit {
        case .minute: Int64(count) * 60
        case .hour: Int64(count) * 3600
        case .day: Int64(count) * CivilTime.secondsPerDay
        default: nil
        }
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s = s.dropFirst() }
        while let c = s.last, c.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}

/// Assigns candle times to resampling periods as pandas does, given the first candle (tick-like periods count
/// from midnight of its day, weeks are phased from the first anchor day on or after it).
struct PeriodLabeler: Sendable, Hashable {
    let timeFrame: TimeFrame
    let origin: Int64
    let weekStart: Int64

    init(timeFrame: TimeFrame, firstTime: Int64) {
        self.timeFrame = timeFrame
        let firstDay = CivilTime.day(of: firstTime)
        origin = firstDay * CivilTime.secondsPerDay
        if case .week(let anchor) = timeFrame.unit {
            weekStart = firstDay + Int64((anchor - CivilTime.weekday(ofDay: firstDay) + 7) % 7)
        } else {
            weekStart = 0
        }
    }

    /// The period's label in epoch seconds: its start for left-labelled periods, its last day for weeks and
    /// month ends.
    func label(_ t: Int64) -> Int64 {
        switch timeFrame.unit {
        case .minute, .hour, .day:
            let length = timeFrame.fixedSeconds!
            return origin + CivilTime.floorDiv(t - origin, length) * length
        case .week:
            let period = Int64(7 * timeFrame.count)
            let day = CivilTime.day(of: t)
            let k = Swift.max(0, -CivilTime.floorDiv(weekStart - day, period))
            return (weekStart + k * period) * CivilTime.secondsPerDay
        case .monthEnd:
            let date = CivilTime.date(days: CivilTime.day(of: t))
            let last = CivilTime.daysInMonth(year: date.year, month: date.month)
            return CivilTime.days(year: date.year, month: date.month, day: last) * CivilTime.secondsPerDay
        case .monthStart:
            let date = CivilTime.date(days: CivilTime.day(of: t))
            return CivilTime.days(year: date.year, month: date.month, day: 1) * CivilTime.secondsPerDay
        }
    }
}
