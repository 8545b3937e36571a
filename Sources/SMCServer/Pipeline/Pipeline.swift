import Foundation
import Logging
import PostgresNIO
import SMCEngine
import Synchronization

/// The signal pipeline: when closed candles of a (symbol, timeframe) arrive, the shared analyzer of each distinct
/// detector-parameter set runs over them once, and every tenant watching the stream is evaluated on the snapshots
/// with its own settings and ensemble state; signals, outcomes, their alert jobs and sync versions are stored.
///
/// Work sharing: a worker takes a stream by locking its `market_streams` row (`FOR UPDATE SKIP LOCKED`), deletes
/// the stream's queued jobs, processes every closed candle the stream has not seen (up to `chunk`), and commits
/// everything — analyzer state and position, tenant states, signals, outbox, sync counters — in that one
/// transaction. A process killed mid-way rolls back: the jobs are still queued and the next worker redoes the
/// work; the unique (tenant, symbol, timeframe, signal key) forbids a second copy of a signal anyway.
///
/// Tenants are evaluated on candles received after they subscribed (their `tenant_streams.subscribed_at`), so a
/// new subscriber does not get a flood of signals on old history, while history fed after subscribing (a
/// backfill) is evaluated like live data.
struct Pipeline: Sendable {
    let database: Database
    let cache: PipelineCache
    /// Most candles one transaction feeds; a longer backlog is re-queued and continued.
    var chunk = 5000

    /// Bumped when the persisted engine state's meaning changes: older states are rebuilt, not decoded.
    static let engineVersion = 1

    var logger: Logger { database.logger }

    /// What one `processNext` did.
    struct Report: Sendable, Equatable {
        var stream: String
        var candles = 0
        var signals = 0
        var outcomes = 0
        var tenants = 0
    }

    /// Decoded states to remember once the transaction that wrote them has committed (never before: a rolled-back
    /// version number may be reused by another process for other content).
    final class CacheUpdates: @unchecked Sendable {
        var analyzers: [(AnalysisKey, MarketAnalyzer, Int64)] = []
        var evaluators: [(UUID, String, String, TenantEvaluator, Int64)] = []
    }

    /// Takes one stream with queued work and processes it; nil when no stream is waiting (or all are taken).
    func processNext(now: Date = Date()) async throws -> Report? {
        let updates = CacheUpdates()
        let report = try await database.withWorker { connection -> Report? in
            let claimed = try await connection.query(
                """
                SELECT m.symbol, m.timeframe FROM market_streams m
                WHERE EXISTS (SELECT 1 FROM pipeline_jobs j WHERE j.symbol = m.symbol AND j.timeframe = m.timeframe)
                LIMIT 1 FOR UPDATE SKIP LOCKED
                """, logger: logger
            ).collect().first?.decode((String, String).self)
            guard let (symbol, tfLabel) = claimed, let timeframe = SignalTimeframe(label: tfLabel) else { return nil }
            try await connection.query(
                "DELETE FROM pipeline_jobs WHERE symbol = \(symbol) AND timeframe = \(tfLabel)", logger: logger)
            return try await process(symbol: symbol, timeframe: timeframe, now: now, updates, connection)
        }
        for (key, analyzer, version) in updates.analyzers { cache.store(key, analyzer: analyzer, version: version) }
        for (tenant, symbol, tf, evaluator, version) in updates.evaluators {
            cache.store(tenant, symbol: symbol, timeframe: tf, evaluator: evaluator, version: version)
        }
        return report
    }

    private func process(symbol: String, timeframe: SignalTimeframe, now: Date, _ updates: CacheUpdates,
                         _ connection: PostgresConnection)
        async throws -> Report
    {
        var report = Report(stream: "\(symbol)/\(timeframe.label)")
        let subscribers = try await Subscribers.load(symbol: symbol, timeframe: timeframe, connection, logger: logger)
        // Tenants that stopped watching lose their evaluator (a later subscription starts afresh).
        try await connection.query(
            """
            DELETE FROM tenant_streams WHERE symbol = \(symbol) AND timeframe = \(timeframe.label)
              AND NOT (tenant_id = ANY(\(subscribers.map(\.tenant))::uuid[]))
            """, logger: logger)
        let groups = Dictionary(grouping: subscribers, by: \.params)
        var more = false
        for (params, members) in groups.sorted(by: { $0.key.key < $1.key.key }) {
            let result = try await processGroup(symbol: symbol, timeframe: timeframe, params: params, members: members,
                                                now: now, updates, connection)
            report.candles = Swift.max(report.candles, result.candles)
            report.signals += result.signals
            report.outcomes += result.outcomes
            report.tenants += members.count
            more = more || result.candles >= chunk
        }
        if more {
            try await connection.query(
                "INSERT INTO pipeline_jobs (symbol, timeframe) VALUES (\(symbol), \(timeframe.label))", logger: logger)
        }
        return report
    }

