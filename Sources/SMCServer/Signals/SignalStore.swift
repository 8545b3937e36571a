import Foundation
import Logging
import PostgresNIO
import SMCAPI
import SMCEngine
import SMCSync

/// The owner of `signals` and `signal_annotations`: every statement that reads or writes a tenant's signals, their
/// outcomes and the users' annotations on them is here; the pipeline, the REST and sync readers, the alert fan-out,
/// the journal and the Telegram bot call it.
///
/// Visibility: a signal issued (`created_at`) longer ago than the plan's `history_days` is invisible to every reader
/// (`visibleDays`), as if it did not exist; the maintenance pass deletes it later (`pruneExpired`). A backfill of old
/// candles issues new signals, so it is the issue time, not the candle time, that counts.
struct SignalStore: Sendable {
    let logger: Logger

    /// What a pipeline step wrote.
    struct Written {
        var signals = 0
        var outcomes = 0
    }

    private static let signalColumns = """
        s.signal_id, s.symbol, s.timeframe, s.direction, s.setup_type, s.confidence, s.level, s.candle_time, s.close_time,
        s.entry, s.stop, s.targets, s.reward_risk, s.regime, s.killzone, s.confluence,
        s.outcome, s.outcome_time, s.outcome_r, s.exit_price, s.cost_r,
        (extract(epoch FROM s.candle_time) * 1000000)::int8 AS candle_micros
        """
    /// A signal and its annotation (`a`, left-joined).
    static let columns = signalColumns + """
        , a.signal_id IS NOT NULL AS annotated, a.note, a.tags, a.taken, a.updated_at AS annotated_at
        """
    /// A signal alone (the worker role may not read annotations, and the sync stream carries them apart).
    static let bareColumns = signalColumns + """
        , false AS annotated, NULL::text AS note, '{}'::text[] AS tags, false AS taken, NULL::timestamptz AS annotated_at
        """

    static func decode(_ row: PostgresRow) throws -> SignalRecord {
        let r = row.makeRandomAccess()
        var outcome: SignalOutcomeRecord?
        if let kind = try r["outcome"].decode(String?.self) {
            outcome = SignalOutcomeRecord(
                kind: kind, time: try r["outcome_time"].decode(Date?.self) ?? r["close_time"].decode(Date.self),
                r: try r["outcome_r"].decode(Double?.self), exitPrice: try r["exit_price"].decode(Double?.self))
        }
        var annotation: AnnotationRecord?
        if try r["annotated"].decode(Bool.self) {
            annotation = AnnotationRecord(
                note: try r["note"].decode(String?.self), tags: try r["tags"].decode([String].self),
                taken: try r["taken"].decode(Bool.self), updatedAt: try r["annotated_at"].decode(Date.self))
        }
        return SignalRecord(
            id: try r["signal_id"].decode(UUID.self), symbol: try r["symbol"].decode(String.self),
            timeframe: try r["timeframe"].decode(String.self), direction: Int(try r["direction"].decode(Int16.self)),
            setupType: try r["setup_type"].decode(String.self), confidence: try r["confidence"].decode(Double.self),
            level: try r["level"].decode(String.self), candleTime: try r["candle_time"].decode(Date.self),
            closeTime: try r["close_time"].decode(Date.self), entry: try r["entry"].decode(Double.self),
            stop: try r["stop"].decode(Double.self), targets: try r["targets"].decode([Double].self),
            rewardRisk: try r["reward_risk"].decode(Double.self), regime: try r["regime"].decode(String?.self),
            killzone: try r["killzone"].decode(String?.self), confluence: try r["confluence"].decode(Double.self),
            costR: try r["cost_r"].decode(Double.self), outcome: outcome, annotation: annotation,
            candleMicros: try r["candle_micros"].decode(Int64.self), detail: nil)
    }

    // MARK: readers (every one applies the plan's history: `visibleDays`)

