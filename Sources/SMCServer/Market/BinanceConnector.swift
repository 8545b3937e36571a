import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Prometheus
import SMCEngine
import ServiceLifecycle
import Synchronization

/// A market the Binance connector follows: a Binance spot symbol (stored under the same name, so it must be a row
/// of `symbols`) and one of the service's timeframes.
public struct BinancePair: Sendable, Hashable, CustomStringConvertible {
    public var symbol: String
    public var timeframe: SignalTimeframe

    public init(symbol: String, timeframe: SignalTimeframe) {
        self.symbol = symbol
        self.timeframe = timeframe
    }

    public var description: String { "\(symbol):\(timeframe.label)" }

    /// Binance's `interval` for the timeframe: its spellings of 1m 5m 15m 30m 1h 4h 1d 1w are the service's labels.
    var interval: String { timeframe.label }

    /// The key of the pair's PostgreSQL advisory lock: the first 8 bytes of a SHA-256 of a name no other lock uses.
    var lockKey: Int64 {
        SHA256.hash(data: Data("smc.binance.klines:\(symbol):\(timeframe.label)".utf8)).prefix(8)
            .reduce(Int64(0)) { $0 << 8 | Int64($1) }
    }

    /// Parses `SMC_BINANCE_PAIRS`: `SYMBOL:TIMEFRAME` items separated by commas (`BTCUSDT:1m,ETHUSDT:15m`);
    /// blank means none. Symbols are upper-cased (Binance's and the service's spelling).
    public static func parseList(_ text: String) throws -> [BinancePair] {
        let labels = SignalTimeframe.all.map(\.label).joined(separator: " ")
        var pairs: [BinancePair] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map({ String($0).trimmingWhitespace() }) {
            func fail(_ why: String) -> AppConfiguration.Invalid {
                AppConfiguration.Invalid(description: "SMC_BINANCE_PAIRS: \(why) (expected SYMBOL:TIMEFRAME items separated "
                    + "by commas, e.g. BTCUSDT:1m,ETHUSDT:15m)")
            }
            if item.isEmpty {
                if text.trimmingWhitespace().isEmpty { continue }
                throw fail("an empty item")
            }
            let parts = item.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 else { throw fail("`\(item)` is not SYMBOL:TIMEFRAME") }
            let symbol = parts[0].uppercased()
            guard (2...20).contains(symbol.count), symbol.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                throw fail("`\(parts[0])` in `\(item)` is not a symbol (2 to 20 letters and digits)")
            }
            guard let timeframe = SignalTimeframe(label: parts[1]) else {
                throw fail("`\(parts[1])` in `\(item)` is not a timeframe (one of \(labels))")
            }
            let pair = BinancePair(symbol: symbol, timeframe: timeframe)
            guard !pairs.contains(pair) else { throw fail("`\(item)` is listed twice") }
            pairs.append(pair)
        }
        return pairs
    }
}

/// `SMC_BINANCE_*`: the connector that pulls closed klines from Binance's public REST API.
public struct BinanceSettings: Sendable {
    /// `SMC_BINANCE_PAIRS`: what to follow; empty (the default) turns the connector off.
    public var pairs: [BinancePair] = []
    /// `SMC_BINANCE_URL`: the REST base URL (`/api/v3/klines` is appended).
    public var baseURL = "https://api.binance.com"
    /// `SMC_BINANCE_POLL_SECONDS`: how often each pair checks whether a kline has closed since its last one.
    public var pollInterval: Duration = .seconds(10)
    /// `SMC_BINANCE_BACKFILL_CANDLES`: how far back a pair with nothing stored yet starts.
    public var backfillCandles = 1000
    /// `SMC_BINANCE_TIMEOUT_SECONDS`: the whole request, body included.
    public var requestTimeout: Duration = .seconds(10)

    public init() {}
}

