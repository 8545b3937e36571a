import Foundation
import GRDB
import Logging
import PostgresNIO
import SMCClient
import SMCServer
import SMCSync
import SMCTestSupport

// `make bench`: the sync protocol's costs, with a real server (in process, release build) and real client homes.
//
// 1. Initial sync: a new device downloads a journal of 100,000 entries (`--initial N`).
// 2. Incremental sync: 10 new changes, pulled by a caught-up device whose tenant has 1,000 and 1,000,000 rows of
//    journal history (`--big N`): the cost must not grow with the history (keyset pages on (tenant, version)).
// Figures are printed, never asserted.

/// Prints a line at once (also into a pipe or a file: the run is long).
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

var parsed = (initial: 100_000, small: 1_000, big: 1_000_000, rounds: 15)
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--initial": parsed.initial = Int(arguments.next() ?? "") ?? parsed.initial
    case "--big": parsed.big = Int(arguments.next() ?? "") ?? parsed.big
    case "--rounds": parsed.rounds = Int(arguments.next() ?? "") ?? parsed.rounds
    default: FileHandle.standardError.write(Data("usage: smc-sync-bench [--initial N] [--big N] [--rounds N]\n".utf8)); exit(2)
    }
}
let options = parsed

var logger = Logger(label: "smc-sync-bench")
logger.logLevel = .error
let password = "correct horse battery"
let clock = ContinuousClock()
func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

/// A journal history written in SQL as the REST journal would leave it (each row its own version), as the owner.
func history(_ client: PostgresClient, tenant: UUID, user: UUID, rows: Int) async throws {
    var left = rows
    while left > 0 {
        let n = min(left, 200_000)
        try await client.query(
            """
            WITH c AS (
                INSERT INTO sync_counters AS c (tenant_id, stream, version) VALUES (\(tenant), 'journal', \(Int64(n)))
                ON CONFLICT (tenant_id, stream) DO UPDATE SET version = c.version + EXCLUDED.version RETURNING version
            )
            INSERT INTO trades (tenant_id, trade_id, user_id, symbol, direction, entry_price, stop_price, targets, entry_time, notes,
                                tags, sync_version, clocks)
            SELECT \(tenant), gen_random_uuid(), \(user), 'EURUSD', 1, 1.1 + (g % 100) / 10000.0, 1.09, '{1.13}',
                   now() - g * interval '1 minute', 'history ' || g, '{bench}', (SELECT version FROM c) - \(Int64(n)) + g,
                   jsonb_build_object('notes', '0000000000001-0000-server')
            FROM generate_series(1, \(n)) g
            """, logger: logger)
        left -= n
    }
    try await client.query("ANALYZE trades", logger: logger)
}

func ids(_ client: PostgresClient, _ email: String) async throws -> (tenant: UUID, user: UUID) {
    let row = try await client.query("SELECT tenant_id, user_id FROM users WHERE email = \(email)", logger: logger).collect().first!
    return try row.decode((UUID, UUID).self)
}

func home() -> URL { FileManager.default.temporaryDirectory.appendingPathComponent("smc-sync-bench-\(UUID().uuidString)") }

