import Foundation
import NIOCore
import NIOPosix
import PostgresNIO
import SMCEngine
import SMCTestSupport
import Testing

@testable import SMCServer

/// Market data in, the pipeline, and signals out — over HTTP with a real PostgreSQL.
@Suite("Pipeline: candles in, per-tenant signals out", .serialized)
struct PipelineTests {
    static let csv = TestDatabase.repositoryRoot.deletingLastPathComponent()
        .appendingPathComponent("shared/conformance/smartmoneyconcepts/eurusd-15m/EURUSD_15M.csv")

    static func candles() throws -> CandleSeries {
        try CandleCSV.parse(String(contentsOf: csv, encoding: .utf8))
    }

    static func rfc3339(_ t: Int64) -> String { CivilTime.rfc3339(t) }

    static func body(_ series: CandleSeries, _ range: Range<Int>, symbol: String = "EURUSD", timeframe: String = "15m")
        -> [String: Any]
    {
        ["candles": range.map { i -> [String: Any] in
            let c = series[i]
            return ["symbol": symbol, "timeframe": timeframe, "open_time": rfc3339(c.time),
                    "open": c.open, "high": c.high, "low": c.low, "close": c.close, "volume": c.volume]
        }]
    }

    /// Feeds every candle in batches of 10,000 (the endpoint's limit).
    static func feed(_ app: TestApp, key: String, _ series: CandleSeries) async throws {
        for start in stride(from: 0, to: series.count, by: 10_000) {
            // 10,000 candles a request: a debug build on a busy machine may need more than the usual 30 s.
            let response = try await app.json(.POST, "/v1/market/candles", token: key,
                                              body(series, start..<min(start + 10_000, series.count)), timeout: .seconds(120))
            guard response.status == 200 else { throw TestFailure("ingest: \(response.status) \(response.body)") }
        }
    }

    static func watch(_ app: TestApp, _ token: String, strategy: [String: Any]? = nil) async throws {
        let watch = try await app.json(.PUT, "/v1/settings/watchlist", token: token,
                                       ["entries": [["symbol": "EURUSD", "timeframes": ["15m"]]]], headers: [("if-match", "*")])
        #expect(watch.status == 200, "\(watch.body)")
        if let strategy {
            let current = try await app.json(.GET, "/v1/settings/strategy", token: token).json()
            let merged = current.merging(strategy) { $1 }
            let put = try await app.json(.PUT, "/v1/settings/strategy", token: token, merged, headers: [("if-match", "*")])
            #expect(put.status == 200, "\(put.body)")
        }
    }

