import Crypto
import Foundation
import SMCAPI
import SMCSync

typealias TradeCreate = Components.Schemas.TradeCreate

/// A trade's user-editable fields, checked and normalised: what create and PATCH store.
struct TradeDraft: Sendable, Equatable, Codable {
    var symbol: String
    /// 1 long, −1 short.
    var direction: Int
    var entryPrice: Double
    var stopPrice: Double?
    var targets: [Double]
    var size: Double
    var fees: Double
    /// Microseconds since 1970.
    var entryTime: Int64
    var exitPrice: Double?
    var exitTime: Int64?
    var notes: String?
    var tags: [String]
    var screenshots: [String]
    var signalID: UUID?
    var setupType: String?
    var killzone: String?
    var timeframe: String?

    var isClosed: Bool { exitPrice != nil }

    /// SHA-256 of the draft (and the id): equal creates have equal digests.
    func digest(id: UUID) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = Data(id.uuidString.lowercased().utf8)
        data.append((try? encoder.encode(self)) ?? Data())
        return Array(SHA256.hash(data: data))
    }
}

/// The journal's input rules; every violation is collected and reported by field (JSON pointer).
enum JournalRules {
    static let maxTags = 20
    static let maxScreenshots = 10
    static let maxTargets = 10
    static let maxText = 10_000
    /// Prices, sizes and fees beyond this are mistakes, not trades.
    static let maxAmount = 1e12
    /// How far in the future an exit may be (clock skew between the client and us).
    static let clockSkew: Int64 = 5 * 60 * 1_000_000

    /// Tags: trimmed, 1–40 characters each, at most 20, no duplicates, no control characters.
    static func tags(_ tags: [String], field: String = "/tags", into problems: inout FieldErrors) -> [String] {
        problems.check(tags.count <= maxTags, field, "at most \(maxTags) tags")
        var seen = Set<String>()
        var result: [String] = []
        for (i, raw) in tags.enumerated() {
            let tag = raw.trimmingWhitespace()
            problems.check(!tag.isEmpty && raw.unicodeScalars.count <= 40, "\(field)/\(i)", "must be 1–40 characters")
            problems.check(!AccountRules.containsControl(tag), "\(field)/\(i)", "must not contain control characters")
            problems.check(seen.insert(tag).inserted, "\(field)/\(i)", "\(tag) is listed twice")
            result.append(tag)
        }
        return result
    }

    /// A price, size or fee: finite, within bounds.
    static func amount(_ value: Double?, _ field: String, positive: Bool, into problems: inout FieldErrors) {
        guard let value else { return }
        if positive {
            problems.check(value.isFinite && value > 0 && value <= maxAmount, field, "must be above 0 (and at most 1e12)")
        } else {
            problems.check(value.isFinite && value >= 0 && value <= maxAmount, field, "must be 0 or more (and at most 1e12)")
        }
    }

    /// A short label (setup type, killzone): trimmed, 1–50 characters, no control characters.
    static func label(_ value: String?, _ field: String, into problems: inout FieldErrors) -> String? {
        guard let value else { return nil }
        let label = value.trimmingWhitespace()
        problems.check((1...50).contains(label.count) && !AccountRules.containsControl(label), field, "must be 1–50 characters")
        return label
    }

    /// An `https://` URL with a host and no credentials, at most 2048 characters.
    static func isScreenshotURL(_ text: String) -> Bool {
        let unsafe = text.unicodeScalars.contains { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }
        guard text.utf8.count <= 2048, !unsafe,
            let url = URLComponents(string: text), url.scheme?.lowercased() == "https", let host = url.host, !host.isEmpty,
            url.user == nil, url.password == nil, text.lowercased().hasPrefix("https://")
        else { return false }
        return true
    }

