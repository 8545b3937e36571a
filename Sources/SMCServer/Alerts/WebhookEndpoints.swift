import Foundation
import Logging
import PostgresNIO

/// The owner of `webhook_endpoints`: the users' endpoints (REST), what the fan-out and the workers need of them
/// (live endpoints, targets and signing secrets, health), and what a plan change does to them.
struct WebhookEndpoints: Sendable {
    let logger: Logger

    static let columns = """
        endpoint_id, url, description, event_types, enabled, disabled_reason, failing_since,
        CASE WHEN previous_secret_expires_at > now() THEN previous_secret_expires_at END, created_at, updated_at
        """

    static func decode(_ row: PostgresRow) throws -> WebhookRecord {
        let (id, url, description, types, enabled, reason, failing, previous, created, updated) =
            try row.decode((UUID, String, String?, [String], Bool, String?, Date?, Date?, Date, Date).self)
        return WebhookRecord(
            id: id, url: url, description: description, eventTypes: types, enabled: enabled, disabledReason: reason,
            failingSince: failing, previousSecretExpiresAt: previous, createdAt: created, updatedAt: updated)
    }

    // MARK: the owner's (tenant transactions)

    func create(_ tenant: UUID, id: UUID, user: UUID, url: String, description: String?, eventTypes: [String], sealedSecret: String,
                _ connection: PostgresConnection) async throws -> WebhookRecord
    {
        let row = try await connection.query(
            """
            INSERT INTO webhook_endpoints (tenant_id, endpoint_id, user_id, url, description, event_types, secret)
            VALUES (\(tenant), \(id), \(user), \(url), \(description), \(eventTypes), \(sealedSecret))
            RETURNING \(unescaped: Self.columns)
            """, logger: logger
        ).collect().first!
        return try Self.decode(row)
    }

    /// How many endpoints the tenant has (`enabledOnly`: enabled ones, `except` one of them left out).
    func count(_ tenant: UUID, enabledOnly: Bool = false, except: UUID? = nil, _ connection: PostgresConnection) async throws -> Int {
        try await connection.query(
            """
            SELECT count(*)::int FROM webhook_endpoints WHERE tenant_id = \(tenant) AND (enabled OR NOT \(enabledOnly))
              AND endpoint_id IS DISTINCT FROM \(except)
            """, logger: logger
        ).collect().first!.decode(Int.self)
    }

    func list(_ tenant: UUID, _ connection: PostgresConnection) async throws -> [WebhookRecord] {
        try await connection.query(
            """
            SELECT \(unescaped: Self.columns) FROM webhook_endpoints WHERE tenant_id = \(tenant)
            ORDER BY created_at, endpoint_id
            """, logger: logger
        ).collect().map(Self.decode)
    }

    func get(_ tenant: UUID, _ id: UUID, _ connection: PostgresConnection) async throws -> WebhookRecord? {
        try await connection.query(
            "SELECT \(unescaped: Self.columns) FROM webhook_endpoints WHERE tenant_id = \(tenant) AND endpoint_id = \(id)",
            logger: logger
        ).collect().first.map(Self.decode)
    }

    /// Changes what is given (nil: unchanged; an empty description removes it). Enabling clears the failure state;
    /// disabling records that the owner did it.
    func update(_ tenant: UUID, _ id: UUID, url: String?, eventTypes: [String]?, description: String?, enabled: Bool?,
                _ connection: PostgresConnection) async throws -> WebhookRecord?
    {
        try await connection.query(
            """
            UPDATE webhook_endpoints SET url = coalesce(\(url), url), event_types = coalesce(\(eventTypes), event_types),
                description = CASE WHEN \(description)::text IS NULL THEN description ELSE nullif(\(description), '') END,
                enabled = coalesce(\(enabled), enabled), plan_disabled = CASE WHEN \(enabled)::bool IS NULL THEN plan_disabled ELSE false END,
                disabled_reason = CASE WHEN \(enabled) = true THEN NULL WHEN \(enabled) = false AND enabled THEN 'disabled by its owner'
                                  ELSE disabled_reason END,
                failing_since = CASE WHEN \(enabled) = true AND NOT enabled THEN NULL ELSE failing_since END,
                updated_at = now()
            WHERE tenant_id = \(tenant) AND endpoint_id = \(id)
            RETURNING \(unescaped: Self.columns)
            """, logger: logger
        ).collect().first.map(Self.decode)
    }

