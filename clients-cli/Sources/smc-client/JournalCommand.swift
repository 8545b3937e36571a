import ArgumentParser
import Foundation
import SMCClient
import SMCSync

struct JournalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal", abstract: "Your trade journal, offline; smc-client sync exchanges it with the server.",
        subcommands: [Add.self, Edit.self, Close.self, Delete.self, List.self, Show.self, Stats.self])

    /// A time given on the command line: RFC 3339, or `now`.
    static func time(_ text: String?) throws -> Date {
        guard let text, text != "now" else { return Date() }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        throw ValidationError("\(text) is not an RFC 3339 time (e.g. 2025-06-02T08:15:00Z)")
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a trade; prints its id.")
        @OptionGroup var home: HomeOptions
        @Option(help: "The symbol, e.g. EURUSD (eur/usd and EUR-USD are read as EURUSD, as over REST).") var symbol: String
        @Option(help: "long or short.") var direction: String
        @Option(help: "Entry price.") var entry: Double
        @Option(help: "Stop price (optional; without one the trade has no R).") var stop: Double?
        @Option(help: "Target price (repeat for several).") var target: [Double] = []
        @Option(help: "Position size (default 1).") var size: Double?
        @Option(help: "Fees.") var fees: Double?
        @Option(help: "Entry time, RFC 3339 (default now).") var time: String?
        @Option(help: "A note.") var note: String?
        @Option(help: "A tag (repeat for several).") var tag: [String] = []
        @Option(help: "The signal this trade follows (its id or a unique prefix).") var signal: String?
        @Option(help: "Setup type, e.g. fair_value_gap.") var setupType: String?
        @Option(help: "Timeframe, e.g. 15m.") var timeframe: String?
        @Flag(help: "Print the entry as JSON.") var json = false

        func validate() throws {
            guard ["long", "short"].contains(direction) else { throw ValidationError("--direction must be long or short") }
            _ = try JournalCommand.time(time)
        }

        func run() async throws {
            var input = TradeInput(symbol: symbol, direction: direction, entry: entry, stop: stop)
            input.targets = target
            input.size = size
            input.fees = fees
            input.entryTime = try JournalCommand.time(time)
            input.note = note
            input.tags = tag
            input.signalID = signal
            input.setupType = setupType
            input.timeframe = timeframe
            let store = try home.store()
            let id = try store.addTrade(input)
            if json { try Output.json(try store.trade(id)) } else { print(id) }
        }
    }

    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change fields of a trade (the others keep their value).")
        @OptionGroup var home: HomeOptions
        @Argument(help: "The trade's id (or a unique prefix).") var id: String
        @Option(help: "A new note (empty removes it).") var note: String?
        @Option(help: "A new stop price.") var stop: Double?
        @Flag(help: "Remove the stop (the trade then has no R).") var clearStop = false
        @Option(help: "New targets (repeat for several; replaces them).") var target: [Double] = []
        @Option(help: "New tags (repeat for several; replaces them).") var tag: [String] = []
        @Flag(help: "Remove every tag.") var clearTags = false
        @Option(help: "A new entry price.") var entry: Double?
        @Option(help: "A new size.") var size: Double?
        @Option(help: "New fees.") var fees: Double?
        @Option(help: "A new symbol.") var symbol: String?
        @Option(help: "A new direction, long or short.") var direction: String?

        func validate() throws {
            let given: [Bool] = [note != nil, stop != nil, clearStop, !target.isEmpty, !tag.isEmpty, clearTags, entry != nil, size != nil,
                                 fees != nil, symbol != nil, direction != nil]
            guard given.contains(true) else { throw ValidationError("nothing to change: give at least one option") }
            if clearStop && stop != nil { throw ValidationError("give --stop or --clear-stop, not both") }
            if let direction, !["long", "short"].contains(direction) { throw ValidationError("--direction must be long or short") }
        }

        func run() async throws {
            var changes: [String: JSONValue] = [:]
            if let note { changes["notes"] = note.isEmpty ? .null : .string(note) }
            if let stop { changes["stop_price"] = .number(stop) }
            if clearStop { changes["stop_price"] = .null }
            if !target.isEmpty { changes["targets"] = .array(target.map(JSONValue.number)) }
            if !tag.isEmpty { changes["tags"] = .array(tag.map(JSONValue.string)) }
            if clearTags { changes["tags"] = .array([]) }
            if let entry { changes["entry_price"] = .number(entry) }
            if let size { changes["size"] = .number(size) }
            if let fees { changes["fees"] = .number(fees) }
            if let symbol { changes["symbol"] = .string(symbol) }
            if let direction { changes["direction"] = .string(direction) }
            let store = try home.store()
            print(try store.editTrade(id, changes))
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close an open trade at an exit price.")
        @OptionGroup var home: HomeOptions
        @Argument(help: "The trade's id (or a unique prefix).") var id: String
        @Option(help: "Exit price.") var exit: Double
        @Option(help: "Exit time, RFC 3339 (default now).") var time: String?
        @Option(help: "Total fees (replaces the stored ones).") var fees: Double?

        func validate() throws {
            _ = try JournalCommand.time(time)
        }

        func run() async throws {
            let store = try home.store()
            let at = try JournalCommand.time(time)
            let closed = try store.trade(try store.closeTrade(id, exit: exit, at: at, fees: fees))
            print("\(closed.id) closed: \(closed.outcome), pnl \(Output.number(closed.pnl)), R \(Output.r(closed.rMultiple))")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a trade (on every device, at the next sync).")
        @OptionGroup var home: HomeOptions
        @Argument(help: "The trade's id (or a unique prefix).") var id: String

        func run() async throws {
            let store = try home.store()
            print("deleted \(try store.deleteTrade(id))")
        }
    }

    struct Filters: ParsableArguments {
        @Option(help: "Only this symbol.") var symbol: String?
        @Option(help: "Only this outcome: open, win, loss, breakeven.") var outcome: String?
        @Option(help: "Only trades with this tag.") var tag: String?

        var filter: TradeFilter {
            var f = TradeFilter()
            f.symbol = symbol
            f.outcome = outcome
            f.tag = tag
            return f
        }

        func validate() throws {
            if let outcome, !["open", "win", "loss", "breakeven"].contains(outcome) {
                throw ValidationError("--outcome must be open, win, loss or breakeven")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List trades, newest entry first.")
        @OptionGroup var home: HomeOptions
        @OptionGroup var filters: Filters
        @Option(help: "At most this many.") var limit: Int?
        @Flag(help: "Print JSON (an array of entries).") var json = false

        func run() async throws {
            let store = try home.store()
            var filter = filters.filter
            filter.limit = limit
            let trades = try store.trades(filter)
            if json { return try Output.json(trades) }
            // Short ids unique among every trade here, so each one works with journal show/edit/close/delete.
            let prefixes = try store.tradeIDPrefixes()
            Output.table(
                ["ID", "SYMBOL", "DIR", "ENTRY", "STOP", "TARGET", "EXIT", "OUTCOME", "R", "TAGS", "NOTE"],
                trades.map {
                    [(prefixes[$0.id] ?? $0.id) + ($0.pending ? "*" : ""), $0.symbol, $0.direction, Output.number($0.entry), Output.number($0.stop),
                     Output.number($0.target), Output.number($0.exit), $0.outcome, Output.r($0.rMultiple),
                     $0.tags.joined(separator: ","), String(($0.note ?? "").prefix(40))]
                })
            if trades.contains(where: \.pending) { print("* not synced yet") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one trade.")
        @OptionGroup var home: HomeOptions
        @Argument(help: "The trade's id (or a unique prefix).") var id: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let store = try home.store()
            let t = try store.trade(id)
            if json { return try Output.json(t) }
            let rows: [(String, String?)] = [
                ("id", t.id), ("symbol", t.symbol), ("direction", t.direction), ("entry", Output.number(t.entry)), ("entry time", t.entryTime),
                ("stop", t.stop.map { Output.number($0) }), ("targets", t.targets.map { Output.number($0) }.joined(separator: ", ")),
                ("size", Output.number(t.size)), ("fees", Output.number(t.fees)), ("exit", t.exit.map { Output.number($0) }),
                ("exit time", t.exitTime), ("outcome", t.outcome), ("pnl", t.pnl.map { Output.number($0) }),
                ("R", t.rMultiple.map { Output.r($0) }), ("tags", t.tags.joined(separator: ", ")), ("note", t.note),
                ("signal", t.signalID), ("setup", t.setupType), ("timeframe", t.timeframe), ("synced", t.pending ? "no (pending)" : "yes"),
            ]
            for (label, value) in rows where value != nil && value != "" {
                print(label.padding(toLength: 11, withPad: " ", startingAt: 0) + value!)
            }
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Win rate, average R, profit factor and PnL of closed trades.")
        @OptionGroup var home: HomeOptions
        @OptionGroup var filters: Filters
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let store = try home.store()
            let s = try store.stats(filters.filter)
            if json { return try Output.json(s) }
            print("closed         \(s.count) (\(s.wins) won, \(s.losses) lost, \(s.breakeven) breakeven); \(s.open) open")
            print("win rate       \(s.winRate.map { String(format: "%.1f %%", $0 * 100) } ?? "-")")
            print("average R      \(Output.r(s.averageR))" + (s.rCount < s.count ? " (over the \(s.rCount) with a stop)" : ""))
            print("expectancy     \(s.expectancyR.map { Output.r($0) + " R" } ?? "-")")
            print("profit factor  \(s.profitFactor.map { String(format: "%.2f", $0) } ?? "-")")
            print("total pnl      \(Output.number(s.totalPnl))")
        }
    }
}
