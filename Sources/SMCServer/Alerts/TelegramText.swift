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

    /// Cuts a message to `limit` (in UTF-16 units, as Telegram counts) without breaking an entity or a tag: lines are
    /// dropped from the end.
    static func fit(_ html: String, limit: Int = limit) -> String {
        // Telegram counts UTF-16 code units.
        guard html.utf16.count > limit else { return html }
        var lines = html.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        while lines.count > 1, lines.joined(separator: "\n").utf16.count > limit - 2 { lines.removeLast() }
        let joined = lines.joined(separator: "\n")
        return joined.utf16.count > limit ? escape(String(joined.prefix(limit / 2)).filter { $0 != "<" && $0 != ">" && $0 != "&" }) : joined + "\n…"
    }

    /// A photo's caption may hold 1,024 characters (the text after entities are parsed; counting the tags too keeps
    /// well inside it).
    static let captionLimit = 1000

    /// A price to the symbol's tick when the event says it (`price_decimals`), else by its size.
    static func price(_ value: Double, _ decimals: Int? = nil) -> String {
        if let decimals { return PriceFormat(decimals: decimals).text(value) }
        let magnitude = abs(value)
        return String(format: magnitude >= 1000 ? "%.2f" : magnitude >= 10 ? "%.3f" : "%.5f", value)
    }

    /// The head of a signal alert: direction, market, setup, confidence, entry, stop, targets, R:R.
    private static func signalHead(_ d: AlertData) -> [String] {
        let e = escape
        let long = d.direction == "long"
        let market = "\(e(d.symbol ?? "?")) \(e(d.timeframe ?? ""))"
        let setup = (d.setupType ?? "").replacingOccurrences(of: "_", with: " ")
        let p = { (v: Double) in price(v, d.priceDecimals) }
        var lines: [String] = []
        lines.append("\(long ? "🟢" : "🔴") <b>\(long ? "LONG" : "SHORT") \(market)</b>")
        lines.append("\(e(setup)) · \(e(d.level ?? "")) confidence \(String(format: "%.1f", PriceFormat.confidence(d.confidence ?? 0)))")
        var trade = "Entry <code>\(p(d.entry ?? 0))</code> · Stop <code>\(p(d.stop ?? 0))</code>"
        if let targets = d.targets, !targets.isEmpty { trade += " · Targets " + targets.prefix(5).map { "<code>\(p($0))</code>" }.joined(separator: ", ") }
        lines.append(trade)
        if let rr = d.rewardRisk { lines.append("R:R \(String(format: "%.2f", PriceFormat.r(rr)))") }
        return lines
    }

    /// Why the signal: zone, biases, killzone and regime, the members' votes with their reasons, the link.
    private static func signalReasons(_ d: AlertData) -> [String] {
        let e = escape
        let p = { (v: Double) in price(v, d.priceDecimals) }
        var lines: [String] = []
        if let z = d.zone {
            let side = z.direction == "long" ? "bullish" : "bearish"
            lines.append("Zone: \(side) \(e(z.kind.replacingOccurrences(of: "_", with: " "))) <code>\(p(z.bottom))</code>–<code>\(p(z.top))</code>")
        }
        if let biases = d.biases, !biases.isEmpty {
            lines.append("Biases: " + biases.map { "\(e($0.timeframe)) \(String(format: "%+.1f", $0.score)) \(e($0.level))" }.joined(separator: " · "))
        }
        var context: [String] = []
        if let k = d.killzone { context.append("Killzone: \(e(k))") }
        if let r = d.regime { context.append("Regime: \(e(r.replacingOccurrences(of: "_", with: " ")))") }
        if !context.isEmpty { lines.append(context.joined(separator: " · ")) }
        if let votes = d.votes, !votes.isEmpty {
            lines.append("<b>Why</b>")
            for v in votes {
                let say = v.abstained ? "abstained" : String(format: "%+.2f", v.vote)
                lines.append("• \(e(v.member)) (\(say)): \(e(v.reason))")
            }
        }
        if let t = d.candleTime { lines.append("<i>Candle \(e(t))</i>") }
        if let id = d.signalId {
            if let url = d.signalUrl {
                lines.append("<a href=\"\(e(url))\">Signal \(e(id))</a>")
            } else {
                lines.append("Signal <code>\(e(id))</code>")
            }
        }
        return lines
    }

    /// The caption of a signal alert's chart: the whole message when it fits in a caption, else its head (the
    /// whole message follows as a text message: `needsFollowUp`).
    static func caption(_ event: AlertEvent) -> (caption: String, needsFollowUp: Bool) {
        let full = render(event)
        if full.utf16.count <= captionLimit { return (full, false) }
        let head = event.type == "signal.created" ? signalHead(event.data) : [full.split(separator: "\n").first.map(String.init) ?? ""]
        return (fit(head.joined(separator: "\n"), limit: captionLimit), true)
    }

    /// The message for an event.
    static func render(_ event: AlertEvent) -> String {
        let d = event.data
        let e = escape
        let market = "\(e(d.symbol ?? "?")) \(e(d.timeframe ?? ""))"
        var lines: [String] = []
        switch event.type {
        case "signal.created":
            lines += signalHead(d)
            lines += signalReasons(d)
        case "signal.outcome":
            let outcome = d.outcome ?? "?"
            let icon = outcome == "target" ? "✅" : outcome == "stop" ? "❌" : "⌛"
            let r = d.outcomeR.map { String(format: "%+.2f R", $0) } ?? ""
            lines.append("\(icon) <b>\(market) \(e(d.direction ?? ""))</b>: \(e(outcome)) \(e(r))")
            if let exit = d.exitPrice { lines.append("Exit <code>\(price(exit, d.priceDecimals))</code>") }
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