    func delete(_ tenant: UUID, _ id: UUID, _ connection: PostgresConnection) async throws -> Bool {
        try await connection.query(
            "DELETE FROM webhook_endpoints WHERE tenant_id = \(tenant) AND endpoint_id = \(id) RETURNING 1", logger: logger
        ).collect().count == 1
    }

    /// A new signing secret; the previous one keeps signing too for `overlapSeconds`.
    func rotate(_ tenant: UUID, _ id: UUID, sealedSecret: String, overlapSeconds: Int, _ connection: PostgresConnection)
        async throws -> WebhookRecord?
    {
        try await connection.query(
            """
            UPDATE webhook_endpoints SET previous_secret = secret, secret = \(sealedSecret),
                previous_secret_expires_at = now() + make_interval(secs => \(overlapSeconds)), updated_at = now()
            WHERE tenant_id = \(tenant) AND endpoint_id = \(id)
            RETURNING \(unescaped: Self.columns)
            """, logger: logger
        ).collect().first.map(Self.decode)
    }

    /// Whether it is enabled, and whose it is; nil when there is no such endpoint.
    func state(_ tenant: UUID, _ id: UUID, _ connection: PostgresConnection) async throws -> (enabled: Bool, owner: UUID)? {
        try await connection.query(
            "SELECT enabled, user_id FROM webhook_endpoints WHERE tenant_id = \(tenant) AND endpoint_id = \(id)", logger: logger
        ).collect().first?.decode((Bool, UUID).self)
    }

    // MARK: plan changes

    /// Disables the newest enabled endpoints beyond `limit` (remembering that the plan did it); returns them.
    func disableOverLimit(_ tenant: UUID, limit: Int, reason: String, _ connection: PostgresConnection) async throws -> [(id: UUID, url: String)] {
        try await connection.query(
            """
            UPDATE webhook_endpoints SET enabled = false, plan_disabled = true, disabled_reason = \(reason), updated_at = now()
            WHERE tenant_id = \(tenant) AND endpoint_id IN (
                SELECT endpoint_id FROM webhook_endpoints WHERE tenant_id = \(tenant) AND enabled
                ORDER BY created_at, endpoint_id OFFSET \(limit))
            RETURNING endpoint_id, url
            """, logger: logger
        ).collect().map { try $0.decode((UUID, String).self) }
    }

    /// Enables again, oldest first, the endpoints a plan disabled, while the enabled ones stay within `limit`; returns
    /// their URLs.
    func enableWithinLimit(_ tenant: UUID, limit: Int, _ connection: PostgresConnection) async throws -> [String] {
        try await connection.query(
            """
            WITH room AS (
                SELECT greatest(\(limit) - count(*), 0) AS n FROM webhook_endpoints WHERE tenant_id = \(tenant) AND enabled
            )
            UPDATE webhook_endpoints SET enabled = true, plan_disabled = false, disabled_reason = NULL, failing_since = NULL,
                updated_at = now()
            WHERE tenant_id = \(tenant) AND endpoint_id IN (
                SELECT endpoint_id FROM webhook_endpoints WHERE tenant_id = \(tenant) AND plan_disabled
                ORDER BY created_at, endpoint_id LIMIT (SELECT n FROM room))
            RETURNING url
            """, logger: logger
        ).collect().map { try $0.decode(String.self) }
    }

    // MARK: the workers' (worker role)

