import Foundation
import Logging
import OpenAPIRuntime
import PostgresNIO
import SMCSync

/// A stored trade.
struct TradeRecord: Sendable {
    var id: UUID
    var userID: UUID
    var draft: TradeDraft
    var pnl: Double?
    var rMultiple: Double?
    var outcome: String
    var version: Int
    var createdAt: Date
    var updatedAt: Date
    var createDigest: [UInt8]?
    var deleted: Bool
    /// The HLC stamp of each field's last write (sync's field-level last-writer-wins).
    var clocks: [String: HLC] = [:]
    /// The stamp of the delete, on a tombstone.
    var deletedHLC: HLC?

    var etag: String { "\"\(version)\"" }
}

struct TradeFilters: Sendable, Equatable {
    var symbol: String?
    var outcome: String?
    var since: Int64?
    var until: Int64?
    var tag: String?
    var limit = 50
    var cursor: String?

    /// What a cursor is bound to: the filters (not the page size).
    var scope: String {
        let parts: [String] = ["trades", scopeText(symbol), scopeText(outcome), scopeText(since), scopeText(until), scopeText(tag)]
        return parts.joined(separator: "|")
    }
}

/// Win/loss figures of a set of closed trades (see `GET /v1/journal/stats` in the spec for the definitions).
struct TradeStatsRecord: Sendable, Equatable {
    var key: String?
    var count = 0
    var wins = 0
    var losses = 0
    var breakeven = 0
    var rCount = 0
    var winRate: Double?
    var averageR: Double?
    var expectancyR: Double?
    var profitFactor: Double?
    var totalPnl = 0.0
}

struct JournalStatsRecord: Sendable, Equatable {
    var overall: TradeStatsRecord
    var bySymbol: [TradeStatsRecord]
    var byKillzone: [TradeStatsRecord]
    var bySetupType: [TradeStatsRecord]
}

/// The trade journal: tenant-scoped trades (every user of the tenant reads and edits them; `user_id` says who
/// recorded one). Amounts are `numeric` in SQL and PnL, R and outcome are computed there, from the stored values,
/// in one place (`recompute`). Every write bumps the tenant's `journal` sync counter and stamps the row with it;
/// a delete leaves a tombstone.
struct JournalService: Sendable {
    let database: Database
    var logger: Logger { database.logger }

    static let columns = """
        trade_id, user_id, signal_id, symbol, direction, entry_price::float8 AS entry_price, stop_price::float8 AS stop_price,
        targets::float8[] AS targets, size::float8 AS size, fees::float8 AS fees,
        (extract(epoch FROM entry_time) * 1000000)::int8 AS entry_micros,
        (extract(epoch FROM exit_time) * 1000000)::int8 AS exit_micros, exit_price::float8 AS exit_price,
        pnl::float8 AS pnl, r_multiple::float8 AS r_multiple, outcome, setup_type, killzone, timeframe, notes, tags, screenshots,
        version, created_at, updated_at, create_digest, deleted_at IS NOT NULL AS deleted, clocks::text AS clocks, deleted_hlc
        """

    /// A price or amount as `numeric` text: Swift prints the shortest text that reads back as the same Double,
    /// so 1.1 is stored as exactly 1.1.
    static func numeric(_ value: Double) -> String { "\(value)" }

    // MARK: Create

    /// Creates the trade, or answers the one a previous identical create made (`created` false).
    func create(_ principal: Principal, _ input: TradeCreate) async throws -> (TradeRecord, created: Bool) {
        let clientID = try JournalRules.tradeID(input.id)
        var draft = try JournalRules.draft(input)
        let id = clientID ?? UUIDv7.generate()
        let digest = draft.digest(id: id)
        return try await database.withTenant(principal.tenantID) { connection in
            if let existing = try await load(principal.tenantID, id, connection, includeDeleted: true) {
                return (try replay(existing, digest: digest), false)
            }
            try await checkSignal(&draft, previous: nil, tenant: principal.tenantID, connection)
            let clocks = ServerClock.shared.stamp(draft.syncFields.keys)
            guard try await insert(principal.tenantID, id, user: principal.userID, draft, digest: digest, clocks: clocks, connection)
            else {
                // A concurrent create with this id committed first.
                guard let existing = try await load(principal.tenantID, id, connection, includeDeleted: true) else {
                    throw Problem(.conflict, detail: "a trade with this id is being created; retry")
                }
                return (try replay(existing, digest: digest), false)
            }
            return (try await recompute(principal.tenantID, id, connection), true)
        }
    }

