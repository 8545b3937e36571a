import Foundation
import SMCSync
import SMCTestSupport
import Testing

@testable import SMCClient

/// The `smc-client` binary in a client home of its own, signed in to a test server.
struct ClientHome {
    let path: String
    let email: String

    /// A fresh home (nothing signed in).
    static func empty() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("smc-cli-\(UUID().uuidString)").path
    }

    /// A new account (Team plan) signed in from a fresh home.
    static func signedIn(_ app: TestApp) async throws -> ClientHome {
        let email = try await SyncTests.account(app)
        let home = ClientHome(path: empty(), email: email)
        let login = try await home.run(["login", "--server", app.baseURL, "--email", email, "--password-stdin"], input: SyncTests.password + "\n")
        #expect(login.status == 0, "\(login.stderr)")
        return home
    }

    @discardableResult
    func run(_ arguments: [String], input: String? = nil) async throws -> Executables.Run {
        try await Executables.run("smc-client", arguments + ["--home", path], input: input)
    }

    var store: LocalStore {
        get throws { try LocalStore(home: URL(fileURLWithPath: path)) }
    }

    var token: String {
        get throws { try #require(try store.session()).token }
    }

    /// The first column of a table's rows (the header and the footnote left out).
    static func ids(_ table: String) -> [String] {
        table.split(separator: "\n").dropFirst().compactMap { line in
            line.hasPrefix("* ") ? nil : line.split(separator: " ").first.map { String($0).replacingOccurrences(of: "*", with: "") }
        }
    }
}

/// A signal as a test writes it straight into the server's table.
struct TestSignal {
    var id = UUIDv7.generate().uuidString.lowercased()
    var symbol = "EURUSD"
    var direction = 1
    var setupType = "fair_value_gap"
    var level = "MEDIUM"
    var confidence = 61.5
    var killzone: String? = nil

    /// Writes the signals for the user's tenant as the pipeline does (`insertSignals`), one an hour back from the
    /// current hour: the first is the newest by candle time.
    static func insert(_ app: TestApp, email: String, _ signals: [TestSignal]) async throws {
        let hour = SignalRow.time(ago: 0, timeframe: 3600)
        let rows = signals.enumerated().map { i, s in
            var row = SignalRow(id: UUID(uuidString: s.id)!, symbol: s.symbol, direction: s.direction, setupType: s.setupType,
                                confidence: s.confidence, level: s.level, candleTime: hour - Int64(i + 1) * 3600)
            row.killzone = s.killzone
            return row
        }
        try await app.insertSignals(rows, tenant: try await app.tenantID(email: email))
    }
}

/// `count` UUIDv7 ids minted in one millisecond by one generator, as a device or the pipeline mints a batch: they
/// share their first 13 hex digits and more.
func sameMillisecondIDs(_ count: Int) -> [String] {
    var generator = UUIDv7Generator()
    let now = Date()
    return (0..<count).map { _ in generator.next(now: now).uuidString.lowercased() }
}
