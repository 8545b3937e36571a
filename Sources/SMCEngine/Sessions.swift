import Foundation  // TimeZone, for IANA zone names only

/// A trading session window as the reference defines it: wall-clock `HH:MM` in UTC, both ends inclusive.
public struct TradingSession: Sendable, Hashable {
    public var name: String
    /// Minutes after midnight.
    public var start: Int
    public var end: Int

    public init(name: String = "Custom", start: Int, end: Int) {
        self.name = name
        self.start = start
        self.end = end
    }

    /// The reference's named sessions and kill zones (fixed UTC times), by their reference names.
    public static let named: [String: TradingSession] = [
        "Sydney": .init(name: "Sydney", start: 21 * 60, end: 6 * 60),
        "Tokyo": .init(name: "Tokyo", start: 0, end: 9 * 60),
        "London": .init(name: "London", start: 7 * 60, end: 16 * 60),
        "New York": .init(name: "New York", start: 13 * 60, end: 22 * 60),
        "Asian kill zone": .init(name: "Asian kill zone", start: 0, end: 4 * 60),
        "London open kill zone": .init(name: "London open kill zone", start: 6 * 60, end: 9 * 60),
        "New York kill zone": .init(name: "New York kill zone", start: 11 * 60, end: 14 * 60),
        "london close kill zone": .init(name: "london close kill zone", start: 14 * 60, end: 16 * 60),
    ]

    /// Looks a session up by the reference's name; `Custom` needs `start` and `end` as `HH:MM` (or `H:MM`).
    public init(named name: String, start: String? = nil, end: String? = nil) throws(SMCParameterError) {
        if name == "Custom" {
            guard let start, let end, !start.isEmpty, !end.isEmpty else {
                throw SMCParameterError(code: "invalid_session", message: "Custom session requires a start and end time")
            }
            self.init(name: "Custom", start: try Self.minutes(start), end: try Self.minutes(end))
            return
        }
        guard let session = Self.named[name] else {
            let known = Self.named.keys.sorted().joined(separator: ", ")
            throw SMCParameterError(code: "invalid_session",
                                    message: "unknown session '\(name)' (known: \(known), Custom)")
        }
        self = session
    }

    /// Parses `H:MM`/`HH:MM` as Python's `strptime("%H:%M")` does.
    public static func minutes(_ text: String) throws(SMCParameterError) -> Int {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...2).contains(parts[0].count), (1...2).contains(parts[1].count),
              parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              let h = Int(parts[0]), let m = Int(parts[1]), h <= 23, m <= 59
        else {
            throw SMCParameterError(code: "invalid_time", message: "'\(text)' is not a time of day (HH:MM)")
        }
        return h * 60 + m
    }

    /// Whether a minute of the day falls in the window; a window whose start is not before its end wraps
    /// midnight (so start == end covers the whole day, as in the reference).
    @inlinable
    public func contains(minuteOfDay t: Int) -> Bool {
        start < end ? (start <= t && t <= end) : (start <= t || t <= end)
    }
}

/// How the reference reads its `time_zone` argument: the wall-clock zone the candle times are written in.
///
/// `UTC` means the times are UTC. Otherwise the reference replaces `GMT` and `UTC` by `Etc/GMT` and localizes to
/// that zone, so `UTC+2` becomes `Etc/GMT+2`, which by the POSIX sign convention is two hours *behind* UTC; we keep
/// that. Any other name is an IANA zone (with DST); like pandas, a wall-clock time that does not exist or is
/// ambiguous there is refused.
public struct SessionTimeZone: Sendable, Hashable {
    enum Storage: Hashable {
        case utc
        /// UTC = wall clock − offset.
        case fixed(offsetSeconds: Int)
        case iana(String)
    }

    let storage: Storage
    public let name: String

    public static let utc = SessionTimeZone(storage: .utc, name: "UTC")

    init(storage: Storage, name: String) {
        self.storage = storage
        self.name = name
    }

