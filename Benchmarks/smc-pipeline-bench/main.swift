// smc-pipeline-bench: figures of the server's data path for `make bench` (printed, never asserted).
//
//   smc-pipeline-bench [--tenants N] [--symbols N] [--per-tenant N] [--rounds N] [--big-rows N] [--alert-events N]
//                      [--alert-tenants N] [--alert-candles N] [--summary-requests N]   (0 skips a part)
//
// Runs the whole server in this process (HTTP on a loopback port, a throwaway embedded PostgreSQL cluster under
// /tmp, 2 pipeline workers) and measures:
//   1. bulk ingest over HTTP: 10 requests of 10,000 15m candles (validation, storage, aggregation into 30m…1w,
//      the pipeline queue) → candles per second;
//   2. the fan-out: N tenants (default 1,000) each watching `per-tenant` (10) of `symbols` (50) 15m streams, every
//      stream warmed up with 300 candles; then one new closed candle on each of the 50 symbols in one request →
//      time until every stream's analyzer and every watching tenant's evaluator has processed it and all signals
//      are stored (median of `rounds`);
//   3. candles at scale: `big-rows` (10,000,000) 1m candles of one symbol, then 1,000-candle range reads through the
//      primary key beside the same reads on a 100,000-candle symbol;
//   4. alerts (a fresh database): `alert-events` (10,000) events fanned out to 100 tenants' webhooks and delivered,
//      signed, to a loopback receiver → deliveries per second; then `alert-tenants` (50) tenants watching EURUSD 15m
//      with a webhook each (swing length 20, minimum confidence 30, for more signals), `alert-candles` (1,500) of the
//      shared EURUSD file fed one closed candle at a time after a 2,000-candle warm-up → latency from the candle's
//      ingest request (its close) to each `signal.created` webhook received, p50 / p99, and where the time goes;
//   5. the market summary (a fresh database): a tenant watching EURUSD 15m, the shared file's year of candles fed and
//      analysed, then `summary-requests` (200) `GET /v1/market/EURUSD/summary` over HTTP one after another →
//      median and p95 (the first request, which decodes the stored analyzer, apart), and the same for an unwatched
//      stream (the recent 2,000-candle window, computed once per new candle and then served from memory).
import Foundation
import Logging
import PostgresNIO
import SMCEngine
import SMCServer
import SMCTestSupport
import Synchronization

var tenantCount = 1000, symbolCount = 50, perTenant = 10, rounds = 5, bigRows = 10_000_000
var alertEvents = 10_000, alertTenants = 50, alertCandles = 1500, summaryRequests = 200
var arguments = Array(CommandLine.arguments.dropFirst())
while let flag = arguments.first {
    arguments.removeFirst()
    guard let value = arguments.first.flatMap(Int.init), value >= 0 else {
        FileHandle.standardError.write(Data(("usage: smc-pipeline-bench [--tenants N] [--symbols N] [--per-tenant N] [--rounds N] [--big-rows N] "
            + "[--alert-events N] [--alert-tenants N] [--alert-candles N] [--summary-requests N]\n").utf8))
        exit(2)
    }
    arguments.removeFirst()
    switch flag {
    case "--tenants": tenantCount = value
    case "--symbols": symbolCount = value
    case "--per-tenant": perTenant = min(value, symbolCount)
    case "--rounds": rounds = value
    case "--big-rows": bigRows = value
    case "--alert-events": alertEvents = value
    case "--alert-tenants": alertTenants = value
    case "--alert-candles": alertCandles = value
    case "--summary-requests": summaryRequests = value
    default:
        FileHandle.standardError.write(Data("smc-pipeline-bench: unknown option \(flag)\n".utf8))
        exit(2)
    }
}

let options = (tenants: tenantCount, symbols: symbolCount, perTenant: perTenant, rounds: rounds, bigRows: bigRows)
let logger = Logger(label: "bench")
let m15: Int64 = 900
/// A Monday, so buckets are aligned; far enough back that every candle is closed.
let start: Int64 = 1_672_617_600  // 2023-01-02 00:00 UTC

func rfc3339(_ t: Int64) -> String { CivilTime.rfc3339(t) }

