import Foundation
import Logging
import PostgresNIO
import SMCSync

/// A filter's value for a cursor scope ("" when absent).
func scopeText<Value>(_ value: Value?) -> String {
    value.map { "\($0)" } ?? ""
}

/// Who reads signals: a signed-in device, or a machine key with the `signals_read` scope.
struct SignalReader: Sendable, Equatable {
    var tenantID: UUID
    var userID: UUID
    /// Machine keys are held to the plan's request budget here (device tokens are, when they authenticate).
    var viaAPIKey: Bool
}

struct SignalFilters: Sendable, Equatable {
    var symbol: String?
    var timeframe: String?
    var direction: Int?
    var minConfidence: Double?
    var since: Int64?
    var until: Int64?
    /// `open`, `target`, `stop`, `expired`.
    var outcome: String?
    /// `order_block`, `fair_value_gap`.
    var setupType: String?
    /// `HIGH`, `MEDIUM`, `LOW`, `NEUTRAL`.
    var level: String?
    /// A killzone's name, matched without regard to case.
    var killzone: String?
    var limit = 50
    var cursor: String?

    /// What a cursor is bound to: the filters (not the page size, which may change from page to page).
    var scope: String {
        let parts: [String] = [
            "signals", scopeText(symbol), scopeText(timeframe), scopeText(direction), scopeText(minConfidence),
            scopeText(since), scopeText(until), scopeText(outcome), scopeText(setupType), scopeText(level),
            scopeText(killzone?.lowercased()),
        ]
        return parts.joined(separator: "|")
    }
}

struct SignalOutcomeRecord: Sendable, Equatable {
    var kind: String
    var time: Date
    var r: Double?
    var exitPrice: Double?
}

/// An annotation's values: as sync fields (`note` absent when there is none) and back, checked.
struct AnnotationValues: Sendable, Equatable {
    var note: String?
    var tags: [String]
    var taken: Bool

    var fields: [String: JSONValue] {
        var f: [String: JSONValue] = ["tags": .array(tags.map(JSONValue.string)), "taken": .bool(taken)]
        f["note"] = note.map(JSONValue.string)
        return f
    }

    /// The values of merged fields; 422 naming the field when one is not acceptable. Absent fields take their
    /// defaults (no note, no tags, not taken), so a cleared annotation is a write of every field.
    static func checked(_ fields: [String: JSONValue]) throws -> AnnotationValues {
        var p = FieldErrors()
        var values = AnnotationValues(note: nil, tags: [], taken: false)
        switch fields["note"] ?? .null {
        case .null: break
        case .string(let text):
            p.check(text.count <= 10_000, "/note", "must be at most 10000 characters")
            p.check(!text.contains("\u{0}"), "/note", "must not contain the NUL character (U+0000)")
            values.note = text.isEmpty ? nil : text
        default: p.check(false, "/note", "must be a string")
        }
        switch fields["tags"] ?? .null {
        case .null: break
        case .array(let items):
            let texts = items.compactMap { if case .string(let t) = $0 { t } else { nil } }
            p.check(texts.count == items.count, "/tags", "must be an array of strings")
            values.tags = JournalRules.tags(texts, into: &p)
        default: p.check(false, "/tags", "must be an array of strings")
        }
        switch fields["taken"] ?? .null {
        case .null: break
        case .bool(let taken): values.taken = taken
        default: p.check(false, "/taken", "must be true or false")
        }
        try p.throwIfAny()
        return values
    }
}

struct AnnotationRecord: Sendable, Equatable {
    var note: String?
    var tags: [String]
    var taken: Bool
    var updatedAt: Date
}

/// The engine's `Signal` as the pipeline stores it in `signals.detail` (JSONEncoder, snake_case keys), read
/// leniently: a field the engine stops writing leaves a gap in the detail, not an error.
struct EngineSignalDetail: Sendable, Decodable, Equatable {
    struct Zone: Sendable, Decodable, Equatable {
        var kind: String?
        var direction: Int?
        var top: Double?
        var bottom: Double?
        var time: Int64?
        var formedIndex: Int?
        var formedTime: Int64?
    }
    struct Setup: Sendable, Decodable, Equatable {
        var zone: Zone?
    }
    struct Vote: Sendable, Decodable, Equatable {
        var member: String
        var vote: Double
        var weight: Double
        var gate: Double
        var abstained: Bool
        var reason: String
    }
    struct Bias: Sendable, Decodable, Equatable {
        var timeframe: String
        var score: Double
        var level: String
    }
    var setup: Setup?
    var votes: [Vote]?
    var biases: [Bias]?

