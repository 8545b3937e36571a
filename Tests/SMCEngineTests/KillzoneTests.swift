import Foundation
import Testing
@testable import SMCEngine

/// UTC epoch seconds of a civil UTC date-time.
private func utc(_ y: Int, _ mo: Int, _ d: Int, _ h: Int, _ mi: Int, _ s: Int = 0) -> Int64 {
    CivilTime.days(year: y, month: mo, day: d) * 86_400 + Int64(h * 3600 + mi * 60 + s)
}

/// The `SMCParameterError` code a body throws, or nil (another error type gives "unexpected ...").
func code(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let error as SMCParameterError {
        return error.code
    } catch {
        return "unexpected \(error)"
    }
}

private let ny = "America/New_York"
private let london = "Europe/London"

private func calendar(_ zones: Killzone...) throws -> KillzoneCalendar {
    try KillzoneCalendar(zones)
}

/// Checks that a window named `name` starts exactly at `start` (UTC) and lasts `length` seconds: inactive the
/// second before, active at `start` and at the last second, inactive at the end (half-open).
private func expectWindow(_ cal: KillzoneCalendar, _ name: String, start: Int64, length: Int64,
                          sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(!cal.active(at: start - 1).contains(name), "before start", sourceLocation: sourceLocation)
    #expect(cal.active(at: start).contains(name), "at start", sourceLocation: sourceLocation)
    #expect(cal.active(at: start + length / 2).contains(name), "middle", sourceLocation: sourceLocation)
    #expect(cal.active(at: start + length - 1).contains(name), "last second", sourceLocation: sourceLocation)
    #expect(!cal.active(at: start + length).contains(name), "at end", sourceLocation: sourceLocation)
}

@Suite struct KillzoneTests {
    @Test func epochHelperMatchesKnownInstants() {
        #expect(utc(1970, 1, 1, 0, 0) == 0)
        #expect(utc(2024, 1, 1, 0, 0) == 1_704_067_200)
        #expect(utc(2024, 3, 10, 7, 0) == 1_710_054_000)  // US spring-forward instant
        #expect(utc(2024, 11, 3, 6, 0) == 1_730_613_600)  // US fall-back instant
    }

    @Test func ictDefaultsAreValidAndNewYork() throws {
        let zones = Killzone.ictDefaults
        #expect(zones.map(\.name) == ["Asian", "London open", "New York open", "London close"])
        #expect(zones.map(\.start) == [1200, 120, 420, 600])
        #expect(zones.map(\.end) == [0, 300, 600, 720])
        #expect(zones.allSatisfy { $0.timeZone == ny && $0.enabled })
        let parsed = try [
            Killzone(name: "Asian", start: "20:00", end: "00:00", timeZone: ny),
            Killzone(name: "London open", start: "02:00", end: "05:00", timeZone: ny),
            Killzone(name: "New York open", start: "07:00", end: "10:00", timeZone: ny),
            Killzone(name: "London close", start: "10:00", end: "12:00", timeZone: ny),
        ]
        #expect(parsed == zones)
        _ = try KillzoneCalendar(zones)
    }

    /// NY 07:00–10:00: 12:00 UTC on EST days, 11:00 UTC on EDT days, on the days either side of each change.
    @Test(arguments: [
        (2024, 3, 9, 12), (2024, 3, 10, 11), (2024, 3, 11, 11),
        (2024, 11, 2, 11), (2024, 11, 3, 12), (2024, 11, 4, 12),
        (2024, 1, 15, 12), (2024, 7, 15, 11),
    ])
    func newYorkOpenFollowsUSDST(_ y: Int, _ m: Int, _ d: Int, _ utcHour: Int) throws {
        let cal = try KillzoneCalendar(Killzone.ictDefaults)
        expectWindow(cal, "New York open", start: utc(y, m, d, utcHour, 0), length: 3 * 3600)
        // London close follows on directly: NY open's end is London close's start.
        let tenNY = utc(y, m, d, utcHour + 3, 0)
        #expect(cal.active(at: tenNY) == ["London close"])
        #expect(cal.active(at: tenNY - 1) == ["New York open"])
        #expect(cal.first(at: tenNY) == "London close")
    }

