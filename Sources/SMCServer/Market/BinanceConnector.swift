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
        let backoff = Backoff(first: min(settings.pollInterval, .seconds(1)), cap: Self.maxBackoff, jitter: 0.2, quietFailures: 0)
        await WorkerLoop(name: "binance klines", poll: settings.pollInterval, backoff: backoff, logger: logger).run {
            try await poll(pair, context, logger: logger)
            return .idle
        } then: { $0 } failed: { error, failures, delay in
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
            try await MarketDataService.lastOpenTime(
                symbol: pair.symbol, timeframe: pair.timeframe.label, source: Self.source, connection, logger: logger)
        }
        if let last { return Int64(last.timeIntervalSince1970.rounded()) + pair.timeframe.seconds }
        let current = pair.timeframe.bucketStart(Int64(now().timeIntervalSince1970.rounded(.down)))
        return current - Int64(settings.backfillCandles) * pair.timeframe.seconds
    }

    /// Exponential from `base`, at most `maxBackoff`, ±20% so that pairs failing together spread out.
    static func backoff(failures: Int, base: Duration) -> Duration {
        Backoff.delay(failures: failures, first: base, cap: maxBackoff, jitter: 0.2, random: Double.random(in: 0...1))
    }
}