/// Pulls closed klines of the configured pairs from Binance spot (`GET /api/v3/klines`) into the shared candle store,
/// through the same validation and idempotent ingest as `POST /v1/market/candles` (source `binance`), so the pipeline
/// analyses them like any other feed.
///
/// Each pair has its own loop. A round reads where the pair's stored candles end (the last candle this connector
/// stored + one timeframe, or `backfillCandles` back from now when there is none); when the kline opening there has
/// not closed yet there is nothing to ask for, so a caught-up pair costs one small query per round and no request.
/// Otherwise it pages forward, 1000 klines a request, one ingest transaction per page, until the next kline is still
/// forming — which is also how a gap left while every server was down is back-filled after a restart. Only klines
/// whose `closeTime` is more than `settle` in the past are stored; the forming one comes again once closed.
/// A failure (HTTP status, timeout, malformed kline, database) is logged and the round retried with exponential
/// back-off from where the stored candles end; 429 and 418 hold every pair of this process for `Retry-After`.
///
/// **One poller per pair across processes.** A round that has work takes `pg_try_advisory_lock(pair)` on a
/// dedicated PostgreSQL connection of this process (outside the pool, shared by its pairs), holds it while it pages,
/// then releases it. A process that does not get the lock skips the pair this round; whoever holds it next reads
/// where the candles now end, so requests are never repeated. Advisory locks live as long as the session, and a
/// session-level lock left on a pooled connection would outlive the round, so the connection is ours alone: when an
/// unlock fails or the connection drops, it is closed, which releases every lock it held, and a process that dies
/// releases its locks with its connection. (A lease row would need a clock and an expiry to recover from a crash;
/// the session does both.) Were the lock connection lost mid-round, another process could poll the same pair for a
/// moment: the page is checked against the lock before each request, and the ingest is idempotent, so at worst a
/// request is repeated, never a candle.
struct BinanceConnector: Service {
    static let source = "binance"
    static let pageLimit = 1000
    /// Binance's clock and ours may differ a little, and a kline's last trades may reach it a moment after its
    /// `closeTime`: a kline counts as closed only this long after that.
    static let settle: Duration = .seconds(2)
    static let maxBackoff: Duration = .seconds(300)
    static var candlesMetric: MetricNameDescriptor { metric("candles", "total", "Closed klines stored from Binance") }
    static var failuresMetric: MetricNameDescriptor {
        metric("failures", "total", "Binance kline rounds that failed and will be retried")
    }
    static var lastOpenTimeMetric: MetricNameDescriptor {
        metric("last_open_time", "seconds", "Open time of the newest kline stored from Binance")
    }

