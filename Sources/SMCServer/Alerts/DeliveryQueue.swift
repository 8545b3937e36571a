import Foundation
import Logging
import PostgresNIO
import SMCSync

/// A delivery taken for one attempt (its lease held until `leaseToken` is released by recording the attempt).
struct ClaimedDelivery: Sendable {
    var tenant: UUID
    var id: UUID
    var eventType: String
    var user: UUID
    var endpoint: UUID?
    var payload: String
    var silent: Bool
    /// The attempt's number over the delivery's life (1-based), and within the current round (the schedule's position).
    var attempt: Int
    var roundAttempt: Int
    var leaseToken: UUID
    /// Webhooks: where and with what to sign, and since when the endpoint has been failing. Telegram: the chat.
    var url: String?
    var secrets: [String] = []
    var failingSince: Date?
    var chat: Int64?

    var messageID: String { StandardWebhooks.messageID(id) }

    /// Its lifecycle as the claim left it (leased for this attempt).
    var lifecycle: DeliveryLifecycle { DeliveryLifecycle(status: .sending, roundAttempts: roundAttempt) }
}

/// Which queued deliveries a cancellation takes.
enum DeliverySelection: Sendable {
    /// Everything queued for these endpoints of the tenant.
    case endpoints(tenant: UUID, [UUID])
    /// The tenant's queued Telegram messages (of one user, or of all).
    case telegram(tenant: UUID, user: UUID?)
    /// These deliveries.
    case deliveries([(tenant: UUID, id: UUID)])
}

/// The owner of `alert_deliveries` and `alert_attempts`: the queue of deliveries (written by the fan-out and by
/// notices, claimed by the webhook and Telegram workers with `FOR UPDATE SKIP LOCKED` and a lease, read by the REST
/// delivery record) and the attempt history. Status changes are `DeliveryLifecycle` actions, performed here.
struct DeliveryQueue: Sendable {
    let logger: Logger
    /// How long a claimed delivery is ours before another worker may try it (a crashed process's leases expire).
    var lease: Duration = .seconds(40)
    /// Webhook requests in flight per endpoint, across processes.
    var perEndpoint = 8

    private var leaseInterval: String { "\(Int64(lease.milliseconds)) milliseconds" }

    /// Inserts the rows (pending ones due now); returns the ids inserted (a repeat of an event's target is skipped).
    @discardableResult
    func insert(_ batch: DeliveryBatch, tenant: UUID? = nil, _ connection: PostgresConnection) async throws -> [UUID] {
        guard !batch.isEmpty else { return [] }
        let tenants = batch.tenants.map { $0 ?? tenant! }
        let b = batch
        return try await connection.query(
            """
            INSERT INTO alert_deliveries (tenant_id, delivery_id, event_id, event_type, user_id, channel, target, endpoint_id,
                signal_id, payload, silent, status, reason, next_attempt_at, created_at)
            SELECT u.tenant, u.id, u.event, u.type, u.usr, u.channel, u.target, nullif(u.endpoint, '')::uuid,
                   nullif(u.signal, '')::uuid, u.payload, u.silent = 1, u.status, nullif(u.reason, ''),
                   CASE WHEN u.status = \(DeliveryStatus.pending.rawValue) THEN now() END, clock_timestamp()
            FROM unnest(\(tenants)::uuid[], \(b.ids)::uuid[], \(b.events)::uuid[], \(b.types)::text[], \(b.users)::uuid[], \(b.channels)::text[],
                        \(b.targets)::text[], \(b.endpoints)::text[], \(b.signals)::text[], \(b.payloads)::text[], \(b.silent)::int2[],
                        \(b.statuses)::text[], \(b.reasons)::text[])
                 AS u(tenant, id, event, type, usr, channel, target, endpoint, signal, payload, silent, status, reason)
            ON CONFLICT (tenant_id, event_id, target) DO NOTHING
            RETURNING delivery_id
            """, logger: logger
        ).collect().map { try $0.decode(UUID.self) }
    }