    /// The tenants' enabled endpoints with their rank by age (1 = oldest), for the fan-out's plan limit.
    func live(tenants: [UUID], _ connection: PostgresConnection) async throws
        -> [(tenant: UUID, id: UUID, user: UUID, eventTypes: [String], rank: Int)]
    {
        var out: [(tenant: UUID, id: UUID, user: UUID, eventTypes: [String], rank: Int)] = []
        let rows = try await connection.query(
            """
            SELECT tenant_id, endpoint_id, user_id, event_types,
                   row_number() OVER (PARTITION BY tenant_id ORDER BY created_at, endpoint_id)::int
            FROM webhook_endpoints WHERE tenant_id = ANY(\(tenants)) AND enabled
            """, logger: logger)
        for try await row in rows.decode((UUID, UUID, UUID, [String], Int).self) { out.append(row) }
        return out
    }

    /// Where claimed deliveries go: each enabled endpoint's URL, stored signing secrets (the previous one while its
    /// overlap lasts) and failure state. A disabled or removed endpoint is absent.
    func targets(_ endpoints: [(tenant: UUID, id: UUID)], _ connection: PostgresConnection) async throws
        -> [UUID: (url: String, secrets: [String], failingSince: Date?)]
    {
        guard !endpoints.isEmpty else { return [:] }
        var out: [UUID: (url: String, secrets: [String], failingSince: Date?)] = [:]
        let rows = try await connection.query(
            """
            SELECT e.endpoint_id, e.url,
                   array_remove(ARRAY[e.secret, CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END], NULL),
                   e.failing_since
            FROM webhook_endpoints e JOIN unnest(\(endpoints.map(\.tenant))::uuid[], \(endpoints.map(\.id))::uuid[]) AS u(t, id)
              ON e.tenant_id = u.t AND e.endpoint_id = u.id
            WHERE e.enabled
            """, logger: logger)
        for try await (id, url, secrets, failing) in rows.decode((UUID, String, [String], Date?).self) { out[id] = (url, secrets, failing) }
        return out
    }

    /// The endpoint's health, locked for the judgement; nil when it is gone.
    func lockHealth(_ tenant: UUID, _ id: UUID, _ connection: PostgresConnection) async throws
        -> (failingSince: Date?, enabled: Bool, url: String, owner: UUID)?
    {
        try await connection.query(
            """
            SELECT failing_since, enabled, url, user_id FROM webhook_endpoints
            WHERE tenant_id = \(tenant) AND endpoint_id = \(id) FOR UPDATE
            """, logger: logger
        ).collect().first?.decode((Date?, Bool, String, UUID).self)
    }

    func setFailingSince(_ tenant: UUID, _ id: UUID, _ since: Date?, _ connection: PostgresConnection) async throws {
        try await connection.query(
            "UPDATE webhook_endpoints SET failing_since = \(since) WHERE tenant_id = \(tenant) AND endpoint_id = \(id)", logger: logger)
    }

    func disable(_ tenant: UUID, _ id: UUID, reason: String, _ connection: PostgresConnection) async throws {
        try await connection.query(
            """
            UPDATE webhook_endpoints SET enabled = false, disabled_reason = \(reason), updated_at = now()
            WHERE tenant_id = \(tenant) AND endpoint_id = \(id)
            """, logger: logger)
    }

    /// The user's enabled endpoints, but `except`.
    func enabled(_ tenant: UUID, user: UUID, except: UUID?, _ connection: PostgresConnection) async throws -> [UUID] {
        try await connection.query(
            """
            SELECT endpoint_id FROM webhook_endpoints
            WHERE tenant_id = \(tenant) AND user_id = \(user) AND enabled AND endpoint_id IS DISTINCT FROM \(except)
            ORDER BY created_at, endpoint_id
            """, logger: logger
        ).collect().map { try $0.decode(UUID.self) }
    }
}

struct WebhookRecord: Sendable {
    var id: UUID
    var url: String
    var description: String?
    var eventTypes: [String]
    var enabled: Bool
    var disabledReason: String?
    var failingSince: Date?
    var previousSecretExpiresAt: Date?
    var createdAt: Date
    var updatedAt: Date
}