    private struct GroupResult {
        var candles = 0
        var signals = 0
        var outcomes = 0
    }

    private func processGroup(symbol: String, timeframe: SignalTimeframe, params: DetectorParameters,
                              members: [Subscriber], now: Date, _ updates: CacheUpdates,
                              _ connection: PostgresConnection) async throws -> GroupResult
    {
        let streamKey = AnalysisKey(symbol: symbol, timeframe: timeframe.label, params: params.key)
        var stream = try await loadAnalyzer(streamKey, params: params, connection)

        let nowSeconds = Int64(now.timeIntervalSince1970.rounded(.down))
        let after = stream.processedUntil.map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? Date.distantPast
        let latestOpen = Date(timeIntervalSince1970: TimeInterval(nowSeconds - timeframe.seconds))
        let rows = try await connection.query(
            """
            SELECT open_time, open, high, low, close, volume, received_at FROM candles
            WHERE symbol = \(symbol) AND timeframe = \(timeframe.label) AND open_time > \(after) AND open_time <= \(latestOpen)
            ORDER BY open_time LIMIT \(chunk)
            """, logger: logger)
        var candles: [(Candle, Date)] = []
        for try await (time, o, h, l, c, v, received) in rows.decode((Date, Double, Double, Double, Double, Double, Date).self) {
            candles.append((Candle(time: Int64(time.timeIntervalSince1970), open: o, high: h, low: l, close: c, volume: v), received))
        }
        var result = GroupResult(candles: candles.count)
        guard !candles.isEmpty else { return result }

        var tenants = try await loadEvaluators(symbol: symbol, timeframe: timeframe, params: params, members: members,
                                               firstCandle: candles[0].0.time, connection)
        let alerts = try await externalAlerts(symbol: symbol, tenants: tenants.map(\.tenant),
                                              from: candles.first!.0.time - 4 * timeframe.seconds,
                                              to: candles.last!.0.time + timeframe.seconds, connection)
        var alertCursor = [UUID: Int]()

        var signals: [UUID: [Signal]] = [:]
        var outcomes: [UUID: [SignalOutcome]] = [:]
        for (index, (candle, received)) in candles.enumerated() {
            // A chunk is thousands of candles times the tenants' evaluators: let requests waiting for this cooperative
            // thread run between slices rather than after the whole chunk.
            if index % 64 == 63 { await Task.yield() }
            let snapshot = stream.analyzer.update(candle)
            for k in tenants.indices where received >= tenants[k].subscribedAt {
                let tenant = tenants[k].tenant
                if let list = alerts[tenant] {
                    var i = alertCursor[tenant, default: 0]
                    while i < list.count, list[i].time <= candle.time + timeframe.seconds {
                        tenants[k].evaluator.receive(list[i])
                        i += 1
                    }
                    alertCursor[tenant] = i
                }
                let step = tenants[k].evaluator.evaluate(snapshot)
                if !step.signals.isEmpty { signals[tenant, default: []] += step.signals }
                if !step.outcomes.isEmpty { outcomes[tenant, default: []] += step.outcomes }
            }
        }
        stream.processedUntil = candles.last!.0.time
        stream.candles += Int64(candles.count)

        let written = try await SignalStore(logger: logger).write(
            symbol: symbol, timeframe: timeframe.label, signals: signals, outcomes: outcomes, connection)
        result.signals = written.signals
        result.outcomes = written.outcomes
        try await saveEvaluators(tenants, symbol: symbol, timeframe: timeframe, updates, connection)
        try await saveAnalyzer(stream, updates, connection)
        return result
    }

    // MARK: Analyzer state

