import Foundation
import Logging
import PostgresNIO
import SMCEngine

/// A candle as a feeder, an import or a connector hands it in.
struct IncomingCandle: Sendable, Hashable {
    var symbol: String
    var timeframe: SignalTimeframe
    /// Open time, epoch seconds UTC.
    var openTime: Int64
    var open: Double
    var high: Double
    var low: Double
    var close: Double
    var volume: Double

    var key: CandleKey { CandleKey(symbol: symbol, timeframe: timeframe.seconds, openTime: openTime) }

    func sameValues(as other: IncomingCandle) -> Bool {
        open == other.open && high == other.high && low == other.low && close == other.close && volume == other.volume
    }
}

struct CandleKey: Sendable, Hashable {
    var symbol: String
    var timeframe: Int64
    var openTime: Int64
}

struct IngestResult: Sendable, Equatable {
    var received = 0
    var inserted = 0
    var replaced = 0
    var corrections = 0
    var unchanged = 0
    var aggregated = 0
    /// `SYMBOL/timeframe` of the streams queued for analysis, sorted.
    var queued: [String] = []
}

/// Shared market data in: validation, idempotent storage, corrections, aggregation into higher timeframes and the
/// pipeline's queue — one transaction per batch, so a batch is stored whole or not at all.
struct MarketDataService: Sendable {
    let database: Database
    /// Rung after a batch queued streams, to wake this process's idle pipeline workers.
    var doorbell: Doorbell?
    static let maxBatch = 10_000

    var logger: Logger { database.logger }

    /// The feeder key's name, or 401.
    func authenticateFeeder(authorization: String?) async throws -> String {
        guard let header = authorization, header.lowercased().hasPrefix("bearer "),
              let secret = BearerSecret.parse(String(header.dropFirst(7)).trimmingWhitespace(), expecting: .feeder)
        else { throw Problem.unauthenticated("a feeder key (smcf_…) is required") }
        let name = try await FeederKeys(database: database).name(hash: secret.hashBytes)
        guard let name else { throw Problem.unauthenticated("the feeder key is not valid or was revoked") }
        return name
    }

    /// Checks a batch against the rules of `POST /v1/market/candles`; returns it without exact repeats.
    /// `fieldPrefix(i)` names candle i in errors (`/candles/i`).
    func validate(_ candles: [IncomingCandle], fieldPrefix: (Int) -> String = { "/candles/\($0)" }) async throws
        -> [IncomingCandle]
    {
        var problems = FieldErrors()
        problems.check(candles.count <= Self.maxBatch, "/candles", "at most \(Self.maxBatch) candles per request")
        try problems.throwIfAny()
        let known = try await activeSymbols()
        var seen: [CandleKey: Int] = [:]
        var unique: [IncomingCandle] = []
        unique.reserveCapacity(candles.count)
        for (i, c) in candles.enumerated() {
            let at = fieldPrefix(i)
            func fail(_ field: String, _ message: String) throws -> Never {
                throw Problem.validation([.init(field: at + field, message: message)])
            }
            if !known.contains(c.symbol) { try fail("/symbol", "\(c.symbol) is not a known active symbol") }
            if c.timeframe.bucketStart(c.openTime) != c.openTime {
                try fail("/open_time", "is not aligned to \(c.timeframe.label) (UTC buckets; weeks start Monday)")
            }
            for (name, v) in [("open", c.open), ("high", c.high), ("low", c.low), ("close", c.close)] where !(v.isFinite && v > 0) {
                try fail("/\(name)", "must be a positive finite price")
            }
            if !(c.volume.isFinite && c.volume >= 0) { try fail("/volume", "must be 0 or more") }
            if c.high < Swift.max(c.open, c.close) { try fail("/high", "is below open or close") }
            if c.low > Swift.min(c.open, c.close) { try fail("/low", "is above open or close") }
            if let first = seen[c.key] {
                if !unique[first].sameValues(as: c) {
                    try fail("", "repeats candle \(first) (\(c.symbol) \(c.timeframe.label) at the same open_time) with other values")
                }
                continue
            }
            seen[c.key] = unique.count
            unique.append(c)
        }
        return unique
    }

