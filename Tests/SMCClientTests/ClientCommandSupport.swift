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

    /// Writes `signals` for the tenant as the pipeline does (the `signals` sync counter bumped, each row stamped with
    /// one of the new versions); the first is the newest by candle time.
    static func insert(_ app: TestApp, email: String, _ signals: [TestSignal]) async throws {
        let tenant = try await app.tenantID(email: email)
        let rows = signals.enumerated().map { i, s in
            "(\(i + 1), '\(s.id)'::uuid, '\(s.symbol)', \(s.direction), '\(s.setupType)', \(s.confidence)::float8, '\(s.level)', "
                + "\(s.killzone.map { "'\($0)'" } ?? "NULL")::text)"
        }
        try await app.sql(
            """
            WITH c AS (
                INSERT INTO sync_counters AS c (tenant_id, stream, version) VALUES ('\(tenant)', 'signals', \(signals.count))
                ON CONFLICT (tenant_id, stream) DO UPDATE SET version = c.version + EXCLUDED.version RETURNING version)
            INSERT INTO signals (tenant_id, signal_id, signal_key, symbol, timeframe, direction, setup_type, confidence, level,
                candle_time, close_time, entry, stop, targets, reward_risk, killzone, confluence, detail, sync_version)
            SELECT '\(tenant)', v.id, 'test:' || v.id, v.symbol, '15m', v.direction, v.setup, v.confidence, v.level,
                date_trunc('hour', now()) - make_interval(hours => v.i), date_trunc('hour', now()) - make_interval(hours => v.i) + interval '15 minutes',
                1.1, 1.09, ARRAY[1.13]::float8[], 3, v.killzone, 0.4, '{}'::jsonb, c.version - \(signals.count) + v.i
            FROM c, (VALUES \(rows.joined(separator: ", "))) AS v(i, id, symbol, direction, setup, confidence, level, killzone)
            """)
    }
}

/// `count` UUIDv7 ids minted in one millisecond by one generator, as a device or the pipeline mints a batch: they
/// share their first 13 hex digits and more.
func sameMillisecondIDs(_ count: Int) -> [String] {
    var generator = UUIDv7Generator()
    let now = Date()
    return (0..<count).map { _ in generator.next(now: now).uuidString.lowercased() }
}