    /// The tenant's visible signals (`s`) matching `filters` (the page and the statistics share it).
    static func visible(_ tenant: UUID, visibleDays days: Int, _ filters: SignalFilters) -> SQLWhere {
        var query = SQLWhere()
        query.add("s.tenant_id = \(query.bind(tenant))")
        query.add("s.created_at >= now() - make_interval(days => \(query.bind(days))::int)")
        if let symbol = filters.symbol { query.add("s.symbol = \(query.bind(symbol))") }
        if let timeframe = filters.timeframe { query.add("s.timeframe = \(query.bind(timeframe))") }
        if let direction = filters.direction { query.add("s.direction = \(query.bind(direction))::int2") }
        if let confidence = filters.minConfidence { query.add("s.confidence >= \(query.bind(confidence))") }
        if let since = filters.since { query.add("s.candle_time >= \(query.time(since))") }
        if let until = filters.until { query.add("s.candle_time < \(query.time(until))") }
        if let setup = filters.setupType { query.add("s.setup_type = \(query.bind(setup))") }
        if let level = filters.level { query.add("s.level = \(query.bind(level))") }
        if let killzone = filters.killzone { query.add("lower(s.killzone) = lower(\(query.bind(killzone)))") }
        switch filters.outcome {
        case nil: break
        case "open"?: query.add("s.outcome IS NULL")
        case let outcome?: query.add("s.outcome = \(query.bind(outcome))")
        }
        return query
    }

    /// One page of the tenant's visible signals matching `filters`, newest candle first, after the cursor's position;
    /// `filters.limit + 1` rows, so the caller knows whether there is a next page.
    func page(_ tenant: UUID, visibleDays days: Int, _ filters: SignalFilters, after: PageCursor?, _ connection: PostgresConnection)
        async throws -> [SignalRecord]
    {
        var query = Self.visible(tenant, visibleDays: days, filters)
        if let after {
            query.add("(s.candle_time, s.signal_id) < (\(query.time(after.micros)), \(query.bind(after.id)))")
        }
        let sql = """
            SELECT \(Self.columns)
            FROM signals s
            LEFT JOIN signal_annotations a ON a.tenant_id = s.tenant_id AND a.signal_id = s.signal_id
            WHERE \(query.clauses)
            ORDER BY s.candle_time DESC, s.signal_id DESC
            LIMIT \(query.bind(filters.limit + 1))
            """
        return try await connection.query(query.query(sql), logger: logger).collect().map { try Self.decode($0) }
    }