    private static func metric(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "smc", subsystem: "binance", metricName: name, unitName: unit, helpText: help)
    }

    let settings: BinanceSettings
    let market: MarketDataService
    let lockConnection: PostgresConnection.Configuration
    let metrics: PrometheusCollectorRegistry
    /// The wall clock klines are judged closed by (tests move it).
    let now: @Sendable () -> Date
    let logger: Logger

    func run() async throws {
        guard !settings.pairs.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        let http = HTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup,
            configuration: .init(
                redirectConfiguration: .disallow,
                timeout: .init(connect: settings.requestTimeout.timeAmount, read: settings.requestTimeout.timeAmount)),
            backgroundActivityLogger: logger)
        let context = Context(
            klines: BinanceKlineClient(http: http, baseURL: settings.baseURL, timeout: settings.requestTimeout),
            locks: AdvisoryLocks(configuration: lockConnection, logger: logger), throttle: ThrottleGate())
        logger.info("binance connector started", metadata: [
            "pairs": "\(settings.pairs.map(\.description).joined(separator: ","))", "url": "\(settings.baseURL)",
        ])
        await withDiscardingTaskGroup { group in
            for pair in settings.pairs {
                group.addTask { await pollLoop(pair, context) }
            }
        }
        await context.locks.close()
        try? await http.shutdown()
    }

    struct Context: Sendable {
        let klines: BinanceKlineClient
        let locks: AdvisoryLocks
        let throttle: ThrottleGate
    }

    private func pollLoop(_ pair: BinancePair, _ context: Context) async {
        let logger = {
            var logger = self.logger
            logger[metadataKey: "pair"] = "\(pair)"
            return logger
        }()
        let labels = [("symbol", pair.symbol), ("timeframe", pair.timeframe.label)]
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var delay = settings.pollInterval
            do {
                try await cancelWhenGracefulShutdown { try await poll(pair, context, logger: logger) }
                failures = 0
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                failures += 1
                delay = Self.backoff(failures: failures, base: min(settings.pollInterval, .seconds(1)))
                let reason: String
                switch error {
                case let error as BinanceFetchError:
                    reason = error.reason
                    if case .throttled(_, let retryAfter?) = error { delay = max(delay, retryAfter) }
                case is Problem: reason = "invalid"
                default: reason = "other"
                }
                metrics.makeCounter(descriptor: Self.failuresMetric, labels: labels + [("reason", reason)]).increment()
                logger.warning("binance klines failed; retrying", metadata: [
                    "error": "\(error)", "failures": "\(failures)", "retry_in": "\(delay)",
                ])
            }
            let pause = delay
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
        }
    }

    /// One round for a pair: nothing when its next kline has not closed; otherwise, holding the pair's lock, pages
    /// until caught up.
    func poll(_ pair: BinancePair, _ context: Context, logger: Logger) async throws {
        guard isDue(try await nextOpenTime(pair), pair) else { return }
        guard let token = try await context.locks.tryLock(pair.lockKey) else {
            logger.debug("another process polls this pair")
            return
        }
        do {
            try await catchUp(pair, context, token: token, logger: logger)
            await context.locks.unlock(pair.lockKey, token)
        } catch {
            await context.locks.unlock(pair.lockKey, token)
            throw error
        }
    }

    /// Whether the kline opening at `start` (epoch seconds) has closed (and settled) by now.
    private func isDue(_ start: Int64, _ pair: BinancePair) -> Bool {
        Self.isClosed(closeTimeMS: (start + pair.timeframe.seconds) * 1000 - 1, now: now())
    }

    static func isClosed(closeTimeMS: Int64, now: Date) -> Bool {
        let settleMS = settle.components.seconds * 1000
        return closeTimeMS + settleMS < Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
    }

    private func catchUp(_ pair: BinancePair, _ context: Context, token: AdvisoryLocks.Token, logger: Logger) async throws {
        // Read again under the lock: the last holder may have stored more since.
        var start = try await nextOpenTime(pair)
        var pages = 0, inserted = 0
        while isDue(start, pair) {
            guard await context.locks.isHeld(token) else { throw BinanceFetchError.lockLost }
            let date = now()  // before the request: a kline closing while it is in flight waits for the next round
            try await context.throttle.wait()
            let klines: [BinanceKline]
            do {
                klines = try await context.klines.fetch(pair, startTime: start, limit: Self.pageLimit)
            } catch let error as BinanceFetchError {
                if case .throttled(_, let retryAfter?) = error { context.throttle.hold(for: retryAfter) }
                throw error
            }
            let closed = klines.filter { $0.openTime >= start * 1000 && Self.isClosed(closeTimeMS: $0.closeTime, now: date) }
            guard let last = closed.last else { break }  // only the forming kline (or nothing) yet
            let candles = closed.map { $0.candle(pair) }
            let valid = try await market.validate(candles, fieldPrefix: { "/klines/\(closed[$0].openTime)" })
            let result = try await market.ingest(valid, source: Self.source, now: date)
            pages += 1
            inserted += result.inserted
            start = last.openTime / 1000 + pair.timeframe.seconds
            let labels = [("symbol", pair.symbol), ("timeframe", pair.timeframe.label)]
            metrics.makeCounter(descriptor: Self.candlesMetric, labels: labels).increment(by: Int64(result.inserted))
            metrics.makeGauge(descriptor: Self.lastOpenTimeMetric, labels: labels).set(Double(last.openTime / 1000))
        }
        if pages > 0 {
            logger.log(level: pages > 1 ? .info : .debug, "binance klines stored", metadata: [
                "pages": "\(pages)", "inserted": "\(inserted)", "next_open_time": "\(start)",
            ])
        }
    }

    /// Where the pair's next kline opens (epoch seconds): after the last candle this connector stored — another
    /// source's candles (feeders, aggregates) neither stop the backfill nor hide a kline — or, with none,
    /// `backfillCandles` timeframes before the current one.
    func nextOpenTime(_ pair: BinancePair) async throws -> Int64 {
        let last = try await market.database.withShared(readOnly: true) { connection in
            try await connection.query(
                """
                SELECT open_time FROM candles
                WHERE symbol = \(pair.symbol) AND timeframe = \(pair.timeframe.label) AND source = \(Self.source)
                ORDER BY open_time DESC LIMIT 1
                """, logger: logger
            ).collect().first?.decode(Date.self)
        }
        if let last { return Int64(last.timeIntervalSince1970.rounded()) + pair.timeframe.seconds }
        let current = pair.timeframe.bucketStart(Int64(now().timeIntervalSince1970.rounded(.down)))
        return current - Int64(settings.backfillCandles) * pair.timeframe.seconds
    }

    /// Exponential from `base`, at most `maxBackoff`, ±20% so that pairs failing together spread out.
    static func backoff(failures: Int, base: Duration) -> Duration {
        let raw = base * (1 << min(max(failures - 1, 0), 20))
        return min(raw, maxBackoff) * Double.random(in: 0.8...1.2)
    }
}