    /// Each tenant's alert events that went out (not suppressed) since midnight UTC: what the daily cap counts.
    func sentToday(tenants: [UUID], _ connection: PostgresConnection) async throws -> [UUID: Int] {
        var sent: [UUID: Int] = [:]
        for try await (tenant, n) in try await connection.query(
            """
            SELECT tenant_id, count(DISTINCT event_id)::int FROM alert_deliveries
            WHERE tenant_id = ANY(\(tenants)) AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
              AND status <> \(DeliveryStatus.suppressed.rawValue) AND event_type IN ('signal.created', 'signal.outcome')
            GROUP BY tenant_id
            """, logger: logger
        ).decode((UUID, Int).self) {
            sent[tenant] = n
        }
        return sent
    }

    // MARK: claims (worker role)

    /// Up to `limit` due webhook deliveries, oldest first, never more than `perEndpoint` in flight per endpoint (across
    /// processes): an endpoint at its limit is skipped in the query itself, so its backlog cannot crowd the others out.
    /// The claims carry no target yet (`WebhookEndpoints.targets` adds it).
    func claimWebhooks(limit: Int, _ connection: PostgresConnection) async throws -> [ClaimedDelivery] {
        guard limit > 0 else { return [] }
        var candidates: [(UUID, UUID, UUID)] = []
        let rows = try await connection.query(
            """
            WITH busy AS (
                SELECT tenant_id, endpoint_id FROM alert_deliveries
                WHERE status = \(unescaped: DeliveryStatus.sending.literal) AND next_attempt_at > now() AND channel = 'webhook'
                GROUP BY tenant_id, endpoint_id HAVING count(*) >= \(perEndpoint)
            )
            SELECT d.tenant_id, d.delivery_id, d.endpoint_id FROM alert_deliveries d
            WHERE d.\(unescaped: DeliveryStatus.queuedSQL) AND d.next_attempt_at <= now() AND d.channel = 'webhook'
              AND NOT EXISTS (SELECT 1 FROM busy b WHERE b.tenant_id = d.tenant_id AND b.endpoint_id = d.endpoint_id)
            ORDER BY d.next_attempt_at LIMIT \(limit * 4) FOR UPDATE OF d SKIP LOCKED
            """, logger: logger)
        for try await row in rows.decode((UUID, UUID, UUID).self) { candidates.append(row) }
        guard !candidates.isEmpty else { return [] }
        var busy: [UUID: Int] = [:]
        let endpoints = Array(Set(candidates.map(\.2)))
        let tenants = endpoints.map { e in candidates.first { $0.2 == e }!.0 }
        for try await (endpoint, n) in try await connection.query(
            """
            SELECT d.endpoint_id, count(*)::int FROM alert_deliveries d
            JOIN unnest(\(tenants)::uuid[], \(endpoints)::uuid[]) AS u(t, e) ON d.tenant_id = u.t AND d.endpoint_id = u.e
            WHERE d.status = \(unescaped: DeliveryStatus.sending.literal) AND d.next_attempt_at > now()
            GROUP BY d.endpoint_id
            """, logger: logger
        ).decode((UUID, Int).self) {
            busy[endpoint] = n
        }
        var chosen: [(UUID, UUID)] = []
        for (tenant, id, endpoint) in candidates where chosen.count < limit && busy[endpoint, default: 0] < perEndpoint {
            busy[endpoint, default: 0] += 1
            chosen.append((tenant, id))
        }
        guard !chosen.isEmpty else { return [] }
        return try await lease(chosen, connection)
    }

    /// The oldest unfinished Telegram delivery of each chat (each linked user's), when it is due: a chat's messages go
    /// one at a time, in order (a later one never overtakes an earlier one that waits for a retry).
    func telegramHeads(limit: Int, _ connection: PostgresConnection) async throws -> [(tenant: UUID, id: UUID, user: UUID)] {
        var heads: [(UUID, UUID, UUID)] = []
        let rows = try await connection.query(
            """
            SELECT h.tenant_id, h.delivery_id, h.user_id FROM (
                SELECT DISTINCT ON (tenant_id, target) tenant_id, delivery_id, user_id, next_attempt_at
                FROM alert_deliveries WHERE channel = 'telegram' AND \(unescaped: DeliveryStatus.queuedSQL)
                ORDER BY tenant_id, target, created_at, delivery_id
            ) h
            WHERE h.next_attempt_at <= now() ORDER BY h.next_attempt_at LIMIT \(limit)
            """, logger: logger)
        for try await row in rows.decode((UUID, UUID, UUID).self) { heads.append(row) }
        return heads
    }