    /// The track record of the tenant's visible signals matching `filters`, in one statement over one scan of the
    /// filtered rows (none brought into the process): the figures that depend on the order of decision (drawdown,
    /// losing streaks; one sort by decision time), the daily equity curve, and the sums per combination of the
    /// breakdown's dimensions (a few hundred rows, which `SignalStatsRecord` folds into the totals and breakdowns).
    func stats(_ tenant: UUID, visibleDays days: Int, _ filters: SignalFilters, _ connection: PostgresConnection)
        async throws -> SignalStatsRecord
    {
        // The sort of a tenant's whole history stays in memory.
        try await connection.query("SET LOCAL work_mem = '64MB'", logger: logger)
        var query = Self.visible(tenant, visibleDays: days, filters)
        let sums = """
            count(*) FILTER (WHERE outcome IS NOT NULL AND r > 0) AS gw,
            coalesce(sum(r) FILTER (WHERE outcome IS NOT NULL AND r > 0), 0) AS gwon,
            coalesce(-sum(r) FILTER (WHERE outcome IS NOT NULL AND r <= 0), 0) AS glost,
            count(*) FILTER (WHERE outcome IS NOT NULL AND n > 0) AS nw,
            coalesce(sum(n) FILTER (WHERE outcome IS NOT NULL AND n > 0), 0) AS nwon,
            coalesce(-sum(n) FILTER (WHERE outcome IS NOT NULL AND n <= 0), 0) AS nlost
            """
        let sql = """
            WITH d AS MATERIALIZED (
                SELECT s.outcome, coalesce(s.outcome_r, 0) AS r, coalesce(s.outcome_r, 0) - s.cost_r AS n, s.outcome_time,
                       s.candle_time, s.signal_id, s.setup_type, s.symbol, s.timeframe, coalesce(s.killzone, 'none') AS kz,
                       s.level, s.direction, date_trunc('month', s.candle_time AT TIME ZONE 'UTC') AS month
                FROM signals s WHERE \(query.clauses)
            ),
            seq AS (
                SELECT r, n, outcome_time, sum(r) OVER w AS cr, sum(n) OVER w AS cn,
                       count(*) FILTER (WHERE r > 0) OVER w AS rg, count(*) FILTER (WHERE n > 0) OVER w AS ng
                FROM d WHERE outcome IS NOT NULL
                WINDOW w AS (ORDER BY outcome_time, candle_time, signal_id ROWS UNBOUNDED PRECEDING)
            ),
            peaks AS (
                SELECT greatest(max(cr) OVER p, 0) - cr AS ddr, greatest(max(cn) OVER p, 0) - cn AS ddn
                FROM seq WINDOW p AS (ROWS UNBOUNDED PRECEDING)
            )
            SELECT (SELECT coalesce(max(ddr), 0) FROM peaks), (SELECT coalesce(max(ddn), 0) FROM peaks),
                   (SELECT coalesce(max(c), 0) FROM (SELECT count(*) AS c FROM seq WHERE r <= 0 GROUP BY rg) a),
                   (SELECT coalesce(max(c), 0) FROM (SELECT count(*) AS c FROM seq WHERE n <= 0 GROUP BY ng) b),
                   coalesce((SELECT json_agg(json_build_array(day, k, r, n) ORDER BY day)::text FROM (
                        SELECT to_char(date_trunc('day', outcome_time AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS day, count(*) AS k,
                               sum(r) AS r, sum(n) AS n
                        FROM seq GROUP BY 1) c), '[]'),
                   coalesce((SELECT json_agg(json_build_array(setup_type, symbol, timeframe, kz, level, direction,
                                                              to_char(month, 'YYYY-MM'), k, res, gw, gwon, glost, nw, nwon, nlost))::text FROM (
                        SELECT setup_type, symbol, timeframe, kz, level, direction, month, count(*) AS k, count(outcome) AS res,
                               \(sums)
                        FROM d GROUP BY setup_type, symbol, timeframe, kz, level, direction, month) g), '[]'),
                   (SELECT count(*) FILTER (WHERE outcome = 'target') FROM d), (SELECT count(*) FILTER (WHERE outcome = 'stop') FROM d)
            """
        let row = try await connection.query(query.query(sql), logger: logger).collect().first
        guard let row else { return SignalStatsRecord(historyDays: days) }
        let (ddr, ddn, streakR, streakN, curveJSON, groupsJSON, targets, stops) = try row.decode(
            (Double, Double, Int64, Int64, String, String, Int64, Int64).self)
        return try SignalStatsRecord(
            historyDays: days, drawdown: (ddr, ddn), streaks: (Int(streakR), Int(streakN)), targets: Int(targets),
            stops: Int(stops), curveJSON: curveJSON, groupsJSON: groupsJSON)
    }

