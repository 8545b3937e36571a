import Foundation
import SMCClient
import SMCSync

/// A signal as a trader reads it (`smc-client signals show`): what, where, why and how it ended, with prices at the
/// symbol's tick as the server rounded them.
enum SignalText {
    static func render(_ s: LocalStore.SignalEntry) -> String {
        let decimals = s.number("price_decimals").map { Int($0) } ?? 5
        func price(_ value: Double?) -> String { value.map { String(format: "%.\(decimals)f", $0) } ?? "-" }
        func signed(_ value: Double?, _ places: Int = 2) -> String { value.map { String(format: "%+.\(places)f", $0) } ?? "-" }
        func object(_ key: String) -> [String: JSONValue]? { if case .object(let o)? = s.fields[key] { o } else { nil } }
        func array(_ key: String) -> [[String: JSONValue]] {
            guard case .array(let a)? = s.fields[key] else { return [] }
            return a.compactMap { if case .object(let o) = $0 { o } else { nil } }
        }
        func text(_ o: [String: JSONValue], _ k: String) -> String? { if case .string(let v)? = o[k] { v } else { nil } }
        func number(_ o: [String: JSONValue], _ k: String) -> Double? { if case .number(let v)? = o[k] { v } else { nil } }
        func setupName(_ raw: String?) -> String { raw.map { $0.replacingOccurrences(of: "_", with: " ") } ?? "-" }

        var lines: [(String, String)] = []
        let title = [s.text("symbol"), s.text("timeframe"), s.text("direction"), setupName(s.text("setup_type"))]
            .compactMap { $0 }.joined(separator: " ")
        let confidence = s.number("confidence").map { String(format: "%.1f", $0) } ?? "-"
        lines.append(("signal", "\(title), confidence \(confidence) (\(s.text("level") ?? "-"))"))
        lines.append(("id", s.id))
        lines.append(("candle", "\(s.text("candle_time") ?? "-") (closed \(s.text("close_time") ?? "-"))"))
        lines.append(("entry", price(s.number("entry"))))
        lines.append(("stop", price(s.number("stop"))))
        let targets: [Double] = if case .array(let t)? = s.fields["targets"] { t.compactMap { if case .number(let n) = $0 { n } else { nil } } } else { [] }
        lines.append(("targets", targets.isEmpty ? "-" : targets.map(price).joined(separator: ", ")))
        lines.append(("R:R", "\(s.number("reward_risk").map { String(format: "%.2f", $0) } ?? "-"); costs \(s.number("cost_r").map { String(format: "%.2f R", $0) } ?? "-")"))
        if let zone = object("zone") {
            let formed = text(zone, "formed_time").map { ", confirmed \($0)" } ?? ""
            lines.append(("zone", "\(setupName(text(zone, "kind"))) \(price(number(zone, "bottom")))–\(price(number(zone, "top"))) on the candle of \(text(zone, "time") ?? "-")\(formed)"))
        }
        lines.append(("killzone", s.text("killzone") ?? "outside every killzone"))
        lines.append(("regime", s.text("regime") ?? "-"))
        lines.append(("confluence", signed(s.number("confluence"))))
        let biases = array("biases")
        for (i, bias) in biases.enumerated() {
            lines.append((i == 0 ? "biases" : "", "\(text(bias, "timeframe") ?? "?")  \(text(bias, "level") ?? "-")  \(signed(number(bias, "score"), 1))"))
        }
        let votes = array("votes")
        let width = votes.compactMap { text($0, "member")?.count }.max() ?? 0
        for (i, vote) in votes.enumerated() {
            let member = (text(vote, "member") ?? "?").padding(toLength: width, withPad: " ", startingAt: 0)
            let abstained: Bool = if case .bool(true)? = vote["abstained"] { true } else { false }
            let weight = abstained ? "abstained    " : "\(signed(number(vote, "vote"))) × \(String(format: "%.2f", number(vote, "weight") ?? 0))"
            lines.append((i == 0 ? "votes" : "", "\(member)  \(weight)  \(text(vote, "reason") ?? "")"))
        }
        if let outcome = object("outcome") {
            let kind = text(outcome, "kind") ?? "?"
            let r = number(outcome, "r").map { "\(String(format: "%+.2f", $0)) R" } ?? "R unknown"
            let net = number(outcome, "net_r").map { " (\(String(format: "%+.2f", $0)) R after costs)" } ?? ""
            let exit = number(outcome, "exit_price").map { ", exit \(price($0))" } ?? ""
            lines.append(("outcome", "\(kind) at \(text(outcome, "time") ?? "-"): \(r)\(net)\(exit)"))
        } else {
            lines.append(("outcome", "open"))
        }
        if let a = s.annotation {
            var parts: [String] = []
            if case .string(let note)? = a["note"] { parts.append("note “\(note)”") }
            if case .array(let tags)? = a["tags"], !tags.isEmpty {
                parts.append("tags " + tags.compactMap { if case .string(let t) = $0 { t } else { nil } }.joined(separator: ", "))
            }
            if case .bool(true)? = a["taken"] { parts.append("taken") }
            lines.append(("annotation", (parts.isEmpty ? "none" : parts.joined(separator: "; ")) + (s.pending ? " (not synced yet)" : "")))
        }
        let keyWidth = lines.map(\.0.count).max() ?? 0
        return lines.map { $0.0.padding(toLength: keyWidth + 2, withPad: " ", startingAt: 0) + $0.1 }.joined(separator: "\n")
    }
}