/// One kline as `GET /api/v3/klines` gives it: `[openTime, "open", "high", "low", "close", "volume", closeTime, …]`,
/// times in epoch milliseconds, prices as strings.
struct BinanceKline: Sendable, Equatable, Decodable {
    var openTime: Int64
    var open: Double
    var high: Double
    var low: Double
    var close: Double
    var volume: Double
    var closeTime: Int64

    init(openTime: Int64, open: Double, high: Double, low: Double, close: Double, volume: Double, closeTime: Int64) {
        self.openTime = openTime
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.closeTime = closeTime
    }

    init(from decoder: any Decoder) throws {
        var fields = try decoder.unkeyedContainer()
        openTime = try fields.decode(Int64.self)
        open = try fields.decode(Number.self).value
        high = try fields.decode(Number.self).value
        low = try fields.decode(Number.self).value
        close = try fields.decode(Number.self).value
        volume = try fields.decode(Number.self).value
        closeTime = try fields.decode(Int64.self)
    }

    /// A decimal string (Binance's form) or a JSON number.
    private struct Number: Decodable {
        var value: Double

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                guard let value = Double(text) else {
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "`\(text)` is not a number")
                }
                self.value = value
            } else {
                value = try container.decode(Double.self)
            }
        }
    }

    func candle(_ pair: BinancePair) -> IncomingCandle {
        IncomingCandle(symbol: pair.symbol, timeframe: pair.timeframe, openTime: openTime / 1000, open: open, high: high,
                       low: low, close: close, volume: volume)
    }

    /// Decodes a response body and checks what validation of candles cannot: whole-second open times, the close time
    /// that belongs to the timeframe, ascending order.
    static func parse(_ body: ByteBuffer, timeframe: SignalTimeframe) throws -> [BinanceKline] {
        let klines: [BinanceKline]
        do {
            klines = try JSONDecoder().decode([BinanceKline].self, from: Data(buffer: body))
        } catch {
            throw BinanceFetchError.malformed("not an array of klines: \(Self.describe(error))")
        }
        var previous = Int64.min
        for k in klines {
            func fail(_ why: String) -> BinanceFetchError { .malformed("kline \(k.openTime): \(why)") }
            guard k.openTime % 1000 == 0 else { throw fail("open time is not whole seconds") }
            guard k.closeTime == k.openTime + timeframe.seconds * 1000 - 1 else {
                throw fail("close time \(k.closeTime) does not end a \(timeframe.label) kline")
            }
            guard k.openTime > previous else { throw fail("not in ascending order") }
            previous = k.openTime
        }
        return klines
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context), DecodingError.typeMismatch(_, let context),
             DecodingError.valueNotFound(_, let context):
            let path = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: "/")
            return "\(path.isEmpty ? "" : "at /\(path): ")\(context.debugDescription)"
        default: return "\(error)"
        }
    }
}