    func activeSymbols() async throws -> Set<String> {
        try await database.withShared(readOnly: true) { connection in
            try await SymbolRegistry.active(nil, connection, logger: logger)
        }
    }

    /// Stores a validated batch (see `validate`) in one transaction.
    func ingest(_ candles: [IncomingCandle], source: String, now: Date = Date()) async throws -> IngestResult {
        var result = IngestResult(received: candles.count)
        guard !candles.isEmpty else { return result }
        let nowSeconds = Int64(now.timeIntervalSince1970.rounded(.down))
        let stored = try await database.withShared { connection in
            // 1. New candles.
            let inserted = try await insert(candles, source: source, connection)
            result.inserted = inserted.count
            var closedTouched: [IncomingCandle] = candles.filter { inserted.contains($0.key) }

            // 2. Candles already stored: the same (unchanged), forming (replaced) or closed (a correction).
            let rest = candles.filter { !inserted.contains($0.key) }
            if !rest.isEmpty {
                let stored = try await existing(rest, connection)
                var replace: [IncomingCandle] = [], correct: [IncomingCandle] = []
                for c in rest {
                    guard let old = stored[c.key] else { continue }  // vanished under us: cannot happen inside FOR UPDATE
                    if old.sameValues(as: c) {
                        result.unchanged += 1
                    } else if c.openTime + c.timeframe.seconds > nowSeconds {
                        replace.append(c)
                    } else {
                        correct.append(c)
                    }
                }
                try await update(replace, source: source, connection)
                try await recordCorrections(correct, source: source, connection)
                result.replaced = replace.count
                result.corrections = correct.count
                closedTouched += replace
            }

            // 3. Closed candles only from here on: the pipeline never sees a forming one.
            closedTouched.removeAll { $0.openTime + $0.timeframe.seconds > nowSeconds }
            var streams = Set(closedTouched.map { "\($0.symbol)/\($0.timeframe.label)" })
            let groups = Dictionary(grouping: closedTouched) { "\($0.symbol)/\($0.timeframe.seconds)" }
            for (_, group) in groups.sorted(by: { $0.key < $1.key }) {
                let first = group[0]
                let times = group.map(\.openTime)
                let previous = try await previousOpenTime(symbol: first.symbol, timeframe: first.timeframe,
                                                          before: times.min()!, connection)
                for higher in SignalTimeframe.all where higher > first.timeframe && higher.seconds % first.timeframe.seconds == 0 {
                    let built = try await aggregate(symbol: first.symbol, from: first.timeframe, to: higher,
                                                    earliest: times.min()!, latest: times.max()!, previous: previous,
                                                    now: now, connection)
                    result.aggregated += built
                    if built > 0 { streams.insert("\(first.symbol)/\(higher.label)") }
                }
            }

            // 4. The pipeline's queue, in this transaction (outbox).
            result.queued = streams.sorted()
            try await PipelineJobs.enqueue(result.queued, connection, logger: logger)
            return result
        }
        if !stored.queued.isEmpty { doorbell?.ring() }
        return stored
    }

    private struct Columns {
        var symbols: [String] = [], timeframes: [String] = [], times: [Date] = []
        var open: [Double] = [], high: [Double] = [], low: [Double] = [], close: [Double] = [], volume: [Double] = []

        init(_ candles: [IncomingCandle]) {
            for c in candles {
                symbols.append(c.symbol)
                timeframes.append(c.timeframe.label)
                times.append(Date(timeIntervalSince1970: TimeInterval(c.openTime)))
                open.append(c.open)
                high.append(c.high)
                low.append(c.low)
                close.append(c.close)
                volume.append(c.volume)
            }
        }
    }

