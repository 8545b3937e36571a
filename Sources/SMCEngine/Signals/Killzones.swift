import Foundation  // TimeZone, for IANA zone names only (used while building offset tables, never per candle)
import Synchronization

/// A named trading window ("killzone") in the local wall-clock of an IANA time zone.
///
/// Rules:
/// - `start` and `end` are minutes after local midnight, `0...1439`.
/// - The window is half-open, `[start, end)`: the minute `start` is inside, the minute `end` is not.
/// - `end < start` means the window crosses midnight (`22:00–02:00` covers 22:00...01:59); `end == 0` means the
///   window ends at midnight (`20:00–00:00` covers 20:00...23:59).
/// - `start == end` is refused (it would be either empty or 24 hours).
/// - Local time is the wall-clock of the zone at the instant, DST included. On a spring-forward day the skipped
///   hour never happens (a window lying wholly inside it is not active that day); on a fall-back day the repeated
///   hour happens twice and both instants are inside a window covering that wall-clock time.
public struct Killzone: Sendable, Hashable, Codable {
    /// Display name, reported by `KillzoneCalendar.active(at:)`. Must not be empty or blank.
    public var name: String
    /// First minute of the window, minutes after local midnight, `0...1439`.
    public var start: Int
    /// Exclusive end, minutes after local midnight, `0...1439`; `end < start` crosses midnight, `0` is midnight.
    public var end: Int
    /// IANA time zone name, e.g. `America/New_York` (must contain a `/`, or be `UTC`).
    public var timeZone: String
    /// A disabled zone is kept in the configuration but never reported active.
    public var enabled: Bool

    /// A zone from minute values. Does not validate; `validate()` (called by `KillzoneCalendar.init`) does.
    public init(name: String, start: Int, end: Int, timeZone: String, enabled: Bool = true) {
        self.name = name
        self.start = start
        self.end = end
        self.timeZone = timeZone
        self.enabled = enabled
    }

    /// Parses `"HH:MM"` (exactly two digits each, `00:00`–`23:59`) and checks the zone.
    ///
    /// Throws `SMCParameterError` with code `invalid_time` for a malformed time, `invalid_time_zone` for an unknown
    /// zone, `invalid_killzone` for a blank name or `start == end`.
    public init(name: String, start: String, end: String, timeZone: String,
                enabled: Bool = true) throws(SMCParameterError) {
        self.init(name: name, start: try Killzone.minutes(start), end: try Killzone.minutes(end),
                  timeZone: timeZone, enabled: enabled)
        try validate()
    }

    /// Minutes after midnight of a `"HH:MM"` clock time (exactly two ASCII digits each, `00:00`–`23:59`).
    /// Throws `SMCParameterError` code `invalid_time` otherwise.
    public static func minutes(_ text: String) throws(SMCParameterError) -> Int {
        let u = Array(text.utf8)
        func digit(_ c: UInt8) -> Int? { (48...57).contains(c) ? Int(c - 48) : nil }
        guard u.count == 5, u[2] == UInt8(ascii: ":"),
              let h1 = digit(u[0]), let h2 = digit(u[1]), let m1 = digit(u[3]), let m2 = digit(u[4]),
              h1 * 10 + h2 <= 23, m1 * 10 + m2 <= 59
        else {
            throw SMCParameterError(code: "invalid_time", message: "'\(text)' is not a time of day (HH:MM, 00:00–23:59)")
        }
        return (h1 * 10 + h2) * 60 + m1 * 10 + m2
    }

    /// Checks the zone: `invalid_killzone` for a blank name or `start == end`, `invalid_time` for a minute outside
    /// `0...1439`, `invalid_time_zone` for a name that is not a known IANA zone (it must contain a `/`, or be `UTC`).
    public func validate() throws(SMCParameterError) {
        if !name.unicodeScalars.contains(where: { !$0.properties.isWhitespace }) {
            throw SMCParameterError(code: "invalid_killzone", message: "a killzone needs a name")
        }
        for minute in [start, end] where !(0...1439).contains(minute) {
            throw SMCParameterError(code: "invalid_time",
                                    message: "killzone '\(name)': \(minute) is not a minute of the day (0...1439)")
        }
        if start == end {
            throw SMCParameterError(code: "invalid_killzone",
                                    message: "killzone '\(name)': start and end must differ (empty or 24-hour window)")
        }
        if UTCOffsetTable.shared(for: timeZone) == nil {
            throw SMCParameterError(code: "invalid_time_zone", message: "unknown time zone '\(timeZone)'")
        }
    }