    static func decode(_ json: String) -> EngineSignalDetail? {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try? decoder.decode(EngineSignalDetail.self, from: Data(json.utf8))
    }
}

struct SignalRecord: Sendable {
    var id: UUID
    var symbol: String
    var timeframe: String
    var direction: Int
    var setupType: String
    var confidence: Double
    var level: String
    var candleTime: Date
    var closeTime: Date
    var entry: Double
    var stop: Double
    var targets: [Double]
    var rewardRisk: Double
    var regime: String?
    var killzone: String?
    var confluence: Double
    var outcome: SignalOutcomeRecord?
    var annotation: AnnotationRecord?
    /// The page position of this row (candle time in microseconds).
    var candleMicros: Int64
    /// Only read for the detail view.
    var detail: EngineSignalDetail?
}

struct SignalPageRecord: Sendable {
    var signals: [SignalRecord]
    var nextCursor: String?
}

/// Reads the tenant's signals (never writes them: the pipeline does) and keeps the user's annotations on them.
///
/// A signal issued longer ago than the plan's `history_days` (by `created_at`: a backfill of old candles issues new signals) is invisible: not listed, 404 by id, not
/// annotatable, as if it did not exist.
struct SignalsService: Sendable {
    let database: Database
    let plans: PlansService
    let rateLimiter: RateLimiter
    var logger: Logger { database.logger }

    static let columns = """
        s.signal_id, s.symbol, s.timeframe, s.direction, s.setup_type, s.confidence, s.level, s.candle_time, s.close_time,
        s.entry, s.stop, s.targets, s.reward_risk, s.regime, s.killzone, s.confluence,
        s.outcome, s.outcome_time, s.outcome_r, s.exit_price,
        a.signal_id IS NOT NULL AS annotated, a.note, a.tags, a.taken, a.updated_at AS annotated_at,
        (extract(epoch FROM s.candle_time) * 1000000)::int8 AS candle_micros
        """

    /// The plan's horizon for `tenant`, after charging a machine key's request to the plan's budget.
    private func historyDays(_ reader: SignalReader, _ connection: PostgresConnection) async throws -> Int {
        let plan = try await plans.plan(forTenant: reader.tenantID, connection)
        if reader.viaAPIKey { try rateLimiter.admit(tenant: reader.tenantID, limit: plan.apiRequestsPerMinute) }
        return plan.historyDays
    }

    func list(_ reader: SignalReader, _ filters: SignalFilters) async throws -> SignalPageRecord {
        let after = try filters.cursor.map { try PageCursor.decode($0, scope: filters.scope) }
        return try await database.withTenant(reader.tenantID, readOnly: true) { connection in
            let days = try await historyDays(reader, connection)
            var query = SQLWhere()
            query.add("s.tenant_id = \(query.bind(reader.tenantID))")
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
            var signals = try await connection.query(query.query(sql), logger: logger).collect().map { try Self.decode($0) }
            var next: String?
            if signals.count > filters.limit {
                signals.removeLast()
                next = signals.last.map { PageCursor(micros: $0.candleMicros, id: $0.id).encoded(scope: filters.scope) }
            }
            return SignalPageRecord(signals: signals, nextCursor: next)
        }
    }

