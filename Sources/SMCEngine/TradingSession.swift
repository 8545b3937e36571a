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
