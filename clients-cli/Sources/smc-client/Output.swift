import ArgumentParser
import Foundation
import SMCClient
import SMCSync

/// Output helpers shared by the offline commands: tables for people, JSON for scripts.
enum Output {
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// Columns padded to their widest cell.
    static func table(_ header: [String], _ rows: [[String]]) {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
        print(line(header))
        for row in rows { print(line(row)) }
    }

    static func number(_ value: Double?) -> String {
        guard let value else { return "-" }
        return value == value.rounded() && abs(value) < 1e12 ? String(Int(value)) : String(value)
    }

    /// An R multiple for people: two decimals ("-" for none).
    static func r(_ value: Double?) -> String {
        value.map { String(format: "%.2f", $0) } ?? "-"
    }

    static func error(_ message: String) {
        FileHandle.standardError.write(Data("smc-client: \(message)\n".utf8))
    }
}

/// The client home every account, sync and offline command works in.
struct HomeOptions: ParsableArguments {
    @Option(name: .long, help: "The client's state folder (default: $SMC_CLIENT_HOME, else ~/.smc-client).")
    var home: String?

    func store() throws -> LocalStore {
        try LocalStore(home: home.map { URL(fileURLWithPath: $0) } ?? LocalStore.defaultHome())
    }
}

extension FieldProblem {
    /// The problem in the command line's terms: the option that set the field (`--stop: must be below …`).
    var commandLine: String {
        guard let field else { return message }
        let parts = field.split(separator: "/").map(String.init)
        let options = [
            "symbol": "--symbol", "direction": "--direction", "entry_price": "--entry", "stop_price": "--stop", "targets": "--target",
            "size": "--size", "fees": "--fees", "entry_time": "--time", "exit_price": "--exit", "exit_time": "--time", "notes": "--note",
            "note": "--note", "tags": "--tag", "signal_id": "--signal", "setup_type": "--setup-type", "timeframe": "--timeframe",
        ]
        guard let name = parts.first, let option = options[name] else { return description }
        if parts.count > 1, let i = Int(parts[1]) { return "\(option) (the \(Output.ordinal(i + 1))): \(message)" }
        return "\(option): \(message)"
    }
}

extension Output {
    static func ordinal(_ n: Int) -> String {
        let suffix = (11...13).contains(n % 100) ? "th" : [1: "st", 2: "nd", 3: "rd"][n % 10] ?? "th"
        return "\(n)\(suffix)"
    }
}

extension Double {
    /// Parses a price given on the command line.
    static func price(_ text: String) throws -> Double {
        guard let value = Double(text), value.isFinite else { throw ValidationError("\(text) is not a number") }
        return value
    }
}