enum BinanceFetchError: Error, CustomStringConvertible {
    /// Any other non-200 answer, with the start of its body (Binance explains in `{"code":…,"msg":…}`).
    case status(Int, String)
    /// 429 (request weight exceeded) or 418 (banned for ignoring 429s), with `Retry-After` when given.
    case throttled(status: Int, retryAfter: Duration?)
    case timeout(Duration)
    case malformed(String)
    /// The advisory lock's connection went away mid-round: stop, another process may hold the pair now.
    case lockLost

    var description: String {
        switch self {
        case .status(let code, let body): "HTTP \(code): \(body)"
        case .throttled(let code, let retryAfter): "HTTP \(code), Retry-After \(retryAfter.map { "\($0)" } ?? "absent")"
        case .timeout(let limit): "no complete answer within \(limit)"
        case .malformed(let why): "malformed response: \(why)"
        case .lockLost: "the pair's advisory lock was lost"
        }
    }

    var reason: String {
        switch self {
        case .status: "http_status"
        case .throttled: "throttled"
        case .timeout: "timeout"
        case .malformed: "malformed"
        case .lockLost: "lock_lost"
        }
    }
}

/// `GET {base}/api/v3/klines` over async-http-client.
struct BinanceKlineClient: Sendable {
    let http: HTTPClient
    let baseURL: String
    let timeout: Duration

    func fetch(_ pair: BinancePair, startTime: Int64, limit: Int) async throws -> [BinanceKline] {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        var request = HTTPClientRequest(
            url: "\(base)/api/v3/klines?symbol=\(pair.symbol)&interval=\(pair.interval)"
                + "&startTime=\(startTime * 1000)&limit=\(limit)")
        request.headers.add(name: "accept", value: "application/json")
        request.headers.add(name: "user-agent", value: "smc-server")
        let http = self.http, timeout = self.timeout, prepared = request
        let (status, retryAfter, body) = try await withTimeout(timeout) {
            do {
                let response = try await http.execute(prepared, timeout: timeout.timeAmount)
                let body = try await response.body.collect(upTo: 8 * 1024 * 1024)
                return (Int(response.status.code), response.headers.first(name: "retry-after"), body)
            } catch let error as HTTPClientError where [.readTimeout, .deadlineExceeded, .connectTimeout].contains(error) {
                throw BinanceFetchError.timeout(timeout)
            }
        }
        switch status {
        case 200:
            return try BinanceKline.parse(body, timeframe: pair.timeframe)
        case 418, 429:
            throw BinanceFetchError.throttled(status: status, retryAfter: retryAfter.flatMap(Self.retryAfter))
        default:
            throw BinanceFetchError.status(status, String(String(buffer: body).prefix(200)))
        }
    }

    /// `Retry-After` in seconds (Binance's form); an HTTP date is read too.
    static func retryAfter(_ value: String) -> Duration? {
        let text = value.trimmingWhitespace()
        if let seconds = Double(text), seconds.isFinite, seconds >= 0 { return .milliseconds(Int64(seconds * 1000)) }
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "GMT")
        format.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = format.date(from: text) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSinceNow) * 1000))
    }

    /// The request and its body within `limit` (async-http-client's own deadline stops at the response head).
    private func withTimeout<T: Sendable>(
        _ limit: Duration, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        do {
            return try await withDeadline(limit, body)
        } catch is DeadlineExceeded {
            throw BinanceFetchError.timeout(limit)
        }
    }
}

