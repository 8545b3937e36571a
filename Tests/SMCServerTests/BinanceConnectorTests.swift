import Configuration
import Foundation
import NIOCore
import PostgresNIO
import SMCEngine
import SMCTestSupport
import Synchronization
import Testing

@testable import SMCServer

/// A wall clock the test moves: the connector judges closed klines by it, the fake exchange forms klines by it.
final class TestClock: Sendable {
    private let value: Mutex<Date>

    init(_ date: Date) { value = Mutex(date) }

    var now: Date { value.withLock { $0 } }

    func advance(seconds: TimeInterval) { value.withLock { $0 += seconds } }
}

/// Binance's `GET /api/v3/klines` over a deterministic series per symbol and interval, up to the test clock's now
/// (the last kline forming, with provisional values), with scripted failures, a gate that holds requests, and a
/// log of what was asked.
final class FakeBinance: Sendable {
    enum Step: Sendable {
        case answer(StubResponse)
        /// Answers only after this long (longer than the connector's timeout).
        case hang(Duration)
    }

    struct Logged: Sendable {
        var symbol: String
        var interval: String
        var startTime: Int64
        var limit: Int
        var received: ContinuousClock.Instant
        var answered: ContinuousClock.Instant?
        var status: Int?
    }

    private struct State {
        var log: [Logged] = []
        var script: [Step] = []
        var gateOpen = true
        var inFlight: [String: Int] = [:]
        var maxInFlight = 0
    }

    let clock: TestClock
    let delay: Duration
    private let state = Mutex(State())

    init(clock: TestClock, delay: Duration = .zero, gateOpen: Bool = true, script: [Step] = []) {
        self.clock = clock
        self.delay = delay
        state.withLock {
            $0.gateOpen = gateOpen
            $0.script = script
        }
    }

    var requests: [Logged] { state.withLock { $0.log } }
    var maxInFlight: Int { state.withLock { $0.maxInFlight } }
    func openGate() { state.withLock { $0.gateOpen = true } }

    /// The final values of the kline opening at `openTime` (epoch seconds): the same on every call.
    static func kline(_ symbol: String, _ timeframe: SignalTimeframe, _ openTime: Int64)
        -> (open: String, high: String, low: String, close: String, volume: String)
    {
        let seed = Double(symbol.unicodeScalars.reduce(0) { $0 + Int($1.value) })
        let i = openTime / timeframe.seconds
        func price(_ i: Int64) -> Double { seed + 20 * sin(Double(i) / 50) + Double((i &* 7919) % 101) / 100 }
        let open = price(i), close = price(i + 1)
        let high = max(open, close) + 0.25 + Double(i % 5) / 100, low = min(open, close) - 0.25
        func text(_ x: Double) -> String { String(format: "%.8f", x) }
        return (text(open), text(high), text(low), text(close), text(10 + Double(i % 17) + 0.125))
    }

