import Foundation
import NIOCore
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

    /// A feeder key, written as `smc-server admin create-feeder-key` does.
    static func feederKey(_ app: TestApp) async throws -> String {
        let secret = BearerSecret.generate(.feeder, tenant: UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
        try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger, maxConnections: 1) { client in
            try await client.query(
                "INSERT INTO feeder_keys (key_id, name, key_hash) VALUES (\(UUID()), \("test-\(UUID().uuidString.prefix(8))"), \(secret.hashBytes))",
                logger: TestDatabase.logger)
        }
        return secret.text
    }

    /// RFC 3339 in UTC, whole seconds.
    static func rfc3339(_ t: Int64) -> String {
        let day = CivilTime.day(of: t)
        let (y, m, d) = CivilTime.date(days: day)
        let s = t - day * 86_400
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, Int(s / 3600), Int(s % 3600 / 60), Int(s % 60))
    }

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
            let response = try await app.json(.POST, "/v1/market/candles", token: key,
                                              body(series, start..<min(start + 10_000, series.count)))
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
    static func offline(_ series: CandleSeries, strategy: StrategySettings) throws -> [String: (Int, Double, String?)] {
        var engine = try SignalEngine(timeframe: SignalTimeframe(label: "15m")!, settings: strategy)
        var out: [String: (Int, Double, String?)] = [:]
        for i in 0..<series.count {
            let step = engine.process(series[i])
            for s in step.signals { out[s.id] = (s.direction, s.confidence, nil) }
            for o in step.outcomes { out[o.signalID]?.2 = o.kind.rawValue }
        }
        return out
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
            let key = try await Self.feederKey(app)
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
            let expectedA = try Self.offline(series, strategy: StrategySettings())
            let expectedB = try Self.offline(series, strategy: strategyB)
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