    /// A visible signal with its annotation and the engine's detail; nil when there is none.
    func detail(_ tenant: UUID, _ id: UUID, visibleDays days: Int, _ connection: PostgresConnection) async throws -> SignalRecord? {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: Self.columns), s.detail::text AS detail
            FROM signals s
            LEFT JOIN signal_annotations a ON a.tenant_id = s.tenant_id AND a.signal_id = s.signal_id
            WHERE s.tenant_id = \(tenant) AND s.signal_id = \(id)
              AND s.created_at >= now() - make_interval(days => \(days)::int)
            """, logger: logger
        ).collect()
        guard let row = rows.first else { return nil }
        var signal = try Self.decode(row)
        let json = try row.makeRandomAccess()["detail"].decode(String.self)
        signal.detail = EngineSignalDetail.decode(json)
        if signal.detail == nil {
            logger.warning("unreadable signal detail", metadata: ["signal_id": "\(id)"])
        }
        return signal
    }

    /// Whether the tenant has this signal and it is within the plan's history.
    func isVisible(_ tenant: UUID, _ id: UUID, visibleDays days: Int, _ connection: PostgresConnection) async throws -> Bool {
        try await !connection.query(
            """
            SELECT 1 FROM signals WHERE tenant_id = \(tenant) AND signal_id = \(id)
              AND created_at >= now() - make_interval(days => \(days)::int)
            """, logger: logger
        ).collect().isEmpty
    }

    /// What a trade linked to the signal takes from it: symbol, setup type, killzone, timeframe. Any signal of the
    /// tenant's still stored (a trade may keep a link to one past the plan's history).
    func linkFacts(_ tenant: UUID, _ id: UUID, _ connection: PostgresConnection) async throws
        -> (symbol: String, setupType: String, killzone: String?, timeframe: String)?
    {
        try await connection.query(
            "SELECT symbol, setup_type, killzone, timeframe FROM signals WHERE tenant_id = \(tenant) AND signal_id = \(id)",
            logger: logger
        ).collect().first?.decode((String, String, String?, String).self)
    }

    /// The tenant's `limit` latest visible signals (newest candle first), for the Telegram `/last` command.
    func latest(_ tenant: UUID, visibleDays days: Int, limit: Int, _ connection: PostgresConnection) async throws -> [SignalRecord] {
        try await connection.query(
            """
            SELECT \(unescaped: Self.bareColumns)
            FROM signals s
            WHERE s.tenant_id = \(tenant) AND s.created_at >= now() - make_interval(days => \(days)::int)
            ORDER BY s.candle_time DESC, s.signal_id DESC LIMIT \(limit)
            """, logger: logger
        ).collect().map { try Self.decode($0) }
    }

    /// The signals alert events are about, with the engine's detail (their reasons), for many tenants at once (the
    /// fan-out); absent ones were pruned.
    func alerted(tenants: [UUID], ids: [UUID], _ connection: PostgresConnection) async throws -> [UUID: SignalRecord] {
        guard !ids.isEmpty else { return [:] }
        var out: [UUID: SignalRecord] = [:]
        for row in try await connection.query(
            """
            SELECT \(unescaped: Self.bareColumns), s.detail::text AS detail
            FROM signals s JOIN unnest(\(tenants)::uuid[], \(ids)::uuid[]) AS u(t, id) ON s.tenant_id = u.t AND s.signal_id = u.id
            """, logger: logger
        ).collect() {
            var signal = try Self.decode(row)
            signal.detail = EngineSignalDetail.decode(try row.makeRandomAccess()["detail"].decode(String.self))
            out[signal.id] = signal
        }
        return out
    }

    // MARK: the signals sync stream

    /// The tenant's visible signals changed after `position`, in (version, id) order, at most `limit`.
    func changes(_ tenant: UUID, after position: SyncPosition, limit: Int, visibleDays days: Int, _ connection: PostgresConnection)
        async throws -> [(version: Int64, signal: SignalRecord)]
    {
        var live = SQLWhere()
        live.add("s.tenant_id = \(live.bind(tenant))")
        position.add(to: &live, version: "s.sync_version", id: "s.signal_id")
        live.add("s.created_at >= now() - make_interval(days => \(live.bind(days))::int)")
        let sql = """
            SELECT s.sync_version, \(Self.bareColumns), s.detail::text AS detail
            FROM signals s
            WHERE \(live.clauses) ORDER BY s.sync_version, s.signal_id LIMIT \(live.bind(limit))
            """
        // With the engine's detail (votes, zone, biases): a device's mirror shows why, offline.
        return try await connection.query(live.query(sql), logger: logger).collect().map { row in
            var signal = try Self.decode(row)
            signal.detail = EngineSignalDetail.decode(try row.makeRandomAccess()["detail"].decode(String.self))
            return (try row.makeRandomAccess()["sync_version"].decode(Int64.self), signal)
        }
    }

    /// The tenant's annotations changed after `position` (they travel in the journal stream), at most `limit`.
    func annotationChanges(_ tenant: UUID, after position: SyncPosition, limit: Int, _ connection: PostgresConnection)
        async throws -> [(version: Int64, id: UUID, values: AnnotationValues, clocks: String, updatedAt: Date)]
    {
        var notes = SQLWhere()
        notes.add("tenant_id = \(notes.bind(tenant))")
        position.add(to: &notes, version: "sync_version", id: "signal_id")
        let sql = """
            SELECT sync_version, signal_id, note, tags, taken, clocks::text, updated_at FROM signal_annotations
            WHERE \(notes.clauses) ORDER BY sync_version, signal_id LIMIT \(notes.bind(limit))
            """
        var out: [(version: Int64, id: UUID, values: AnnotationValues, clocks: String, updatedAt: Date)] = []
        let rows = try await connection.query(notes.query(sql), logger: logger)
        for try await (version, id, note, tags, taken, clocks, updated) in rows.decode((Int64, UUID, String?, [String], Bool, String, Date).self) {
            out.append((version, id, AnnotationValues(note: note, tags: tags, taken: taken), clocks, updated))
        }
        return out
    }

    // MARK: retention

    /// Deletes up to `limit` signals issued longer ago than their tenant's plan keeps (`historyDays`, from
    /// `PlansService.plans`; annotations go with them), each
    /// leaving a tombstone in the tenant's signals stream so synced devices drop it too; trades keep their
    /// `signal_id` as a plain reference. Runs as the worker role; tenants' counters are taken in id order (as the
    /// pipeline takes them). Returns how many went.
    func pruneExpired(historyDays: [UUID: Int], limit: Int, _ connection: PostgresConnection) async throws -> Int {
        guard !historyDays.isEmpty else { return 0 }
        var doomed: [(tenant: UUID, id: UUID)] = []
        let tenants = Array(historyDays.keys)
        for try await row in try await connection.query(
            """
            SELECT s.tenant_id, s.signal_id
            FROM signals s JOIN unnest(\(tenants)::uuid[], \(tenants.map { historyDays[$0]! })::int[]) AS h(tenant, days)
              ON s.tenant_id = h.tenant
            WHERE s.created_at < now() - make_interval(days => h.days)
            ORDER BY s.tenant_id, s.signal_id LIMIT \(limit)
            """, logger: logger
        ).decode((UUID, UUID).self) {
            doomed.append(row)
        }
        guard !doomed.isEmpty else { return 0 }
        var counts: [UUID: Int64] = [:]
        for d in doomed { counts[d.tenant, default: 0] += 1 }
        var next = try await SyncVersions.reserve(.signals, counts: counts, connection, logger: logger)
        var gone: [(tenant: UUID, id: UUID, version: Int64)] = []
        for d in doomed {
            gone.append((d.tenant, d.id, next[d.tenant]!))
            next[d.tenant]! += 1
        }
        try await connection.query(
            """
            DELETE FROM signals s USING unnest(\(doomed.map(\.tenant))::uuid[], \(doomed.map(\.id))::uuid[]) AS u(t, id)
            WHERE s.tenant_id = u.t AND s.signal_id = u.id
            """, logger: logger)
        try await SyncVersions.tombstoneSignals(gone, connection, logger: logger)
        return doomed.count
    }

    // MARK: the pipeline's writes

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()

    /// Writes the new signals and outcomes of one pipeline step, for every tenant at once, in the pipeline's
    /// transaction: the rows, their alert events (`AlertOutbox`) and their places in each tenant's `signals` sync
    /// stream (`SyncVersions`, in the same transaction, so versions have no gaps and no reader sees a version before
    /// its row). A handful of statements whatever the number of tenants: the fan-out of one candle to hundreds of
    /// tenants must not cost hundreds of round trips.
    func write(symbol: String, timeframe: String, costs: BacktestCosts, signals: [UUID: [Signal]],
               outcomes: [UUID: [SignalOutcome]], _ connection: PostgresConnection) async throws -> Written
    {
        var written = Written()
        let tenants = Set(signals.keys).union(outcomes.keys).sorted { $0.uuidString < $1.uuidString }
        guard !tenants.isEmpty else { return written }

        // 1. Each tenant's block of sync versions.
        var counts: [UUID: Int64] = [:]
        for tenant in tenants { counts[tenant] = Int64((signals[tenant]?.count ?? 0) + (outcomes[tenant]?.count ?? 0)) }
        var next = try await SyncVersions.reserve(.signals, counts: counts, connection, logger: logger)
        func version(_ tenant: UUID) -> Int64 {
            defer { next[tenant, default: 0] += 1 }
            return next[tenant, default: 0]
        }

        // 2. New signals and their `signal.created` jobs.
        var t: [UUID] = [], ids: [UUID] = [], keys: [String] = [], directions: [Int16] = []
        var kinds: [String] = [], confidences: [Double] = [], levels: [String] = [], candleTimes: [Date] = [], closeTimes: [Date] = []
        var entries: [Double] = [], stops: [Double] = [], rewards: [Double] = [], regimes: [String] = [], zones: [String] = []
        var confluences: [Double] = [], details: [String] = [], versions: [Int64] = [], costRs: [Double] = []
        for tenant in tenants {
            for s in signals[tenant] ?? [] {
                t.append(tenant)
                ids.append(UUIDv7.generate())
                keys.append(s.id)
                directions.append(Int16(s.direction))
                kinds.append(s.setup.zone.kind.rawValue)
                confidences.append(s.confidence)
                levels.append(s.level.rawValue)
                candleTimes.append(Date(timeIntervalSince1970: TimeInterval(s.candleTime)))
                closeTimes.append(Date(timeIntervalSince1970: TimeInterval(s.closeTime)))
                entries.append(s.setup.entry)
                stops.append(s.setup.stop)
                rewards.append(s.setup.rewardRisk)
                regimes.append(s.regime?.rawValue ?? "")
                zones.append(s.killzone ?? "")
                confluences.append(s.confluence)
                costRs.append(costs.costR(entry: s.setup.entry, risk: s.setup.risk))
                details.append(String(decoding: try Self.encoder.encode(s), as: UTF8.self))
                versions.append(version(tenant))
            }
        }
        if !t.isEmpty {
            let rows = try await connection.query(
                """
                WITH u AS (
                    SELECT * FROM unnest(\(t)::uuid[], \(ids)::uuid[], \(keys)::text[], \(directions)::int2[],
                        \(kinds)::text[], \(confidences)::float8[], \(levels)::text[], \(candleTimes)::timestamptz[],
                        \(closeTimes)::timestamptz[], \(entries)::float8[], \(stops)::float8[], \(rewards)::float8[],
                        \(regimes)::text[], \(zones)::text[], \(confluences)::float8[], \(details)::text[], \(versions)::int8[], \(costRs)::float8[])
                    AS u(tenant, id, key, direction, kind, confidence, level, candle_time, close_time, entry, stop,
                         reward_risk, regime, killzone, confluence, detail, version, cost_r)
                )
                INSERT INTO signals (tenant_id, signal_id, signal_key, symbol, timeframe, direction, setup_type, confidence,
                        level, candle_time, close_time, entry, stop, targets, reward_risk, regime, killzone, confluence, detail,
                        sync_version, cost_r)
                    SELECT tenant, id, key, \(symbol), \(timeframe), direction, kind, confidence, level, candle_time, close_time,
                        entry, stop, ARRAY(SELECT jsonb_array_elements_text(detail::jsonb -> 'setup' -> 'targets')::float8),
                        reward_risk, nullif(regime, ''), nullif(killzone, ''), confluence, detail::jsonb, version, cost_r
                    FROM u
                ON CONFLICT (tenant_id, symbol, timeframe, signal_key) DO NOTHING
                RETURNING tenant_id, signal_id
                """, logger: logger)
            var created: [AlertOutbox.Event] = []
            for try await (tenant, id) in rows.decode((UUID, UUID).self) { created.append(.init(tenant: tenant, type: "signal.created", signal: id)) }
            try await AlertOutbox.enqueue(created, connection, logger: logger)
            written.signals = created.count
        }

        // 3. Outcomes of earlier signals and their `signal.outcome` jobs.
        var ot: [UUID] = [], okeys: [String] = [], okinds: [String] = [], otimes: [Date] = []
        var ors: [Double] = [], oexits: [Double] = [], oversions: [Int64] = []
        for tenant in tenants {
            for o in outcomes[tenant] ?? [] {
                ot.append(tenant)
                okeys.append(o.signalID)
                okinds.append(o.kind.rawValue)
                otimes.append(Date(timeIntervalSince1970: TimeInterval(o.resolvedTime)))
                ors.append(o.r)
                oexits.append(o.exitPrice)
                oversions.append(version(tenant))
            }
        }
        if !ot.isEmpty {
            let rows = try await connection.query(
                """
                WITH u AS (
                    SELECT * FROM unnest(\(ot)::uuid[], \(okeys)::text[], \(okinds)::text[],
                        \(otimes)::timestamptz[], \(ors)::float8[], \(oexits)::float8[], \(oversions)::int8[])
                    AS u(tenant, key, kind, at, r, exit_price, version)
                )
                UPDATE signals s SET outcome = u.kind, outcome_time = u.at, outcome_r = u.r, exit_price = u.exit_price,
                        sync_version = u.version
                    FROM u
                    WHERE s.tenant_id = u.tenant AND s.symbol = \(symbol) AND s.timeframe = \(timeframe)
                      AND s.signal_key = u.key AND s.outcome IS NULL
                RETURNING s.tenant_id, s.signal_id
                """, logger: logger)
            var decided: [AlertOutbox.Event] = []
            for try await (tenant, id) in rows.decode((UUID, UUID).self) { decided.append(.init(tenant: tenant, type: "signal.outcome", signal: id)) }
            try await AlertOutbox.enqueue(decided, connection, logger: logger)
            written.outcomes = decided.count
        }
        return written
    }

    // MARK: annotations

    /// Merges field writes into the signal's annotation (each field a last-writer-wins register, like a trade's),
    /// stamping it with the next journal version when a field changed; REST annotations and sync pushes share it.
    /// The values must have been checked (`AnnotationValues.checked`).
    func mergeAnnotation(_ tenant: UUID, _ id: UUID, _ writes: [String: FieldWrite], _ connection: PostgresConnection)
        async throws -> (record: AnnotationRecord, changed: Bool)
    {
        let existing = try await connection.query(
            """
            SELECT note, tags, taken, clocks::text, updated_at FROM signal_annotations
            WHERE tenant_id = \(tenant) AND signal_id = \(id) FOR UPDATE
            """, logger: logger
        ).collect().first
        var merged = MergeRecord()
        var current: AnnotationRecord?
        if let existing {
            let (note, tags, taken, clocks, updated) = try existing.decode((String?, [String], Bool, String, Date).self)
            current = AnnotationRecord(note: note, tags: tags, taken: taken, updatedAt: updated)
            merged = MergeRecord(fields: AnnotationValues(note: note, tags: tags, taken: taken).fields, clocks: ServerClock.clocks(clocks))
        }
        let changed = merged.apply(writes)
        if let current, changed.isEmpty { return (current, false) }
        let values = try AnnotationValues.checked(merged.fields)
        let version = try await SyncVersions.bump(.journal, tenant: tenant, connection, logger: logger)
        let row = try await connection.query(
            """
            INSERT INTO signal_annotations AS a (tenant_id, signal_id, note, tags, taken, sync_version, clocks)
            VALUES (\(tenant), \(id), \(values.note), \(values.tags), \(values.taken), \(version), \(ServerClock.json(merged.clocks))::jsonb)
            ON CONFLICT (tenant_id, signal_id) DO UPDATE SET
                note = EXCLUDED.note, tags = EXCLUDED.tags, taken = EXCLUDED.taken, clocks = EXCLUDED.clocks,
                updated_at = now(), sync_version = EXCLUDED.sync_version
            RETURNING updated_at
            """, logger: logger
        ).collect().first!
        return (AnnotationRecord(note: values.note, tags: values.tags, taken: values.taken, updatedAt: try row.decode(Date.self)), true)
    }

    /// Gives the annotation a new journal version without changing it (see `JournalService.restamp`). No annotation,
    /// no version.
    func restampAnnotation(_ tenant: UUID, _ id: UUID, _ connection: PostgresConnection) async throws {
        let exists = try await connection.query(
            "SELECT 1 FROM signal_annotations WHERE tenant_id = \(tenant) AND signal_id = \(id)", logger: logger
        ).collect()
        guard !exists.isEmpty else { return }
        let version = try await SyncVersions.bump(.journal, tenant: tenant, connection, logger: logger)
        try await connection.query(
            "UPDATE signal_annotations SET sync_version = \(version) WHERE tenant_id = \(tenant) AND signal_id = \(id)",
            logger: logger)
    }
}
