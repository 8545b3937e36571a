import Foundation
import SMCAPI
import SMCEngine
import SMCSync

/// One thing wrong with an input, at a field named by a JSON pointer (`/stop_price`, `/targets/1`), as the server's
/// 422 `errors` name them; `field` is nil for the input as a whole.
public struct FieldProblem: Sendable, Equatable, CustomStringConvertible {
    public var field: String?
    public var message: String

    public init(_ field: String?, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { field.map { "\($0.dropFirst()): \(message)" } ?? message }
}

/// The server's rules for a trade (`JournalRules.draft` and `Watchlist.normalise` in SMCServer), applied to a
/// trade's fields as sync carries them (`TradeCreate` members), so that an offline edit the server would refuse is
/// refused at once instead of at the next sync, with the same fields and messages as its 422, and what the server
/// would normalise (the symbol, tags, labels, an empty note) is stored normalised.
///
/// Nothing here depends on the client: this is the one implementation both sides could share (SMCSync).
public enum TradeRules {
    public static let maxTags = 20
    public static let maxScreenshots = 10
    public static let maxTargets = 10
    public static let maxText = 10_000
    /// Prices, sizes and fees beyond this are mistakes, not trades.
    public static let maxAmount = 1e12
    /// How far in the future an exit may be (clock skew between a client and the server), in microseconds.
    public static let clockSkew: Int64 = 5 * 60 * 1_000_000

    /// `eur/usd`, `EUR-USD`, ` eurusd ` → `EURUSD` (the server's `Watchlist.normalise`).
    public static func normaliseSymbol(_ symbol: String) -> String {
        symbol.uppercased().filter { !"/-_. ".contains($0) }
    }

    /// Whether a normalised symbol is one: 3–20 letters and digits.
    public static func isSymbol(_ symbol: String) -> Bool {
        symbol.range(of: "^[A-Z0-9]{3,20}$", options: .regularExpression) != nil
    }