    private func insert(_ candles: [IncomingCandle], source: String, _ connection: PostgresConnection) async throws
        -> Set<CandleKey>
    {
        let c = Columns(candles)
        let rows = try await connection.query(
            """
            INSERT INTO candles (symbol, timeframe, open_time, open, high, low, close, volume, source)
            SELECT u.*, \(source) FROM unnest(\(c.symbols)::text[], \(c.timeframes)::text[], \(c.times)::timestamptz[],
                \(c.open)::float8[], \(c.high)::float8[], \(c.low)::float8[], \(c.close)::float8[], \(c.volume)::float8[])
                AS u(symbol, timeframe, open_time, open, high, low, close, volume)
            ON CONFLICT (symbol, timeframe, open_time) DO NOTHING
            RETURNING symbol, timeframe, open_time
            """, logger: logger)
        var out = Set<CandleKey>()
        for try await (symbol, tf, time) in rows.decode((String, String, Date).self) {
            out.insert(CandleKey(symbol: symbol, timeframe: SignalTimeframe(label: tf)?.seconds ?? 0,
                                 openTime: Int64(time.timeIntervalSince1970)))
        }
        return out
    }

    private func existing(_ candles: [IncomingCandle], _ connection: PostgresConnection) async throws
        -> [CandleKey: IncomingCandle]
    {
        let c = Columns(candles)
        let rows = try await connection.query(
            """
            SELECT c.symbol, c.timeframe, c.open_time, c.open, c.high, c.low, c.close, c.volume
            FROM candles c
            JOIN unnest(\(c.symbols)::text[], \(c.timeframes)::text[], \(c.times)::timestamptz[]) AS k(symbol, timeframe, open_time)
              ON c.symbol = k.symbol AND c.timeframe = k.timeframe AND c.open_time = k.open_time
            FOR UPDATE OF c
            """, logger: logger)
        var out: [CandleKey: IncomingCandle] = [:]
        for try await (symbol, tf, time, o, h, l, cl, v) in rows.decode((String, String, Date, Double, Double, Double, Double, Double).self) {
            guard let timeframe = SignalTimeframe(label: tf) else { continue }
            let candle = IncomingCandle(symbol: symbol, timeframe: timeframe, openTime: Int64(time.timeIntervalSince1970),
                                        open: o, high: h, low: l, close: cl, volume: v)
            out[candle.key] = candle
        }
        return out
    }

    private func update(_ candles: [IncomingCandle], source: String, _ connection: PostgresConnection) async throws {
        guard !candles.isEmpty else { return }
        let c = Columns(candles)
        try await connection.query(
            """
            UPDATE candles SET open = u.open, high = u.high, low = u.low, close = u.close, volume = u.volume,
                source = \(source), received_at = now()
            FROM unnest(\(c.symbols)::text[], \(c.timeframes)::text[], \(c.times)::timestamptz[], \(c.open)::float8[],
                \(c.high)::float8[], \(c.low)::float8[], \(c.close)::float8[], \(c.volume)::float8[])
                AS u(symbol, timeframe, open_time, open, high, low, close, volume)
            WHERE candles.symbol = u.symbol AND candles.timeframe = u.timeframe AND candles.open_time = u.open_time
            """, logger: logger)
    }

    private func recordCorrections(_ candles: [IncomingCandle], source: String, _ connection: PostgresConnection) async throws {
        guard !candles.isEmpty else { return }
        let c = Columns(candles)
        try await connection.query(
            """
            INSERT INTO candle_corrections (symbol, timeframe, open_time, open, high, low, close, volume, source)
            SELECT u.*, \(source) FROM unnest(\(c.symbols)::text[], \(c.timeframes)::text[], \(c.times)::timestamptz[],
                \(c.open)::float8[], \(c.high)::float8[], \(c.low)::float8[], \(c.close)::float8[], \(c.volume)::float8[])
                AS u(symbol, timeframe, open_time, open, high, low, close, volume)
            """, logger: logger)
    }

    /// The open time of the newest stored candle of the stream before `time`.
    private func previousOpenTime(symbol: String, timeframe: SignalTimeframe, before time: Int64,
                                  _ connection: PostgresConnection) async throws -> Int64?
    {
        let rows = try await connection.query(
            """
            SELECT extract(epoch FROM max(open_time))::int8 FROM candles
            WHERE symbol = \(symbol) AND timeframe = \(timeframe.label)
              AND open_time < \(Date(timeIntervalSince1970: TimeInterval(time)))
            """, logger: logger)
        return try await rows.collect().first?.decode(Int64?.self)
    }