    /// Whether a local minute of the day (`0...1439`) is inside the half-open window `[start, end)`, wrapping
    /// midnight when `end < start`.
    @inlinable
    public func contains(minuteOfDay m: Int) -> Bool {
        start < end ? (start <= m && m < end) : (m >= start || m < end)
    }

    /// ICT killzones, New York wall-clock: Asian 20:00–00:00, London open 02:00–05:00, New York open 07:00–10:00,
    /// London close 10:00–12:00.
    public static let ictDefaults: [Killzone] = [
        Killzone(name: "Asian", start: 20 * 60, end: 0, timeZone: "America/New_York"),
        Killzone(name: "London open", start: 2 * 60, end: 5 * 60, timeZone: "America/New_York"),
        Killzone(name: "New York open", start: 7 * 60, end: 10 * 60, timeZone: "America/New_York"),
        Killzone(name: "London close", start: 10 * 60, end: 12 * 60, timeZone: "America/New_York"),
    ]
}

/// A validated set of killzones that tags UTC instants (candle open times) with the zones they fall in.
///
/// Building one validates every zone (see `Killzone.validate()`). Lookups do not call Foundation: each distinct time
/// zone's UTC offsets are precomputed once per process (1970-01-01 to 2100-01-01 UTC, shared by all calendars) and
/// binary-searched; instants outside that range ask `TimeZone` directly. Equality, hashing and coding use `zones`
/// only; decoding validates again.
public struct KillzoneCalendar: Sendable, Hashable, Codable {
    /// The zones as given, disabled ones included, in declaration order.
    public let zones: [Killzone]

    /// Window of an enabled zone, as plain integers so the per-candle loop does no reference counting.
    private struct Window: Sendable {
        var start: Int32
        var end: Int32
        var table: Int32  // index into `tables`
    }

    /// Enabled zones only, in declaration order; `names[i]` belongs to `windows[i]`.
    private let windows: [Window]
    private let names: [String]
    /// One offset table per distinct time zone name.
    private let tables: [UTCOffsetTable]

    /// Validates every zone; throws the first zone's `SMCParameterError` (`invalid_killzone`, `invalid_time`,
    /// `invalid_time_zone`).
    public init(_ zones: [Killzone]) throws(SMCParameterError) {
        var tables: [UTCOffsetTable] = []
        var tableIndex: [String: Int] = [:]
        var windows: [Window] = []
        var names: [String] = []
        for zone in zones {
            try zone.validate()
            let index: Int
            if let known = tableIndex[zone.timeZone] {
                index = known
            } else {
                guard let table = UTCOffsetTable.shared(for: zone.timeZone) else {
                    throw SMCParameterError(code: "invalid_time_zone", message: "unknown time zone '\(zone.timeZone)'")
                }
                index = tables.count
                tables.append(table)
                tableIndex[zone.timeZone] = index
            }
            if zone.enabled {
                windows.append(Window(start: Int32(zone.start), end: Int32(zone.end), table: Int32(index)))
                names.append(zone.name)
            }
        }
        self.zones = zones
        self.windows = windows
        self.names = names
        self.tables = tables
    }

    /// Names of the enabled zones whose window contains the UTC instant `time` (epoch seconds), in declaration
    /// order. The window is half-open `[start, end)` in the zone's local wall-clock at that instant (the minute is
    /// the floor of the local time, so 07:59:59 is minute 07:59).
    public func active(at time: Int64) -> [String] {
        var result: [String] = []
        forEachActive(at: time) { result.append(names[$0]); return true }
        return result
    }

    /// The first name `active(at:)` would report, without allocating.
    public func first(at time: Int64) -> String? {
        var found: Int?
        forEachActive(at: time) { found = $0; return false }
        return found.map { names[$0] }
    }

    /// Calls `body` with the index (among enabled zones) of each active window, in order, until it returns false.
    @inline(__always)
    private func forEachActive(at time: Int64, _ body: (Int) -> Bool) {
        windows.withUnsafeBufferPointer { windows in
            var lastTable: Int32 = -1
            var minute: Int32 = 0
            for i in windows.indices {
                let w = windows[i]
                if w.table != lastTable {
                    minute = Int32(truncatingIfNeeded: tables[Int(w.table)].minuteOfDay(at: time))
                    lastTable = w.table
                }
                let inside = w.start < w.end ? (w.start <= minute && minute < w.end)
                                             : (minute >= w.start || minute < w.end)
                if inside && !body(i) { return }
            }
        }
    }