    /// The answer to a create whose id exists: the trade when the create is the same, else 409.
    private func replay(_ existing: TradeRecord, digest: [UInt8]) throws -> TradeRecord {
        if existing.deleted {
            throw Problem(.conflict, detail: "a trade with this id was deleted; mint a new id")
        }
        let stored = existing.createDigest ?? existing.draft.digest(id: existing.id)
        guard stored == digest else {
            throw Problem(.conflict, detail: "a different trade already has this id; mint a new id")
        }
        return existing
    }

    /// `signal_id` must be one of the tenant's signals, on the trade's symbol; a newly linked signal fills the
    /// setup type, killzone and timeframe the trade left out. An unchanged link to a pruned signal stays.
    func checkSignal(
        _ draft: inout TradeDraft, previous: TradeDraft?, tenant: UUID, _ connection: PostgresConnection
    ) async throws {
        guard let signalID = draft.signalID else { return }
        let relinked = signalID != previous?.signalID
        guard relinked || draft.symbol != previous?.symbol else { return }
        guard let (symbol, setupType, killzone, timeframe) = try await SignalStore(logger: logger).linkFacts(tenant, signalID, connection) else {
            if relinked { throw Problem.validation([.init(field: "/signal_id", message: "is not one of your signals")]) }
            return
        }
        guard symbol == draft.symbol else {
            throw Problem.validation([.init(field: "/signal_id", message: "is a signal on \(symbol), not \(draft.symbol)")])
        }
        if relinked {
            draft.setupType = draft.setupType ?? setupType
            draft.killzone = draft.killzone ?? killzone
            draft.timeframe = draft.timeframe ?? timeframe
        }
    }

    // MARK: Read