    /// Builds the `to` candles of the buckets around [earliest, latest] from stored `from` candles, when the bucket
    /// is over (its end ≤ now) and complete (its last `from` candle is stored, or a later one is: a gap). A candle
    /// fed directly on `to` is never overwritten; an earlier aggregate is updated when its inputs changed.
    /// `previous` is the newest stored `from` candle before `earliest`: its bucket may have been waiting for a later
    /// candle (a gap — a weekend, an outage — however long), which these candles are.
    /// Returns how many candles were written.
    private func aggregate(symbol: String, from: SignalTimeframe, to: SignalTimeframe, earliest: Int64, latest: Int64,
                           previous: Int64?, now: Date, _ connection: PostgresConnection) async throws -> Int
    {
        let lowest = Swift.min(to.bucketStart(earliest) - to.seconds, previous.map(to.bucketStart) ?? .max)
        let lower = Date(timeIntervalSince1970: TimeInterval(lowest))
        let upper = Date(timeIntervalSince1970: TimeInterval(to.bucketStart(latest) + to.seconds))
        let shift: Int64 = to.seconds == 604_800 ? 3 * 86_400 : 0
        let size = to.seconds, step = from.seconds
        let rows = try await connection.query(
            """
            WITH g AS (
                SELECT open_time, open, high, low, close, volume,
                       to_timestamp(floor((extract(epoch FROM open_time) + \(shift)) / \(size)) * \(size) - \(shift)) AS bucket
                FROM candles
                WHERE symbol = \(symbol) AND timeframe = \(from.label) AND open_time >= \(lower) AND open_time < \(upper)
            ), agg AS (
                SELECT bucket, (array_agg(open ORDER BY open_time))[1] AS open, max(high) AS high, min(low) AS low,
                       (array_agg(close ORDER BY open_time DESC))[1] AS close, sum(volume) AS volume, max(open_time) AS last
                FROM g GROUP BY bucket
            )
            INSERT INTO candles (symbol, timeframe, open_time, open, high, low, close, volume, source)
            SELECT \(symbol), \(to.label), bucket, open, high, low, close, volume, \("aggregate:" + from.label) FROM agg
            WHERE bucket + make_interval(secs => \(size)) <= \(now)
              AND (last = bucket + make_interval(secs => \(size - step))
                   OR EXISTS (SELECT 1 FROM candles l WHERE l.symbol = \(symbol) AND l.timeframe = \(from.label)
                              AND l.open_time >= agg.bucket + make_interval(secs => \(size))))
            ON CONFLICT (symbol, timeframe, open_time) DO UPDATE
                SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
                    volume = EXCLUDED.volume, source = EXCLUDED.source, received_at = now()
                WHERE candles.source LIKE 'aggregate:%'
                  AND (candles.open, candles.high, candles.low, candles.close, candles.volume)
                      IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume)
            RETURNING open_time
            """, logger: logger)
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }
}

/// The readers other rooms use: `candles` are read only here (`symbols` in `SymbolRegistry`).
extension MarketDataService {
    /// Closed candles of a stream after `after`, opening at or before `latestOpen`, oldest first, at most `limit`,
    /// with when each was received.
    static func candles(symbol: String, timeframe: String, after: Date, openingBy latestOpen: Date, limit: Int,
                        _ connection: PostgresConnection, logger: Logger) async throws -> [(Candle, Date)]
    {
        let rows = try await connection.query(
            """
            SELECT open_time, open, high, low, close, volume, received_at FROM candles
            WHERE symbol = \(symbol) AND timeframe = \(timeframe) AND open_time > \(after) AND open_time <= \(latestOpen)
            ORDER BY open_time LIMIT \(limit)
            """, logger: logger)
        var candles: [(Candle, Date)] = []
        for try await (time, o, h, l, c, v, received) in rows.decode((Date, Double, Double, Double, Double, Double, Date).self) {
            candles.append((Candle(time: Int64(time.timeIntervalSince1970), open: o, high: h, low: l, close: c, volume: v), received))
        }
        return candles
    }