    /// London 08:00–09:00: 08:00 UTC on GMT days, 07:00 UTC on BST days, on the days either side of each change.
    @Test(arguments: [
        (2024, 3, 30, 8), (2024, 3, 31, 7), (2024, 4, 1, 7),
        (2024, 10, 26, 7), (2024, 10, 27, 8), (2024, 10, 28, 8),
    ])
    func londonWindowFollowsUKDST(_ y: Int, _ m: Int, _ d: Int, _ utcHour: Int) throws {
        let cal = try calendar(Killzone(name: "LDN 8", start: "08:00", end: "09:00", timeZone: london))
        expectWindow(cal, "LDN 8", start: utc(y, m, d, utcHour, 0), length: 3600)
    }

    /// Between the US and UK changes New York is 4 hours behind London, not 5.
    @Test func weeksBetweenUSAndUKChanges() throws {
        let cal = try calendar(
            Killzone(name: "LDN noon", start: "12:00", end: "12:01", timeZone: london),
            Killzone(name: "NY 8", start: "08:00", end: "08:01", timeZone: ny),
            Killzone(name: "NY 7", start: "07:00", end: "07:01", timeZone: ny))
        // Before either change: 5 hours (12:00 London = 07:00 New York).
        #expect(cal.active(at: utc(2024, 3, 5, 12, 0)) == ["LDN noon", "NY 7"])
        // US on DST, UK not yet (2024-03-10 ... 2024-03-30): 4 hours.
        for day in [10, 11, 20, 30] {
            #expect(cal.active(at: utc(2024, 3, day, 12, 0)) == ["LDN noon", "NY 8"], "March \(day)")
        }
        // Both on DST: 5 hours again (12:00 BST = 11:00 UTC = 07:00 EDT).
        #expect(cal.active(at: utc(2024, 3, 31, 11, 0)) == ["LDN noon", "NY 7"])
        #expect(cal.active(at: utc(2024, 4, 2, 11, 0)) == ["LDN noon", "NY 7"])
        // Autumn: UK back on GMT from 2024-10-27, US still on EDT until 2024-11-03: 4 hours.
        #expect(cal.active(at: utc(2024, 10, 26, 11, 0)) == ["LDN noon", "NY 7"])
        for day in [27, 30] {
            #expect(cal.active(at: utc(2024, 10, day, 12, 0)) == ["LDN noon", "NY 8"], "October \(day)")
        }
        #expect(cal.active(at: utc(2024, 11, 2, 12, 0)) == ["LDN noon", "NY 8"])
        #expect(cal.active(at: utc(2024, 11, 4, 12, 0)) == ["LDN noon", "NY 7"])
    }

    /// Windows across midnight, in winter (EST, UTC-5) and summer (EDT, UTC-4).
    @Test(arguments: [(2024, 1, 15, 5), (2024, 7, 15, 4)])
    func windowsAcrossMidnight(_ y: Int, _ m: Int, _ d: Int, _ behind: Int) throws {
        let cal = try calendar(
            Killzone(name: "Asian", start: "20:00", end: "00:00", timeZone: ny),
            Killzone(name: "Late", start: "22:00", end: "02:00", timeZone: ny))
        /// UTC instant of a New York wall-clock time on day `d` (or the next day for `nextDay`).
        func local(_ h: Int, _ mi: Int, _ s: Int = 0, nextDay: Bool = false) -> Int64 {
            utc(y, m, d, h, mi, s) + Int64(behind * 3600) + (nextDay ? 86_400 : 0)
        }
        #expect(cal.active(at: local(19, 59)) == [])
        #expect(cal.active(at: local(19, 59, 59)) == [])
        #expect(cal.active(at: local(20, 0)) == ["Asian"])
        #expect(cal.active(at: local(21, 59, 59)) == ["Asian"])
        #expect(cal.active(at: local(22, 0)) == ["Asian", "Late"])
        #expect(cal.active(at: local(23, 59)) == ["Asian", "Late"])
        #expect(cal.active(at: local(23, 59, 59)) == ["Asian", "Late"])
        #expect(cal.active(at: local(0, 0, nextDay: true)) == ["Late"])  // Asian ends at midnight, excluded
        #expect(cal.active(at: local(1, 59, nextDay: true)) == ["Late"])
        #expect(cal.active(at: local(1, 59, 59, nextDay: true)) == ["Late"])
        #expect(cal.active(at: local(2, 0, nextDay: true)) == [])
        // The same wall-clock times one day earlier behave the same (the window recurs every day).
        #expect(cal.active(at: local(0, 30)) == ["Late"])
        #expect(cal.first(at: local(22, 30)) == "Asian")
        #expect(cal.first(at: local(12, 0)) == nil)
    }