    /// Leases these deliveries for one attempt each (the ones still queued and due).
    func lease(_ deliveries: [(UUID, UUID)], dueOnly: Bool = false, _ connection: PostgresConnection) async throws -> [ClaimedDelivery] {
        let token = UUIDv7.generate()
        var claimed: [ClaimedDelivery] = []
        let updated = try await connection.query(
            """
            UPDATE alert_deliveries d SET status = \(unescaped: DeliveryStatus.sending.literal), next_attempt_at = now() + \(leaseInterval)::interval,
                lease_token = \(token), attempts = d.attempts + 1, round_attempts = d.round_attempts + 1
            FROM unnest(\(deliveries.map(\.0))::uuid[], \(deliveries.map(\.1))::uuid[]) AS u(t, id)
            WHERE d.tenant_id = u.t AND d.delivery_id = u.id AND d.\(unescaped: DeliveryStatus.queuedSQL)
              AND (NOT \(dueOnly) OR d.next_attempt_at <= now())
            RETURNING d.tenant_id, d.delivery_id, d.event_type, d.user_id, d.endpoint_id, d.payload, d.silent, d.attempts,
                d.round_attempts
            """, logger: logger)
        for try await (tenant, id, type, user, endpoint, payload, silent, attempt, round) in updated.decode(
            (UUID, UUID, String, UUID, UUID?, String, Bool, Int, Int).self)
        {
            claimed.append(ClaimedDelivery(
                tenant: tenant, id: id, eventType: type, user: user, endpoint: endpoint, payload: payload, silent: silent,
                attempt: attempt, roundAttempt: round, leaseToken: token))
        }
        return claimed
    }

    // MARK: lifecycle

    /// Performs a transition's delivery actions for an attempt under `d`'s lease, in one statement: the attempt's row
    /// and the delivery's change (which applies only while the lease holds: a lease that expired meanwhile belongs to
    /// whoever took it next). Endpoint and chat actions are the caller's (their tables have their own owners).
    func perform(_ actions: [DeliveryLifecycle.Action], for d: ClaimedDelivery, started: Date, _ report: AttemptReport,
                 _ connection: PostgresConnection) async throws
    {
        var outcome: String?
        var change: DeliveryLifecycle.Change?
        for action in actions {
            switch action {
            case .recordAttempt(let o): outcome = o
            case .update(let c): change = c
            default: break
            }
        }
        guard let outcome, let change else { return }
        let latency = Int(report.latency.milliseconds.rounded())
        let next = change.retryAfter.map { "\(Int64($0.milliseconds)) milliseconds" }
        try await connection.query(
            """
            WITH attempt AS (
                INSERT INTO alert_attempts (tenant_id, delivery_id, attempt, started_at, outcome, status_code, latency_ms, error)
                VALUES (\(d.tenant), \(d.id), \(d.attempt), \(started), \(outcome), \(report.statusCode), \(latency), \(report.error))
                ON CONFLICT DO NOTHING
            )
            UPDATE alert_deliveries SET status = \(change.status.rawValue), reason = \(change.reason),
                next_attempt_at = CASE WHEN \(next)::interval IS NULL THEN NULL ELSE now() + \(next)::interval END,
                delivered_at = CASE WHEN \(change.status.rawValue) = \(unescaped: DeliveryStatus.delivered.literal) THEN now() END, lease_token = NULL,
                round_attempts = round_attempts - \(change.keepRound ? 1 : 0),
                last_status_code = \(report.statusCode), last_error = \(report.error), last_latency_ms = \(latency)
            WHERE tenant_id = \(d.tenant) AND delivery_id = \(d.id) AND status = \(unescaped: DeliveryStatus.sending.literal) AND lease_token = \(d.leaseToken)
            """, logger: logger)
    }