    /// Checks and normalises a trade's fields (`.number` amounts, RFC 3339 times, …); returns the normalised fields
    /// and every problem, in the server's order. `now` bounds exit times.
    public static func check(_ input: [String: JSONValue], now: Date = Date()) -> (fields: [String: JSONValue], problems: [FieldProblem]) {
        var fields = input
        var p: [FieldProblem] = []
        func require(_ ok: Bool, _ field: String, _ message: String) { if !ok { p.append(FieldProblem(field, message)) } }
        func number(_ key: String) -> Double? { if case .number(let n)? = input[key] { n } else { nil } }
        func text(_ key: String) -> String? { if case .string(let s)? = input[key] { s } else { nil } }
        func amount(_ value: Double?, _ field: String, positive: Bool) {
            guard let value else { return }
            if positive {
                require(value.isFinite && value > 0 && value <= maxAmount, field, "must be above 0 (and at most 1e12)")
            } else {
                require(value.isFinite && value >= 0 && value <= maxAmount, field, "must be 0 or more (and at most 1e12)")
            }
        }
        // Members a `TradeCreate` requires, of the types it requires (the server's decoding would refuse the rest).
        for (key, kind) in [("symbol", "a string"), ("direction", "long or short"), ("entry_price", "a number"), ("entry_time", "a string")]
        where input[key] == nil || input[key] == .null {
            p.append(FieldProblem("/\(key)", "is required (\(kind))"))
        }

        let symbol = normaliseSymbol(text("symbol") ?? "")
        if input["symbol"] != nil {
            require(isSymbol(symbol), "/symbol", "is not a symbol (3–20 letters and digits)")
            fields["symbol"] = .string(symbol)
        }
        var direction = 1.0
        switch input["direction"] {
        case .string("long")?, nil: break
        case .string("short")?: direction = -1
        default: p.append(FieldProblem("/direction", "must be long or short"))
        }
        amount(number("entry_price"), "/entry_price", positive: true)
        amount(number("stop_price"), "/stop_price", positive: true)
        amount(number("size"), "/size", positive: true)
        amount(number("fees"), "/fees", positive: false)
        amount(number("exit_price"), "/exit_price", positive: true)
        let entry = number("entry_price") ?? .nan
        if let stop = number("stop_price"), stop.isFinite, entry.isFinite {
            require(
                (stop - entry) * direction < 0, "/stop_price",
                direction > 0 ? "must be below the entry price for a long" : "must be above the entry price for a short")
        }
        var targets: [JSONValue] = []
        if case .array(let list)? = input["targets"] { targets = list }
        require(targets.count <= maxTargets, "/targets", "at most \(maxTargets) targets")
        for (i, value) in targets.enumerated() {
            guard case .number(let target) = value else {
                p.append(FieldProblem("/targets/\(i)", "must be a number"))
                continue
            }
            amount(target, "/targets/\(i)", positive: true)
            if target.isFinite, entry.isFinite {
                require(
                    (target - entry) * direction > 0, "/targets/\(i)",
                    direction > 0 ? "must be above the entry price for a long" : "must be below the entry price for a short")
            }
        }
        let entryTime = text("entry_time").flatMap { time($0, "/entry_time", &p) }
        let exitTime = text("exit_time").flatMap { time($0, "/exit_time", &p) }
        // Times as the server writes them back (UTC, microseconds, a fraction only when there is one).
        if let entryTime { fields["entry_time"] = .string(CivilTime.rfc3339(micros: entryTime)) }
        if let exitTime { fields["exit_time"] = .string(CivilTime.rfc3339(micros: exitTime)) }
        let hasExitPrice = input["exit_price"].map { $0 != .null } ?? false
        let hasExitTime = input["exit_time"].map { $0 != .null } ?? false
        require(
            hasExitPrice == hasExitTime, hasExitPrice ? "/exit_time" : "/exit_price",
            "exit_price and exit_time go together (both for a closed trade, neither for an open one)")
        if let exitTime {
            if let entryTime { require(exitTime >= entryTime, "/exit_time", "must not be before entry_time") }
            require(exitTime <= micros(now) + clockSkew, "/exit_time", "must not be in the future")
        }
        if let notes = text("notes") {
            require(notes.count <= maxText, "/notes", "must be at most \(maxText) characters")
            require(!notes.contains("\u{0}"), "/notes", "must not contain the NUL character (U+0000)")
            if notes.isEmpty { fields.removeValue(forKey: "notes") }
        }
        if case .array(let list)? = input["tags"] {
            let texts = list.compactMap { if case .string(let t) = $0 { t } else { nil } }
            require(texts.count == list.count, "/tags", "must be an array of strings")
            fields["tags"] = .array(tags(texts, into: &p).map(JSONValue.string))
        }
        if case .array(let screenshots)? = input["screenshots"] {
            require(screenshots.count <= maxScreenshots, "/screenshots", "at most \(maxScreenshots) screenshots")
            for (i, value) in screenshots.enumerated() {
                let url: String = if case .string(let s) = value { s } else { "" }
                require(isScreenshotURL(url), "/screenshots/\(i)", "must be an https:// URL (no credentials, at most 2048 characters)")
            }
        }
        if let signal = text("signal_id") {
            require(UUID(uuidString: signal) != nil, "/signal_id", "is not a UUID")
        }
        for key in ["setup_type", "killzone"] {
            guard let value = text(key) else { continue }
            let label = trimmingWhitespace(value)
            require((1...50).contains(label.count) && !containsControl(label), "/\(key)", "must be 1–50 characters")
            fields[key] = .string(label)
        }
        if let timeframe = input["timeframe"], timeframe != .null {
            let valid = Components.Schemas.Timeframe.allCases.map(\.rawValue)
            if case .string(let tf) = timeframe, valid.contains(tf) {
            } else {
                p.append(FieldProblem("/timeframe", "must be one of \(valid.joined(separator: " "))"))
            }
        }
        // What the server's draft fills in when absent.
        for (key, value) in [("targets", JSONValue.array([])), ("size", .number(1)), ("fees", .number(0)), ("tags", .array([])),
                             ("screenshots", .array([]))]
        where fields[key] == nil || fields[key] == .null {
            fields[key] = value
        }
        return (fields, p)
    }