    /// Waits until the stream's analyzers have seen `last` and nothing is queued.
    static func waitForPipeline(_ app: TestApp, lastOpen: Int64, streams: Int, timeout: Duration = .seconds(300)) async throws {
        let deadline = ContinuousClock.now + timeout
        try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger, maxConnections: 1) { client in
            while ContinuousClock.now < deadline {
                let row = try await client.query(
                    """
                    SELECT (SELECT count(*) FROM analysis_streams WHERE symbol = 'EURUSD' AND timeframe = '15m'
                              AND processed_until = to_timestamp(\(lastOpen))),
                           (SELECT count(*) FROM pipeline_jobs WHERE symbol = 'EURUSD' AND timeframe = '15m')
                    """, logger: TestDatabase.logger
                ).collect().first!.decode((Int, Int).self)
                if row.0 == streams && row.1 == 0 { return }
                try await Task.sleep(for: .milliseconds(200))
            }
            throw TestFailure("the pipeline did not catch up in time")
        }
    }

    /// What the engine produces offline for these settings: signal id → (direction, confidence, outcome kind).
    /// Computed on NIO's thread pool, not the cooperative threads: in a debug build it takes seconds, and the
    /// in-process servers of other tests answer on those threads.
    static func offline(_ series: CandleSeries, strategy: StrategySettings) async throws -> [String: (Int, Double, String?)] {
        try await NIOThreadPool.singleton.runIfActive {
            var engine = try SignalEngine(timeframe: SignalTimeframe(label: "15m")!, settings: strategy)
            var out: [String: (Int, Double, String?)] = [:]
            for i in 0..<series.count {
                let step = engine.process(series[i])
                for s in step.signals { out[s.id] = (s.direction, s.confidence, nil) }
                for o in step.outcomes { out[o.signalID]?.2 = o.kind.rawValue }
            }
            return out
        }
    }

    static func stored(_ app: TestApp, tenant: UUID) async throws -> [String: (Int, Double, String?)] {
        try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger, maxConnections: 1) { client in
            try await client.withConnection { connection in
                try await connection.query("BEGIN", logger: TestDatabase.logger)
                try await connection.query("SELECT set_config('role', 'smc_worker', true)", logger: TestDatabase.logger)
                let rows = try await connection.query(
                    "SELECT signal_key, direction, confidence, outcome FROM signals WHERE tenant_id = \(tenant)",
                    logger: TestDatabase.logger)
                var out: [String: (Int, Double, String?)] = [:]
                for try await (key, d, c, o) in rows.decode((String, Int16, Double, String?).self) { out[key] = (Int(d), c, o) }
                try await connection.query("COMMIT", logger: TestDatabase.logger)
                return out
            }
        }
    }

    static func tenant(_ session: [String: Any]) throws -> UUID {
        try #require(UUID(uuidString: (session["tenant"] as? [String: Any])?["id"] as? String ?? ""))
    }

    @Test("two tenants with different settings each get exactly the engine's offline signals, and only their own")
    func twoTenantsEndToEnd() async throws {
        let series = try Self.candles()
        try await TestApp.run(configure: { $0.pipelineWorkers = 2 }) { app in
            let key = try await app.feederKey()
            let (tokenA, sessionA, _) = try await app.signup()
            let (tokenB, sessionB, _) = try await app.signup()
            try await Self.watch(app, tokenA)
            try await Self.watch(app, tokenB, strategy: ["swing_length": 30, "min_reward_risk": 2.5, "min_confidence": 30])
            try await Self.feed(app, key: key, series)
            try await Self.waitForPipeline(app, lastOpen: series.time.last!, streams: 2)

            var strategyB = StrategySettings()
            strategyB.swingLength = 30
            strategyB.minRewardRisk = 2.5
            strategyB.minConfidence = 30
            let expectedA = try await Self.offline(series, strategy: StrategySettings())
            let expectedB = try await Self.offline(series, strategy: strategyB)
            let a = try await Self.stored(app, tenant: try Self.tenant(sessionA))
            let b = try await Self.stored(app, tenant: try Self.tenant(sessionB))
            #expect(expectedA.count > 20 && expectedB.count > 20)
            #expect(Set(a.keys) == Set(expectedA.keys), "tenant A: \(a.count) stored, \(expectedA.count) offline")
            #expect(Set(b.keys) == Set(expectedB.keys), "tenant B: \(b.count) stored, \(expectedB.count) offline")
            #expect(Set(a.keys) != Set(b.keys))
            for (id, e) in expectedA { if let s = a[id] { #expect(s.0 == e.0 && abs(s.1 - e.1) < 1e-9 && s.2 == e.2, "\(id)") } }
            for (id, e) in expectedB { if let s = b[id] { #expect(s.0 == e.0 && abs(s.1 - e.1) < 1e-9 && s.2 == e.2, "\(id)") } }

            // The REST list pages through exactly the stored signals; the detail carries the votes.
            var listed: [String] = []
            var cursor: String?
            repeat {
                let page = try await app.json(.GET, "/v1/signals?limit=37" + (cursor.map { "&cursor=\($0)" } ?? ""), token: tokenA).json()
                let items = page["signals"] as? [[String: Any]] ?? []
                listed += items.compactMap { $0["id"] as? String }
                cursor = page["next_cursor"] as? String
            } while cursor != nil
            #expect(listed.count == a.count && Set(listed).count == listed.count)
            let detail = try await app.json(.GET, "/v1/signals/\(listed[0])", token: tokenA)
            #expect(detail.status == 200)
            #expect((try detail.json()["votes"] as? [Any])?.count == 4)
            #expect(try await app.json(.GET, "/v1/signals/\(listed[0])", token: tokenB).status == 404)

            // Feeding the same candles again changes nothing.
            try await Self.feed(app, key: key, series)
            try await Task.sleep(for: .seconds(1))
            try await Self.waitForPipeline(app, lastOpen: series.time.last!, streams: 2)
            #expect(try await Self.stored(app, tenant: try Self.tenant(sessionA)).count == a.count)
        }
    }
}

/// Several real `smc-server` processes on one database.
@Suite("Pipeline: several processes, crashes", .serialized)
struct PipelineProcessTests {
    static func start(_ settings: DatabaseSettings) async throws -> (ServerProcess, String) {
        let server = try ServerProcess(["serve"], environment: [
            "DATABASE_URL": TestDatabase.url(for: settings), "SMC_PIPELINE_WORKERS": "2", "SMC_PIPELINE_POLL_MS": "50",
            "SMC_LOG_LEVEL": "info",
        ])
        return (server, "http://127.0.0.1:\(try await server.port())")
    }

    static func post(_ base: String, _ path: String, token: String, _ body: [String: Any], headers: [(String, String)] = [])
        async throws -> TestResponse
    {
        try await TestHTTP.request(.POST, base + path, headers: [("authorization", "Bearer \(token)"), ("content-type", "application/json")] + headers,
                                   body: String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self),
                                   timeout: .seconds(120))
    }

    /// A signed-up tenant watching EURUSD 15m, with optional strategy changes.
    static func tenant(_ base: String, strategy: [String: Any]? = nil) async throws -> UUID {
        let signup = try await TestHTTP.request(
            .POST, base + "/v1/auth/signup", headers: [("content-type", "application/json")],
            body: #"{"email": "p-\#(UUID().uuidString.prefix(8).lowercased())@example.com", "password": "correct horse battery"}"#)
        let session = try signup.json()
        let token = try #require(session["token"] as? String)
        let put = try await TestHTTP.request(
            .PUT, base + "/v1/settings/watchlist",
            headers: [("authorization", "Bearer \(token)"), ("content-type", "application/json"), ("if-match", "*")],
            body: #"{"entries": [{"symbol": "EURUSD", "timeframes": ["15m"]}]}"#)
        #expect(put.status == 200, "\(put.body)")
        if let strategy {
            let current = try await TestHTTP.request(.GET, base + "/v1/settings/strategy", headers: [("authorization", "Bearer \(token)")]).json()
            let body = String(decoding: try JSONSerialization.data(withJSONObject: current.merging(strategy) { $1 }), as: UTF8.self)
            let response = try await TestHTTP.request(
                .PUT, base + "/v1/settings/strategy",
                headers: [("authorization", "Bearer \(token)"), ("content-type", "application/json"), ("if-match", "*")], body: body)
            #expect(response.status == 200, "\(response.body)")
        }
        return try PipelineTests.tenant(session)
    }

    /// Feeds the series in order (batches of `batch`), retrying a batch whose request failed (a killed server).
    static func feed(_ bases: @escaping @Sendable () -> String, key: String, _ series: CandleSeries, batch: Int = 4000) async throws {
        for start in stride(from: 0, to: series.count, by: batch) {
            let body = PipelineTests.body(series, start..<min(start + batch, series.count))
            var tries = 0
            while true {
                if let r = try? await post(bases(), "/v1/market/candles", token: key, body), r.status == 200 { break }
                tries += 1
                if tries > 600 { throw TestFailure("batch at \(start) never accepted") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    static func storedSignals(_ settings: DatabaseSettings) async throws -> [UUID: [String]] {
        try await PostgresClient.withRunning(settings, logger: TestDatabase.logger, maxConnections: 1) { client in
            try await client.withConnection { connection in
                try await connection.query("BEGIN", logger: TestDatabase.logger)
                try await connection.query("SELECT set_config('role', 'smc_worker', true)", logger: TestDatabase.logger)
                var out: [UUID: [String]] = [:]
                for try await (tenant, key) in try await connection.query("SELECT tenant_id, signal_key FROM signals", logger: TestDatabase.logger)
                    .decode((UUID, String).self) { out[tenant, default: []].append(key) }
                try await connection.query("COMMIT", logger: TestDatabase.logger)
                return out
            }
        }
    }

    static func expected(_ series: CandleSeries) async throws -> (a: Set<String>, b: Set<String>) {
        var strategyB = StrategySettings()
        strategyB.swingLength = 30
        strategyB.minConfidence = 30
        return (Set(try await PipelineTests.offline(series, strategy: StrategySettings()).keys),
                Set(try await PipelineTests.offline(series, strategy: strategyB).keys))
    }

    /// The first 12,000 candles (four months): enough signals, half the time of the whole file.
    static func series() throws -> CandleSeries {
        let all = try PipelineTests.candles()
        return all[0..<12_000]
    }

    @Test("three server processes fed concurrently store every expected signal exactly once")
    func threeProcesses() async throws {
        let series = try Self.series()
        let settings = try await TestDatabase.makeMigrated()
        let key = try await TestDatabase.feederKey(settings)
        let servers = try await [Self.start(settings), Self.start(settings), Self.start(settings)]
        defer { for (s, _) in servers { s.signal(SIGKILL) } }
        let tenantA = try await Self.tenant(servers[0].1)
        let tenantB = try await Self.tenant(servers[1].1, strategy: ["swing_length": 30, "min_confidence": 30])
        // Every process is fed the whole history at once (each batch idempotent), so all three ingest and all
        // six workers compete for the stream.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (_, base) in servers { group.addTask { try await Self.feed({ base }, key: key, series) } }
            try await group.waitForAll()
        }
        try await PipelineTests.waitForPipelineAt(settings, lastOpen: series.time.last!, streams: 2)
        let stored = try await Self.storedSignals(settings)
        let expected = try await Self.expected(series)
        #expect(expected.a.count > 5 && expected.b.count > 5)
        #expect(stored[tenantA]?.count == expected.a.count && Set(stored[tenantA] ?? []) == expected.a)
        #expect(stored[tenantB]?.count == expected.b.count && Set(stored[tenantB] ?? []) == expected.b)
        for (s, _) in servers { s.signal(SIGTERM) }
        for (s, _) in servers { #expect(await s.exitStatus(within: .seconds(30)) == 0) }
    }

    @Test("kill -9 during ingest and during evaluation loses no candle and no signal, and doubles none")
    func killNine() async throws {
        let series = try Self.series()
        let settings = try await TestDatabase.makeMigrated()
        let key = try await TestDatabase.feederKey(settings)
        let current = LockedBox<String>("")
        var (server, base) = try await Self.start(settings)
        current.withLock { $0 = base }
        let tenantA = try await Self.tenant(base)
        let tenantB = try await Self.tenant(base, strategy: ["swing_length": 30, "min_confidence": 30])

        // Ingest, and kill the server twice while batches are in flight; the feeder retries against the new one.
        let feeding = Task { try await Self.feed({ current.withLock { $0 } }, key: key, series, batch: 2000) }
        for _ in 0..<2 {
            try await Task.sleep(for: .seconds(3))
            server.signal(SIGKILL)
            _ = await server.exitStatus(within: .seconds(10))
            (server, base) = try await Self.start(settings)
            current.withLock { [base] in $0 = base }
        }
        try await feeding.value

        // Kill it again while the pipeline is part-way through the history.
        try await PipelineTests.waitUntil(settings, "SELECT count(*) FROM analysis_streams WHERE processed_until IS NOT NULL") { $0 >= 1 }
        server.signal(SIGKILL)
        _ = await server.exitStatus(within: .seconds(10))
        let midway = try await Self.storedSignals(settings)
        (server, base) = try await Self.start(settings)
        defer { server.signal(SIGKILL) }
        try await PipelineTests.waitForPipelineAt(settings, lastOpen: series.time.last!, streams: 2)

        let count = try await PostgresClient.withRunning(settings, logger: TestDatabase.logger, maxConnections: 1) { client in
            try await client.query("SELECT count(*) FROM candles WHERE symbol = 'EURUSD' AND timeframe = '15m'", logger: TestDatabase.logger)
                .collect().first!.decode(Int.self)
        }
        #expect(count == series.count)
        let stored = try await Self.storedSignals(settings)
        let expected = try await Self.expected(series)
        #expect(stored[tenantA]?.count == expected.a.count && Set(stored[tenantA] ?? []) == expected.a)
        #expect(stored[tenantB]?.count == expected.b.count && Set(stored[tenantB] ?? []) == expected.b)
        #expect((midway[tenantA]?.count ?? 0) <= expected.a.count)
    }
}

extension PipelineTests {
    static func waitUntil(_ settings: DatabaseSettings, _ sql: String, timeout: Duration = .seconds(300), _ done: @Sendable (Int) -> Bool)
        async throws
    {
        let deadline = ContinuousClock.now + timeout
        try await PostgresClient.withRunning(settings, logger: TestDatabase.logger, maxConnections: 1) { client in
            while ContinuousClock.now < deadline {
                let value = try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestDatabase.logger).collect().first!.decode(Int.self)
                if done(value) { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw TestFailure("timed out waiting for: \(sql)")
        }
    }

    static func waitForPipelineAt(_ settings: DatabaseSettings, lastOpen: Int64, streams: Int) async throws {
        try await waitUntil(settings, """
            SELECT CASE WHEN (SELECT count(*) FROM analysis_streams WHERE symbol = 'EURUSD' AND timeframe = '15m'
                                AND processed_until = to_timestamp(\(lastOpen))) = \(streams)
                          AND NOT EXISTS (SELECT 1 FROM pipeline_jobs WHERE symbol = 'EURUSD' AND timeframe = '15m')
                        THEN 1 ELSE 0 END
            """) { $0 == 1 }
    }
}