    func get(_ principal: Principal, id: UUID) async throws -> TradeRecord {
        try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            guard let trade = try await load(principal.tenantID, id, connection) else { throw Problem.notFound("no such trade") }
            return trade
        }
    }

    func list(_ principal: Principal, _ filters: TradeFilters) async throws -> ([TradeRecord], next: String?) {
        let after = try filters.cursor.map { try PageCursor.decode($0, scope: filters.scope) }
        return try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            var query = SQLWhere()
            query.add("tenant_id = \(query.bind(principal.tenantID))")
            query.add("deleted_at IS NULL")
            if let symbol = filters.symbol { query.add("symbol = \(query.bind(symbol))") }
            if let outcome = filters.outcome { query.add("outcome = \(query.bind(outcome))") }
            if let since = filters.since { query.add("entry_time >= \(query.time(since))") }
            if let until = filters.until { query.add("entry_time < \(query.time(until))") }
            if let tag = filters.tag { query.add("\(query.bind(tag)) = ANY (tags)") }
            if let after { query.add("(entry_time, trade_id) < (\(query.time(after.micros)), \(query.bind(after.id)))") }
            let sql = """
                SELECT \(Self.columns) FROM trades WHERE \(query.clauses)
                ORDER BY entry_time DESC, trade_id DESC LIMIT \(query.bind(filters.limit + 1))
                """
            var trades = try await connection.query(query.query(sql), logger: logger).collect().map(Self.decode)
            var next: String?
            if trades.count > filters.limit {
                trades.removeLast()
                next = trades.last.map { PageCursor(micros: $0.draft.entryTime, id: $0.id).encoded(scope: filters.scope) }
            }
            return (trades, next)
        }
    }

    // MARK: Change

    /// Applies a JSON Merge Patch to the trade's editable fields; a patch that changes nothing changes nothing.
    func patch(_ principal: Principal, id: UUID, _ patch: OpenAPIObjectContainer, ifMatch: String?) async throws -> TradeRecord {
        try await database.withTenant(principal.tenantID) { connection in
            let current = try await lockLive(principal.tenantID, id, ifMatch: ifMatch, connection)
            var draft = try JournalRules.draft(try TradePatch.apply(patch, to: current.draft))
            try await checkSignal(&draft, previous: current.draft, tenant: principal.tenantID, connection)
            guard draft != current.draft else { return current }
            return try await write(principal.tenantID, current, draft, connection)
        }
    }

    /// Closes an open trade at `exitPrice`/`exitTime` (and replaces its fees when given). Repeating the same
    /// close answers the trade; closing a closed trade otherwise is 409 `already_closed`.
    func close(
        _ principal: Principal, id: UUID, exitPrice: Double, exitTime: String, fees: Double?, ifMatch: String?
    ) async throws -> TradeRecord {
        var timeProblems = FieldErrors()
        let exitMicros = JournalRules.time(exitTime, "/exit_time", into: &timeProblems)
        try timeProblems.throwIfAny()
        return try await database.withTenant(principal.tenantID) { connection in
            let current = try await lockLive(principal.tenantID, id, ifMatch: ifMatch, connection)
            var closed = current.draft
            closed.exitPrice = exitPrice
            closed.exitTime = exitMicros
            if let fees { closed.fees = fees }
            if current.draft.isClosed {
                if closed == current.draft { return current }
                throw Problem(.alreadyClosed,
                    detail: "the trade is already closed (at \(current.draft.exitPrice ?? 0)); PATCH it to correct the exit")
            }
            var problems = FieldErrors()
            JournalRules.amount(exitPrice, "/exit_price", positive: true, into: &problems)
            JournalRules.amount(fees, "/fees", positive: false, into: &problems)
            if let exitMicros = closed.exitTime {
                problems.check(exitMicros >= closed.entryTime, "/exit_time", "must not be before the entry time")
                problems.check(
                    exitMicros <= JournalRules.micros(Date()) + JournalRules.clockSkew, "/exit_time", "must not be in the future")
            }
            try problems.throwIfAny()
            return try await write(principal.tenantID, current, closed, connection)
        }
    }

    /// Deletes the trade: a tombstone (for sync) with its free text cleared; 404 from then on.
    func delete(_ principal: Principal, id: UUID) async throws {
        try await database.withTenant(principal.tenantID) { connection in
            _ = try await lockLive(principal.tenantID, id, ifMatch: nil, connection)
            try await tombstone(principal.tenantID, id, stamp: ServerClock.shared.tick(), connection)
        }
    }

    // MARK: Statistics

    func stats(_ principal: Principal, since: Int64?, until: Int64?, symbol: String?) async throws -> JournalStatsRecord {
        try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            var query = SQLWhere()
            query.add("tenant_id = \(query.bind(principal.tenantID))")
            query.add("deleted_at IS NULL AND outcome <> 'open'")
            if let since { query.add("exit_time >= \(query.time(since))") }
            if let until { query.add("exit_time < \(query.time(until))") }
            if let symbol { query.add("symbol = \(query.bind(symbol))") }
            let sql = """
                SELECT grouping(symbol)::int AS g_symbol, grouping(killzone)::int AS g_killzone, grouping(setup_type)::int AS g_setup,
                       symbol, killzone, setup_type,
                       count(*)::int8 AS n,
                       count(*) FILTER (WHERE outcome = 'win')::int8 AS wins,
                       count(*) FILTER (WHERE outcome = 'loss')::int8 AS losses,
                       count(*) FILTER (WHERE outcome = 'breakeven')::int8 AS breakeven,
                       count(r_multiple)::int8 AS r_count,
                       count(r_multiple) FILTER (WHERE outcome = 'win')::int8 AS r_wins,
                       count(r_multiple) FILTER (WHERE outcome = 'loss')::int8 AS r_losses,
                       avg(r_multiple)::float8 AS average_r,
                       avg(r_multiple) FILTER (WHERE outcome = 'win')::float8 AS win_r,
                       avg(r_multiple) FILTER (WHERE outcome = 'loss')::float8 AS loss_r,
                       coalesce(sum(pnl) FILTER (WHERE outcome = 'win'), 0)::float8 AS gross_profit,
                       coalesce(-sum(pnl) FILTER (WHERE outcome = 'loss'), 0)::float8 AS gross_loss,
                       coalesce(sum(pnl), 0)::float8 AS total_pnl
                FROM trades WHERE \(query.clauses)
                GROUP BY GROUPING SETS ((), (symbol), (killzone), (setup_type))
                """
            var result = JournalStatsRecord(overall: TradeStatsRecord(), bySymbol: [], byKillzone: [], bySetupType: [])
            for row in try await connection.query(query.query(sql), logger: logger).collect() {
                let r = row.makeRandomAccess()
                let (gSymbol, gKillzone, gSetup) = (
                    try r["g_symbol"].decode(Int.self), try r["g_killzone"].decode(Int.self), try r["g_setup"].decode(Int.self)
                )
                var stats = TradeStatsRecord()
                stats.count = try r["n"].decode(Int.self)
                stats.wins = try r["wins"].decode(Int.self)
                stats.losses = try r["losses"].decode(Int.self)
                stats.breakeven = try r["breakeven"].decode(Int.self)
                stats.rCount = try r["r_count"].decode(Int.self)
                stats.totalPnl = try r["total_pnl"].decode(Double.self)
                stats.averageR = try r["average_r"].decode(Double?.self)
                if stats.count > 0 { stats.winRate = Double(stats.wins) / Double(stats.count) }
                if stats.rCount > 0 {
                    let rWins = Double(try r["r_wins"].decode(Int.self)), rLosses = Double(try r["r_losses"].decode(Int.self))
                    let winR = try r["win_r"].decode(Double?.self) ?? 0, lossR = try r["loss_r"].decode(Double?.self) ?? 0
                    let n = Double(stats.rCount)
                    stats.expectancyR = rWins / n * winR + rLosses / n * lossR
                }
                let grossLoss = try r["gross_loss"].decode(Double.self)
                if grossLoss > 0 { stats.profitFactor = try r["gross_profit"].decode(Double.self) / grossLoss }
                switch (gSymbol, gKillzone, gSetup) {
                case (1, 1, 1):
                    result.overall = stats
                case (0, _, _):
                    stats.key = try r["symbol"].decode(String.self)
                    result.bySymbol.append(stats)
                case (_, 0, _):
                    stats.key = try r["killzone"].decode(String?.self)
                    result.byKillzone.append(stats)
                default:
                    stats.key = try r["setup_type"].decode(String?.self)
                    result.bySetupType.append(stats)
                }
            }
            // By key, the group without one last.
            let order: (TradeStatsRecord, TradeStatsRecord) -> Bool = { a, b in
                switch (a.key, b.key) {
                case let (x?, y?): return x < y
                case (_?, nil): return true
                default: return false
                }
            }
            result.bySymbol.sort(by: order)
            result.byKillzone.sort(by: order)
            result.bySetupType.sort(by: order)
            return result
        }
    }

    // MARK: Storage (shared by the REST journal and sync pushes)

    /// Inserts a new trade stamped with the next journal version; false when the id exists (a concurrent create).
    func insert(
        _ tenant: UUID, _ id: UUID, user: UUID, _ draft: TradeDraft, digest: [UInt8]?, clocks: [String: HLC],
        _ connection: PostgresConnection
    ) async throws -> Bool {
        let version = try await SyncVersions.bump(.journal, tenant: tenant, connection, logger: logger)
        let n = Self.numeric
        let inserted = try await connection.query(
            """
            INSERT INTO trades (tenant_id, trade_id, user_id, signal_id, symbol, direction, entry_price, stop_price, targets,
                                size, fees, entry_time, exit_time, exit_price, setup_type, killzone, timeframe, notes, tags,
                                screenshots, create_digest, sync_version, clocks)
            VALUES (\(tenant), \(id), \(user), \(draft.signalID), \(draft.symbol), \(draft.direction)::int2,
                    \(n(draft.entryPrice))::numeric, \(draft.stopPrice.map(n))::numeric, \(draft.targets.map(n))::numeric[],
                    \(n(draft.size))::numeric, \(n(draft.fees))::numeric,
                    timestamptz 'epoch' + \(draft.entryTime)::int8 * interval '1 microsecond',
                    timestamptz 'epoch' + \(draft.exitTime)::int8 * interval '1 microsecond',
                    \(draft.exitPrice.map(n))::numeric, \(draft.setupType), \(draft.killzone), \(draft.timeframe), \(draft.notes),
                    \(draft.tags), \(draft.screenshots), \(digest.map { ByteBuffer(bytes: $0) }), \(version),
                    \(ServerClock.json(clocks))::jsonb)
            ON CONFLICT (tenant_id, trade_id) DO NOTHING
            RETURNING 1
            """, logger: logger
        ).collect()
        return !inserted.isEmpty
    }

    /// Replaces a live trade's fields with `draft`, stamping the changed fields with the server's clock unless
    /// `clocks` (a sync merge's registers) are given, bumps the journal version and recomputes PnL, R and outcome.
    func write(
        _ tenant: UUID, _ current: TradeRecord, _ draft: TradeDraft, clocks: [String: HLC]? = nil, _ connection: PostgresConnection
    ) async throws -> TradeRecord {
        var stamps = clocks ?? current.clocks
        if clocks == nil {
            let before = current.draft.syncFields, after = draft.syncFields
            let changed = Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }
            stamps.merge(ServerClock.shared.stamp(changed)) { $1 }
        }
        let version = try await SyncVersions.bump(.journal, tenant: tenant, connection, logger: logger)
        let n = Self.numeric
        try await connection.query(
            """
            UPDATE trades SET signal_id = \(draft.signalID), symbol = \(draft.symbol), direction = \(draft.direction)::int2,
                entry_price = \(n(draft.entryPrice))::numeric, stop_price = \(draft.stopPrice.map(n))::numeric,
                targets = \(draft.targets.map(n))::numeric[], size = \(n(draft.size))::numeric, fees = \(n(draft.fees))::numeric,
                entry_time = timestamptz 'epoch' + \(draft.entryTime)::int8 * interval '1 microsecond',
                exit_time = timestamptz 'epoch' + \(draft.exitTime)::int8 * interval '1 microsecond',
                exit_price = \(draft.exitPrice.map(n))::numeric, setup_type = \(draft.setupType), killzone = \(draft.killzone),
                timeframe = \(draft.timeframe), notes = \(draft.notes), tags = \(draft.tags), screenshots = \(draft.screenshots),
                clocks = \(ServerClock.json(stamps))::jsonb,
                version = version + 1, updated_at = now(), sync_version = \(version)
            WHERE tenant_id = \(tenant) AND trade_id = \(current.id)
            """, logger: logger)
        return try await recompute(tenant, current.id, connection)
    }

    /// Makes the trade a tombstone: free text cleared, the delete's stamp kept; every device learns of it.
    func tombstone(_ tenant: UUID, _ id: UUID, stamp: HLC, _ connection: PostgresConnection) async throws {
        let version = try await SyncVersions.bump(.journal, tenant: tenant, connection, logger: logger)
        try await connection.query(
            """
            UPDATE trades SET deleted_at = now(), deleted_hlc = \(stamp.description), notes = NULL, tags = '{}', screenshots = '{}',
                clocks = '{}', version = version + 1, updated_at = now(), sync_version = \(version)
            WHERE tenant_id = \(tenant) AND trade_id = \(id)
            """, logger: logger)
    }

    /// Gives the trade a new journal version without changing it, so every device pulls its state again (after a
    /// sync mutation of it was rejected, the device that sent it must learn the server's state). No trade, no version.
    func restamp(_ tenant: UUID, _ id: UUID, _ connection: PostgresConnection) async throws {
        let exists = try await connection.query(
            "SELECT 1 FROM trades WHERE tenant_id = \(tenant) AND trade_id = \(id)", logger: logger
        ).collect()
        guard !exists.isEmpty else { return }
        let version = try await SyncVersions.bump(.journal, tenant: tenant, connection, logger: logger)
        try await connection.query(
            "UPDATE trades SET sync_version = \(version) WHERE tenant_id = \(tenant) AND trade_id = \(id)", logger: logger)
    }

    func load(_ tenant: UUID, _ id: UUID, _ connection: PostgresConnection, includeDeleted: Bool = false, lock: Bool = false)
        async throws -> TradeRecord?
    {
        let sql = """
            SELECT \(Self.columns) FROM trades WHERE tenant_id = $1 AND trade_id = $2\(includeDeleted ? "" : " AND deleted_at IS NULL")\
            \(lock ? " FOR UPDATE" : "")
            """
        var binds = PostgresBindings()
        binds.append(tenant)
        binds.append(id)
        return try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect().first.map(Self.decode)
    }

    /// The live trade, locked for a change; 404 when there is none, 412 when `ifMatch` names another version.
    private func lockLive(_ tenant: UUID, _ id: UUID, ifMatch: String?, _ connection: PostgresConnection) async throws -> TradeRecord {
        guard let trade = try await load(tenant, id, connection, lock: true) else { throw Problem.notFound("no such trade") }
        if let ifMatch, try !SettingsService.matches(ifMatch, version: trade.version) {
            throw Problem(.preconditionFailed,
                detail: "the trade changed since \(ifMatch); GET it again and reapply your change",
                extensions: ["current_etag": .string(trade.etag)])
        }
        return trade
    }

    /// Derives pnl, R and outcome from the stored values (numeric arithmetic) and returns the trade.
    func recompute(_ tenant: UUID, _ id: UUID, _ connection: PostgresConnection) async throws -> TradeRecord {
        let row = try await connection.query(
            """
            UPDATE trades SET
                pnl = CASE WHEN exit_price IS NULL THEN NULL ELSE (exit_price - entry_price) * direction * size - fees END,
                r_multiple = CASE WHEN exit_price IS NULL OR stop_price IS NULL OR stop_price = entry_price THEN NULL
                                  ELSE (exit_price - entry_price) * direction / abs(entry_price - stop_price) END,
                outcome = CASE WHEN exit_price IS NULL THEN 'open'
                               WHEN abs((exit_price - entry_price) * direction * size - fees) < 1e-9 THEN 'breakeven'
                               WHEN (exit_price - entry_price) * direction * size - fees > 0 THEN 'win'
                               ELSE 'loss' END
            WHERE tenant_id = \(tenant) AND trade_id = \(id)
            RETURNING \(unescaped: Self.columns)
            """, logger: logger
        ).collect().first!
        return try Self.decode(row)
    }

    /// The tenant's trades changed after `position` (the journal sync stream, tombstones included), at most `limit`.
    func changes(_ tenant: UUID, after position: SyncPosition, limit: Int, _ connection: PostgresConnection)
        async throws -> [(version: Int64, trade: TradeRecord)]
    {
        var trades = SQLWhere()
        trades.add("tenant_id = \(trades.bind(tenant))")
        position.add(to: &trades, version: "sync_version", id: "trade_id")
        let sql = """
            SELECT sync_version, \(Self.columns) FROM trades WHERE \(trades.clauses)
            ORDER BY sync_version, trade_id LIMIT \(trades.bind(limit))
            """
        return try await connection.query(trades.query(sql), logger: logger).collect().map {
            (try $0.makeRandomAccess()["sync_version"].decode(Int64.self), try Self.decode($0))
        }
    }

    /// Deletes trade tombstones older than `days` (as the worker role); returns the newest deleted version and the
    /// count per tenant, for `SyncVersions.raiseHorizons`.
    static func purgeDeleted(olderThanDays days: Int, _ connection: PostgresConnection, logger: Logger)
        async throws -> [UUID: (top: Int64, count: Int)]
    {
        let rows = try await connection.query(
            """
            WITH purged AS (
                DELETE FROM trades WHERE deleted_at IS NOT NULL AND deleted_at <= now() - make_interval(days => \(days)::int)
                RETURNING tenant_id, sync_version
            )
            SELECT tenant_id, max(sync_version), count(*)::int FROM purged GROUP BY tenant_id
            """, logger: logger)
        var out: [UUID: (top: Int64, count: Int)] = [:]
        for try await (tenant, top, n) in rows.decode((UUID, Int64, Int).self) { out[tenant] = (top, n) }
        return out
    }

    static func decode(_ row: PostgresRow) throws -> TradeRecord {
        let r = row.makeRandomAccess()
        let draft = TradeDraft(
            symbol: try r["symbol"].decode(String.self), direction: Int(try r["direction"].decode(Int16.self)),
            entryPrice: try r["entry_price"].decode(Double.self), stopPrice: try r["stop_price"].decode(Double?.self),
            targets: try r["targets"].decode([Double].self), size: try r["size"].decode(Double.self),
            fees: try r["fees"].decode(Double.self), entryTime: try r["entry_micros"].decode(Int64.self),
            exitPrice: try r["exit_price"].decode(Double?.self), exitTime: try r["exit_micros"].decode(Int64?.self),
            notes: try r["notes"].decode(String?.self), tags: try r["tags"].decode([String].self),
            screenshots: try r["screenshots"].decode([String].self), signalID: try r["signal_id"].decode(UUID?.self),
            setupType: try r["setup_type"].decode(String?.self), killzone: try r["killzone"].decode(String?.self),
            timeframe: try r["timeframe"].decode(String?.self))
        let digest = try r["create_digest"].decode(ByteBuffer?.self).map { Array($0.readableBytesView) }
        return TradeRecord(
            id: try r["trade_id"].decode(UUID.self), userID: try r["user_id"].decode(UUID.self), draft: draft,
            pnl: try r["pnl"].decode(Double?.self), rMultiple: try r["r_multiple"].decode(Double?.self),
            outcome: try r["outcome"].decode(String.self), version: try r["version"].decode(Int.self),
            createdAt: try r["created_at"].decode(Date.self), updatedAt: try r["updated_at"].decode(Date.self),
            createDigest: digest, deleted: try r["deleted"].decode(Bool.self),
            clocks: ServerClock.clocks(try r["clocks"].decode(String.self)),
            deletedHLC: try r["deleted_hlc"].decode(String?.self).flatMap(HLC.init))
    }
}
