import Foundation
import PostgresNIO
import SMCAPI
import SMCEngine
import SMCTestSupport
import Testing

@testable import SMCServer

/// `POST /v1/market/candles` over HTTP with a real PostgreSQL: validation, feeder keys, idempotency, corrections,
/// aggregation into higher timeframes and the pipeline's queue.
@Suite("Market data: candle ingest")
struct MarketDataTests {
    /// Monday 2024-03-04 00:00 UTC.
    static let monday: Int64 = 1_709_510_400

    static func candle(_ t: Int64, symbol: String = "EURUSD", timeframe: String = "15m", open: Double = 1.10,
                       high: Double = 1.12, low: Double = 1.09, close: Double = 1.11, volume: Double = 10) -> [String: Any]
    {
        ["symbol": symbol, "timeframe": timeframe, "open_time": CivilTime.rfc3339(t), "open": open, "high": high,
         "low": low, "close": close, "volume": volume]
    }

    static func ingest(_ app: TestApp, _ key: String, _ candles: [[String: Any]]) async throws -> TestResponse {
        try await app.json(.POST, "/v1/market/candles", token: key, ["candles": candles])
    }

    /// Ingests and requires 200; the result.
    static func stored(_ app: TestApp, _ key: String, _ candles: [[String: Any]]) async throws -> Components.Schemas.CandleIngestResult {
        let response = try await ingest(app, key, candles)
        guard response.status == 200 else { throw TestFailure("ingest: \(response.status) \(response.body)") }
        return try response.decode()
    }

    static func count(_ app: TestApp, _ table: String = "candles") async throws -> Int {
        try await app.sqlInt("SELECT count(*)::int8 FROM \(table)")
    }