/// A deterministic random walk per symbol.
struct Walk {
    var state: UInt64
    var price = 1.1
    mutating func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) * 0x1.0p-53
    }
    mutating func candle(_ symbol: String, _ t: Int64) -> [String: Any] {
        let open = price
        price *= 1 + (next() - 0.5) * 0.004
        let high = max(open, price) * (1 + next() * 0.001), low = min(open, price) * (1 - next() * 0.001)
        return ["symbol": symbol, "timeframe": "15m", "open_time": rfc3339(t), "open": open, "high": high, "low": low,
                "close": price, "volume": 100 + next() * 50]
    }
}

func post(_ app: TestApp, key: String, _ candles: [[String: Any]]) async throws -> [String: Any] {
    let response = try await app.json(.POST, "/v1/market/candles", token: key, ["candles": candles])
    guard response.status == 200 else { throw TestFailure("ingest answered \(response.status): \(response.body.prefix(300))") }
    return try response.json()
}

func scalar(_ client: PostgresClient, _ sql: String) async throws -> Int {
    try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect().first!.decode(Int.self)
}

/// Waits until every bench stream has processed `open` and nothing is queued; returns the seconds waited.
func waitFor(_ client: PostgresClient, open: Int64, streams: Int) async throws -> Double {
    let clock = ContinuousClock()
    let began = clock.now
    while true {
        let done = try await scalar(client, """
            SELECT CASE WHEN (SELECT count(*) FROM analysis_streams WHERE symbol LIKE 'BNCH%' AND timeframe = '15m'
                                AND processed_until = to_timestamp(\(open))) = \(streams)
                          AND NOT EXISTS (SELECT 1 FROM pipeline_jobs WHERE symbol LIKE 'BNCH%' AND timeframe = '15m')
                        THEN 1 ELSE 0 END
            """)
        if done == 1 { break }
        if clock.now - began > .seconds(600) { throw TestFailure("the pipeline did not catch up") }
        try await Task.sleep(for: .milliseconds(10))
    }
    let elapsed = clock.now - began
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

let settings = try await TestDatabase.makeMigrated()
let symbols = (0..<options.symbols).map { String(format: "BNCH%02d", $0) }
let feederKey = BearerSecret.generate(.feeder, tenant: UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))

try await PostgresClient.withRunning(settings, logger: logger, maxConnections: 2) { client in
    // Symbols, a feeder key, and the tenants with their watchlists (SQL: signing 1,000 users up over HTTP would
    // measure password hashing). The cluster's user is its superuser, so RLS does not stand in the way here.
    try await client.query(
        "INSERT INTO symbols (symbol, asset_class, description) SELECT s, 'index', 'bench' FROM unnest(\(symbols)::text[]) s",
        logger: logger)
    try await client.query(
        "INSERT INTO symbols (symbol, asset_class, description) VALUES ('BNCHINGEST', 'index', 'bench'), ('BNCHBIG', 'index', 'bench')",
        logger: logger)
    try await client.query(
        "INSERT INTO feeder_keys (key_id, name, key_hash) VALUES (\(UUID()), 'bench', \(feederKey.hashBytes))", logger: logger)
    try await client.query(
        """
        WITH t AS (SELECT g, gen_random_uuid() AS tenant, gen_random_uuid() AS person FROM generate_series(0, \(options.tenants - 1)) g),
        a AS (INSERT INTO tenants (tenant_id, name) SELECT tenant, 'bench ' || g FROM t),
        b AS (INSERT INTO users (tenant_id, user_id, email, role, password_hash)
              SELECT tenant, person, 'bench' || g || '@example.com', 'owner', '' FROM t)
        INSERT INTO user_settings (tenant_id, user_id, kind, version, body)
        SELECT tenant, person, 'watchlist', 1, jsonb_build_object('entries', (
            SELECT jsonb_agg(jsonb_build_object('symbol', (\(symbols)::text[])[1 + ((g + k) % \(options.symbols))],
                                                'timeframes', jsonb_build_array('15m'), 'active', true))
            FROM generate_series(0, \(options.perTenant - 1)) k))
        FROM t
        """, logger: logger)
}