    struct AnalysisKey: Hashable, Sendable {
        var symbol: String
        var timeframe: String
        var params: String
    }

    struct AnalyzerRecord: Sendable {
        var key: AnalysisKey
        var analyzer: MarketAnalyzer
        var processedUntil: Int64?
        var candles: Int64
        /// The row's version when loaded (nil: no row yet).
        var version: Int64?
    }

    private func loadAnalyzer(_ key: AnalysisKey, params: DetectorParameters, _ connection: PostgresConnection)
        async throws -> AnalyzerRecord
    {
        let row = try await connection.query(
            """
            SELECT version, engine_version, processed_until, candles FROM analysis_streams
            WHERE symbol = \(key.symbol) AND timeframe = \(key.timeframe) AND params = \(key.params)
            """, logger: logger
        ).collect().first?.decode((Int64, Int, Date?, Int64).self)
        guard let (version, engine, processed, count) = row else {
            return AnalyzerRecord(key: key, analyzer: MarketAnalyzer(params), processedUntil: nil, candles: 0, version: nil)
        }
        let until = processed.map { Int64($0.timeIntervalSince1970) }
        if let cached = cache.analyzer(key, version: version) {
            return AnalyzerRecord(key: key, analyzer: cached, processedUntil: until, candles: count, version: version)
        }
        if engine == Self.engineVersion {
            let state = try await connection.query(
                """
                SELECT state FROM analysis_streams
                WHERE symbol = \(key.symbol) AND timeframe = \(key.timeframe) AND params = \(key.params)
                """, logger: logger
            ).collect().first?.decode(ByteBuffer.self)
            if let state, let analyzer = try? JSONDecoder().decode(MarketAnalyzer.self, from: Data(buffer: state)) {
                return AnalyzerRecord(key: key, analyzer: analyzer, processedUntil: until, candles: count, version: version)
            }
        }
        // An older engine's state (or an unreadable one): rebuild by replaying what it had seen.
        logger.notice("rebuilding analyzer state", metadata: ["stream": "\(key.symbol)/\(key.timeframe)/\(key.params)"])
        var analyzer = MarketAnalyzer(params)
        if let processed {
            let rows = try await connection.query(
                """
                SELECT open_time, open, high, low, close, volume FROM candles
                WHERE symbol = \(key.symbol) AND timeframe = \(key.timeframe) AND open_time <= \(processed) ORDER BY open_time
                """, logger: logger)
            for try await (t, o, h, l, c, v) in rows.decode((Date, Double, Double, Double, Double, Double).self) {
                _ = analyzer.update(Candle(time: Int64(t.timeIntervalSince1970), open: o, high: h, low: l, close: c, volume: v))
            }
        }
        return AnalyzerRecord(key: key, analyzer: analyzer, processedUntil: until, candles: count, version: version)
    }

    private func saveAnalyzer(_ record: AnalyzerRecord, _ updates: CacheUpdates, _ connection: PostgresConnection) async throws {
        let state = ByteBuffer(data: try JSONEncoder().encode(record.analyzer))
        let until = record.processedUntil.map { Date(timeIntervalSince1970: TimeInterval($0)) }
        let k = record.key
        let version = try await connection.query(
            """
            INSERT INTO analysis_streams (symbol, timeframe, params, state, engine_version, processed_until, candles)
            VALUES (\(k.symbol), \(k.timeframe), \(k.params), \(state), \(Self.engineVersion), \(until), \(record.candles))
            ON CONFLICT (symbol, timeframe, params) DO UPDATE
                SET state = EXCLUDED.state, engine_version = EXCLUDED.engine_version,
                    processed_until = EXCLUDED.processed_until, candles = EXCLUDED.candles,
                    version = analysis_streams.version + 1, updated_at = now()
            RETURNING version
            """, logger: logger
        ).collect().first?.decode(Int64.self)
        if let version { updates.analyzers.append((k, record.analyzer, version)) }
    }

    // MARK: Tenant evaluators

    struct TenantRecord: Sendable {
        var tenant: UUID
        var evaluator: TenantEvaluator
        var settingsVersion: String
        var subscribedAt: Date
        /// The row's version when loaded (nil: new), and the evaluator's revision then.
        var version: Int64?
        var loadedRevision: Int
    }