    /// (open, high, low, close, volume, source) by open time, of one stream.
    static func rows(_ app: TestApp, _ symbol: String, _ timeframe: String) async throws
        -> [Int64: (Double, Double, Double, Double, Double, String)]
    {
        try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger, maxConnections: 1) { client in
            let rows = try await client.query(
                """
                SELECT extract(epoch FROM open_time)::int8, open, high, low, close, volume, source FROM candles
                WHERE symbol = \(symbol) AND timeframe = \(timeframe)
                """, logger: TestDatabase.logger)
            var out: [Int64: (Double, Double, Double, Double, Double, String)] = [:]
            for try await (t, o, h, l, c, v, s) in rows.decode((Int64, Double, Double, Double, Double, Double, String).self) {
                out[t] = (o, h, l, c, v, s)
            }
            return out
        }
    }

    // MARK: - Validation

    @Test("a bad candle rejects the whole batch with 422 naming it; nothing is stored")
    func validation() async throws {
        try await TestApp.run { app in
            let key = try await app.feederKey()
            let t = Self.monday + 10 * 3600
            let good = [Self.candle(t), Self.candle(t + 900)]
            let cases: [(String, [[String: Any]], String)] = [
                ("unknown symbol", good + [Self.candle(t + 1800, symbol: "NOPE")], "/candles/2/symbol"),
                ("15m candle at :07", good + [Self.candle(t + 420)], "/candles/2/open_time"),
                ("high below close", good + [Self.candle(t + 1800, high: 1.105)], "/candles/2/high"),
                ("high below open", good + [Self.candle(t + 1800, open: 1.13)], "/candles/2/high"),
                ("low above open", good + [Self.candle(t + 1800, low: 1.101, close: 1.115)], "/candles/2/low"),
                ("low above close", good + [Self.candle(t + 1800, low: 1.105, close: 1.102)], "/candles/2/low"),
                ("zero price", good + [Self.candle(t + 1800, open: 0)], "/candles/2/open"),
                ("negative price", good + [Self.candle(t + 1800, low: -1.09)], "/candles/2/low"),
                ("zero close", good + [Self.candle(t + 1800, low: 0, close: 0)], "/candles/2/low"),
                ("negative volume", good + [Self.candle(t + 1800, volume: -1)], "/candles/2/volume"),
                ("fraction of a second", good + [Self.candle(t + 1800).merging(["open_time": "2024-03-04T10:30:00.5Z"]) { $1 }],
                 "/candles/2/open_time"),
                ("same candle, other values", good + [Self.candle(t, close: 1.115)], "/candles/2"),
                ("more than 10,000", (0..<10_001).map { Self.candle(Self.monday + Int64($0) * 60, timeframe: "1m") }, "/candles"),
            ]
            for (name, candles, field) in cases {
                let before = try await Self.count(app)
                let response = try await Self.ingest(app, key, candles)
                #expect(response.status == 422, "\(name): \(response.status) \(response.body.prefix(300))")
                #expect(response.problemCode == "validation_failed", "\(name)")
                let errors = (try? response.json())?["errors"] as? [[String: Any]]
                #expect(errors?.first?["field"] as? String == field, "\(name): \(response.body.prefix(300))")
                #expect(try await Self.count(app) == before && before == 0, "\(name): nothing stored")
            }
            // What JSON cannot carry as a price (NaN, infinity: 1e999 overflows) or a value of the wrong type is refused
            // before validation: 422 validation_failed naming the field, nothing stored.
            for (field, raw) in [("open", "1e999"), ("high", "-1e999"), ("open", #""NaN""#), ("close", "null"), ("timeframe", #""2h""#)] {
                var fields = [("symbol", #""EURUSD""#), ("timeframe", #""15m""#), ("open_time", #""2024-03-04T10:00:00Z""#),
                              ("open", "1.1"), ("high", "1.2"), ("low", "1.0"), ("close", "1.1")]
                fields = fields.map { $0.0 == field ? ($0.0, raw) : $0 }
                let body = #"{"candles":[{"# + fields.map { #""\#($0.0)":\#($0.1)"# }.joined(separator: ",") + "}]}"
                let response = try await app.request(
                    .POST, "/v1/market/candles", headers: [("authorization", "Bearer \(key)"), ("content-type", "application/json")],
                    body: body)
                #expect(response.status == 422 && response.problemCode == "validation_failed", "\(field): \(raw) → \(response.body)")
                #expect(response.body.contains("/candles/0/\(field)"), "\(field): \(raw) → \(response.body)")
            }
            #expect(try await Self.count(app) == 0)
            // NaN and infinity reaching the service (another feeder path, a connector) are refused by validation.
            try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger, maxConnections: 2) { client in
                let service = MarketDataService(database: Database(client: client, logger: TestDatabase.logger))
                let good = IncomingCandle(symbol: "EURUSD", timeframe: SignalTimeframe(label: "15m")!, openTime: t,
                                          open: 1.1, high: 1.2, low: 1.0, close: 1.1, volume: 1)
                for (name, value) in [("open", Double.nan), ("high", .infinity), ("low", -.infinity), ("close", .nan), ("volume", .nan)] {
                    var bad = good
                    bad.openTime += 900
                    switch name {
                    case "open": bad.open = value
                    case "high": bad.high = value
                    case "low": bad.low = value
                    case "close": bad.close = value
                    default: bad.volume = value
                    }
                    await #expect {
                        _ = try await service.validate([good, bad])
                    } throws: { error in
                        (error as? Problem)?.fieldErrors.first?.field == "/candles/1/\(name)"
                    }
                }
            }

            // The same candle twice with the same values is one candle.
            let twice = try await Self.stored(app, key, [Self.candle(t), Self.candle(t)])
            #expect(twice.received == 2 && twice.inserted == 1 && twice.unchanged == 1)
            #expect(try await Self.count(app) == 1)
        }
    }

    @Test("only a current feeder key is let in: none, unknown, revoked, a device token and an API key get 401")
    func feederKeys() async throws {
        try await TestApp.run { app in
            let key = try await app.feederKey(name: "revocable")
            let (token, _, _) = try await app.signup()
            let apiKey = try await app.apiKey(token: token, scopes: ["signals_read"], name: "k")
            let unknown = BearerSecret.generate(.feeder, tenant: UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))).text
            let batch = ["candles": [Self.candle(Self.monday)]]
            let altered = String(key.dropLast()) + (key.hasSuffix("A") ? "B" : "A")
            for presented in [nil, unknown, token, apiKey, "smcf_short", altered] as [String?] {
                let response = try await app.json(.POST, "/v1/market/candles", token: presented, batch)
                #expect(response.status == 401, "\(presented ?? "none"): \(response.body)")
                #expect(response.problemCode == "unauthenticated")
            }
            #expect(try await Self.count(app) == 0)
            #expect(try await app.json(.POST, "/v1/market/candles", token: key, batch).status == 200)
            try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger, maxConnections: 1) { client in
                try await client.query("UPDATE feeder_keys SET revoked_at = now() WHERE name = 'revocable'", logger: TestDatabase.logger)
            }
            #expect(try await app.json(.POST, "/v1/market/candles", token: key, batch).status == 401)
        }
    }

    // MARK: - Idempotency, forming candles, corrections

    @Test("the same batch twice is unchanged; a forming candle is replaced; a closed one is kept and the other values recorded")
    func idempotency() async throws {
        try await TestApp.run { app in
            let key = try await app.feederKey()
            let batch = (0..<20).map { Self.candle(Self.monday + 8 * 3600 + Int64($0) * 900, close: 1.10 + Double($0) / 1000) }
            let first = try await Self.stored(app, key, batch)
            #expect(first.inserted == 20)
            let again = try await Self.stored(app, key, batch)
            #expect(again.received == 20 && again.unchanged == 20)
            #expect(again.inserted == 0 && again.replaced == 0 && again.corrections == 0)
            #expect(again.aggregated == 0 && again.queued.isEmpty)
            #expect(try await Self.count(app, "candles WHERE timeframe = '15m'") == 20)

            // Today's daily candle has not closed: other values replace it.
            let now = Int64(Date().timeIntervalSince1970)
            let today = now - now % 86_400
            let forming = try await Self.stored(app, key, [Self.candle(today, timeframe: "1d")])
            #expect(forming.inserted == 1 && forming.queued.isEmpty, "a forming candle is not analysed")
            let replaced = try await Self.stored(app, key, [Self.candle(today, timeframe: "1d", high: 1.15, close: 1.14, volume: 30)])
            #expect(replaced.replaced == 1 && replaced.corrections == 0)
            let daily = try await Self.rows(app, "EURUSD", "1d")[today]
            #expect(daily?.1 == 1.15 && daily?.3 == 1.14 && daily?.4 == 30)
            #expect(try await Self.count(app, "candle_corrections") == 0)

            // A closed candle with other values: recorded as a correction, the stored candle kept.
            let t = Self.monday + 8 * 3600
            let corrected = try await Self.stored(app, key, [Self.candle(t, high: 1.13, close: 1.125)])
            #expect(corrected.corrections == 1 && corrected.replaced == 0 && corrected.inserted == 0)
            let kept = try await Self.rows(app, "EURUSD", "15m")[t]
            #expect(kept?.1 == 1.12 && kept?.3 == 1.10)
            let correction = try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger, maxConnections: 1) { client in
                try await client.query(
                    "SELECT symbol, timeframe, extract(epoch FROM open_time)::int8, high, close FROM candle_corrections",
                    logger: TestDatabase.logger
                ).collect().map { try $0.decode((String, String, Int64, Double, Double).self) }
            }
            #expect(correction.count == 1)
            #expect(correction.first.map { $0 == ("EURUSD", "15m", t, 1.13, 1.125) } == true)
        }
    }

    // MARK: - Aggregation

    /// 1m candles from `start`: a deterministic walk with whole-number volumes (so sums are exact in any order).
    static func minutes(_ start: Int64, count: Int, skipping: Set<Int> = []) -> [Candle] {
        (0..<count).filter { !skipping.contains($0) }.map { i in
            let open = 1.25 + sin(Double(i) / 7) / 100
            let close = open + cos(Double(i) / 3) / 400
            return Candle(time: start + Int64(i) * 60, open: open, high: max(open, close) + Double(i % 5) / 10_000,
                          low: min(open, close) - Double(i % 3) / 10_000, close: close, volume: Double(i % 11 + 1))
        }
    }

    /// The aggregation rule, computed here: a bucket of `tf` is built when it is over and its last minute is there,
    /// or any later minute is (a gap); open = first open, high = max, low = min, close = last close, volume = sum.
    static func expected(_ fed: [Candle], _ tf: SignalTimeframe) -> [Int64: Candle] {
        let buckets = Dictionary(grouping: fed) { tf.bucketStart($0.time) }
        let latest = fed.map(\.time).max() ?? 0
        var out: [Int64: Candle] = [:]
        for (bucket, members) in buckets {
            let sorted = members.sorted { $0.time < $1.time }
            let complete = sorted.last!.time == bucket + tf.seconds - 60 || latest >= bucket + tf.seconds
            guard complete, bucket + tf.seconds <= Int64(Date().timeIntervalSince1970) else { continue }
            out[bucket] = Candle(time: bucket, open: sorted.first!.open, high: sorted.map(\.high).max()!,
                                 low: sorted.map(\.low).min()!, close: sorted.last!.close, volume: sorted.map(\.volume).reduce(0, +))
        }
        return out
    }

    static func checkAggregates(_ app: TestApp, symbol: String, fed: [Candle], sourceLocation: SourceLocation = #_sourceLocation)
        async throws -> [String: Int]
    {
        var counts: [String: Int] = [:]
        for tf in SignalTimeframe.all.dropFirst() {
            let want = expected(fed, tf)
            let have = try await rows(app, symbol, tf.label)
            counts[tf.label] = have.count
            #expect(Set(have.keys) == Set(want.keys), "\(tf.label): \(have.keys.sorted()) ≠ \(want.keys.sorted())",
                    sourceLocation: sourceLocation)
            for (t, c) in want {
                guard let row = have[t] else { continue }
                #expect(row.0 == c.open && row.1 == c.high && row.2 == c.low && row.3 == c.close && row.4 == c.volume,
                        "\(tf.label) at \(t): \(row) ≠ \(c)", sourceLocation: sourceLocation)
                #expect(row.5 == "aggregate:1m", sourceLocation: sourceLocation)
            }
        }
        return counts
    }

    static func body(_ candles: [Candle], symbol: String) -> [[String: Any]] {
        candles.map { Self.candle($0.time, symbol: symbol, timeframe: "1m", open: $0.open, high: $0.high, low: $0.low,
                                  close: $0.close, volume: $0.volume) }
    }

    @Test("1m candles build 5m/15m/30m/1h (and 4h) candles for the complete UTC buckets only")
    func aggregation() async throws {
        try await TestApp.run { app in
            let key = try await app.feederKey()
            // 10:00–12:22: two full hours and 23 minutes of the third.
            let fed = Self.minutes(Self.monday + 10 * 3600, count: 143)
            let result = try await Self.stored(app, key, Self.body(fed, symbol: "GBPUSD"))
            let counts = try await Self.checkAggregates(app, symbol: "GBPUSD", fed: fed)
            // 12:20 (5m), 12:15 (15m), 12:00 (30m, 1h) are incomplete; 4h 08:00 ends with 11:59, which is there.
            #expect(counts == ["5m": 28, "15m": 9, "30m": 4, "1h": 2, "4h": 1, "1d": 0, "1w": 0])
            #expect(result.aggregated == 44)
            #expect(Set(result.queued) == ["GBPUSD/1m", "GBPUSD/5m", "GBPUSD/15m", "GBPUSD/30m", "GBPUSD/1h", "GBPUSD/4h"])

            // The rest of the third hour completes its buckets, and nothing else changes.
            let rest = Self.minutes(Self.monday + 10 * 3600, count: 180).suffix(37)
            let more = try await Self.stored(app, key, Self.body(Array(rest), symbol: "GBPUSD"))
            let after = try await Self.checkAggregates(app, symbol: "GBPUSD", fed: fed + rest)
            #expect(after == ["5m": 36, "15m": 12, "30m": 6, "1h": 3, "4h": 1, "1d": 0, "1w": 0])
            #expect(more.aggregated == 8 + 3 + 2 + 1)
        }
    }

    @Test("a gap inside a bucket: the bucket is built from what exists once a later candle arrives, fed one by one")
    func gaps() async throws {
        try await TestApp.run { app in
            let key = try await app.feederKey()
            // 10:00–10:17, then nothing until 10:50, then to 11:05: a live feeder, one request per candle.
            let fed = Self.minutes(Self.monday + 10 * 3600, count: 66, skipping: Set(18..<50))
            for candle in fed { _ = try await Self.stored(app, key, Self.body([candle], symbol: "USDCHF")) }
            let counts = try await Self.checkAggregates(app, symbol: "USDCHF", fed: fed)
            // 5m: 10:00, 10:05, 10:10, 10:15 (3 minutes), 10:50, 10:55, 11:00; 15m: 10:00, 10:15 (3 minutes), 10:45;
            // 30m: 10:00 (18 minutes), 10:30 (10 minutes); 1h: 10:00.
            #expect(counts == ["5m": 7, "15m": 3, "30m": 2, "1h": 1, "4h": 0, "1d": 0, "1w": 0])

            // The same minutes in one batch build the same candles.
            _ = try await Self.stored(app, key, Self.body(fed, symbol: "AUDUSD"))
            #expect(try await Self.checkAggregates(app, symbol: "AUDUSD", fed: fed) == counts)
        }
    }

    @Test("a 1h candle fed directly wins over the aggregate of its minutes")
    func directCandleWins() async throws {
        try await TestApp.run { app in
            let key = try await app.feederKey(name: "broker")
            let hour = Self.monday + 10 * 3600
            _ = try await Self.stored(app, key, [Self.candle(hour, timeframe: "1h", open: 1.2, high: 1.3, low: 1.1, close: 1.25, volume: 999)])
            let minutes = Self.minutes(hour, count: 60)
            let result = try await Self.stored(app, key, Self.body(minutes, symbol: "EURUSD"))
            #expect(result.aggregated == 12 + 4 + 2, "5m, 15m and 30m; not 1h")
            let direct = try await Self.rows(app, "EURUSD", "1h")[hour]
            #expect(direct.map { $0.0 == 1.2 && $0.1 == 1.3 && $0.2 == 1.1 && $0.3 == 1.25 && $0.4 == 999 && $0.5 == "feed:broker" } == true,
                    "\(String(describing: direct))")
        }
    }

    // MARK: - The pipeline's queue

    @Test("an ingest queues its streams in the same transaction: pipeline_jobs has a row for each queued stream")
    func queue() async throws {
        try await TestApp.run { app in
            let key = try await app.feederKey()
            let batch = (0..<8).map { Self.candle(Self.monday + 9 * 3600 + Int64($0) * 900) }
            let result = try await Self.stored(app, key, batch)
            let queued = result.queued
            #expect(queued == ["EURUSD/15m", "EURUSD/1h", "EURUSD/30m"], "two complete hours: 30m and 1h built")
            let jobs = try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger, maxConnections: 1) { client in
                try await client.query("SELECT DISTINCT symbol || '/' || timeframe FROM pipeline_jobs", logger: TestDatabase.logger)
                    .collect().map { try $0.decode(String.self) }
            }
            #expect(jobs.sorted() == queued)
            // A repeat queues nothing new; a refused batch queues nothing.
            let jobsBefore = try await Self.count(app, "pipeline_jobs")
            _ = try await Self.stored(app, key, batch)
            _ = try await Self.ingest(app, key, [Self.candle(Self.monday + 12 * 3600), Self.candle(Self.monday + 12 * 3600 + 60)])
            #expect(try await Self.count(app, "pipeline_jobs") == jobsBefore)
        }
    }
}