    /// Checks and normalises a create body (or a PATCHed document); `now` bounds exit times.
    static func draft(_ input: TradeCreate, now: Date = Date()) throws -> TradeDraft {
        var p = FieldErrors()
        let symbol = Watchlist.normalise(input.symbol)
        p.check(
            symbol.range(of: "^[A-Z0-9]{3,20}$", options: .regularExpression) != nil, "/symbol",
            "is not a symbol (3–20 letters and digits)")
        let direction = input.direction == .long ? 1 : -1
        amount(input.entryPrice, "/entry_price", positive: true, into: &p)
        amount(input.stopPrice, "/stop_price", positive: true, into: &p)
        amount(input.size, "/size", positive: true, into: &p)
        amount(input.fees, "/fees", positive: false, into: &p)
        amount(input.exitPrice, "/exit_price", positive: true, into: &p)
        let entry = input.entryPrice
        if let stop = input.stopPrice, stop.isFinite, entry.isFinite {
            p.check(
                (stop - entry) * Double(direction) < 0, "/stop_price",
                direction > 0 ? "must be below the entry price for a long" : "must be above the entry price for a short")
        }
        let targets = input.targets ?? []
        p.check(targets.count <= maxTargets, "/targets", "at most \(maxTargets) targets")
        for (i, target) in targets.enumerated() {
            amount(target, "/targets/\(i)", positive: true, into: &p)
            if target.isFinite, entry.isFinite {
                p.check(
                    (target - entry) * Double(direction) > 0, "/targets/\(i)",
                    direction > 0 ? "must be above the entry price for a long" : "must be below the entry price for a short")
            }
        }
        let entryTime = time(input.entryTime, "/entry_time", into: &p)
        let exitTime = input.exitTime.flatMap { time($0, "/exit_time", into: &p) }
        p.check((input.exitPrice == nil) == (input.exitTime == nil), input.exitPrice == nil ? "/exit_price" : "/exit_time",
                "exit_price and exit_time go together (both for a closed trade, neither for an open one)")
        // A trade opened in the future could never be closed (its exit may not be in the future either).
        if let entryTime { p.check(entryTime <= micros(now) + clockSkew, "/entry_time", "must not be in the future") }
        if let exitTime {
            if let entryTime { p.check(exitTime >= entryTime, "/exit_time", "must not be before entry_time") }
            p.check(exitTime <= micros(now) + clockSkew, "/exit_time", "must not be in the future")
        }
        var notes = input.notes
        if let text = notes {
            p.check(text.count <= maxText, "/notes", "must be at most \(maxText) characters")
            p.check(!text.contains("\u{0}"), "/notes", "must not contain the NUL character (U+0000)")
            if text.isEmpty { notes = nil }
        }
        let tags = tags(input.tags ?? [], into: &p)
        let screenshots = input.screenshots ?? []
        p.check(screenshots.count <= maxScreenshots, "/screenshots", "at most \(maxScreenshots) screenshots")
        for (i, url) in screenshots.enumerated() {
            p.check(isScreenshotURL(url), "/screenshots/\(i)", "must be an https:// URL (no credentials, at most 2048 characters)")
        }
        var signalID: UUID?
        if let text = input.signalId {
            signalID = UUID(uuidString: text)
            p.check(signalID != nil, "/signal_id", "is not a UUID")
        }
        let setupType = label(input.setupType, "/setup_type", into: &p)
        let killzone = label(input.killzone, "/killzone", into: &p)
        try p.throwIfAny()
        return TradeDraft(
            symbol: symbol, direction: direction, entryPrice: entry, stopPrice: input.stopPrice, targets: targets,
            size: input.size ?? 1, fees: input.fees ?? 0, entryTime: entryTime!, exitPrice: input.exitPrice, exitTime: exitTime,
            notes: notes, tags: tags, screenshots: screenshots, signalID: signalID, setupType: setupType, killzone: killzone,
            timeframe: input.timeframe?.rawValue)
    }

    /// An RFC 3339 date-time → microseconds since 1970; a problem at `field` when it is not one.
    static func time(_ text: String, _ field: String, into problems: inout FieldErrors) -> Int64? {
        let micros = RFC3339.micros(text)
        problems.check(micros != nil, field, "is not an RFC 3339 date-time (e.g. 2025-06-02T08:15:00Z)")
        return micros
    }

    /// The client's id, which must be a UUIDv7 (time-ordered, like ours).
    static func tradeID(_ text: String?) throws -> UUID? {
        guard let text else { return nil }
        guard let id = UUID(uuidString: text) else { throw Problem.validation([.init(field: "/id", message: "is not a UUID")]) }
        guard UUIDv7.timestamp(of: id) != nil else { throw Problem.validation([.init(field: "/id", message: "must be a UUIDv7")]) }
        return id
    }

    /// Microseconds since 1970, saturating far outside the years 1–9999 (which the rules refuse anyway).
    static func micros(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1_000_000).rounded()
        guard value.isFinite, abs(value) < 1e18 else { return value < 0 ? -1_000_000_000_000_000_000 : 1_000_000_000_000_000_000 }
        return Int64(value)
    }
}
