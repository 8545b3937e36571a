import ArgumentParser
import Foundation
import SMCClient
import SMCSync

struct SignalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signals", abstract: "Your signals as last synced, offline; annotate them (sent at the next sync).",
        subcommands: [List.self, Show.self, Chart.self, Annotate.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List signals, newest first.")
        @OptionGroup var home: HomeOptions
        @Option(help: "Only this symbol.") var symbol: String?
        @Option(help: "Only this timeframe.") var timeframe: String?
        @Option(help: "Only long or short.") var direction: String?
        @Option(help: "Only at least this confidence (0–100).") var minConfidence: Double?
        @Option(help: "Only this outcome: open, target, stop, expired.") var outcome: String?
        @Option(help: "Only candles at or after this time (RFC 3339, UTC).") var since: String?
        @Option(help: "Only candles before this time (RFC 3339, UTC).") var until: String?
        @Option(help: "Only this setup model: order_block or fair_value_gap.") var setupType: String?
        @Option(help: "Only this confidence level: HIGH, MEDIUM, LOW or NEUTRAL.") var level: String?
        @Option(help: "Only signals whose candle opened in the killzone of this name (case-insensitive).") var killzone: String?
        @Option(help: "At most this many.") var limit: Int?
        @Flag(help: "Print JSON (an array).") var json = false

        static let setupTypes = ["order_block", "fair_value_gap"]
        static let levels = ["HIGH", "MEDIUM", "LOW", "NEUTRAL"]

        func validate() throws {
            if let outcome, !["open", "target", "stop", "expired"].contains(outcome) {
                throw ValidationError("--outcome must be open, target, stop or expired")
            }
            if let direction, !["long", "short"].contains(direction) { throw ValidationError("--direction must be long or short") }
            if let setupType, !Self.setupTypes.contains(setupType) { throw ValidationError("--setup-type must be order_block or fair_value_gap") }
            if let level, !Self.levels.contains(level.uppercased()) { throw ValidationError("--level must be HIGH, MEDIUM, LOW or NEUTRAL") }
            if let killzone, !(1...50).contains(TradeRules.trimmingWhitespace(killzone).count) {
                throw ValidationError("--killzone must be a killzone name of 1–50 characters")
            }
            if let limit, limit < 1 { throw ValidationError("--limit must be 1 or more") }
            _ = try since.map(Self.utc)
            _ = try until.map(Self.utc)
        }

        /// A time as the stored candle times are written (UTC, milliseconds), so that text order is time order.
        static func utc(_ text: String) throws -> String {
            let date = try JournalCommand.time(text)
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter.string(from: date)
        }

        /// A price at the signal's tick.
        static func price(_ s: LocalStore.SignalEntry, _ key: String) -> String {
            guard let value = s.number(key) else { return "-" }
            return String(format: "%.\(s.number("price_decimals").map { Int($0) } ?? 5)f", value)
        }

        func run() async throws {
            let store = try home.store()
            var filter = LocalStore.SignalFilter()
            filter.symbol = symbol
            filter.timeframe = timeframe
            filter.direction = direction
            filter.minConfidence = minConfidence
            filter.outcome = outcome
            filter.since = try since.map(Self.utc)
            filter.until = try until.map(Self.utc)
            filter.setupType = setupType
            filter.level = level?.uppercased()
            filter.killzone = killzone.map(TradeRules.trimmingWhitespace)
            filter.limit = limit
            let signals = try store.signals(filter)
            if json { return try Output.json(signals.map(\.json)) }
            // Short ids unique among every signal here, so each one works with signals show.
            let prefixes = try store.signalIDPrefixes()
            Output.table(
                ["ID", "TIME", "SYMBOL", "TF", "DIR", "SETUP", "CONF", "ENTRY", "STOP", "R:R", "OUTCOME", "NOTE"],
                signals.map { s in
                    let outcome: String = if case .object(let o)? = s.fields["outcome"], case .string(let k)? = o["kind"] { k } else { "-" }
                    let note: String = if case .string(let n)? = s.annotation?["note"] { n } else { "" }
                    return [(prefixes[s.id] ?? s.id) + (s.pending ? "*" : ""), s.text("candle_time") ?? "", s.text("symbol") ?? "", s.text("timeframe") ?? "",
                            s.text("direction") ?? "", s.text("setup_type") ?? "", s.number("confidence").map { String(format: "%.1f", $0) } ?? "",
                            Self.price(s, "entry"), Self.price(s, "stop"),
                            s.number("reward_risk").map { String(format: "%.2f", $0) } ?? "", outcome, String(note.prefix(30))]
                })
            if signals.contains(where: \.pending) { print("* annotation not synced yet") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one signal: prices, zone, timeframe biases, the members' votes and reasons, the outcome and your annotation.")
        @OptionGroup var home: HomeOptions
        @Argument(help: "The signal's id (or a unique prefix).") var id: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let store = try home.store()
            let s = try store.signal(id)
            if json { return try Output.json(s.json) }
            print(SignalText.render(s))
        }
    }

    struct Chart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Save a signal's chart (PNG) as the server draws it: candles, zone, entry, stop, targets, outcome.")
        @OptionGroup var home: HomeOptions
        @Argument(help: "The signal's id (or a unique prefix of a synced signal).") var id: String
        @Option(name: [.short, .customLong("output")], help: "The PNG file to write.") var output: String
        @Option(help: "light or dark.") var theme: String = "light"

        func validate() throws {
            guard ["light", "dark"].contains(theme) else { throw ValidationError("--theme must be light or dark") }
        }

        func run() async throws {
            let store = try home.store()
            let signalID = (try? store.signal(id).id) ?? id
            let png = try await SyncEngine.forStore(store).connection.signalChart(id: signalID, dark: theme == "dark")
            try Data(png).write(to: URL(fileURLWithPath: output))
            print("\(output): \(png.count) bytes")
        }
    }

    struct Annotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Note, tag or mark a signal as taken.")
        @OptionGroup var home: HomeOptions
        @Argument(help: "The signal's id (or a unique prefix).") var id: String
        @Option(help: "A note (empty removes it).") var note: String?
        @Option(help: "A tag (repeat for several; replaces them).") var tag: [String] = []
        @Flag(inversion: .prefixedNo, help: "Whether you took the trade.") var taken: Bool?
        @Flag(help: "Remove the note, the tags and the taken mark.") var clear = false

        func run() async throws {
            let store = try home.store()
            let signalID = try store.annotate(id, note: note, tags: tag.isEmpty ? nil : tag, taken: taken, clear: clear)
            print(signalID)
        }
    }
}