/// The TradingView hook: stored at once for the key's tenant, parsed afterwards.
@Suite("Hooks: TradingView alerts")
struct TradingViewHookTests {
    static func hookKey(_ app: TestApp, scopes: [String] = ["tradingview_hook"]) async throws -> (key: String, tenant: UUID) {
        let account = try await app.account()
        return (try await app.apiKey(token: account.token, scopes: scopes, name: "TradingView"), account.tenant)
    }

    static func post(_ app: TestApp, _ token: String, json: String? = nil, text: String? = nil) async throws -> TestResponse {
        let type = json != nil ? "application/json" : "text/plain; charset=utf-8"
        return try await app.request(.POST, "/v1/hooks/tradingview/\(token)", headers: [("content-type", type)], body: json ?? text)
    }

    /// (symbol, direction, strength, parse_error, parsed) of the tenant's alert.
    static func alert(_ app: TestApp, tenant: UUID, id: String) async throws -> (String?, Int16?, Double?, String?, Bool)? {
        try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger, maxConnections: 1) { client in
            try await Database(client: client, logger: TestDatabase.logger).withTenant(tenant) { connection in
                try await connection.query(
                    """
                    SELECT symbol, direction, strength, parse_error, parsed_at IS NOT NULL FROM external_alerts
                    WHERE tenant_id = \(tenant) AND alert_id = \(UUID(uuidString: id)!)
                    """, logger: TestDatabase.logger
                ).collect().first?.decode((String?, Int16?, Double?, String?, Bool).self)
            }
        }
    }

    static func alertCount(_ app: TestApp, tenant: UUID) async throws -> Int {
        try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger, maxConnections: 1) { client in
            try await Database(client: client, logger: TestDatabase.logger).withTenant(tenant) { connection in
                try await connection.query("SELECT count(*)::int8 FROM external_alerts WHERE tenant_id = \(tenant)", logger: TestDatabase.logger)
                    .collect().first!.decode(Int.self)
            }
        }
    }

    @Test("JSON and text alerts are accepted (202 with an id) and parsed; the same id again is a duplicate")
    func receiveAndParse() async throws {
        try await TestApp.run { app in
            let (key, tenant) = try await Self.hookKey(app)
            let json = #"{"ticker":"FX:EURUSD","action":"buy","strength":0.7,"id":"tv-1"}"#
            let first = try await Self.post(app, key, json: json)
            #expect(first.status == 202, "\(first.body)")
            let accepted = try first.decode(Components.Schemas.HookAccepted.self)
            let id = accepted.id
            #expect(accepted.duplicate == false)
            let text = try await Self.post(app, key, text: "SELL EURUSD breakout")
            #expect(text.status == 202, "\(text.body)")
            let textID = try text.decode(Components.Schemas.HookAccepted.self).id
            let nonsense = try await Self.post(app, key, text: "%%% ??? 42")
            let nonsenseID = try nonsense.decode(Components.Schemas.HookAccepted.self).id
            let shouting = try await Self.post(app, key, text: "ALERT: Buy GBPJPY now")
            let shoutingID = try shouting.decode(Components.Schemas.HookAccepted.self).id

            let again = try await Self.post(app, key, json: json)
            #expect(again.status == 202)
            let repeated = try again.decode(Components.Schemas.HookAccepted.self)
            #expect(repeated.duplicate == true && repeated.id == id)
            // The same id with other content is the same alert (TradingView retries); a new id is a new alert.
            let sameID = try await Self.post(app, key, json: #"{"id":"tv-1","ticker":"EURUSD","action":"sell"}"#)
            #expect(try sameID.decode(Components.Schemas.HookAccepted.self).duplicate == true)
            #expect(try await Self.alertCount(app, tenant: tenant) == 4)

            // Stored at once, parsed by the workers (here: directly).
            #expect(try await Self.alert(app, tenant: tenant, id: id)?.4 == false)
            let parsed = try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger, maxConnections: 2) { client in
                let database = Database(client: client, logger: TestDatabase.logger)
                let service = ExternalAlertsService(database: database, apiKeys: APIKeysService(database: database, plans: PlansService(database: database)))
                return [try await service.parsePending(), try await service.parsePending()]
            }
            #expect(parsed == [4, 0])
            let buy = try #require(try await Self.alert(app, tenant: tenant, id: id))
            #expect(buy.0 == "EURUSD" && buy.1 == 1 && buy.2 == 0.7 && buy.3 == nil && buy.4)
            let sell = try #require(try await Self.alert(app, tenant: tenant, id: textID))
            #expect(sell.0 == "EURUSD" && sell.1 == -1 && sell.2 == nil && sell.3 == nil)
            let bad = try #require(try await Self.alert(app, tenant: tenant, id: nonsenseID))
            #expect(bad.1 == nil && bad.3 != nil && bad.4)
            let known = try #require(try await Self.alert(app, tenant: tenant, id: shoutingID))
            #expect(known.0 == "GBPJPY" && known.1 == 1, "the symbol registry picks the symbol out of the text")
        }
    }

    @Test("a key without the tradingview_hook scope is 403; a bad token 401; another tenant's alerts stay apart")
    func authentication() async throws {
        try await TestApp.run { app in
            let (readOnly, _) = try await Self.hookKey(app, scopes: ["signals_read"])
            let forbidden = try await Self.post(app, readOnly, text: "BUY EURUSD")
            #expect(forbidden.status == 403 && forbidden.problemCode == "insufficient_scope", "\(forbidden.body)")
            for token in ["nope", "smck_" + String(repeating: "A", count: 64)] {
                let response = try await Self.post(app, token, text: "BUY EURUSD")
                #expect(response.status == 401, "\(token): \(response.body)")
            }
            let (a, tenantA) = try await Self.hookKey(app)
            let (b, tenantB) = try await Self.hookKey(app)
            let body = #"{"symbol":"EURUSD","action":"buy","id":"shared-id"}"#
            #expect(try await Self.post(app, a, json: body).decode(Components.Schemas.HookAccepted.self).duplicate == false)
            #expect(try await Self.post(app, b, json: body).decode(Components.Schemas.HookAccepted.self).duplicate == false, "dedupe is per tenant")
            #expect(try await Self.alertCount(app, tenant: tenantA) == 1)
            #expect(try await Self.alertCount(app, tenant: tenantB) == 1)
        }
    }

    @Test(
        "the parser reads JSON fields and free text",
        arguments: [
            (#"{"ticker":"FX:EURUSD","action":"buy","strength":0.7}"#, "EURUSD", 1, 0.7),
            (#"{"symbol":"BINANCE:BTCUSDT","side":"SHORT"}"#, "BTCUSDT", -1, nil),
            (#"{"pair":"EUR/USD","signal":"long","strength":"0.4","message":"OB retest"}"#, "EURUSD", 1, 0.4),
            (#"{"instrument":"XAUUSD","order":"sell","strength":3}"#, "XAUUSD", -1, 1.0),
            (#"{"ticker":"GBPUSD","direction":"bearish","strength":-2}"#, "GBPUSD", -1, 0.0),
            ("SELL EURUSD breakout", "EURUSD", -1, nil),
            ("BUY FX:GBPJPY", "GBPJPY", 1, nil),
            ("EUR/USD short, breakout at 1.0850", "EURUSD", -1, nil),
            ("Long signal on NAS100", "NAS100", 1, nil),
            ("buy 0.5 lots of EURUSD now", "EURUSD", 1, nil),
        ] as [(String, String, Int, Double?)])
    func parser(body: String, symbol: String, direction: Int, strength: Double?) {
        let parsed = ExternalAlertParser.parse(body: body, contentType: body.hasPrefix("{") ? "application/json" : "text/plain")
        #expect(parsed.symbol == symbol)
        #expect(parsed.direction == direction)
        #expect(parsed.strength == strength)
        #expect(parsed.error == nil)
    }

    @Test("free text: a known symbol first, then a word that looks like a ticker, then the first word")
    func parserSymbolChoice() {
        let known: Set = ["EURUSD", "NAS100"]
        let cases: [(String, Set<String>, String)] = [
            ("ALERT: buy EURUSD", known, "EURUSD"),
            ("ALERT: buy EURUSD", [], "ALERT"),
            ("Long signal on NAS100", [], "NAS100"),
            ("buy 0.5 lots of EURUSD", [], "EURUSD"),
            ("buy eurusd now", [], "EURUSD"),
            ("sell now eur/usd", [], "EURUSD"),
        ]
        for (text, registry, symbol) in cases {
            #expect(ExternalAlertParser.parse(body: text, contentType: "text/plain", knownSymbols: registry).symbol == symbol, "\(text)")
        }
        // JSON names its symbol: the registry does not override it.
        #expect(ExternalAlertParser.parse(body: #"{"ticker":"ABCDEF","action":"buy"}"#, contentType: "application/json",
                                          knownSymbols: known).symbol == "ABCDEF")
    }

    @Test("what the parser cannot read is an error, never a guessed direction")
    func parserErrors() {
        for body in ["%%% ??? 42", "", "{}", #"{"ticker":"EURUSD","action":"hold"}"#, #"{"action":"buy"}"#, "BUY", "buy sell"] {
            let parsed = ExternalAlertParser.parse(body: body, contentType: "text/plain")
            #expect(parsed.error != nil, "\(body): \(parsed)")
            #expect(parsed.direction == nil || parsed.symbol == nil, "\(body): \(parsed)")
        }
        #expect(ExternalAlertParser.parse(body: #"{"ticker":"EURUSD","action":"hold"}"#, contentType: "application/json").error
                == "no buy/sell direction")
        #expect(ExternalAlertParser.parse(body: #"{"action":"buy"}"#, contentType: "application/json").error == "no symbol")
        #expect(ExternalAlertParser.parse(body: String(repeating: "x", count: 600) + " BUY EURUSD", contentType: "text/plain").message?.count == 500)
    }

    // Found by `make fuzz` (Fuzz/corpus/tradingview-alert/json-object-ticker): the parser read any member through its
    // description, so a null ticker was the symbol "NULL", and an object's symbol depended on its key order.
    @Test("JSON members that are null, arrays or objects count as absent, in the parser and in the dedupe key")
    func parserReadsOnlyScalars() {
        let null = ExternalAlertParser.parse(body: #"{"ticker":null,"action":"buy","message":null}"#, contentType: "application/json")
        #expect(null.symbol == nil && null.error == "no symbol" && null.message == nil, "\(null)")
        let object = ExternalAlertParser.parse(body: #"{"ticker":{"pair":":ZD","Dl":"test"},"action":"buy"}"#, contentType: "application/json")
        #expect(object.symbol == nil && object.error == "no symbol", "\(object)")
        let fallThrough = ExternalAlertParser.parse(
            body: #"{"symbol":null,"ticker":"EURUSD","side":["buy"],"action":"sell","message":{"a":1},"text":"retest"}"#,
            contentType: "application/json")
        #expect(fallThrough == .init(symbol: "EURUSD", direction: -1, message: "retest"))
        #expect(ExternalAlertParser.parse(body: #"{"ticker":"EURUSD","action":"buy","message":0.7}"#, contentType: "application/json").message == "0.7")

        let now = Date(timeIntervalSince1970: 1_740_821_400)
        #expect(ExternalAlertsService.dedupeKey(body: #"{"id":null,"ticker":"EURUSD","action":"buy"}"#, now: now)
            != ExternalAlertsService.dedupeKey(body: #"{"id":null,"ticker":"GBPUSD","action":"sell"}"#, now: now),
            "a null id is no id: two different alerts are not duplicates")
        #expect(ExternalAlertsService.dedupeKey(body: #"{"id":"tv-1","ticker":"EURUSD"}"#, now: now)
            == ExternalAlertsService.dedupeKey(body: #"{"id":"tv-1","ticker":"GBPUSD"}"#, now: now))
        #expect(ExternalAlertsService.dedupeKey(body: #"{"id":7,"ticker":"EURUSD"}"#, now: now)
            == ExternalAlertsService.dedupeKey(body: #"{"ticker":"GBPUSD","id":7}"#, now: now))
    }
}