    /// The window is defined by the wall-clock time of the instant, also in the DST gap and overlap hours.
    @Test func gapAndOverlapHours() throws {
        let cal = try calendar(
            Killzone(name: "NY 1-2", start: "01:00", end: "02:00", timeZone: ny),
            Killzone(name: "NY 2-3", start: "02:00", end: "03:00", timeZone: ny),
            Killzone(name: "NY late", start: "22:00", end: "02:00", timeZone: ny),
            Killzone(name: "LDN 1-2", start: "01:00", end: "02:00", timeZone: london))

        // Spring forward, New York, 2024-03-10 07:00 UTC: 01:59:59 EST is followed by 03:00:00 EDT.
        #expect(cal.active(at: utc(2024, 3, 10, 6, 0)) == ["NY 1-2", "NY late"])  // 01:00 EST
        #expect(cal.active(at: utc(2024, 3, 10, 6, 59, 59)) == ["NY 1-2", "NY late"])  // 01:59:59 EST
        #expect(cal.active(at: utc(2024, 3, 10, 7, 0)) == [])  // 03:00 EDT
        // 02:00–03:00 does not happen that day at all; it does the day before (02:00 EST = 07:00 UTC).
        var t = utc(2024, 3, 10, 0, 0)
        while t < utc(2024, 3, 11, 4, 0) {  // up to 2024-03-11 00:00 EDT
            #expect(!cal.active(at: t).contains("NY 2-3"))
            t += 60
        }
        expectWindow(cal, "NY 2-3", start: utc(2024, 3, 9, 7, 0), length: 3600)
        expectWindow(cal, "NY 2-3", start: utc(2024, 3, 11, 6, 0), length: 3600)
        // The midnight-crossing window that night: 22:00 EST (03:00 UTC) up to the jump.
        expectWindow(cal, "NY late", start: utc(2024, 3, 10, 3, 0), length: 4 * 3600)

        // Fall back, New York, 2024-11-03 06:00 UTC: 01:00–01:59 happens twice (EDT, then EST).
        #expect(cal.active(at: utc(2024, 11, 3, 4, 59, 59)) == ["NY late"])  // 00:59:59 EDT
        #expect(cal.active(at: utc(2024, 11, 3, 5, 0)) == ["NY 1-2", "NY late"])  // 01:00 EDT
        #expect(cal.active(at: utc(2024, 11, 3, 5, 30)) == ["NY 1-2", "NY late"])  // 01:30 EDT
        #expect(cal.active(at: utc(2024, 11, 3, 6, 30)) == ["NY 1-2", "NY late"])  // 01:30 EST
        #expect(cal.active(at: utc(2024, 11, 3, 6, 59, 59)) == ["NY 1-2", "NY late"])  // 01:59:59 EST
        #expect(cal.active(at: utc(2024, 11, 3, 7, 0)) == ["NY 2-3"])  // 02:00 EST
        expectWindow(cal, "NY 1-2", start: utc(2024, 11, 3, 5, 0), length: 2 * 3600)
        // The midnight-crossing window that night lasts 5 hours: 22:00 EDT (02:00 UTC) to 02:00 EST (07:00 UTC).
        expectWindow(cal, "NY late", start: utc(2024, 11, 3, 2, 0), length: 5 * 3600)

        // London, spring forward 2024-03-31 01:00 UTC: 00:59:59 GMT is followed by 02:00 BST.
        #expect(cal.active(at: utc(2024, 3, 31, 0, 59, 59)) == [])
        #expect(cal.active(at: utc(2024, 3, 31, 1, 0)) == [])
        #expect(cal.active(at: utc(2024, 3, 30, 1, 0)).contains("LDN 1-2"))
        // London, fall back 2024-10-27 01:00 UTC: 01:00 BST (00:00 UTC) to 02:00 GMT (02:00 UTC).
        expectWindow(cal, "LDN 1-2", start: utc(2024, 10, 27, 0, 0), length: 2 * 3600)
        expectWindow(cal, "LDN 1-2", start: utc(2024, 10, 26, 0, 0), length: 3600)
        expectWindow(cal, "LDN 1-2", start: utc(2024, 10, 28, 1, 0), length: 3600)
    }