try await TestApp.run(database: settings, configure: { $0.pipelineWorkers = 2; $0.pipelinePoll = .milliseconds(20) }) { app in
    try await PostgresClient.withRunning(settings, logger: logger, maxConnections: 2) { client in
        let clock = ContinuousClock()

        // 1. Bulk ingest.
        var walk = Walk(state: 42)
        var seconds = 0.0, candles = 0
        for batch in 0..<10 {
            let body = (0..<10_000).map { i in walk.candle("BNCHINGEST", start + Int64(batch * 10_000 + i) * m15) }
            let began = clock.now
            _ = try await post(app, key: feederKey.text, body)
            let took = clock.now - began
            seconds += Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
            candles += body.count
        }
        let rows = try await scalar(client, "SELECT count(*) FROM candles WHERE symbol = 'BNCHINGEST'")
        print("bulk ingest over HTTP: \(candles) 15m candles in 10 requests, \(String(format: "%.2f", seconds)) s → "
            + "\(Int(Double(candles) / seconds)) candles/s (\(rows) rows stored with the 30m…1w aggregates)")

        // 2. Warm-up: 300 candles per bench symbol, then wait for every stream and evaluator.
        var walks = symbols.enumerated().map { Walk(state: UInt64($0.offset) + 7) }
        let warm = 300
        var body: [[String: Any]] = []
        for (k, symbol) in symbols.enumerated() {
            for i in 0..<warm { body.append(walks[k].candle(symbol, start + Int64(i) * m15)) }
        }
        for chunk in stride(from: 0, to: body.count, by: 10_000) {
            _ = try await post(app, key: feederKey.text, Array(body[chunk..<min(chunk + 10_000, body.count)]))
        }
        let warmTook = try await waitFor(client, open: start + Int64(warm - 1) * m15, streams: options.symbols)
        let evaluators = try await scalar(client, "SELECT count(*) FROM tenant_streams")
        print("warm-up: \(options.symbols) streams × \(warm) candles, \(options.tenants) tenants × \(options.perTenant) streams "
            + "(\(evaluators) tenant evaluators stored) in \(String(format: "%.1f", warmTook)) s")

        // 3. The fan-out.
        var latencies: [Double] = []
        for round in 0..<options.rounds {
            let t = start + Int64(warm + round) * m15
            let fresh = symbols.enumerated().map { walks[$0.offset].candle($0.element, t) }
            let began = clock.now
            _ = try await post(app, key: feederKey.text, fresh)
            _ = try await waitFor(client, open: t, streams: options.symbols)
            let took = clock.now - began
            latencies.append(Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18)
        }
        let signals = try await scalar(client, "SELECT count(*) FROM signals")
        print("fan-out: one new candle on each of \(options.symbols) symbols → \(options.tenants * options.perTenant) "
            + "tenant evaluations; latency from the ingest request to the last stream done: median "
            + "\(String(format: "%.0f", median(latencies) * 1000)) ms, max \(String(format: "%.0f", latencies.max()! * 1000)) ms "
            + "over \(options.rounds) rounds (\(signals) signals stored in all)")

        // 4. Candles at scale: `big-rows` 1m candles of one symbol written in SQL, then range reads of 1,000
        //    candles through the primary key, against the 100,000-candle symbol above: the cost should not move.
        if options.bigRows > 0 {
            let began = clock.now
            try await client.query(
                """
                INSERT INTO candles (symbol, timeframe, open_time, open, high, low, close, volume, source)
                SELECT 'BNCHBIG', '1m', to_timestamp(1000000020 + g * 60), 1.1, 1.2, 1.0, 1.15, 1, 'bench'
                FROM generate_series(0, \(options.bigRows - 1)) g
                """, logger: logger)
            try await client.query("ANALYZE candles", logger: logger)
            let load = clock.now - began
            let size = try await scalar(client, "SELECT (pg_total_relation_size('candles') / 1048576)::int")
            let total = try await scalar(client, "SELECT count(*)::int FROM candles")
            func ranges(_ symbol: String, _ timeframe: String, first: Int64, step: Int64, rows: Int) async throws -> [Double] {
                var times: [Double] = []
                var rng = Walk(state: 99)
                for _ in 0..<200 {
                    let from = first + Int64(rng.next() * Double(rows - 1000)) * step
                    let t0 = clock.now
                    let read = try await client.query(
                        """
                        SELECT open_time, open, high, low, close, volume FROM candles
                        WHERE symbol = \(symbol) AND timeframe = \(timeframe) AND open_time >= to_timestamp(\(from))
                          AND open_time < to_timestamp(\(from + 1000 * step)) ORDER BY open_time
                        """, logger: logger).collect()
                    precondition(read.count == 1000, "range read returned \(read.count)")
                    let d = clock.now - t0
                    times.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
                }
                return times.sorted()
            }
            let small = try await ranges("BNCHINGEST", "15m", first: start, step: m15, rows: 100_000)
            let big = try await ranges("BNCHBIG", "1m", first: 1_000_000_020, step: 60, rows: options.bigRows)
            let plan = try await client.query(
                """
                EXPLAIN SELECT * FROM candles WHERE symbol = 'BNCHBIG' AND timeframe = '1m'
                  AND open_time >= to_timestamp(1000000020) AND open_time < to_timestamp(1000060020)
                """, logger: logger).collect().first?.decode(String.self) ?? "?"
            print("candles at scale: \(options.bigRows) rows written in SQL in \(String(format: "%.1f", Double(load.components.seconds))) s; "
                + "table \(total) rows, \(size) MiB with indexes; plan: \(plan.trimmingCharacters(in: .whitespaces))")
            print("  1,000-candle range read (200 random ranges): 100k-candle symbol median \(String(format: "%.2f", small[100])) ms, "
                + "p95 \(String(format: "%.2f", small[190])) ms; \(options.bigRows)-candle symbol median "
                + "\(String(format: "%.2f", big[100])) ms, p95 \(String(format: "%.2f", big[190])) ms")
        }
    }
}