    /// Cancels what `selection` has queued (`DeliveryLifecycle.cancel` for each row: queued ones are cancelled with the
    /// reason, finished ones stay); returns how many.
    @discardableResult
    func cancel(_ selection: DeliverySelection, _ reason: CancelReason, _ connection: PostgresConnection) async throws -> Int {
        let status = DeliveryStatus.cancelled.rawValue, text = reason.text
        let rows: PostgresRowSequence
        switch selection {
        case .endpoints(let tenant, let endpoints):
            guard !endpoints.isEmpty else { return 0 }
            rows = try await connection.query(
                """
                UPDATE alert_deliveries SET status = \(status), reason = \(text), next_attempt_at = NULL, lease_token = NULL
                WHERE tenant_id = \(tenant) AND endpoint_id = ANY(\(endpoints)) AND \(unescaped: DeliveryStatus.queuedSQL)
                RETURNING 1
                """, logger: logger)
        case .telegram(let tenant, let user):
            rows = try await connection.query(
                """
                UPDATE alert_deliveries SET status = \(status), reason = \(text), next_attempt_at = NULL, lease_token = NULL
                WHERE tenant_id = \(tenant) AND (\(user)::uuid IS NULL OR user_id = \(user)) AND channel = 'telegram'
                  AND \(unescaped: DeliveryStatus.queuedSQL)
                RETURNING 1
                """, logger: logger)
        case .deliveries(let ids):
            guard !ids.isEmpty else { return 0 }
            rows = try await connection.query(
                """
                UPDATE alert_deliveries d SET status = \(status), reason = \(text), next_attempt_at = NULL, lease_token = NULL
                FROM unnest(\(ids.map(\.tenant))::uuid[], \(ids.map(\.id))::uuid[]) AS u(t, id)
                WHERE d.tenant_id = u.t AND d.delivery_id = u.id AND d.\(unescaped: DeliveryStatus.queuedSQL)
                RETURNING 1
                """, logger: logger)
        }
        return try await rows.collect().count
    }

    // MARK: the delivery record (tenant transactions)

    static let columns = """
        delivery_id, event_id, event_type, channel, endpoint_id, signal_id, status, reason, silent,
        CASE WHEN status = \(DeliveryStatus.pending.literal) THEN next_attempt_at END, created_at, delivered_at
        """

    static func decode(_ row: PostgresRow) throws -> DeliveryRecord {
        let (id, event, type, channel, endpoint, signal, status, reason, silent, next, created, delivered) =
            try row.decode((UUID, UUID, String, String, UUID?, UUID?, String, String?, Bool, Date?, Date, Date?).self)
        return DeliveryRecord(
            id: id, eventID: event, eventType: type, channel: channel, endpoint: endpoint, signal: signal, status: status,
            reason: reason, silent: silent, nextAttemptAt: next, createdAt: created, deliveredAt: delivered)
    }

    /// A page of the tenant's deliveries, newest first, with their attempts; `filters.limit + 1` rows at most.
    func page(_ tenant: UUID, _ filters: DeliveryFilters, after: PageCursor?, _ connection: PostgresConnection)
        async throws -> [(record: DeliveryRecord, micros: Int64)]
    {
        var query = SQLWhere()
        query.add("tenant_id = \(query.bind(tenant))")
        if let status = filters.status { query.add("status = \(query.bind(status))") }
        if let endpoint = filters.endpoint { query.add("endpoint_id = \(query.bind(endpoint))") }
        if let channel = filters.channel { query.add("channel = \(query.bind(channel))") }
        if let after { query.add("(created_at, delivery_id) < (\(query.time(after.micros)), \(query.bind(after.id)))") }
        let sql = """
            SELECT \(Self.columns), (extract(epoch FROM created_at) * 1000000)::int8 FROM alert_deliveries
            WHERE \(query.clauses) ORDER BY created_at DESC, delivery_id DESC LIMIT \(query.bind(filters.limit + 1))
            """
        var items: [DeliveryRecord] = []
        var micros: [Int64] = []
        for row in try await connection.query(query.query(sql), logger: logger).collect() {
            items.append(try Self.decode(row))
            micros.append(try row.makeRandomAccess()[12].decode(Int64.self))
        }
        try await attachAttempts(&items, tenant: tenant, connection)
        return Array(zip(items, micros))
    }