    func handle(_ request: StubRequest) async -> StubResponse {
        guard request.path == "/api/v3/klines", let symbol = request.query["symbol"], let interval = request.query["interval"],
              let timeframe = SignalTimeframe(label: interval), let startTime = Int64(request.query["startTime"] ?? "")
        else { return StubResponse(status: 400, body: #"{"code":-1100,"msg":"Illegal parameters."}"#) }
        let limit = Int(request.query["limit"] ?? "") ?? 500
        let index = state.withLock { state in
            state.log.append(Logged(symbol: symbol, interval: interval, startTime: startTime, limit: limit, received: .now))
            return state.log.count - 1
        }
        while !state.withLock({ $0.gateOpen }) { try? await Task.sleep(for: .milliseconds(10)) }
        let key = "\(symbol)/\(interval)"
        state.withLock { state in
            state.inFlight[key, default: 0] += 1
            state.maxInFlight = max(state.maxInFlight, state.inFlight[key]!)
        }
        if delay > .zero { try? await Task.sleep(for: delay) }
        let step: Step? = state.withLock { $0.script.isEmpty ? nil : $0.script.removeFirst() }
        var response: StubResponse
        switch step {
        case .answer(let scripted): response = scripted
        case .hang(let duration):
            try? await Task.sleep(for: duration)
            response = klines(symbol, timeframe, startTime: startTime, limit: limit)
        case nil: response = klines(symbol, timeframe, startTime: startTime, limit: limit)
        }
        state.withLock { state in
            state.inFlight[key]! -= 1
            state.log[index].answered = .now
            state.log[index].status = response.status
        }
        return response
    }

    private func klines(_ symbol: String, _ timeframe: SignalTimeframe, startTime: Int64, limit: Int) -> StubResponse {
        let step = timeframe.seconds * 1000
        let nowMS = Int64(clock.now.timeIntervalSince1970 * 1000)
        var open = (startTime + step - 1) / step * step
        var rows: [String] = []
        while rows.count < min(limit, 1000) && open <= nowMS {
            let closeTime = open + step - 1
            var k = Self.kline(symbol, timeframe, open / 1000)
            if closeTime >= nowMS { k = (k.open, k.open, k.open, k.open, "0.5") }  // forming: provisional values
            rows.append(#"[\#(open),"\#(k.open)","\#(k.high)","\#(k.low)","\#(k.close)","\#(k.volume)",\#(closeTime),"0",10,"0","0","0"]"#)
            open += step
        }
        return StubResponse(body: "[" + rows.joined(separator: ",") + "]")
    }
}

@Suite("Binance klines connector", .serialized)
struct BinanceConnectorTests {
    /// Monday 2024-03-04 12:00:30 UTC: half a minute into a 1m kline.
    static let start = Date(timeIntervalSince1970: 1_709_553_630)
    static let m1 = SignalTimeframe(label: "1m")!
    static let m15 = SignalTimeframe(label: "15m")!

    static func configure(
        _ configuration: inout AppConfiguration, url: String, pairs: String, backfill: Int, timeout: Duration = .seconds(10)
    ) {
        configuration.binance.pairs = try! BinancePair.parseList(pairs)
        configuration.binance.baseURL = url
        configuration.binance.pollInterval = .milliseconds(50)
        configuration.binance.backfillCandles = backfill
        configuration.binance.requestTimeout = timeout
    }

    struct Stored: Equatable {
        var openTime: Int64
        var values: [Double]
        var source: String
    }

    /// Runs `body` with one client on a fresh migrated database (the servers under test get the same database).
    static func withDatabase<R: Sendable>(_ body: @Sendable (DatabaseSettings, PostgresClient) async throws -> R) async throws -> R {
        let database = try await TestDatabase.makeMigrated()
        return try await PostgresClient.withRunning(database, logger: TestDatabase.logger, maxConnections: 2) { client in
            try await body(database, client)
        }
    }

    static func stored(_ db: PostgresClient, _ symbol: String, _ timeframe: SignalTimeframe) async throws -> [Stored] {
        let rows = try await db.query(
            """
            SELECT open_time, open, high, low, close, volume, source FROM candles
            WHERE symbol = \(symbol) AND timeframe = \(timeframe.label) ORDER BY open_time
            """, logger: TestDatabase.logger)
        var out: [Stored] = []
        for try await (t, o, h, l, c, v, s) in rows.decode((Date, Double, Double, Double, Double, Double, String).self) {
            out.append(Stored(openTime: Int64(t.timeIntervalSince1970), values: [o, h, l, c, v], source: s))
        }
        return out
    }

    static func scalar(_ db: PostgresClient, _ sql: String) async throws -> Int {
        try await db.query(PostgresQuery(unsafeSQL: sql), logger: TestDatabase.logger).collect().first!.decode(Int.self)
    }

    /// What the fake exchange's closed klines from `first` to before `end` are, as stored candles.
    static func expected(_ symbol: String, _ timeframe: SignalTimeframe, from first: Int64, until end: Int64) -> [Stored] {
        stride(from: first, to: end, by: Int(timeframe.seconds)).map { t in
            let k = FakeBinance.kline(symbol, timeframe, t)
            return Stored(openTime: t, values: [k.open, k.high, k.low, k.close, k.volume].map { Double($0)! }, source: "binance")
        }
    }

    /// Waits until `count` candles of the pair are stored (or fails after a while).
    static func waitFor(_ db: PostgresClient, _ symbol: String, _ timeframe: SignalTimeframe, count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        var last = -1
        while ContinuousClock.now < deadline {
            last = try await scalar(db, "SELECT count(*)::int FROM candles WHERE symbol = '\(symbol)' AND timeframe = '\(timeframe.label)'")
            if last >= count { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("\(symbol) \(timeframe.label): \(last) candles stored, expected \(count)")
    }

    static func bucket(_ date: Date, _ timeframe: SignalTimeframe) -> Int64 {
        timeframe.bucketStart(Int64(date.timeIntervalSince1970))
    }

    @Test("closed klines arrive exactly as served, paged from the backfill start; the forming one only once it closes")
    func backfillAndLive() async throws {
        let clock = TestClock(Self.start)
        let exchange = FakeBinance(clock: clock)
        try await Self.withDatabase { database, db in
            try await StubHTTPServer.run(handler: { await exchange.handle($0) }) { url in
                try await TestApp.run(database: database, configure: {
                    Self.configure(&$0, url: url, pairs: "BTCUSDT:1m, ETHUSDT:15m", backfill: 1200)
                }, now: { clock.now }) { _ in
                    let forming1m = Self.bucket(clock.now, Self.m1), forming15m = Self.bucket(clock.now, Self.m15)
                    try await Self.waitFor(db, "BTCUSDT", Self.m1, count: 1200)
                    try await Self.waitFor(db, "ETHUSDT", Self.m15, count: 1200)
                    let btc = try await Self.stored(db, "BTCUSDT", Self.m1)
                    let eth = try await Self.stored(db, "ETHUSDT", Self.m15)
                    #expect(btc == Self.expected("BTCUSDT", Self.m1, from: forming1m - 1200 * 60, until: forming1m))
                    #expect(eth == Self.expected("ETHUSDT", Self.m15, from: forming15m - 1200 * 900, until: forming15m))

                    // Two pages each (1000 + 200 and the forming kline), then nothing: caught up, no request until a
                    // kline closes.
                    try await Task.sleep(for: .milliseconds(500))
                    let requests = exchange.requests
                    let btcStarts = requests.filter { $0.symbol == "BTCUSDT" }.map(\.startTime)
                    let ethStarts = requests.filter { $0.symbol == "ETHUSDT" }.map(\.startTime)
                    #expect(btcStarts == [(forming1m - 1200 * 60) * 1000, (forming1m - 200 * 60) * 1000])
                    #expect(ethStarts == [(forming15m - 1200 * 900) * 1000, (forming15m - 200 * 900) * 1000])
                    #expect(requests.allSatisfy { $0.limit == 1000 && $0.interval == ($0.symbol == "BTCUSDT" ? "1m" : "15m") })
                    #expect(requests.count == 4)

                    // The ingest queued the streams for the pipeline, as a feeder's batch does.
                    #expect(try await Self.scalar(db, "SELECT count(*)::int FROM pipeline_jobs WHERE symbol = 'BTCUSDT' AND timeframe = '1m'") > 0)

                    // A minute later the kline that was forming has closed: stored once, with its final values.
                    clock.advance(seconds: 60)
                    try await Self.waitFor(db, "BTCUSDT", Self.m1, count: 1201)
                    try await Task.sleep(for: .milliseconds(300))
                    let after = try await Self.stored(db, "BTCUSDT", Self.m1)
                    #expect(after == Self.expected("BTCUSDT", Self.m1, from: forming1m - 1200 * 60, until: forming1m + 60))
                    #expect(exchange.requests.filter { $0.symbol == "BTCUSDT" }.map(\.startTime).dropFirst(2) == [forming1m * 1000])
                    #expect(exchange.requests.filter { $0.symbol == "ETHUSDT" }.count == 2)  // its 15m kline is still forming
                    #expect(try await Self.scalar(db, "SELECT count(*)::int FROM candle_corrections") == 0)
                }
            }
        }
    }

    @Test("after a restart the gap is back-filled from the last stored candle, without duplicates")
    func restartBackfillsTheGap() async throws {
        let clock = TestClock(Self.start)
        let exchange = FakeBinance(clock: clock)
        let first = Self.bucket(clock.now, Self.m1) - 300 * 60
        try await Self.withDatabase { database, db in
            try await StubHTTPServer.run(handler: { await exchange.handle($0) }) { url in
                let configure: @Sendable (inout AppConfiguration) -> Void = { Self.configure(&$0, url: url, pairs: "BTCUSDT:1m", backfill: 300) }
                try await TestApp.run(database: database, configure: configure, now: { clock.now }) { _ in
                    try await Self.waitFor(db, "BTCUSDT", Self.m1, count: 300)
                }
                let lastStored = try #require(try await Self.stored(db, "BTCUSDT", Self.m1).last?.openTime)
                let before = exchange.requests.count

                // Down for 250 minutes: the exchange has moved on.
                clock.advance(seconds: 250 * 60)
                try await TestApp.run(database: database, configure: configure, now: { clock.now }) { _ in
                    try await Self.waitFor(db, "BTCUSDT", Self.m1, count: 550)
                    try await Task.sleep(for: .milliseconds(300))
                }
                let stored = try await Self.stored(db, "BTCUSDT", Self.m1)
                #expect(stored == Self.expected("BTCUSDT", Self.m1, from: first, until: Self.bucket(clock.now, Self.m1)))
                #expect(Set(stored.map(\.openTime)).count == stored.count)
                let afterRestart = exchange.requests.dropFirst(before)
                #expect(afterRestart.map(\.startTime) == [(lastStored + 60) * 1000], "one page from the last stored candle on")
                #expect(try await Self.scalar(db, "SELECT count(*)::int FROM candle_corrections") == 0)
            }
        }
    }

    @Test("429 with Retry-After, 500, a timeout, a malformed body, an invalid kline: retried with back-off until stored")
    func failuresAreRetried() async throws {
        let clock = TestClock(Self.start)
        let bad = Self.bucket(clock.now, Self.m1) - 300 * 60
        let exchange = FakeBinance(clock: clock, script: [
            .answer(StubResponse(status: 429, headers: [("retry-after", "1")], body: #"{"code":-1003,"msg":"Too many requests"}"#)),
            .answer(StubResponse(status: 500, body: "upstream broke")),
            .hang(.seconds(2)),
            .answer(StubResponse(body: #"[[1709553600000,"not a price"]]"#)),
            .answer(StubResponse(body: #"[[\#(bad * 1000),"10","9","8","9.5","1",\#(bad * 1000 + 59_999)]]"#)),  // high below open
        ])
        try await Self.withDatabase { database, db in
            try await StubHTTPServer.run(handler: { await exchange.handle($0) }) { url in
                try await TestApp.run(database: database, configure: {
                    Self.configure(&$0, url: url, pairs: "BTCUSDT:1m", backfill: 300, timeout: .milliseconds(500))
                }, now: { clock.now }) { app in
                    try await Self.waitFor(db, "BTCUSDT", Self.m1, count: 300)
                    let stored = try await Self.stored(db, "BTCUSDT", Self.m1)
                    #expect(stored == Self.expected("BTCUSDT", Self.m1, from: bad, until: bad + 300 * 60))

                    let requests = exchange.requests
                    // The script is answered in order; a slow machine may add a retry after a spurious timeout, never a
                    // request for another page.
                    try #require(requests.count >= 6, "\(requests.map(\.status))")
                    #expect([0, 1, 3, 4].map { requests[$0].status } == [429, 500, 200, 200])
                    #expect(requests.dropFirst(5).allSatisfy { $0.status == 200 })
                    #expect(Set(requests.map(\.startTime)) == [bad * 1000], "every retry asks for the same page")
                    // Retry-After: 1 is honoured (the back-off after a first failure is about 50 ms); the hung request is given
                    // up on after the 0.5 s timeout.
                    let afterThrottle = requests[1].received - requests[0].answered!
                    #expect(afterThrottle >= .milliseconds(950), "\(afterThrottle)")
                    // The hung request was given up on: its timeout is counted below (`reason="timeout"`). When the next try
                    // went out is not checked: a cancelled request's connection may be released only when the exchange
                    // answers, and on a loaded machine that ordering flapped.

                    let metrics = try await app.request(.GET, "/metrics").body
                    for reason in ["http_status", "timeout", "malformed", "invalid", "throttled"] {
                        let line = #"smc_binance_failures_total{symbol="BTCUSDT",timeframe="1m",reason="\#(reason)"} "#
                        let count = metrics.split(separator: "\n").first { $0.hasPrefix(line) }.flatMap { Int($0.dropFirst(line.count)) }
                        #expect(count.map { $0 >= 1 } ?? false, "\(reason)")
                    }
                    #expect(metrics.contains(#"smc_binance_candles_total{symbol="BTCUSDT",timeframe="1m"} 300"#))
                }
            }
        }
    }

    @Test("two servers on one database: one poller per pair at a time, each page asked once, each candle stored once")
    func twoServersOnePoller() async throws {
        let clock = TestClock(Self.start)
        // Requests wait at the gate until both servers run, so both try the pair while the first holds it.
        let exchange = FakeBinance(clock: clock, delay: .milliseconds(50), gateOpen: false)
        let forming = Self.bucket(clock.now, Self.m1)
        try await Self.withDatabase { database, db in
            try await StubHTTPServer.run(handler: { await exchange.handle($0) }) { url in
                let configure: @Sendable (inout AppConfiguration) -> Void = {
                    Self.configure(&$0, url: url, pairs: "BTCUSDT:1m", backfill: 3000)
                }
                try await TestApp.run(database: database, configure: configure, now: { clock.now }) { _ in
                    try await TestApp.run(database: database, configure: configure, now: { clock.now }) { _ in
                        let deadline = ContinuousClock.now + .seconds(30)
                        while exchange.requests.isEmpty && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                        try await Task.sleep(for: .milliseconds(400))  // both servers poll every 50 ms meanwhile
                        #expect(exchange.requests.count == 1, "the other server skipped the locked pair")
                        exchange.openGate()
                        try await Self.waitFor(db, "BTCUSDT", Self.m1, count: 3000)
                        // Time moves on while both run: whichever polls next fetches the new kline, once.
                        clock.advance(seconds: 60)
                        try await Self.waitFor(db, "BTCUSDT", Self.m1, count: 3001)
                        try await Task.sleep(for: .milliseconds(300))
                    }
                    let stored = try await Self.stored(db, "BTCUSDT", Self.m1)
                    #expect(stored == Self.expected("BTCUSDT", Self.m1, from: forming - 3000 * 60, until: forming + 60))
                    let starts = exchange.requests.map(\.startTime)
                    #expect(starts == [forming - 3000 * 60, forming - 2000 * 60, forming - 1000 * 60, forming].map { $0 * 1000 })
                    #expect(exchange.maxInFlight == 1)
                    #expect(try await Self.scalar(db, "SELECT count(*)::int FROM candle_corrections") == 0)
                }
            }
        }
    }

    @Test("SMC_BINANCE_* settings: off by default, pairs parsed, bad values refused by name")
    func configuration() throws {
        func read(_ env: [String: String]) throws -> AppConfiguration {
            try AppConfiguration(reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: env)))
        }
        let defaults = try read([:])
        #expect(defaults.binance.pairs.isEmpty && defaults.binance.baseURL == "https://api.binance.com")
        #expect(defaults.binance.pollInterval == .seconds(10) && defaults.binance.backfillCandles == 1000)
        #expect(defaults.binance.requestTimeout == .seconds(10))
        let set = try read([
            "SMC_BINANCE_PAIRS": "BTCUSDT:1m, ethusdt:15m,SOLUSDT:1w", "SMC_BINANCE_URL": "http://127.0.0.1:9000",
            "SMC_BINANCE_POLL_SECONDS": "2.5", "SMC_BINANCE_BACKFILL_CANDLES": "50", "SMC_BINANCE_TIMEOUT_SECONDS": "3",
        ])
        #expect(set.binance.pairs.map(\.description) == ["BTCUSDT:1m", "ETHUSDT:15m", "SOLUSDT:1w"])
        #expect(set.binance.baseURL == "http://127.0.0.1:9000" && set.binance.pollInterval == .milliseconds(2500))
        #expect(set.binance.backfillCandles == 50 && set.binance.requestTimeout == .seconds(3))
        for bad in ["BTCUSDT", "BTCUSDT:2m", "BTCUSDT:1m,,ETHUSDT:1h", "BTC-USDT:1m", "BTCUSDT:1m,BTCUSDT:1m", "BTCUSDT:1m:x"] {
            #expect(throws: AppConfiguration.Invalid.self, "\(bad)") { try read(["SMC_BINANCE_PAIRS": bad]) }
            #expect { try read(["SMC_BINANCE_PAIRS": bad]) } throws: { "\($0)".contains("SMC_BINANCE_PAIRS") }
        }
        #expect { try read(["SMC_BINANCE_URL": "ftp://x"]) } throws: { "\($0)".contains("SMC_BINANCE_URL") }
        #expect { try read(["SMC_BINANCE_POLL_SECONDS": "0"]) } throws: { "\($0)".contains("SMC_BINANCE_POLL_SECONDS") }
        #expect { try read(["SMC_BINANCE_BACKFILL_CANDLES": "-1"]) } throws: { "\($0)".contains("SMC_BINANCE_BACKFILL_CANDLES") }
    }

    @Test("kline parsing: Binance's array form; malformed rows refused with the reason; closed only after closeTime")
    func parsing() throws {
        let body = #"[[1709553600000,"1.5","2","1","1.75","10.5",1709553659999,"0",3,"0","0","0"]]"#
        let klines = try BinanceKline.parse(ByteBuffer(string: body), timeframe: Self.m1)
        #expect(klines == [BinanceKline(openTime: 1_709_553_600_000, open: 1.5, high: 2, low: 1, close: 1.75, volume: 10.5,
                                        closeTime: 1_709_553_659_999)])
        for malformed in [
            #"{"code":-1121,"msg":"Invalid symbol."}"#,
            #"[[1709553600000,"x","2","1","1.75","10",1709553659999]]"#,
            #"[[1709553600000,"1.5","2","1","1.75","10"]]"#,
            #"[[1709553600000,"1.5","2","1","1.75","10",1709554499999]]"#,  // a 15m close time
            #"[[1709553600500,"1.5","2","1","1.75","10",1709553660499]]"#,
            #"[[1709553660000,"1","1","1","1","1",1709553719999],[1709553600000,"1","1","1","1","1",1709553659999]]"#,
        ] {
            #expect(throws: BinanceFetchError.self, "\(malformed)") { try BinanceKline.parse(ByteBuffer(string: malformed), timeframe: Self.m1) }
        }
        let close: Int64 = 1_709_553_659_999
        #expect(!BinanceConnector.isClosed(closeTimeMS: close, now: Date(timeIntervalSince1970: 1_709_553_660)))
        #expect(BinanceConnector.isClosed(closeTimeMS: close, now: Date(timeIntervalSince1970: 1_709_553_662.5)))
        #expect(BinanceKlineClient.retryAfter("7") == .seconds(7))
        #expect(BinanceKlineClient.retryAfter("soon") == nil)
        #expect(BinanceConnector.backoff(failures: 30, base: .seconds(1)) <= .seconds(360))
    }
}
