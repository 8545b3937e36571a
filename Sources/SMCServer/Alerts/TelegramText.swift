import Foundation
import SMCAPI
import SMCEngine

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