    /// The stream's candles around `time`, oldest first: up to `before` opening before it, the one opening at it,
    /// and up to `after` opening after it (charts).
    static func candles(symbol: String, timeframe: String, around time: Date, before: Int, after: Int,
                        _ connection: PostgresConnection, logger: Logger) async throws -> [Candle]
    {
        let rows = try await connection.query(
            """
            SELECT open_time, open, high, low, close, volume FROM (
              (SELECT * FROM candles WHERE symbol = \(symbol) AND timeframe = \(timeframe) AND open_time <= \(time)
               ORDER BY open_time DESC LIMIT \(before + 1))
              UNION ALL
              (SELECT * FROM candles WHERE symbol = \(symbol) AND timeframe = \(timeframe) AND open_time > \(time)
               ORDER BY open_time LIMIT \(after))
            ) c ORDER BY open_time
            """, logger: logger)
        var candles: [Candle] = []
        for try await (t, o, h, l, c, v) in rows.decode((Date, Double, Double, Double, Double, Double).self) {
            candles.append(Candle(time: Int64(t.timeIntervalSince1970), open: o, high: h, low: l, close: c, volume: v))
        }
        return candles
    }

    /// The latest `limit` candles of a stream opening at or before `latestOpen` (closed ones, when that is now
    /// minus the timeframe), oldest first.
    static func latest(symbol: String, timeframe: String, openingBy latestOpen: Date, limit: Int,
                       _ connection: PostgresConnection, logger: Logger) async throws -> [Candle]
    {
        let rows = try await connection.query(
            """
            SELECT open_time, open, high, low, close, volume FROM candles
            WHERE symbol = \(symbol) AND timeframe = \(timeframe) AND open_time <= \(latestOpen)
            ORDER BY open_time DESC LIMIT \(limit)
            """, logger: logger)
        var candles: [Candle] = []
        for try await (t, o, h, l, c, v) in rows.decode((Date, Double, Double, Double, Double, Double).self) {
            candles.append(Candle(time: Int64(t.timeIntervalSince1970), open: o, high: h, low: l, close: c, volume: v))
        }
        return candles.reversed()
    }

    /// Open time of a stream's latest candle opening at or before `latestOpen`; nil when it has none.
    static func lastOpen(symbol: String, timeframe: String, openingBy latestOpen: Date, _ connection: PostgresConnection,
                         logger: Logger) async throws -> Int64?
    {
        try await connection.query(
            """
            SELECT open_time FROM candles
            WHERE symbol = \(symbol) AND timeframe = \(timeframe) AND open_time <= \(latestOpen)
            ORDER BY open_time DESC LIMIT 1
            """, logger: logger
        ).collect().first.map { Int64(try $0.decode(Date.self).timeIntervalSince1970) }
    }

    /// Every candle of a stream up to `through`, oldest first, handed to `body` as it is read (a replay).
    static func replay(symbol: String, timeframe: String, through: Date, _ connection: PostgresConnection, logger: Logger,
                       _ body: (Candle) -> Void) async throws
    {
        let rows = try await connection.query(
            """
            SELECT open_time, open, high, low, close, volume FROM candles
            WHERE symbol = \(symbol) AND timeframe = \(timeframe) AND open_time <= \(through) ORDER BY open_time
            """, logger: logger)
        for try await (t, o, h, l, c, v) in rows.decode((Date, Double, Double, Double, Double, Double).self) {
            body(Candle(time: Int64(t.timeIntervalSince1970), open: o, high: h, low: l, close: c, volume: v))
        }
    }

    /// When the last candle a source stored for the stream opens.
    static func lastOpenTime(symbol: String, timeframe: String, source: String, _ connection: PostgresConnection, logger: Logger)
        async throws -> Date?
    {
        try await connection.query(
            """
            SELECT open_time FROM candles
            WHERE symbol = \(symbol) AND timeframe = \(timeframe) AND source = \(source)
            ORDER BY open_time DESC LIMIT 1
            """, logger: logger
        ).collect().first?.decode(Date.self)
    }