    func get(_ tenant: UUID, _ id: UUID, _ connection: PostgresConnection) async throws -> DeliveryRecord? {
        guard let row = try await connection.query(
            "SELECT \(unescaped: Self.columns) FROM alert_deliveries WHERE tenant_id = \(tenant) AND delivery_id = \(id)",
            logger: logger
        ).collect().first else { return nil }
        var items = [try Self.decode(row)]
        try await attachAttempts(&items, tenant: tenant, connection)
        return items[0]
    }

    private func attachAttempts(_ items: inout [DeliveryRecord], tenant: UUID, _ connection: PostgresConnection) async throws {
        guard !items.isEmpty else { return }
        var attempts: [UUID: [AttemptRecord]] = [:]
        let rows = try await connection.query(
            """
            SELECT delivery_id, attempt, started_at, outcome, status_code, latency_ms, error FROM alert_attempts
            WHERE tenant_id = \(tenant) AND delivery_id = ANY(\(items.map(\.id))) ORDER BY delivery_id, attempt
            """, logger: logger)
        for try await (id, n, at, outcome, code, latency, error) in rows.decode((UUID, Int, Date, String, Int?, Int?, String?).self) {
            attempts[id, default: []].append(AttemptRecord(attempt: n, at: at, outcome: outcome, statusCode: code, latencyMS: latency, error: error))
        }
        for i in items.indices { items[i].attempts = attempts[items[i].id] ?? [] }
    }

    /// The delivery, locked, as a redelivery needs it: its lifecycle and where it goes.
    func lockForRedelivery(_ tenant: UUID, _ id: UUID, _ connection: PostgresConnection) async throws
        -> (lifecycle: DeliveryLifecycle, channel: String, endpoint: UUID?, user: UUID)?
    {
        guard let (status, channel, endpoint, user) = try await connection.query(
            """
            SELECT status, channel, endpoint_id, user_id FROM alert_deliveries
            WHERE tenant_id = \(tenant) AND delivery_id = \(id) FOR UPDATE
            """, logger: logger
        ).collect().first?.decode((String, String, UUID?, UUID).self) else { return nil }
        return (DeliveryLifecycle(status: DeliveryStatus(rawValue: status) ?? .dead), channel, endpoint, user)
    }

    /// Writes a transition's change to a delivery outside any lease (a redelivery the owner asked for).
    func update(_ tenant: UUID, _ id: UUID, _ change: DeliveryLifecycle.Change, _ connection: PostgresConnection) async throws {
        let next = change.retryAfter.map { "\(Int64($0.milliseconds)) milliseconds" }
        try await connection.query(
            """
            UPDATE alert_deliveries SET status = \(change.status.rawValue), reason = \(change.reason),
                next_attempt_at = CASE WHEN \(next)::interval IS NULL THEN NULL ELSE now() + \(next)::interval END,
                round_attempts = CASE WHEN \(change.newRound) THEN 0 ELSE round_attempts END, lease_token = NULL,
                delivered_at = CASE WHEN \(change.status.rawValue) = 'delivered' THEN now() END
            WHERE tenant_id = \(tenant) AND delivery_id = \(id)
            """, logger: logger)
    }

    /// A user's deliveries delivered today (UTC) and still queued (the Telegram `/status` command).
    func counts(_ tenant: UUID, user: UUID, _ connection: PostgresConnection) async throws -> (deliveredToday: Int, queued: Int) {
        try await connection.query(
            """
            SELECT (SELECT count(*)::int FROM alert_deliveries WHERE tenant_id = \(tenant) AND user_id = \(user)
                      AND status = \(unescaped: DeliveryStatus.delivered.literal) AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'),
                   (SELECT count(*)::int FROM alert_deliveries WHERE tenant_id = \(tenant) AND user_id = \(user)
                      AND \(unescaped: DeliveryStatus.queuedSQL))
            """, logger: logger
        ).collect().first!.decode((Int, Int).self)
    }

