import Foundation
import NIOCore
import NIOPosix
import PostgresNIO
import SMCAPI
import SMCEngine
import SMCTestSupport
import Testing

@testable import SMCServer

/// Market data in, the pipeline, and signals out — over HTTP with a real PostgreSQL.
@Suite("Pipeline: candles in, per-tenant signals out", .serialized)
struct PipelineTests {
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

    @Test("two tenants with different settings each get exactly the engine's offline signals, and only their own")
    func twoTenantsEndToEnd() async throws {
        let series = try CandleFeed.eurusd15m
        try await TestApp.run(configure: { $0.pipelineWorkers = 2 }) { app in
            let key = try await app.feederKey()
            let (tokenA, sessionA, _) = try await app.signup()
            let (tokenB, sessionB, _) = try await app.signup()
            try await app.watchEURUSD(token: tokenA)
            try await app.watchEURUSD(token: tokenB, strategy: ["swing_length": 30, "min_reward_risk": 2.5, "min_confidence": 30])
            try await app.feed(series, key: key)
            try await app.waitForPipeline(lastOpen: series.time.last!, streams: 2)

            var strategyB = StrategySettings()
            strategyB.swingLength = 30
            strategyB.minRewardRisk = 2.5
            strategyB.minConfidence = 30
            let expectedA = try await Self.offline(series, strategy: StrategySettings())
            let expectedB = try await Self.offline(series, strategy: strategyB)
            let a = try await Self.stored(app, tenant: sessionA.tenantID)
            let b = try await Self.stored(app, tenant: sessionB.tenantID)
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
                let page = try await app.json(.GET, "/v1/signals?limit=37" + (cursor.map { "&cursor=\($0)" } ?? ""), token: tokenA)
                    .decode(Components.Schemas.SignalPage.self)
                listed += page.signals.map(\.id)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(listed.count == a.count && Set(listed).count == listed.count)
            let detail = try await app.json(.GET, "/v1/signals/\(listed[0])", token: tokenA)
            #expect(detail.status == 200)
            #expect(try detail.decode(Components.Schemas.SignalDetail.self).value2.votes.count == 4)
            #expect(try await app.json(.GET, "/v1/signals/\(listed[0])", token: tokenB).status == 404)

            // Feeding the same candles again changes nothing.
            try await app.feed(series, key: key)
            try await Task.sleep(for: .seconds(1))
            try await app.waitForPipeline(lastOpen: series.time.last!, streams: 2)
            #expect(try await Self.stored(app, tenant: sessionA.tenantID).count == a.count)
        }
    }
}

/// Several real `smc-server` processes on one database.
@Suite("Pipeline: several processes, crashes", .serialized)
struct PipelineProcessTests {
    static func start(_ settings: DatabaseSettings) async throws -> (ServerProcess, ServerAt) {
        try await ServerProcess.serve(settings, environment: ["SMC_PIPELINE_WORKERS": "2", "SMC_PIPELINE_POLL_MS": "50"])
    }

    /// A signed-up tenant watching EURUSD 15m, with optional strategy changes.
    static func tenant(_ server: ServerAt, strategy: [String: Any]? = nil) async throws -> UUID {
        let account = try await server.account()
        try await server.watchEURUSD(token: account.token, strategy: strategy)
        return account.tenant
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
        let all = try CandleFeed.eurusd15m
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
            for (_, server) in servers { group.addTask { try await CandleFeed.feed(series, key: key, batch: 4000, retrying: true, to: { server }) } }
            try await group.waitForAll()
        }
        try await servers[0].1.waitForPipeline(lastOpen: series.time.last!, streams: 2)
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
        let current = LockedBox<ServerAt?>(nil)
        var (server, base) = try await Self.start(settings)
        current.withLock { $0 = base }
        let tenantA = try await Self.tenant(base)
        let tenantB = try await Self.tenant(base, strategy: ["swing_length": 30, "min_confidence": 30])

        // Ingest, and kill the server twice while batches are in flight; the feeder retries against the new one.
        let feeding = Task { try await CandleFeed.feed(series, key: key, batch: 2000, retrying: true, to: { current.withLock { $0! } }) }
        for _ in 0..<2 {
            try await Task.sleep(for: .seconds(3))
            server.signal(SIGKILL)
            _ = await server.exitStatus(within: .seconds(10))
            (server, base) = try await Self.start(settings)
            current.withLock { [base] in $0 = base }
        }
        try await feeding.value

        // Kill it again while the pipeline is part-way through the history.
        let observer = base
        try await Poll.until("the pipeline part-way", timeout: .seconds(300)) {
            try await observer.sqlInt("SELECT count(*)::int FROM analysis_streams WHERE processed_until IS NOT NULL") >= 1
        }
        server.signal(SIGKILL)
        _ = await server.exitStatus(within: .seconds(10))
        let midway = try await Self.storedSignals(settings)
        (server, base) = try await Self.start(settings)
        defer { server.signal(SIGKILL) }
        try await base.waitForPipeline(lastOpen: series.time.last!, streams: 2)

        let count = try await base.sqlInt("SELECT count(*)::int FROM candles WHERE symbol = 'EURUSD' AND timeframe = '15m'")
        #expect(count == series.count)
        let stored = try await Self.storedSignals(settings)
        let expected = try await Self.expected(series)
        #expect(stored[tenantA]?.count == expected.a.count && Set(stored[tenantA] ?? []) == expected.a)
        #expect(stored[tenantB]?.count == expected.b.count && Set(stored[tenantB] ?? []) == expected.b)
        #expect((midway[tenantA]?.count ?? 0) <= expected.a.count)
    }
}