    private func loadEvaluators(symbol: String, timeframe: SignalTimeframe, params: DetectorParameters,
                                members: [Subscriber], firstCandle: Int64, _ connection: PostgresConnection)
        async throws -> [TenantRecord]
    {
        let rows = try await connection.query(
            """
            SELECT tenant_id, params, settings_version, engine_version, subscribed_at, version FROM tenant_streams
            WHERE symbol = \(symbol) AND timeframe = \(timeframe.label) AND tenant_id = ANY(\(members.map(\.tenant))::uuid[])
            """, logger: logger)
        var stored: [UUID: (params: String, settings: String, engine: Int, subscribed: Date, version: Int64)] = [:]
        for try await (tenant, p, s, e, subscribed, version) in rows.decode((UUID, String, String, Int, Date, Int64).self) {
            stored[tenant] = (p, s, e, subscribed, version)
        }
        // States not in this process's cache, in one read.
        var missing: [UUID] = []
        for m in members {
            if let row = stored[m.tenant], row.engine == Self.engineVersion,
               cache.evaluator(m.tenant, symbol: symbol, timeframe: timeframe.label, version: row.version) == nil
            {
                missing.append(m.tenant)
            }
        }
        var decoded: [UUID: TenantEvaluator] = [:]
        if !missing.isEmpty {
            let states = try await connection.query(
                """
                SELECT tenant_id, state FROM tenant_streams
                WHERE symbol = \(symbol) AND timeframe = \(timeframe.label) AND tenant_id = ANY(\(missing)::uuid[])
                """, logger: logger)
            for try await (tenant, state) in states.decode((UUID, ByteBuffer).self) {
                decoded[tenant] = try? JSONDecoder().decode(TenantEvaluator.self, from: Data(buffer: state))
            }
        }

        var out: [TenantRecord] = []
        for m in members.sorted(by: { $0.tenant.uuidString < $1.tenant.uuidString }) {
            let row = stored[m.tenant]
            var evaluator: TenantEvaluator?
            if let row, row.engine == Self.engineVersion {
                evaluator = cache.evaluator(m.tenant, symbol: symbol, timeframe: timeframe.label, version: row.version)
                    ?? decoded[m.tenant]
            }
            do {
                if var existing = evaluator, let row {
                    // Unchanged settings: stored as loaded unless evaluating changes it. Changed: always stored.
                    var loadedRevision = existing.revision
                    if row.settings != m.settingsVersion || row.params != params.key {
                        existing = try existing.reconfigured(settings: m.strategy, killzones: m.killzones,
                                                             keepOpenSetups: row.params == params.key)
                        loadedRevision = -1
                    }
                    out.append(TenantRecord(tenant: m.tenant, evaluator: existing, settingsVersion: m.settingsVersion,
                                            subscribedAt: row.subscribed, version: row.version, loadedRevision: loadedRevision))
                } else {
                    let fresh = try TenantEvaluator(settings: m.strategy, killzones: m.killzones, timeframe: timeframe)
                    out.append(TenantRecord(tenant: m.tenant, evaluator: fresh, settingsVersion: m.settingsVersion,
                                            subscribedAt: row?.subscribed ?? m.subscribedAt, version: row?.version,
                                            loadedRevision: -1))
                }
            } catch {
                // Settings the engine cannot use (the REST validation should have stopped them): skip the tenant.
                logger.warning("tenant settings unusable", metadata: ["tenant": "\(m.tenant)", "error": "\(error)"])
            }
        }
        return out
    }

