import Foundation
import Logging
import PostgresNIO
import SMCServer
import SMCTestSupport

// `make bench`: what a trader's screens cost the server, over real HTTP to an in-process server (release build) on a
// throwaway PostgreSQL, at realistic sizes. Figures are printed, never asserted.
//
// 1. The track record (`GET /v1/signals/stats`) of one tenant with 100,000 signals (`--signals N`) over a year, five
//    symbols and three timeframes, 95 % of them decided: unfiltered, and filtered to one symbol.
// 2. The registry (`GET /v1/symbols`) and a page of 5,000 candles (`GET /v1/market/{symbol}/candles`) with a year
//    of 15m candles stored (`--candles N`).

func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

var parsed = (signals: 100_000, candles: 35_000, rounds: 25)
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--signals": parsed.signals = Int(arguments.next() ?? "") ?? parsed.signals
    case "--candles": parsed.candles = Int(arguments.next() ?? "") ?? parsed.candles
    case "--rounds": parsed.rounds = Int(arguments.next() ?? "") ?? parsed.rounds
    default: FileHandle.standardError.write(Data("usage: smc-api-bench [--signals N] [--candles N] [--rounds N]\n".utf8)); exit(2)
    }
}
let options = parsed

var logger = Logger(label: "smc-api-bench")
logger.logLevel = .error
let clock = ContinuousClock()
func ms(_ d: Duration) -> Double { (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18) * 1000 }

/// Median and 95th percentile of `rounds` calls, after one warm-up.
func time(_ rounds: Int, _ call: () async throws -> Void) async throws -> (median: Double, p95: Double) {
    try await call()
    var times: [Double] = []
    for _ in 0..<rounds {
        let began = clock.now
        try await call()
        times.append(ms(clock.now - began))
    }
    times.sort()
    return (times[times.count / 2], times[min(times.count - 1, Int(Double(times.count) * 0.95))])
}

func figure(_ name: String, _ t: (median: Double, p95: Double)) {
    say("  \(name.padding(toLength: 58, withPad: " ", startingAt: 0)) median \(String(format: "%7.2f", t.median)) ms   p95 \(String(format: "%7.2f", t.p95)) ms")
}

let settings = try await TestDatabase.makeMigrated()
try await TestApp.run(database: settings, configure: { $0.pipelineWorkers = 0 }, logger: logger) { app in
    let (token, session, _) = try await app.signup()
    let tenant = session.tenantID
    try await app.sql("UPDATE tenants SET plan_id = 'team' WHERE tenant_id = '\(tenant)'")
    try await app.sql("UPDATE plans SET api_requests_per_minute = 1000000")

    // 1. 100,000 signals, as the pipeline writes them (worker role, versions from the counter), issued over a year.
    let loading = clock.now
    try await app.sql("INSERT INTO sync_counters (tenant_id, stream, version) VALUES ('\(tenant)', 'signals', \(options.signals))")
    try await app.sql("""
        INSERT INTO signals (tenant_id, signal_id, signal_key, symbol, timeframe, direction, setup_type, confidence, level,
                             candle_time, close_time, entry, stop, targets, reward_risk, regime, killzone, confluence, detail,
                             outcome, outcome_time, outcome_r, exit_price, sync_version, created_at, cost_r)
        SELECT '\(tenant)', gen_random_uuid(), 'bench:' || g, (ARRAY['EURUSD','GBPUSD','USDJPY','XAUUSD','BTCUSDT'])[1 + g % 5],
               (ARRAY['15m','1h','4h'])[1 + g % 3], CASE WHEN g % 2 = 0 THEN 1 ELSE -1 END,
               CASE WHEN g % 3 = 0 THEN 'order_block' ELSE 'fair_value_gap' END, 40 + g % 60,
               (ARRAY['LOW','MEDIUM','HIGH'])[1 + g % 3], t, t + interval '15 minutes', 1.1, 1.098, '{1.104}', 2, 'ranging',
               (ARRAY['London open', 'New York open', NULL])[1 + g % 3], 0.1, '{}'::jsonb,
               CASE WHEN g % 20 = 0 THEN NULL WHEN g % 7 < 3 THEN 'target' WHEN g % 7 < 6 THEN 'stop' ELSE 'expired' END,
               CASE WHEN g % 20 = 0 THEN NULL ELSE t + interval '4 hours' END,
               CASE WHEN g % 20 = 0 THEN NULL WHEN g % 7 < 3 THEN 2 WHEN g % 7 < 6 THEN -1 ELSE (g % 11 - 5) / 10.0 END,
               NULL, g, t + interval '20 minutes', 0.08
        FROM generate_series(1, \(options.signals)) g, LATERAL (SELECT now() - interval '360 days' + g * (interval '359 days' / \(options.signals)) AS t) tt
        """)
    try await app.sql("ANALYZE signals")
    say("== smc-api-bench (release; in-process server, real HTTP, throwaway PostgreSQL)")
    if let hold = ProcessInfo.processInfo.environment["SMC_API_BENCH_HOLD"], let seconds = Int(hold) {
        // For a look at query plans: psql "$(the URL)" while it waits.
        say("holding \(seconds) s: \(TestDatabase.url(for: settings)) tenant \(tenant)")
        try await Task.sleep(for: .seconds(seconds))
    }
    say("\(options.signals) signals of one tenant written in SQL in \(String(format: "%.1f", ms(clock.now - loading) / 1000)) s")
    var check = 0
    figure("GET /v1/signals/stats (\(options.signals / 1000)k signals)", try await time(options.rounds) {
        let r = try await app.json(.GET, "/v1/signals/stats", token: token, timeout: .seconds(60))
        guard r.status == 200 else { fatalError("stats: \(r.status) \(r.body)") }
        check = (try r.member("/count") as? Int) ?? -1
    })
    guard check == options.signals else { fatalError("stats counted \(check) signals, not \(options.signals)") }
    figure("GET /v1/signals/stats?symbol=EURUSD&direction=long", try await time(options.rounds) {
        let r = try await app.json(.GET, "/v1/signals/stats?symbol=EURUSD&direction=long", token: token, timeout: .seconds(60))
        guard r.status == 200 else { fatalError("stats: \(r.status) \(r.body)") }
    })

    // 2. A year of 15m candles.
    try await app.sql("""
        INSERT INTO candles (symbol, timeframe, open_time, open, high, low, close, volume, source)
        SELECT 'EURUSD', '15m', date_trunc('hour', now()) - g * interval '15 minutes', 1.1, 1.1005, 1.0995, 1.1002, 100, 'bench'
        FROM generate_series(1, \(options.candles)) g
        """)
    try await app.sql("ANALYZE candles")
    figure("GET /v1/symbols", try await time(options.rounds) {
        let r = try await app.json(.GET, "/v1/symbols", token: token)
        guard r.status == 200 else { fatalError("symbols: \(r.status) \(r.body)") }
    })
    figure("GET /v1/market/EURUSD/candles?timeframe=15m&limit=5000 (\(options.candles / 1000)k stored)", try await time(options.rounds) {
        let r = try await app.json(.GET, "/v1/market/EURUSD/candles?timeframe=15m&limit=5000&since=2000-01-01T00:00:00Z", token: token)
        guard r.status == 200 else { fatalError("candles: \(r.status) \(r.body)") }
    })
}