    func detail(_ reader: SignalReader, id: UUID) async throws -> SignalRecord {
        try await database.withTenant(reader.tenantID, readOnly: true) { connection in
            let days = try await historyDays(reader, connection)
            let rows = try await connection.query(
                """
                SELECT \(unescaped: Self.columns), s.detail::text AS detail
                FROM signals s
                LEFT JOIN signal_annotations a ON a.tenant_id = s.tenant_id AND a.signal_id = s.signal_id
                WHERE s.tenant_id = \(reader.tenantID) AND s.signal_id = \(id)
                  AND s.created_at >= now() - make_interval(days => \(days)::int)
                """, logger: logger
            ).collect()
            guard let row = rows.first else { throw Problem.notFound("no such signal") }
            var signal = try Self.decode(row)
            let json = try row.makeRandomAccess()["detail"].decode(String.self)
            signal.detail = EngineSignalDetail.decode(json)
            if signal.detail == nil {
                logger.warning("unreadable signal detail", metadata: ["signal_id": "\(id)"])
            }
            return signal
        }
    }

    /// Upserts the annotation: members given replace the stored ones, the others keep their value.
    func annotate(_ principal: Principal, id: UUID, note: String?, tags: [String]?, taken: Bool?) async throws -> AnnotationRecord {
        var problems = FieldErrors()
        if let note {
            problems.check(note.unicodeScalars.count <= 10_000, "/note", "must be at most 10000 characters")
            problems.check(!note.contains("\u{0}"), "/note", "must not contain the NUL character (U+0000)")
        }
        // An empty note removes the note; an absent one keeps it.
        let newNote = note.flatMap { $0.isEmpty ? nil : $0 }
        let cleanTags = tags.map { JournalRules.tags($0, into: &problems) }
        try problems.throwIfAny()
        return try await database.withTenant(principal.tenantID) { connection in
            let days = try await plans.plan(forTenant: principal.tenantID, connection).historyDays
            let visible = try await connection.query(
                """
                SELECT 1 FROM signals WHERE tenant_id = \(principal.tenantID) AND signal_id = \(id)
                  AND created_at >= now() - make_interval(days => \(days)::int)
                """, logger: logger
            ).collect()
            guard !visible.isEmpty else { throw Problem.notFound("no such signal") }
            var writes: [String: FieldWrite] = [:]
            let stamp = ServerClock.shared.tick()
            if note != nil { writes["note"] = FieldWrite(value: newNote.map(JSONValue.string) ?? .null, hlc: stamp) }
            if let cleanTags { writes["tags"] = FieldWrite(value: .array(cleanTags.map(JSONValue.string)), hlc: stamp) }
            if let taken { writes["taken"] = FieldWrite(value: .bool(taken), hlc: stamp) }
            return try await mergeAnnotation(principal.tenantID, id, writes, connection).record
        }
    }

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
        let version = try await SyncCounter.bump(.journal, tenant: tenant, connection, logger: logger)
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
        let version = try await SyncCounter.bump(.journal, tenant: tenant, connection, logger: logger)
        try await connection.query(
            "UPDATE signal_annotations SET sync_version = \(version) WHERE tenant_id = \(tenant) AND signal_id = \(id)",
            logger: logger)
    }

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
            outcome: outcome, annotation: annotation, candleMicros: try r["candle_micros"].decode(Int64.self), detail: nil)
    }
}

/// A WHERE clause built from optional filters, with bound parameters.
struct SQLWhere {
    private(set) var parts: [String] = []
    private(set) var binds = PostgresBindings()

    /// Binds `value` and returns its placeholder.
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    /// A `timestamptz` from microseconds since 1970, exactly.
    mutating func time(_ micros: Int64) -> String {
        "(timestamptz 'epoch' + \(bind(micros))::int8 * interval '1 microsecond')"
    }

    mutating func add(_ clause: String) { parts.append(clause) }

    var clauses: String { parts.joined(separator: " AND ") }

    func query(_ sql: String) -> PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}

/// The per-tenant, per-stream change counters of the sync protocol (DESIGN.md §5): bumped inside the writing
/// transaction, so version order is commit order; the row lock serialises the tenant's writers on the stream.
enum SyncCounter {
    enum Stream: String { case signals, journal }

    static func bump(_ stream: Stream, tenant: UUID, _ connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        try await connection.query(
            """
            INSERT INTO sync_counters AS c (tenant_id, stream, version) VALUES (\(tenant), \(stream.rawValue), 1)
            ON CONFLICT (tenant_id, stream) DO UPDATE SET version = c.version + 1
            RETURNING version
            """, logger: logger
        ).collect().first!.decode(Int64.self)
    }
}