    /// Calendars are equal when their `zones` are.
    public static func == (a: KillzoneCalendar, b: KillzoneCalendar) -> Bool { a.zones == b.zones }
    /// Hashes `zones`.
    public func hash(into hasher: inout Hasher) { hasher.combine(zones) }

    private enum CodingKeys: String, CodingKey { case zones }

    /// Decodes `{"zones": [...]}` and validates it like `init(_:)`; an invalid zone is a `DecodingError`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let zones = try container.decode([Killzone].self, forKey: .zones)
        do {
            try self.init(zones)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .zones, in: container, debugDescription: error.message)
        }
    }

    /// Encodes as `{"zones": [...]}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(zones, forKey: .zones)
    }
}

/// UTC offsets of one IANA zone as a sorted list of transitions, so that looking one up is a binary search with
/// no locks or Foundation calls.
///
/// `offsets[i]` (seconds east of UTC) applies from `transitions[i]` up to the next transition; the table covers
/// `[transitions[0], upperBound)`. Instants outside it fall back to `TimeZone.secondsFromGMT(for:)`.
final class UTCOffsetTable: Sendable {
    /// Table range: 1970-01-01 to 2100-01-01 UTC.
    static let lowerBound: Int64 = 0
    static let upperBound: Int64 = 4_102_444_800

    let zone: TimeZone
    let transitions: [Int64]
    let offsets: [Int32]

    private static let cache = Mutex<[String: UTCOffsetTable]>([:])

    /// The process-wide table for an IANA name; `nil` when the name is not a zone (it must contain a `/`, or be
    /// `UTC`, and be known to the system's time zone database).
    static func shared(for identifier: String) -> UTCOffsetTable? {
        if let table = cache.withLock({ $0[identifier] }) { return table }
        guard !identifier.isEmpty, identifier.utf8.count <= 64,
              identifier.contains("/") || identifier == "UTC",
              let zone = TimeZone(identifier: identifier)
        else { return nil }
        let table = UTCOffsetTable(zone: zone)
        cache.withLock { $0[identifier] = table }
        return table
    }

    /// Builds the table by walking the zone's transitions (`nextDaylightSavingTimeTransition(after:)` reports every
    /// offset change, not only DST ones) across the covered range.
    init(zone: TimeZone) {
        self.zone = zone
        var transitions: [Int64] = [Self.lowerBound]
        var offsets: [Int32] = [Int32(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(Self.lowerBound))))]
        var cursor = Date(timeIntervalSince1970: Double(Self.lowerBound))
        while let next = zone.nextDaylightSavingTimeTransition(after: cursor), next > cursor {
            let t = Int64(next.timeIntervalSince1970.rounded(.down))
            guard t < Self.upperBound else { break }
            let offset = Int32(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t))))
            if t > transitions[transitions.count - 1] && offset != offsets[offsets.count - 1] {
                transitions.append(t)
                offsets.append(offset)
            }
            cursor = next
        }
        self.transitions = transitions
        self.offsets = offsets
    }

    /// Seconds east of UTC at the instant.
    @inline(__always)
    func offset(at time: Int64) -> Int64 {
        guard time >= Self.lowerBound, time < Self.upperBound else {
            return Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(time))))
        }
        let index = transitions.withUnsafeBufferPointer { t in
            // Last index whose transition is <= time (index 0 is lowerBound <= time).
            var low = 0
            var high = t.count
            while high - low > 1 {
                let mid = (low &+ high) >> 1
                if t[mid] <= time { low = mid } else { high = mid }
            }
            return low
        }
        return Int64(offsets.withUnsafeBufferPointer { $0[index] })
    }

    /// Local minute of the day (`0...1439`) at the instant.
    @inline(__always)
    func minuteOfDay(at time: Int64) -> Int {
        let local = time + offset(at: time)
        let secondOfDay = local - CivilTime.floorDiv(local, CivilTime.secondsPerDay) * CivilTime.secondsPerDay
        return Int(secondOfDay / 60)
    }
}