let settings = try await TestDatabase.makeMigrated()
try await TestApp.run(database: settings, logger: logger) { app in
    try await PostgresClient.withRunning(settings, logger: logger, maxConnections: 2) { client in
        let server = URL(string: app.baseURL)!
        func account() async throws -> (email: String, tenant: UUID, user: UUID) {
            let (_, _, email) = try await app.signup(password: password)
            try await app.sql("UPDATE tenants SET plan_id = 'team' WHERE tenant_id = (SELECT tenant_id FROM users WHERE email = '\(email)')")
            let (tenant, user) = try await ids(client, email)
            return (email, tenant, user)
        }

        // 1. Initial sync of a large journal.
        let big = try await account()
        let loadStart = clock.now
        try await history(client, tenant: big.tenant, user: big.user, rows: options.initial)
        say("initial sync: \(options.initial) journal entries written in SQL in \(String(format: "%.1f", seconds(clock.now - loadStart))) s")
        for pageSize in [500, 5_000] {
            let store = try LocalStore(home: home())
            _ = try await SyncEngine.login(store: store, server: server, email: big.email, password: password, deviceName: "bench")
            let engine = try SyncEngine.forStore(store, pageSize: pageSize)
            let began = clock.now
            let report = try await engine.run()
            let took = seconds(clock.now - began)
            say("  new device, page size \(pageSize): \(report.pulled) changes in \(report.pages) pages, \(String(format: "%.2f", took)) s "
                  + "(\(Int(Double(report.pulled) / took)) changes/s)")
        }

        // 2. Incremental sync of 10 changes, with small and large histories.
        var medians: [Int: Double] = [:]
        for rows in [options.small, options.big] {
            let who = try await account()
            let loaded = clock.now
            try await history(client, tenant: who.tenant, user: who.user, rows: rows)
            let loadTook = seconds(clock.now - loaded)
            let writer = try LocalStore(home: home())
            _ = try await SyncEngine.login(store: writer, server: server, email: who.email, password: password, deviceName: "writer")
            let reader = try LocalStore(home: home())
            _ = try await SyncEngine.login(store: reader, server: server, email: who.email, password: password, deviceName: "reader")
            // Both devices are caught up with the history: their cursors stand at the counters (as after an earlier sync).
            let top = try await client.query(
                "SELECT version FROM sync_counters WHERE tenant_id = \(who.tenant) AND stream = 'journal'", logger: logger
            ).collect().first!.decode(Int64.self)
            for store in [writer, reader] {
                let queue = try DatabaseQueue(path: store.home.appendingPathComponent("client.sqlite").path)
                try await queue.write { db in
                    try db.execute(
                        sql: "INSERT INTO cursors (stream, cursor) VALUES ('journal', ?), ('signals', ?)",
                        arguments: [SyncCursor(stream: .journal, epoch: 1, version: top).encoded,
                                    SyncCursor(stream: .signals, epoch: 1, version: 0).encoded])
                }
            }
            let writerEngine = try SyncEngine.forStore(writer)
            let readerEngine = try SyncEngine.forStore(reader)
            var times: [Double] = []
            for round in 0..<options.rounds {
                for i in 0..<10 {
                    var input = TradeInput(symbol: "GBPUSD", direction: "long", entry: 1.25, stop: 1.24)
                    input.note = "round \(round) change \(i)"
                    _ = try writer.addTrade(input)
                }
                _ = try await writerEngine.run()
                let began = clock.now
                let report = try await readerEngine.run()
                times.append(seconds(clock.now - began) * 1000)
                guard report.pulled == 10 else { fatalError("the reader pulled \(report.pulled) changes, not 10") }
            }
            // The journal page query as the server runs it (keyset after the cursor), with its plan and timing.
            let plan = try await client.query(
                PostgresQuery(unsafeSQL: """
                    EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) SELECT sync_version, trade_id FROM trades
                    WHERE tenant_id = '\(who.tenant)' AND sync_version >= \(top) AND (sync_version > \(top) OR trade_id > 'ffffffff-ffff-ffff-ffff-ffffffffffff')
                    ORDER BY sync_version, trade_id LIMIT 501
                    """), logger: logger
            ).collect().map { try $0.decode(String.self) }
            let scan = plan.first { $0.contains("Scan") }?.trimmingCharacters(in: .whitespaces) ?? "?"
            let execution = plan.first { $0.contains("Execution Time") }?.trimmingCharacters(in: .whitespaces) ?? "?"
            say("  journal page query: \(scan.prefix(90))…; \(execution)")
            medians[rows] = median(times)
            say("incremental sync of 10 changes, \(rows) rows of history (loaded in \(String(format: "%.1f", loadTook)) s): "
                  + "median \(String(format: "%.2f", median(times))) ms, min \(String(format: "%.2f", times.min()!)) ms over \(options.rounds) rounds")
        }
        if let small = medians[options.small], let large = medians[options.big] {
            say("  ratio \(options.big) / \(options.small) rows: \(String(format: "%.2f", large / small))×")
        }
    }
}