    private func saveEvaluators(_ tenants: [TenantRecord], symbol: String, timeframe: SignalTimeframe,
                                _ updates: CacheUpdates, _ connection: PostgresConnection) async throws
    {
        // Only the states that changed, in one statement (JSON text, stored as bytes).
        let changed = tenants.filter { $0.evaluator.revision != $0.loadedRevision }
        guard !changed.isEmpty else { return }
        let encoder = JSONEncoder()
        let states = try changed.map { String(decoding: try encoder.encode($0.evaluator), as: UTF8.self) }
        let rows = try await connection.query(
            """
            INSERT INTO tenant_streams (tenant_id, symbol, timeframe, params, settings_version, state, engine_version, subscribed_at)
            SELECT u.tenant, \(symbol), \(timeframe.label), u.params, u.settings, convert_to(u.state, 'UTF8'), \(Self.engineVersion), u.since
            FROM unnest(\(changed.map(\.tenant))::uuid[], \(changed.map(\.evaluator.params.key))::text[],
                        \(changed.map(\.settingsVersion))::text[], \(states)::text[], \(changed.map(\.subscribedAt))::timestamptz[])
                 AS u(tenant, params, settings, state, since)
            ON CONFLICT (tenant_id, symbol, timeframe) DO UPDATE
                SET params = EXCLUDED.params, settings_version = EXCLUDED.settings_version, state = EXCLUDED.state,
                    engine_version = EXCLUDED.engine_version, version = tenant_streams.version + 1, updated_at = now()
            RETURNING tenant_id, version
            """, logger: logger)
        var versions: [UUID: Int64] = [:]
        for try await (tenant, version) in rows.decode((UUID, Int64).self) { versions[tenant] = version }
        for t in changed {
            if let version = versions[t.tenant] { updates.evaluators.append((t.tenant, symbol, timeframe.label, t.evaluator, version)) }
        }
    }

    // MARK: External alerts

    private func externalAlerts(symbol: String, tenants: [UUID], from: Int64, to: Int64, _ connection: PostgresConnection)
        async throws -> [UUID: [ExternalAlert]]
    {
        guard !tenants.isEmpty else { return [:] }
        let rows = try await connection.query(
            """
            SELECT tenant_id, received_at, direction, coalesce(strength, 1), coalesce(message, '') FROM external_alerts
            WHERE tenant_id = ANY(\(tenants)::uuid[]) AND symbol = \(symbol) AND direction IS NOT NULL
              AND received_at >= \(Date(timeIntervalSince1970: TimeInterval(from)))
              AND received_at < \(Date(timeIntervalSince1970: TimeInterval(to)))
            ORDER BY received_at
            """, logger: logger)
        var out: [UUID: [ExternalAlert]] = [:]
        for try await (tenant, at, direction, strength, message) in rows.decode((UUID, Date, Int16, Double, String).self) {
            out[tenant, default: []].append(ExternalAlert(time: Int64(at.timeIntervalSince1970), direction: Int(direction),
                                                          strength: strength, text: message))
        }
        return out
    }
}

extension DetectorParameters {
    /// The analysis stream's name for these parameters (timeframe aside): `sl50-cb1-cm0`.
    var key: String { "sl\(swingLength)-cb\(closeBreak ? 1 : 0)-cm\(closeMitigation ? 1 : 0)" }
}

extension TenantEvaluator {
    var params: DetectorParameters { DetectorParameters(timeframe: timeframe, strategy: settings) }
}

/// Decoded pipeline states kept between jobs in this process, checked against the row versions before use (another
/// process may have moved a stream on since).
final class PipelineCache: Sendable {
    private struct TenantKey: Hashable {
        var tenant: UUID
        var symbol: String
        var timeframe: String
    }

    private let analyzers = Mutex<[Pipeline.AnalysisKey: (version: Int64, value: MarketAnalyzer)]>([:])
    private let evaluators = Mutex<[TenantKey: (version: Int64, value: TenantEvaluator)]>([:])

    init() {}

    func analyzer(_ key: Pipeline.AnalysisKey, version: Int64) -> MarketAnalyzer? {
        analyzers.withLock { $0[key].flatMap { $0.version == version ? $0.value : nil } }
    }

    func store(_ key: Pipeline.AnalysisKey, analyzer: MarketAnalyzer, version: Int64) {
        analyzers.withLock { $0[key] = (version, analyzer) }
    }

    func evaluator(_ tenant: UUID, symbol: String, timeframe: String, version: Int64) -> TenantEvaluator? {
        evaluators.withLock {
            $0[TenantKey(tenant: tenant, symbol: symbol, timeframe: timeframe)].flatMap { $0.version == version ? $0.value : nil }
        }
    }

    func store(_ tenant: UUID, symbol: String, timeframe: String, evaluator: TenantEvaluator, version: Int64) {
        evaluators.withLock { $0[TenantKey(tenant: tenant, symbol: symbol, timeframe: timeframe)] = (version, evaluator) }
    }
}