    /// Trims Unicode whitespace at both ends (the server's `trimmingWhitespace`).
    public static func trimmingWhitespace(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[start...end])
    }

    public static func containsControl(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }

    /// An `https://` URL with a host and no credentials, at most 2048 characters.
    public static func isScreenshotURL(_ text: String) -> Bool {
        let unsafe = text.unicodeScalars.contains { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }
        guard text.utf8.count <= 2048, !unsafe,
            let url = URLComponents(string: text), url.scheme?.lowercased() == "https", let host = url.host, !host.isEmpty,
            url.user == nil, url.password == nil, text.lowercased().hasPrefix("https://")
        else { return false }
        return true
    }

    private static func time(_ text: String, _ field: String, _ problems: inout [FieldProblem]) -> Int64? {
        let value = micros(rfc3339: text)
        if value == nil { problems.append(FieldProblem(field, "is not an RFC 3339 date-time (e.g. 2025-06-02T08:15:00Z)")) }
        return value
    }

    private static let rfc3339Pattern =
        #"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"#

    /// An RFC 3339 date-time → microseconds since 1970, exactly as the server reads one (`RFC3339.micros`).
    public static func micros(rfc3339 text: String) -> Int64? {
        guard text.utf8.count <= 40, let match = text.wholeMatch(of: try! Regex(rfc3339Pattern)) else { return nil }
        func int(_ i: Int) -> Int? { match.output[i].substring.flatMap { Int($0) } }
        guard let year = int(1), let month = int(2), let day = int(3), let hour = int(4), let minute = int(5),
            let second = int(6), (1...9999).contains(year), (1...12).contains(month),
            (1...CivilTime.daysInMonth(year: year, month: month)).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        var fraction: Int64 = 0
        if let digits = match.output[7].substring?.dropFirst() {
            fraction = Int64(String((digits + "000000").prefix(6)))!
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

    /// Microseconds since 1970, saturating far outside the years 1–9999 (which the rules refuse anyway).
    static func micros(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1_000_000).rounded()
        guard value.isFinite, abs(value) < 1e18 else { return value < 0 ? -1_000_000_000_000_000_000 : 1_000_000_000_000_000_000 }
        return Int64(value)
    }

    /// Tags, trimmed: 1–40 characters each, at most 20, no duplicates, no control characters (`JournalRules.tags`).
    public static func tags(_ tags: [String], field: String = "/tags", into problems: inout [FieldProblem]) -> [String] {
        if tags.count > maxTags { problems.append(FieldProblem(field, "at most \(maxTags) tags")) }
        var seen = Set<String>()
        var result: [String] = []
        for (i, raw) in tags.enumerated() {
            let tag = trimmingWhitespace(raw)
            if !(1...40).contains(tag.count) { problems.append(FieldProblem("\(field)/\(i)", "must be 1–40 characters")) }
            if containsControl(tag) { problems.append(FieldProblem("\(field)/\(i)", "must not contain control characters")) }
            if !seen.insert(tag).inserted { problems.append(FieldProblem("\(field)/\(i)", "\(tag) is listed twice")) }
            result.append(tag)
        }
        return result
    }

    /// The server's rules for an annotation's members (`AnnotationValues.checked` and `SignalsService.annotate`):
    /// a note of at most 10,000 characters without NUL (empty removes it), tags as for a trade. Returns the
    /// normalised members and the problems.
    public static func annotation(note: String?, tags list: [String]?) -> (note: JSONValue?, tags: [String]?, problems: [FieldProblem]) {
        var p: [FieldProblem] = []
        if let note {
            if note.count > maxText { p.append(FieldProblem("/note", "must be at most \(maxText) characters")) }
            if note.contains("\u{0}") { p.append(FieldProblem("/note", "must not contain the NUL character (U+0000)")) }
        }
        let clean = list.map { tags($0, into: &p) }
        return (note.map { $0.isEmpty ? .null : .string($0) }, clean, p)
    }
}
