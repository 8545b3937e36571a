import Foundation
import Logging
import PostgresNIO
import SMCEngine

/// The pipeline's state I/O: each analysis stream's analyzer (shared by the tenants with the same detector
/// parameters) and each tenant's evaluator, stored with `SMCEngine.stateVersion` so that a changed engine
/// rebuilds from candles instead of misreading old state. The owner of `analysis_streams` and `tenant_streams`.
extension Pipeline {
    /// Drops the evaluators of tenants no longer watching the stream (a later subscription starts afresh).
    func dropEvaluators(symbol: String, timeframe: SignalTimeframe, keeping tenants: [UUID], _ connection: PostgresConnection)
        async throws
    {
        try await connection.query(
            """
            DELETE FROM tenant_streams WHERE symbol = \(symbol) AND timeframe = \(timeframe.label)
              AND NOT (tenant_id = ANY(\(tenants)::uuid[]))
            """, logger: logger)
    }

    /// Every analysed stream with where its slowest analyzer that has run stands (nil: none has run yet).
    func analysedStreams(_ connection: PostgresConnection) async throws -> [(symbol: String, timeframe: String, processedUntil: Date?)] {
        var out: [(symbol: String, timeframe: String, processedUntil: Date?)] = []
        for try await row in try await connection.query(
            """
            SELECT symbol, timeframe, min(processed_until)
            FROM analysis_streams GROUP BY symbol, timeframe
            """, logger: logger
        ).decode((String, String, Date?).self) {
            out.append(row)
        }
        return out
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

    func loadAnalyzer(_ key: AnalysisKey, params: DetectorParameters, _ connection: PostgresConnection)
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
        if engine == SMCEngine.stateVersion {
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
            try await MarketDataService.replay(symbol: key.symbol, timeframe: key.timeframe, through: processed, connection, logger: logger) {
                _ = analyzer.update($0)
            }
        }
        return AnalyzerRecord(key: key, analyzer: analyzer, processedUntil: until, candles: count, version: version)
    }

    func saveAnalyzer(_ record: AnalyzerRecord, _ updates: CacheUpdates, _ connection: PostgresConnection) async throws {
        let state = ByteBuffer(data: try JSONEncoder().encode(record.analyzer))
        let until = record.processedUntil.map { Date(timeIntervalSince1970: TimeInterval($0)) }
        let k = record.key
        let version = try await connection.query(
            """
            INSERT INTO analysis_streams (symbol, timeframe, params, state, engine_version, processed_until, candles)
            VALUES (\(k.symbol), \(k.timeframe), \(k.params), \(state), \(SMCEngine.stateVersion), \(until), \(record.candles))
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

    func loadEvaluators(symbol: String, timeframe: SignalTimeframe, params: DetectorParameters,
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
            if let row = stored[m.tenant], row.engine == SMCEngine.stateVersion,
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
            if let row, row.engine == SMCEngine.stateVersion {
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

    func saveEvaluators(_ tenants: [TenantRecord], symbol: String, timeframe: SignalTimeframe,
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
            SELECT u.tenant, \(symbol), \(timeframe.label), u.params, u.settings, convert_to(u.state, 'UTF8'), \(SMCEngine.stateVersion), u.since
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
}

extension DetectorParameters {
    /// The analysis stream's name for these parameters (timeframe aside): `sl50-cb1-cm0`.
    var key: String { "sl\(swingLength)-cb\(closeBreak ? 1 : 0)-cm\(closeMitigation ? 1 : 0)" }
}

extension TenantEvaluator {
    var params: DetectorParameters { DetectorParameters(timeframe: timeframe, strategy: settings) }
}

// MARK: Reading stored analyses (the market summary)

extension Pipeline {
    /// A stored analysis as a reader sees it: the analyzer and where it stands.
    struct StoredAnalysis: Sendable {
        var key: AnalysisKey
        var analyzer: MarketAnalyzer
        var processedUntil: Int64?
        var version: Int64
    }

    /// The stored analyzer of (symbol, timeframe) under the first of `params` (detector-parameter keys, in order of
    /// preference) that has a row written by this engine version; nil when none has. Decoded analyzers are kept in
    /// the pipeline's cache by row version, so a reader decodes a stream's state once per change, not per request.
    func storedAnalysis(symbol: String, timeframe: String, params: [String], _ connection: PostgresConnection)
        async throws -> StoredAnalysis?
    {
        var rows: [String: (version: Int64, engine: Int, until: Date?)] = [:]
        for try await (p, version, engine, until) in try await connection.query(
            """
            SELECT params, version, engine_version, processed_until FROM analysis_streams
            WHERE symbol = \(symbol) AND timeframe = \(timeframe) AND params = ANY(\(params)::text[])
            """, logger: logger
        ).decode((String, Int64, Int, Date?).self) {
            rows[p] = (version, engine, until)
        }
        for p in params {
            guard let row = rows[p], row.engine == SMCEngine.stateVersion else { continue }
            let key = AnalysisKey(symbol: symbol, timeframe: timeframe, params: p)
            let until = row.until.map { Int64($0.timeIntervalSince1970) }
            if let cached = cache.analyzer(key, version: row.version) {
                return StoredAnalysis(key: key, analyzer: cached, processedUntil: until, version: row.version)
            }
            let state = try await connection.query(
                """
                SELECT state FROM analysis_streams
                WHERE symbol = \(symbol) AND timeframe = \(timeframe) AND params = \(p) AND version = \(row.version)
                """, logger: logger
            ).collect().first?.decode(ByteBuffer.self)
            guard let state, let analyzer = try? JSONDecoder().decode(MarketAnalyzer.self, from: Data(buffer: state)) else {
                continue  // moved on since (the next request reads the new version) or unreadable: the next preference
            }
            // The row at this version is committed: its content is what the pipeline would cache for it.
            cache.store(key, analyzer: analyzer, version: row.version)
            return StoredAnalysis(key: key, analyzer: analyzer, processedUntil: until, version: row.version)
        }
        return nil
    }
}