    @Test func halfOpenBoundariesAndDeclarationOrder() throws {
        let cal = try calendar(
            Killzone(name: "B", start: "09:00", end: "10:00", timeZone: "UTC"),
            Killzone(name: "A", start: "08:00", end: "09:30", timeZone: "UTC"),
            Killzone(name: "C", start: "09:30", end: "09:31", timeZone: "UTC"))
        let day = utc(2024, 5, 1, 0, 0)
        #expect(cal.active(at: day + 8 * 3600 - 1) == [])
        #expect(cal.active(at: day + 8 * 3600) == ["A"])
        #expect(cal.active(at: day + 9 * 3600) == ["B", "A"])
        #expect(cal.first(at: day + 9 * 3600) == "B")
        #expect(cal.active(at: day + 9 * 3600 + 29 * 60 + 59) == ["B", "A"])
        #expect(cal.active(at: day + 9 * 3600 + 30 * 60) == ["B", "C"])
        #expect(cal.active(at: day + 9 * 3600 + 31 * 60) == ["B"])
        #expect(cal.active(at: day + 10 * 3600 - 1) == ["B"])
        #expect(cal.active(at: day + 10 * 3600) == [])
        // Instants before 1970 use floor division (still the right local minute).
        #expect(cal.active(at: utc(1969, 12, 31, 9, 30)) == ["B", "C"])
    }

