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

/// Runs a command body, turning library failures into messages and the documented exit codes.
func reporting<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let failure as SyncFailure {
        Output.error(failure.message)
        throw ExitCode(failure.exitCode)
    } catch let error as StoreError {
        Output.error(error.description)
        throw error == .notSignedIn ? Exit.auth : ExitCode.failure
    }
}

extension Double {
    /// Parses a price given on the command line.
    static func price(_ text: String) throws -> Double {
        guard let value = Double(text), value.isFinite else { throw ValidationError("\(text) is not a number") }
        return value
    }
}