    /// Which streams have a candle that opened after their `after` (nil: any) and has closed by now.
    static func closedSince(_ streams: [(symbol: String, timeframe: String, after: Date?)], _ connection: PostgresConnection,
                            logger: Logger) async throws -> [(symbol: String, timeframe: String)]
    {
        guard !streams.isEmpty else { return [] }
        var out: [(symbol: String, timeframe: String)] = []
        for try await row in try await connection.query(
            """
            SELECT u.symbol, u.timeframe
            FROM unnest(\(streams.map(\.symbol))::text[], \(streams.map(\.timeframe))::text[],
                        \(streams.map { $0.after ?? .distantPast })::timestamptz[]) AS u(symbol, timeframe, after)
            WHERE EXISTS (
                SELECT 1 FROM candles c WHERE c.symbol = u.symbol AND c.timeframe = u.timeframe AND c.open_time > u.after
                  AND c.open_time + make_interval(secs => smc_timeframe_seconds(u.timeframe)) <= now())
            """, logger: logger
        ).decode((String, String).self) {
            out.append(row)
        }
        return out
    }
}

/// The readers of the market REST operations (charts and phone apps).
extension MarketDataService {
    /// The first and last candle of each (symbol, timeframe) that has data: one index probe per pair, so the cost
    /// does not grow with the candles stored.
    static func spans(symbols: [String], timeframes: [String], _ connection: PostgresConnection, logger: Logger)
        async throws -> [String: [(timeframe: String, first: Date, last: Date)]]
    {
        let rows = try await connection.query(
            """
            SELECT s.symbol, t.timeframe, t.ord,
                   (SELECT min(open_time) FROM candles c WHERE c.symbol = s.symbol AND c.timeframe = t.timeframe),
                   (SELECT max(open_time) FROM candles c WHERE c.symbol = s.symbol AND c.timeframe = t.timeframe)
            FROM unnest(\(symbols)::text[]) AS s(symbol)
            CROSS JOIN unnest(\(timeframes)::text[]) WITH ORDINALITY AS t(timeframe, ord)
            ORDER BY s.symbol, t.ord
            """, logger: logger)
        var out: [String: [(timeframe: String, first: Date, last: Date)]] = [:]
        for try await (symbol, timeframe, _, first, last) in rows.decode((String, String, Int64, Date?, Date?).self) {
            guard let first, let last else { continue }
            out[symbol, default: []].append((timeframe, first, last))
        }
        return out
    }

    /// Candles of a stream opening in [since, until) after the open time `after` (exclusive), oldest first, at most
    /// `limit`; whether each has closed by `now`.
    static func page(symbol: String, timeframe: SignalTimeframe, since: Date?, until: Date?, after: Date?, limit: Int,
                     now: Date, _ connection: PostgresConnection, logger: Logger) async throws -> [(Candle, closed: Bool)]
    {
        var clauses = SQLWhere()
        clauses.add("symbol = \(clauses.bind(symbol))")
        clauses.add("timeframe = \(clauses.bind(timeframe.label))")
        if let since { clauses.add("open_time >= \(clauses.bind(since))") }
        if let until { clauses.add("open_time < \(clauses.bind(until))") }
        if let after { clauses.add("open_time > \(clauses.bind(after))") }
        let sql = """
            SELECT open_time, open, high, low, close, volume FROM candles
            WHERE \(clauses.clauses) ORDER BY open_time LIMIT \(clauses.bind(limit))
            """
        let closeBy = Int64(now.timeIntervalSince1970.rounded(.down)) - timeframe.seconds
        var out: [(Candle, closed: Bool)] = []
        for try await (time, o, h, l, c, v) in try await connection.query(clauses.query(sql), logger: logger)
            .decode((Date, Double, Double, Double, Double, Double).self)
        {
            let t = Int64(time.timeIntervalSince1970)
            out.append((Candle(time: t, open: o, high: h, low: l, close: c, volume: v), t <= closeBy))
        }
        return out
    }
}