    @Test func disabledZoneIsNeverActive() throws {
        let cal = try calendar(
            Killzone(name: "Off", start: "00:00", end: "23:59", timeZone: ny, enabled: false),
            Killzone(name: "On", start: "07:00", end: "10:00", timeZone: ny))
        #expect(cal.zones.count == 2)
        #expect(cal.active(at: utc(2024, 1, 15, 12, 0)) == ["On"])
        #expect(cal.first(at: utc(2024, 1, 15, 12, 0)) == "On")
        #expect(cal.active(at: utc(2024, 1, 15, 18, 0)) == [])
        #expect(cal.first(at: utc(2024, 1, 15, 18, 0)) == nil)
        // A disabled zone is still validated.
        #expect(code { _ = try KillzoneCalendar([Killzone(name: "Off", start: 0, end: 0, timeZone: ny, enabled: false)]) }
                == "invalid_killzone")
        #expect(try KillzoneCalendar([]).active(at: 0) == [])
    }

    @Test(arguments: ["24:00", "12:60", "7:00", "07:0", "0700", "", "ab:cd", "+1:00", "-1:00", "07:00 ", " 07:00",
                      "07:00:00", "٠٧:٠٠", "07.00", "99:99"])
    func invalidTimesThrow(_ text: String) {
        #expect(code { _ = try Killzone.minutes(text) } == "invalid_time")
        #expect(code { _ = try Killzone(name: "X", start: text, end: "10:00", timeZone: ny) } == "invalid_time")
        #expect(code { _ = try Killzone(name: "X", start: "10:00", end: text, timeZone: ny) } == "invalid_time")
    }

    @Test func validTimesParse() throws {
        #expect(try Killzone.minutes("00:00") == 0)
        #expect(try Killzone.minutes("23:59") == 1439)
        #expect(try Killzone.minutes("07:05") == 425)
        let z = try Killzone(name: "Z", start: "22:00", end: "02:00", timeZone: "Asia/Tokyo", enabled: false)
        #expect(z == Killzone(name: "Z", start: 1320, end: 120, timeZone: "Asia/Tokyo", enabled: false))
    }

    @Test(arguments: ["Mars/Olympus", "", "EST", "New_York", "America/New_York ", "Local", "GMT+5"])
    func invalidTimeZonesThrow(_ zone: String) {
        #expect(code { _ = try Killzone(name: "X", start: "07:00", end: "10:00", timeZone: zone) } == "invalid_time_zone")
        #expect(code { _ = try KillzoneCalendar([Killzone(name: "X", start: 1, end: 2, timeZone: zone)]) }
                == "invalid_time_zone")
    }

    @Test func invalidKillzonesThrow() {
        #expect(code { _ = try Killzone(name: "X", start: "10:00", end: "10:00", timeZone: ny) } == "invalid_killzone")
        #expect(code { _ = try Killzone(name: "", start: "07:00", end: "10:00", timeZone: ny) } == "invalid_killzone")
        #expect(code { _ = try Killzone(name: " \t", start: "07:00", end: "10:00", timeZone: ny) } == "invalid_killzone")
        #expect(code { _ = try KillzoneCalendar([Killzone(name: "X", start: 600, end: 600, timeZone: ny)]) }
                == "invalid_killzone")
        #expect(code { _ = try KillzoneCalendar([Killzone(name: "X", start: 1440, end: 600, timeZone: ny)]) }
                == "invalid_time")
        #expect(code { _ = try KillzoneCalendar([Killzone(name: "X", start: 600, end: -1, timeZone: ny)]) }
                == "invalid_time")
        // The first invalid zone is reported.
        #expect(code {
            _ = try KillzoneCalendar(Killzone.ictDefaults + [Killzone(name: "Bad", start: 1, end: 2, timeZone: "X/Y")])
        } == "invalid_time_zone")
        #expect(code { _ = try Killzone(name: "Etc", start: "07:00", end: "10:00", timeZone: "Etc/GMT+5") } == nil)
        #expect(code { _ = try Killzone(name: "U", start: "07:00", end: "10:00", timeZone: "UTC") } == nil)
    }

    @Test func calendarCodableRoundTrip() throws {
        let cal = try KillzoneCalendar(Killzone.ictDefaults + [
            Killzone(name: "LDN", start: 480, end: 540, timeZone: london, enabled: false),
        ])
        let data = try JSONEncoder().encode(cal)
        let back = try JSONDecoder().decode(KillzoneCalendar.self, from: data)
        #expect(back == cal)
        #expect(back.hashValue == cal.hashValue)
        #expect(back.active(at: utc(2024, 1, 15, 12, 0)) == ["New York open"])
        let bad = Data(#"{"zones":[{"name":"X","start":1,"end":1,"timeZone":"UTC","enabled":true}]}"#.utf8)
        #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode(KillzoneCalendar.self, from: bad) }
    }

    /// The precomputed transition table agrees with `TimeZone` everywhere, including around every transition and
    /// outside the table range (where it falls back to `TimeZone`).
    @Test(arguments: ["America/New_York", "Europe/London", "Europe/Moscow", "Australia/Lord_Howe", "Asia/Kolkata",
                      "Pacific/Apia", "Pacific/Chatham", "America/Caracas", "Asia/Pyongyang", "UTC", "Etc/GMT+5",
                      "America/Sao_Paulo", "Africa/Casablanca"])
    func offsetTableMatchesTimeZone(_ identifier: String) throws {
        let table = try #require(UTCOffsetTable.shared(for: identifier))
        let zone = try #require(TimeZone(identifier: identifier))
        func direct(_ t: Int64) -> Int64 { Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t)))) }
        var instants: [Int64] = [0, 1, UTCOffsetTable.upperBound - 1, UTCOffsetTable.upperBound,
                                 utc(1950, 6, 1, 0, 0), utc(2150, 6, 1, 0, 0), utc(1969, 12, 31, 23, 59, 59)]
        for t in table.transitions { instants += [t - 3601, t - 1, t, t + 1, t + 3600] }
        var rng = SplitMix(seed: UInt64(identifier.utf8.count) &* 7919)
        for _ in 0..<5_000 { instants.append(Int64(rng.next() % UInt64(UTCOffsetTable.upperBound))) }
        for t in instants {
            #expect(table.offset(at: t) == direct(t), "\(identifier) at \(t)")
        }
        if identifier == "America/New_York" {
            // 2 transitions a year at least since 1970.
            #expect(table.transitions.count > 250)
            #expect(table.transitions.contains(utc(2024, 3, 10, 7, 0)))
            #expect(table.transitions.contains(utc(2024, 11, 3, 6, 0)))
        }
    }
}