// 4. Alerts, on a database of their own.
let alertOptions = (events: alertEvents, tenants: alertTenants, candles: alertCandles)
if alertOptions.events > 0 || (alertOptions.tenants > 0 && alertOptions.candles > 0) {
    let alertSettings = try await TestDatabase.makeMigrated()
    let received = ReceivedWebhooks()
    try await StubHTTPServer.run(handler: { request in
        received.add(request)
        return StubResponse(status: 204)
    }) { receiverURL in
        let preferences = #"{"events": {"signal.created": "on", "signal.outcome": "on", "alert.test": "on"}, "min_confidence": 0, "#
            + #""quiet_hours": {"enabled": false, "start": "22:00", "end": "07:00", "time_zone": "UTC"}}"#
        /// `count` tenants on the team plan, each with a webhook to the receiver and alert preferences letting everything through.
        @Sendable func makeAlertTenants(_ client: PostgresClient, _ count: Int, prefix: String, watch: Bool) async throws -> [UUID] {
            let rows = try await client.query(
                """
                WITH t AS (SELECT g, gen_random_uuid() AS tenant, gen_random_uuid() AS person FROM generate_series(1, \(count)) g),
                a AS (INSERT INTO tenants (tenant_id, name, plan_id) SELECT tenant, \(prefix) || g, 'team' FROM t),
                b AS (INSERT INTO users (tenant_id, user_id, email, role, password_hash)
                      SELECT tenant, person, \(prefix) || g || '@example.com', 'owner', '' FROM t),
                c AS (INSERT INTO user_settings (tenant_id, user_id, kind, version, body)
                      SELECT tenant, person, 'alerts', 1, \(preferences)::jsonb FROM t),
                d AS (INSERT INTO user_settings (tenant_id, user_id, kind, version, body)
                      SELECT tenant, person, 'watchlist', 1,
                             '{"entries": [{"symbol": "EURUSD", "timeframes": ["15m"], "active": true}]}'::jsonb FROM t WHERE \(watch)),
                e AS (INSERT INTO user_settings (tenant_id, user_id, kind, version, body)
                      SELECT tenant, person, 'strategy', 1, '{"swing_length": 20, "min_confidence": 30, "min_reward_risk": 1.2}'::jsonb
                      FROM t WHERE \(watch))
                INSERT INTO webhook_endpoints (tenant_id, endpoint_id, user_id, url, event_types, secret)
                SELECT tenant, gen_random_uuid(), person, \(receiverURL + "/" + prefix),
                       ARRAY['signal.created', 'signal.outcome', 'alert.test'], \("whsec_" + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()) FROM t
                RETURNING tenant_id
                """, logger: logger)
            var tenants: [UUID] = []
            for try await tenant in rows.decode(UUID.self) { tenants.append(tenant) }
            return tenants
        }

        try await TestApp.run(database: alertSettings, configure: {
            $0.pipelineWorkers = 2
            $0.pipelinePoll = .milliseconds(20)
            $0.allowPrivateTargets = true
            $0.alerts.workers = 1
            $0.alerts.poll = .milliseconds(20)
            // The latency run replays 2013 candles one at a time: count them as live, as they would be in production.
            $0.alerts.liveWindow = LiveWindow(candles: 100_000_000, minSeconds: 0)
            $0.databaseMaxConnections = 20  // the production default (tests use 8)
        }) { app in
            try await PostgresClient.withRunning(alertSettings, logger: logger, maxConnections: 2) { client in
                let clock = ContinuousClock()
                // 4a. Throughput: events fanned out to 100 tenants' endpoints and delivered.
                if alertOptions.events > 0 {
                    let tenants = try await makeAlertTenants(client, 100, prefix: "thru", watch: false)
                    let began = clock.now
                    try await client.query(
                        """
                        INSERT INTO alert_outbox (tenant_id, event_id, event_type)
                        SELECT t, gen_random_uuid(), 'alert.test' FROM unnest(\(tenants)::uuid[]) t, generate_series(1, \(alertOptions.events / 100)) g
                        """, logger: logger)
                    let total = alertOptions.events / 100 * 100
                    while received.count(prefix: "/thru") < total {
                        if clock.now - began > .seconds(600) { throw TestFailure("alert deliveries did not finish") }
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    let took = (clock.now - began).milliseconds / 1000
                    print("alerts: \(total) signed webhook deliveries (100 tenants × \(total / 100) events, fan-out included) to a loopback "
                        + "receiver in \(String(format: "%.2f", took)) s → \(Int(Double(total) / took)) deliveries/s")
                }

                // 4b. Latency from a candle's close (its ingest request) to the signal's webhook.
                guard alertOptions.tenants > 0, alertOptions.candles > 0 else { return }
                let csv = TestDatabase.repositoryRoot.deletingLastPathComponent()
                    .appendingPathComponent("shared/conformance/smartmoneyconcepts/eurusd-15m/EURUSD_15M.csv")
                guard let text = try? String(contentsOf: csv, encoding: .utf8) else {
                    print("alerts: latency skipped (no EURUSD file at \(csv.path))")
                    return
                }
                let series = try CandleCSV.parse(text)
                _ = try await makeAlertTenants(client, alertOptions.tenants, prefix: "lat", watch: true)
                let key = try await TestDatabase.feederKey(alertSettings)
                func candle(_ i: Int) -> [String: Any] {
                    let c = series[i]
                    return ["symbol": "EURUSD", "timeframe": "15m", "open_time": rfc3339(c.time), "open": c.open, "high": c.high,
                            "low": c.low, "close": c.close, "volume": c.volume]
                }
                func processed(_ open: Int64) async throws -> Bool {
                    try await scalar(client, """
                        SELECT CASE WHEN (SELECT min(processed_until) FROM analysis_streams WHERE symbol = 'EURUSD' AND timeframe = '15m')
                            >= to_timestamp(\(open)) AND NOT EXISTS (SELECT 1 FROM pipeline_jobs WHERE symbol = 'EURUSD') THEN 1 ELSE 0 END
                        """) == 1
                }
                let warm = min(2000, series.count / 2)
                for start in stride(from: 0, to: warm, by: 5000) {
                    _ = try await post(app, key: key, (start..<min(start + 5000, warm)).map(candle))
                }
                while try await !processed(series.time[warm - 1]) { try await Task.sleep(for: .milliseconds(20)) }
                try await Task.sleep(for: .seconds(2))  // the warm-up's alerts drain
                var posted: [String: ContinuousClock.Instant] = [:]
                var processedAfter: [String: Double] = [:]
                let end = min(series.count, warm + alertOptions.candles)
                let feedBegan = clock.now
                for i in warm..<end {
                    posted[rfc3339(series.time[i])] = clock.now
                    _ = try await post(app, key: key, [candle(i)])
                    while try await !processed(series.time[i]) { try await Task.sleep(for: .milliseconds(2)) }
                    processedAfter[rfc3339(series.time[i])] = (clock.now - posted[rfc3339(series.time[i])]!).milliseconds
                }
                try await Task.sleep(for: .seconds(3))
                var latencies: [Double] = [], pipelineTimes: [Double] = []
                for (body, at) in received.all(prefix: "/lat") {
                    guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                          object["type"] as? String == "signal.created",
                          let time = (object["data"] as? [String: Any])?["candle_time"] as? String, let sent = posted[time]
                    else { continue }
                    latencies.append((at - sent).milliseconds)
                    pipelineTimes.append(processedAfter[time] ?? 0)
                }
                pipelineTimes.sort()
                latencies.sort()
                if latencies.isEmpty {
                    print("alerts: latency: no signal in \(end - warm) candles")
                } else {
                    let p = { (q: Double) in latencies[min(latencies.count - 1, Int(Double(latencies.count) * q))] }
                    print("alerts: candle close → signal webhook received: \(latencies.count) webhooks (\(alertOptions.tenants) tenants, \(end - warm) "
                        + "EURUSD 15m candles fed one at a time in \(String(format: "%.0f", (clock.now - feedBegan).milliseconds / 1000)) s): "
                        + "p50 \(String(format: "%.0f", p(0.5))) ms, p99 \(String(format: "%.0f", p(0.99))) ms, "
                        + "max \(String(format: "%.0f", latencies.last!)) ms")
                    // Where the time goes (medians): the candle stored → the pipeline's transaction start → its delivery row (fan-out) → the
                    // first attempt's start (claim) → the receiver's answer.
                    let row = try await client.query(
                        """
                        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.created_at - s.created_at)) * 1000,
                               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.created_at - c.received_at)) * 1000,
                               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.started_at - d.created_at)) * 1000,
                               percentile_cont(0.5) WITHIN GROUP (ORDER BY a.latency_ms)
                        FROM alert_deliveries d JOIN signals s ON s.tenant_id = d.tenant_id AND s.signal_id = d.signal_id
                        JOIN candles c ON c.symbol = s.symbol AND c.timeframe = s.timeframe AND c.open_time = s.candle_time
                        JOIN alert_attempts a ON a.tenant_id = d.tenant_id AND a.delivery_id = d.delivery_id AND a.attempt = 1
                        WHERE d.event_type = 'signal.created' AND d.channel = 'webhook' AND s.candle_time >= to_timestamp(\(series.time[warm]))
                        """, logger: logger).collect().first?.decode((Double?, Double?, Double?, Double?).self)
                    if let (fanout, pipeline, claim, http) = row, let fanout, let pipeline, let claim, let http {
                        print("  median from the ingest request until the pipeline had committed that candle: "
                        + "\(String(format: "%.0f", pipelineTimes[pipelineTimes.count / 2])) ms")
                    print("  medians: candle stored → signal transaction \(String(format: "%.0f", pipeline)) ms, → delivery row \(String(format: "%.0f", fanout)) ms, → first attempt "
                            + "\(String(format: "%.0f", claim)) ms, request \(String(format: "%.0f", http)) ms")
                    }
                }
            }
        }
    }
}

// 5. The market summary, on a database of its own.
if summaryRequests > 0 {
    let requests = summaryRequests
    let csv = TestDatabase.repositoryRoot.deletingLastPathComponent()
        .appendingPathComponent("shared/conformance/smartmoneyconcepts/eurusd-15m/EURUSD_15M.csv")
    if let text = try? String(contentsOf: csv, encoding: .utf8) {
        let series = try CandleCSV.parse(text)
        let summarySettings = try await TestDatabase.makeMigrated()
        try await TestApp.run(database: summarySettings, configure: { $0.pipelineWorkers = 2; $0.pipelinePoll = .milliseconds(20) }) { app in
            try await PostgresClient.withRunning(summarySettings, logger: logger, maxConnections: 2) { client in
                let clock = ContinuousClock()
                let (token, session, _) = try await app.signup()
                // The team plan's request budget (3,000 a minute): the free plan's 60 would throttle the bench itself.
                try await app.setPlan(UUID(uuidString: session.tenant.id)!, "team")
                try await app.watchEURUSD(token: token)
                let key = try await TestDatabase.feederKey(summarySettings)
                try await CandleFeed.feed(series, key: key, to: { app })
                // The same year as an unwatched symbol: its summary is the recent window.
                try await CandleFeed.feed(series, key: key, to: { app }, symbol: "GBPUSD")
                let began = clock.now
                while try await scalar(client, """
                    SELECT CASE WHEN (SELECT processed_until FROM analysis_streams WHERE symbol = 'EURUSD' AND timeframe = '15m')
                        = to_timestamp(\(series.time.last!)) AND NOT EXISTS (SELECT 1 FROM pipeline_jobs WHERE symbol = 'EURUSD') THEN 1 ELSE 0 END
                    """) != 1 {
                    if clock.now - began > .seconds(600) { throw TestFailure("the pipeline did not catch up") }
                    try await Task.sleep(for: .milliseconds(20))
                }
                let stateBytes = try await scalar(client, "SELECT octet_length(state) FROM analysis_streams WHERE symbol = 'EURUSD'")
                // What the in-memory cache saves: decoding the stored state, once per new candle instead of per request.
                let state = try await client.query("SELECT state FROM analysis_streams WHERE symbol = 'EURUSD'", logger: logger)
                    .collect().first!.decode(ByteBuffer.self)
                var decodes: [Double] = []
                for _ in 0..<21 {
                    let t0 = clock.now
                    _ = try JSONDecoder().decode(MarketAnalyzer.self, from: Data(buffer: state))
                    decodes.append((clock.now - t0).milliseconds)
                }
                func measure(_ path: String) async throws -> (first: Double, sorted: [Double]) {
                    var times: [Double] = []
                    for _ in 0...requests {
                        let t0 = clock.now
                        let response = try await app.json(.GET, path, token: token)
                        guard response.status == 200 else { throw TestFailure("\(path) answered \(response.status): \(response.body.prefix(300))") }
                        times.append((clock.now - t0).milliseconds)
                    }
                    return (times[0], times.dropFirst().sorted())
                }
                let stored = try await measure("/v1/market/EURUSD/summary?timeframe=15m")
                let window = try await measure("/v1/market/GBPUSD/summary?timeframe=15m")
                func p(_ xs: [Double], _ q: Double) -> String { String(format: "%.2f", xs[min(xs.count - 1, Int(Double(xs.count) * q))]) }
                print("market summary over HTTP (\(series.count) EURUSD 15m candles analysed, stored state \(stateBytes / 1024) KiB): "
                    + "\(requests) requests median \(p(stored.sorted, 0.5)) ms, p95 \(p(stored.sorted, 0.95)) ms "
                    + "(first: \(String(format: "%.1f", stored.first)) ms; decoding the stored state, which the cache of decoded "
                    + "analyzers saves per request: median \(String(format: "%.1f", median(decodes))) ms)")
                print("  unwatched stream (recent 2,000-candle window): median \(p(window.sorted, 0.5)) ms, p95 \(p(window.sorted, 0.95)) ms "
                    + "(first, running the analyzer over the window: \(String(format: "%.1f", window.first)) ms)")
            }
        }
    } else {
        print("market summary: skipped (no EURUSD file at \(csv.path))")
    }
}

/// What the bench's receiver got: path, body, and when.
final class ReceivedWebhooks: Sendable {
    private let log = Mutex<[(path: String, body: String, at: ContinuousClock.Instant)]>([])
    func add(_ request: StubRequest) { log.withLock { $0.append((request.path, request.body, .now)) } }
    func count(prefix: String) -> Int { log.withLock { $0.filter { $0.path.hasPrefix(prefix) }.count } }
    func all(prefix: String) -> [(String, ContinuousClock.Instant)] {
        log.withLock { $0.filter { $0.path.hasPrefix(prefix) }.map { ($0.body, $0.at) } }
    }
}

extension Duration {
    var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}