    public init(_ text: String) throws(SMCParameterError) {
        if text == "UTC" {
            self = .utc
            return
        }
        let rewritten = text.replacingOccurrences(of: "GMT", with: "Etc/GMT")
            .replacingOccurrences(of: "UTC", with: "Etc/GMT")
        let invalid = SMCParameterError(code: "invalid_time_zone", message: "unknown time zone '\(text)'")
        if rewritten.hasPrefix("Etc/GMT") {
            let suffix = rewritten.dropFirst("Etc/GMT".count)
            if suffix.isEmpty || suffix == "0" || suffix == "+0" || suffix == "-0" {
                self.init(storage: .fixed(offsetSeconds: 0), name: text)
                return
            }
            guard let sign = suffix.first, sign == "+" || sign == "-",
                  suffix.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber }),
                  let hours = Int(suffix.dropFirst()), suffix.count <= 3
            else { throw invalid }
            // POSIX: Etc/GMT+h is h hours behind UTC (valid range -14...+12).
            let offset = sign == "+" ? -hours : hours
            guard (-12...14).contains(offset) else { throw invalid }
            self.init(storage: .fixed(offsetSeconds: offset * 3600), name: text)
            return
        }
        guard TimeZone(identifier: rewritten) != nil else { throw invalid }
        self.init(storage: .iana(rewritten), name: text)
    }

    /// Converts wall-clock times (epoch seconds read as if UTC) to UTC; `nil` with the failing index when a
    /// time does not exist or is ambiguous in the zone.
    func toUTC(_ wallClock: [Int64]) -> Result<[Int64], SMCParameterError> {
        switch storage {
        case .utc:
            return .success(wallClock)
        case .fixed(let offset):
            return .success(wallClock.map { $0 - Int64(offset) })
        case .iana(let identifier):
            guard let zone = TimeZone(identifier: identifier) else {
                return .failure(SMCParameterError(code: "invalid_time_zone", message: "unknown time zone '\(name)'"))
            }
            var out = [Int64]()
            out.reserveCapacity(wallClock.count)
            var cache: [Int64: Int] = [:]
            func offset(at utc: Int64) -> Int64 {
                // Offsets change at most on hour boundaries in practice; cache per hour.
                let key = CivilTime.floorDiv(utc, 3600)
                if let o = cache[key] { return Int64(o) }
                let o = zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(utc)))
                cache[key] = o
                return Int64(o)
            }
            for (i, w) in wallClock.enumerated() {
                // A UTC instant u matches when u + offset(u) == w; candidates come from the offsets around w.
                let a = offset(at: w - 86_400)
                let b = offset(at: w + 86_400)
                var matches: [Int64] = []
                for o in Set([a, b, offset(at: w)]) {
                    let u = w - o
                    if u + offset(at: u) == w && !matches.contains(u) { matches.append(u) }
                }
                guard matches.count == 1 else {
                    let what = matches.isEmpty ? "does not exist" : "is ambiguous"
                    return .failure(SMCParameterError(
                        code: "invalid_local_time",
                        message: "candle \(i): its time \(what) in time zone \(identifier)"))
                }
                out.append(matches[0])
            }
            return .success(out)
        }
    }
}

/// Session activity and the session's running high/low (reference `smc.sessions`).
public struct Sessions: Sendable, Hashable, ReferenceTableConvertible {
    /// 1 inside the session, 0 outside.
    public var active: [Double]
    /// Highest high of the session so far (float32), 0 outside the session.
    public var high: [Double]
    /// Lowest low of the session so far (float32), 0 outside the session.
    public var low: [Double]

    public var count: Int { active.count }

    public var referenceTable: ReferenceTable {
        ReferenceTable(columns: [
            .init(name: "Active", kind: .integer, values: active),
            .init(name: "High", kind: .float32, values: high),
            .init(name: "Low", kind: .float32, values: low),
        ])
    }
}

extension SMC {
    /// Which candles fall in a session window, with the session's running high and low.
    ///
    /// Reference quirks kept: times are compared at minute precision (seconds dropped) and both window ends are
    /// inclusive, so a 15-minute candle opening at the end time still counts; a window with start == end is
    /// always active; the running high starts from 0 (so it is never below 0), the running low restarts whenever
    /// the previous value is 0; values are float32.
    public static func sessions(_ candles: CandleSeries, session: TradingSession,
                                timeZone: SessionTimeZone = .utc) throws(SMCParameterError) -> Sessions {
        let n = candles.count
        let utc = try timeZone.toUTC(candles.time).get()
        var active = [Double](repeating: 0, count: n)
        var high = [Double](repeating: 0, count: n)
        var low = [Double](repeating: 0, count: n)
        var previousHigh = 0.0
        var previousLow = 0.0
        for i in 0..<n {
            let secondOfDay = utc[i] - CivilTime.day(of: utc[i]) * CivilTime.secondsPerDay
            if session.contains(minuteOfDay: Int(secondOfDay / 60)) {
                active[i] = 1
                let h = Swift.max(candles.high[i], i > 0 ? previousHigh : 0).float32Rounded
                let l = Swift.min(candles.low[i], (i > 0 && previousLow != 0) ? previousLow : .infinity)
                    .float32Rounded
                high[i] = h
                low[i] = l
                previousHigh = h
                previousLow = l
            } else {
                previousHigh = 0
                previousLow = 0
            }
        }
        return Sessions(active: active, high: high, low: low)
    }
}
