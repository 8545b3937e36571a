import Foundation
import SMCAPI
import SMCEngine

/// The JSON every channel is built from, and exactly the body a webhook receives: `{type, timestamp, data}`
/// (documented in api-spec/webhooks.md). Fixed when the event is fanned out, so every attempt sends the same bytes.
struct AlertEvent: Codable, Sendable, Equatable {
    var type: String
    /// When the event happened (RFC 3339, UTC).
    var timestamp: String
    var data: AlertData

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    /// Bodies stay under 20 KB (the free text is cut first).
    static let maxBytes = 20_000

    func encoded() throws -> String {
        var event = self
        var text = String(decoding: try Self.encoder.encode(event), as: UTF8.self)
        if text.utf8.count >= Self.maxBytes {
            event.data.message = event.data.message.map { String($0.prefix(500)) }
            event.data.targets = event.data.targets.map { Array($0.prefix(10)) }
            text = String(decoding: try Self.encoder.encode(event), as: UTF8.self)
        }
        return text
    }

    static func decode(_ text: String) throws -> AlertEvent { try decoder.decode(AlertEvent.self, from: Data(text.utf8)) }
}

/// The `data` of an event; members present by type (see api-spec/webhooks.md).
struct AlertData: Codable, Sendable, Equatable {
    var signalId: String?
    var symbol: String?
    var timeframe: String?
    var direction: String?
    var setupType: String?
    var confidence: Double?
    var level: String?
    var candleTime: String?
    var closeTime: String?
    var entry: Double?
    var stop: Double?
    var targets: [Double]?
    var rewardRisk: Double?
    var regime: String?
    var killzone: String?
    var outcome: String?
    var outcomeTime: String?
    var outcomeR: Double?
    var exitPrice: Double?
    var endpointId: String?
    var url: String?
    var message: String?
    /// Quiet hours or an event set to `silent`: show without a sound.
    var silent: Bool
}

/// Whether an event reaches a user, by their alert preferences: the event type on / silent / off, the minimum
/// confidence (of the signal the event is about), the daily cap of the plan, quiet hours (silent) in their zone.
enum AlertRules {
    enum Verdict: Sendable, Equatable {
        case deliver(silent: Bool)
        case suppress(reason: String)
    }

    static func decide(
        eventType: String, confidence: Double?, preferences: AlertPreferences, now: Date, sentToday: Int, dailyCap: Int
    ) -> Verdict {
        let mode = preferences.events.additionalProperties[eventType] ?? .on
        if mode == .off { return .suppress(reason: "event_off") }
        if let confidence, confidence < preferences.minConfidence { return .suppress(reason: "below_min_confidence") }
        if eventType != "alert.test" && sentToday >= dailyCap { return .suppress(reason: "daily_cap") }
        return .deliver(silent: mode == .silent || inQuietHours(preferences.quietHours, now))
    }

    static func inQuietHours(_ quiet: Components.Schemas.QuietHours, _ now: Date) -> Bool {
        guard quiet.enabled, let start = parseClock(quiet.start), let end = parseClock(quiet.end), start != end,
              let zone = TimeZone(identifier: quiet.timeZone)
        else { return false }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.hour, .minute], from: now)
        let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        return start < end ? (minute >= start && minute < end) : (minute >= start || minute < end)
    }
}

/// Telegram messages: HTML parse mode, every dynamic value escaped, under Telegram's 4,096 characters.
enum TelegramText {
    static let limit = 4000

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }

    /// Cuts a message to the limit (in UTF-16 units, as Telegram counts) without breaking an entity or a tag: lines are
    /// dropped from the end.
    static func fit(_ html: String) -> String {
        // Telegram counts UTF-16 code units.
        guard html.utf16.count > limit else { return html }
        var lines = html.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        while lines.count > 1, lines.joined(separator: "\n").utf16.count > limit - 2 { lines.removeLast() }
        let joined = lines.joined(separator: "\n")
        return joined.utf16.count > limit ? escape(String(joined.prefix(limit / 2)).filter { $0 != "<" && $0 != ">" && $0 != "&" }) : joined + "\n…"
    }

    static func price(_ value: Double) -> String {
        let magnitude = abs(value)
        return String(format: magnitude >= 1000 ? "%.2f" : magnitude >= 10 ? "%.3f" : "%.5f", value)
    }

    /// The message for an event.
    static func render(_ event: AlertEvent) -> String {
        let d = event.data
        let e = escape
        let market = "\(e(d.symbol ?? "?")) \(e(d.timeframe ?? ""))"
        var lines: [String] = []
        switch event.type {
        case "signal.created":
            let long = d.direction == "long"
            let setup = (d.setupType ?? "").replacingOccurrences(of: "_", with: " ")
            lines.append("\(long ? "🟢" : "🔴") <b>\(long ? "LONG" : "SHORT") \(market)</b>")
            lines.append("\(e(setup)) · \(e(d.level ?? "")) confidence \(String(format: "%.0f", d.confidence ?? 0))")
            var trade = "Entry <code>\(price(d.entry ?? 0))</code> · Stop <code>\(price(d.stop ?? 0))</code>"
            if let targets = d.targets, !targets.isEmpty { trade += " · Targets " + targets.prefix(5).map { "<code>\(price($0))</code>" }.joined(separator: ", ") }
            lines.append(trade)
            if let rr = d.rewardRisk { lines.append("R:R \(String(format: "%.2f", rr))") }
            var context: [String] = []
            if let k = d.killzone { context.append("Killzone: \(e(k))") }
            if let r = d.regime { context.append("Regime: \(e(r.replacingOccurrences(of: "_", with: " ")))") }
            if !context.isEmpty { lines.append(context.joined(separator: " · ")) }
            if let t = d.candleTime { lines.append("<i>Candle \(e(t))</i>") }
        case "signal.outcome":
            let outcome = d.outcome ?? "?"
            let icon = outcome == "target" ? "✅" : outcome == "stop" ? "❌" : "⌛"
            let r = d.outcomeR.map { String(format: "%+.2f R", $0) } ?? ""
            lines.append("\(icon) <b>\(market) \(e(d.direction ?? ""))</b>: \(e(outcome)) \(e(r))")
            if let exit = d.exitPrice { lines.append("Exit <code>\(price(exit))</code>") }
            if let t = d.outcomeTime { lines.append("<i>\(e(t))</i>") }
        case "alert.test":
            lines.append("🔔 <b>Test alert</b>")
            lines.append(e(d.message ?? "Alerts reach you here."))
            lines.append("<i>\(e(event.timestamp))</i>")
        case "webhook.disabled":
            lines.append("⚠️ <b>Webhook disabled</b>")
            lines.append(e(d.url ?? ""))
            lines.append(e(d.message ?? ""))
        default:
            lines.append("<b>\(e(event.type))</b>")
            if let m = d.message { lines.append(e(m)) }
        }
        return fit(lines.joined(separator: "\n"))
    }
}