    // MARK: retention

    /// Deletes up to `batch` finished deliveries (their attempts cascade) queued more than `days` ago, tenant by tenant
    /// of `tenants` through `alert_deliveries_finished`; rows another process is pruning are skipped. Returns how many went.
    func pruneFinished(tenants: [UUID], olderThanDays days: Int, batch: Int, _ connection: PostgresConnection) async throws -> Int {
        try await connection.query(
            """
            WITH doomed AS (
                SELECT d.tenant_id, d.delivery_id FROM unnest(\(tenants)::uuid[]) AS t(tenant_id) CROSS JOIN LATERAL (
                    SELECT tenant_id, delivery_id FROM alert_deliveries
                    WHERE tenant_id = t.tenant_id AND \(unescaped: DeliveryStatus.finishedSQL)
                      AND created_at < now() - make_interval(days => \(days)::int)
                    ORDER BY created_at LIMIT \(batch) FOR UPDATE SKIP LOCKED
                ) d
                LIMIT \(batch)
            ), gone AS (
                DELETE FROM alert_deliveries d USING doomed x WHERE d.tenant_id = x.tenant_id AND d.delivery_id = x.delivery_id
                RETURNING 1
            )
            SELECT count(*)::int FROM gone
            """, logger: logger
        ).collect().first?.decode(Int.self) ?? 0
    }
}

/// Delivery rows to insert in one statement.
struct DeliveryBatch {
    var tenants: [UUID?] = []
    var ids: [UUID] = [], events: [UUID] = [], types: [String] = [], users: [UUID] = [], channels: [String] = []
    var targets: [String] = [], endpoints: [String] = [], signals: [String] = [], payloads: [String] = []
    var silent: [Int16] = [], statuses: [String] = [], reasons: [String] = []

    var isEmpty: Bool { ids.isEmpty }

    /// A row; `tenant` nil: the one `insert(tenant:)` names.
    mutating func add(
        tenant: UUID? = nil, event: UUID, type: String, user: UUID, endpoint: UUID?, signal: UUID?, payload: String,
        verdict: AlertRules.Verdict
    ) {
        tenants.append(tenant)
        ids.append(UUIDv7.generate())
        events.append(event)
        types.append(type)
        users.append(user)
        channels.append(endpoint == nil ? "telegram" : "webhook")
        targets.append(endpoint.map { "webhook:\($0.uuidString.lowercased())" } ?? "telegram:\(user.uuidString.lowercased())")
        endpoints.append(endpoint?.uuidString.lowercased() ?? "")
        signals.append(signal?.uuidString.lowercased() ?? "")
        payloads.append(payload)
        switch verdict {
        case .deliver(let quiet):
            silent.append(quiet ? 1 : 0)
            statuses.append(DeliveryStatus.pending.rawValue)
            reasons.append("")
        case .suppress(let reason):
            silent.append(0)
            statuses.append(DeliveryStatus.suppressed.rawValue)
            reasons.append(reason)
        }
    }
}

struct AttemptRecord: Sendable {
    var attempt: Int
    var at: Date
    var outcome: String
    var statusCode: Int?
    var latencyMS: Int?
    var error: String?
}

struct DeliveryRecord: Sendable {
    var id: UUID
    var eventID: UUID
    var eventType: String
    var channel: String
    var endpoint: UUID?
    var signal: UUID?
    var status: String
    var reason: String?
    var silent: Bool
    var nextAttemptAt: Date?
    var createdAt: Date
    var deliveredAt: Date?
    var attempts: [AttemptRecord] = []
}

struct DeliveryFilters: Sendable {
    var status: String?
    var endpoint: UUID?
    var channel: String?
    var limit = 50
    var cursor: String?

    var scope: String { "deliveries|\(status ?? "")|\(endpoint?.uuidString ?? "")|\(channel ?? "")" }
}
