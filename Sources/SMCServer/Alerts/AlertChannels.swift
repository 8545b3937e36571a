import Foundation
import Logging
import PostgresNIO
import SMCEngine
import SMCSync

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

/// The REST side of alerts: webhook endpoints, the Telegram link, and the delivery record. Every query runs in the
/// caller's tenant transaction; the workers do the sending.
struct AlertChannelsService: Sendable {
    let database: Database
    let plans: PlansService
    let guardrail: TargetGuard
    let settings: AlertSettings
    let telegramToken: String?
    let telegramAPI: @Sendable () async throws -> String
    /// Seals the signing secrets it stores.
    let secretBox: SecretBox
    var logger: Logger { database.logger }

    static let eventTypes = ["signal.created", "signal.outcome", "alert.test"]
    static let webhookColumns = """
        endpoint_id, url, description, event_types, enabled, disabled_reason, failing_since,
        CASE WHEN previous_secret_expires_at > now() THEN previous_secret_expires_at END, created_at, updated_at
        """

    static func decodeWebhook(_ row: PostgresRow) throws -> WebhookRecord {
        let (id, url, description, types, enabled, reason, failing, previous, created, updated) =
            try row.decode((UUID, String, String?, [String], Bool, String?, Date?, Date?, Date, Date).self)
        return WebhookRecord(
            id: id, url: url, description: description, eventTypes: types, enabled: enabled, disabledReason: reason,
            failingSince: failing, previousSecretExpiresAt: previous, createdAt: created, updatedAt: updated)
    }

    // MARK: webhooks

    /// Checks a URL's shape and where it resolves (422 `validation_failed` / `target_not_allowed`).
    func checkURL(_ url: String) async throws -> String {
        let trimmed = url.trimmingWhitespace()
        do {
            let target = try guardrail.parse(trimmed)
            _ = try await guardrail.vet(target)
        } catch {
            throw Problem(.unprocessableContent, code: "target_not_allowed", title: "Target Not Allowed",
                          detail: "url \(error.reason)", fieldErrors: [.init(field: "/url", message: error.reason)])
        }
        return trimmed
    }

    func checkEventTypes(_ types: [String]) throws -> [String] {
        var errors = FieldErrors()
        errors.check(!types.isEmpty, "/event_types", "needs at least one event type")
        for (i, type) in types.enumerated() {
            errors.check(Self.eventTypes.contains(type), "/event_types/\(i)", "is not an event type (\(Self.eventTypes.joined(separator: ", ")))")
        }
        try errors.throwIfAny()
        return Self.eventTypes.filter(types.contains)
    }

    func checkDescription(_ text: String?) throws -> String? {
        guard let text = text?.trimmingWhitespace(), !text.isEmpty else { return nil }
        var errors = FieldErrors()
        errors.check(text.count <= 200 && !AccountRules.containsControl(text), "/description", "must be up to 200 characters")
        try errors.throwIfAny()
        return text
    }

    func createWebhook(_ principal: Principal, url rawURL: String, eventTypes rawTypes: [String], description rawDescription: String?)
        async throws -> (WebhookRecord, String)
    {
        let types = try checkEventTypes(rawTypes)
        let description = try checkDescription(rawDescription)
        let url = try await checkURL(rawURL)
        return try await database.withTenant(principal.tenantID) { connection in
            let plan = try await plans.plan(forTenant: principal.tenantID, connection)
            try await connection.query("SELECT 1 FROM tenants WHERE tenant_id = \(principal.tenantID) FOR UPDATE", logger: logger)
            let count = try await connection.query(
                "SELECT count(*)::int FROM webhook_endpoints WHERE tenant_id = \(principal.tenantID)", logger: logger
            ).collect().first!.decode(Int.self)
            if count >= plan.maxWebhooks {
                throw try await plans.limitExceeded(
                    "webhooks", allowed: plan.maxWebhooks, plan: plan, connection,
                    detail: "the \(plan.name) plan allows \(plan.maxWebhooks) webhook endpoints")
            }
            let secret = StandardWebhooks.generateSecret(), endpoint = UUIDv7.generate()
            let stored = try secretBox.seal(secret, endpoint: endpoint)
            let row = try await connection.query(
                """
                INSERT INTO webhook_endpoints (tenant_id, endpoint_id, user_id, url, description, event_types, secret)
                VALUES (\(principal.tenantID), \(endpoint), \(principal.userID), \(url), \(description), \(types), \(stored))
                RETURNING \(unescaped: Self.webhookColumns)
                """, logger: logger
            ).collect().first!
            return (try Self.decodeWebhook(row), secret)
        }
    }

    func listWebhooks(_ principal: Principal) async throws -> [WebhookRecord] {
        try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            try await connection.query(
                """
                SELECT \(unescaped: Self.webhookColumns) FROM webhook_endpoints WHERE tenant_id = \(principal.tenantID)
                ORDER BY created_at, endpoint_id
                """, logger: logger
            ).collect().map(Self.decodeWebhook)
        }
    }

    func webhook(_ principal: Principal, id: UUID) async throws -> WebhookRecord {
        try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            guard let row = try await connection.query(
                """
                SELECT \(unescaped: Self.webhookColumns) FROM webhook_endpoints
                WHERE tenant_id = \(principal.tenantID) AND endpoint_id = \(id)
                """, logger: logger
            ).collect().first else { throw Problem.notFound("no such webhook") }
            return try Self.decodeWebhook(row)
        }
    }

    func updateWebhook(_ principal: Principal, id: UUID, url: String?, eventTypes: [String]?, description: String?, enabled: Bool?)
        async throws -> WebhookRecord
    {
        let types = try eventTypes.map(checkEventTypes)
        let checkedDescription = try description.map { try checkDescription($0) ?? "" }
        var checkedURL: String?
        if let url { checkedURL = try await checkURL(url) }
        return try await database.withTenant(principal.tenantID) { connection in
            if enabled == true { try await checkRoomToEnable(principal, id: id, connection) }
            guard let row = try await connection.query(
                """
                UPDATE webhook_endpoints SET url = coalesce(\(checkedURL), url), event_types = coalesce(\(types), event_types),
                    description = CASE WHEN \(checkedDescription)::text IS NULL THEN description ELSE nullif(\(checkedDescription), '') END,
                    enabled = coalesce(\(enabled), enabled), plan_disabled = CASE WHEN \(enabled)::bool IS NULL THEN plan_disabled ELSE false END,
                    disabled_reason = CASE WHEN \(enabled) = true THEN NULL WHEN \(enabled) = false AND enabled THEN 'disabled by its owner'
                                      ELSE disabled_reason END,
                    failing_since = CASE WHEN \(enabled) = true AND NOT enabled THEN NULL ELSE failing_since END,
                    updated_at = now()
                WHERE tenant_id = \(principal.tenantID) AND endpoint_id = \(id)
                RETURNING \(unescaped: Self.webhookColumns)
                """, logger: logger
            ).collect().first else { throw Problem.notFound("no such webhook") }
            if enabled == false { try await cancelQueued(principal.tenantID, endpoint: id, reason: "endpoint disabled", connection) }
            return try Self.decodeWebhook(row)
        }
    }

    /// Enabling an endpoint counts against the plan: 403 `plan_limit_exceeded` when the enabled ones already fill it.
    private func checkRoomToEnable(_ principal: Principal, id: UUID, _ connection: PostgresConnection) async throws {
        let plan = try await plans.plan(forTenant: principal.tenantID, connection)
        try await connection.query("SELECT 1 FROM tenants WHERE tenant_id = \(principal.tenantID) FOR UPDATE", logger: logger)
        let others = try await connection.query(
            """
            SELECT count(*)::int FROM webhook_endpoints WHERE tenant_id = \(principal.tenantID) AND enabled AND endpoint_id <> \(id)
            """, logger: logger
        ).collect().first!.decode(Int.self)
        if others >= plan.maxWebhooks {
            throw try await plans.limitExceeded(
                "webhooks", allowed: plan.maxWebhooks, plan: plan, connection,
                detail: "the \(plan.name) plan allows \(plan.maxWebhooks) enabled webhook endpoints")
        }
    }

    func deleteWebhook(_ principal: Principal, id: UUID) async throws {
        try await database.withTenant(principal.tenantID) { connection in
            let deleted = try await connection.query(
                "DELETE FROM webhook_endpoints WHERE tenant_id = \(principal.tenantID) AND endpoint_id = \(id) RETURNING 1", logger: logger
            ).collect().count
            guard deleted == 1 else { throw Problem.notFound("no such webhook") }
            try await cancelQueued(principal.tenantID, endpoint: id, reason: "endpoint removed", connection)
        }
    }

    private func cancelQueued(_ tenant: UUID, endpoint: UUID, reason: String, _ connection: PostgresConnection) async throws {
        try await connection.query(
            """
            UPDATE alert_deliveries SET status = 'cancelled', reason = \(reason), next_attempt_at = NULL, lease_token = NULL
            WHERE tenant_id = \(tenant) AND endpoint_id = \(endpoint) AND status IN ('pending', 'sending')
            """, logger: logger)
    }

    func rotateSecret(_ principal: Principal, id: UUID, overlapSeconds: Int?) async throws -> (WebhookRecord, String) {
        let overlap = overlapSeconds ?? Int(settings.secretOverlap.milliseconds / 1000)
        var errors = FieldErrors()
        errors.check((0...2_592_000).contains(overlap), "/overlap_seconds", "must be between 0 and 2592000 (30 days)")
        try errors.throwIfAny()
        let secret = StandardWebhooks.generateSecret()
        let stored = try secretBox.seal(secret, endpoint: id)
        return try await database.withTenant(principal.tenantID) { connection in
            guard let row = try await connection.query(
                """
                UPDATE webhook_endpoints SET previous_secret = secret, secret = \(stored),
                    previous_secret_expires_at = now() + make_interval(secs => \(overlap)), updated_at = now()
                WHERE tenant_id = \(principal.tenantID) AND endpoint_id = \(id)
                RETURNING \(unescaped: Self.webhookColumns)
                """, logger: logger
            ).collect().first else { throw Problem.notFound("no such webhook") }
            return (try Self.decodeWebhook(row), secret)
        }
    }

    /// Queues an `alert.test` event to one endpoint (the same delivery path as every alert).
    func testWebhook(_ principal: Principal, id: UUID) async throws -> DeliveryRecord {
        let delivery = try await database.withTenant(principal.tenantID) { connection in
            guard let (enabled, owner) = try await connection.query(
                "SELECT enabled, user_id FROM webhook_endpoints WHERE tenant_id = \(principal.tenantID) AND endpoint_id = \(id)",
                logger: logger
            ).collect().first?.decode((Bool, UUID).self) else { throw Problem.notFound("no such webhook") }
            guard enabled else {
                throw Problem(.conflict, code: "endpoint_disabled", detail: "the webhook is disabled; enable it first")
            }
            let data = AlertData(endpointId: id.uuidString.lowercased(), message: "A test alert from smc.", silent: false)
            let payload = try AlertEvent(type: "alert.test", timestamp: CivilTime.rfc3339(Int64(Date().timeIntervalSince1970)), data: data)
                .encoded()
            var batch = DeliveryBatch()
            batch.add(event: UUIDv7.generate(), type: "alert.test", user: owner, endpoint: id, signal: nil, payload: payload,
                      verdict: .deliver(silent: false))
            return try await batch.insert(tenant: principal.tenantID, connection, logger: logger).first!
        }
        return try await self.delivery(principal, id: delivery)
    }

    // MARK: plan changes

    /// Brings the tenant's channels within `plan` (in the plan change's transaction): endpoints over its webhook limit
    /// are disabled, the newest first, and their queued deliveries cancelled; endpoints an earlier downgrade disabled
    /// are enabled again, the oldest first, while the limit allows; without Telegram, queued Telegram messages are
    /// cancelled (the chats stay linked, and get alerts again after an upgrade). Returns what it did, in words.
    static func applyPlan(_ plan: PlanRecord, tenant: UUID, _ connection: PostgresConnection, logger: Logger) async throws -> [String] {
        var applied: [String] = []
        let reason = "over the \(plan.name) plan's limit of \(plan.maxWebhooks) webhook endpoints"
        let disabled = try await connection.query(
            """
            UPDATE webhook_endpoints SET enabled = false, plan_disabled = true, disabled_reason = \(reason), updated_at = now()
            WHERE tenant_id = \(tenant) AND endpoint_id IN (
                SELECT endpoint_id FROM webhook_endpoints WHERE tenant_id = \(tenant) AND enabled
                ORDER BY created_at, endpoint_id OFFSET \(plan.maxWebhooks))
            RETURNING endpoint_id, url
            """, logger: logger
        ).collect().map { try $0.decode((UUID, String).self) }
        if !disabled.isEmpty {
            try await connection.query(
                """
                UPDATE alert_deliveries SET status = 'cancelled', reason = 'endpoint disabled by a plan change', next_attempt_at = NULL,
                    lease_token = NULL
                WHERE tenant_id = \(tenant) AND endpoint_id = ANY(\(disabled.map(\.0))) AND status IN ('pending', 'sending')
                """, logger: logger)
            applied.append(
                "disabled \(disabled.count) webhook endpoint(s) over the limit of \(plan.maxWebhooks): "
                    + disabled.map(\.1).joined(separator: ", "))
        }
        let enabled = try await connection.query(
            """
            WITH room AS (
                SELECT greatest(\(plan.maxWebhooks) - count(*), 0) AS n FROM webhook_endpoints WHERE tenant_id = \(tenant) AND enabled
            )
            UPDATE webhook_endpoints SET enabled = true, plan_disabled = false, disabled_reason = NULL, failing_since = NULL,
                updated_at = now()
            WHERE tenant_id = \(tenant) AND endpoint_id IN (
                SELECT endpoint_id FROM webhook_endpoints WHERE tenant_id = \(tenant) AND plan_disabled
                ORDER BY created_at, endpoint_id LIMIT (SELECT n FROM room))
            RETURNING url
            """, logger: logger
        ).collect().map { try $0.decode(String.self) }
        if !enabled.isEmpty {
            applied.append("enabled \(enabled.count) webhook endpoint(s) again: " + enabled.joined(separator: ", "))
        }
        if !plan.telegram {
            let cancelled = try await connection.query(
                """
                UPDATE alert_deliveries SET status = 'cancelled', reason = 'the plan no longer includes Telegram', next_attempt_at = NULL,
                    lease_token = NULL
                WHERE tenant_id = \(tenant) AND channel = 'telegram' AND status IN ('pending', 'sending')
                RETURNING 1
                """, logger: logger
            ).collect().count
            if cancelled > 0 { applied.append("cancelled \(cancelled) queued Telegram message(s): the plan has no Telegram") }
        }
        return applied
    }

    // MARK: Telegram

    func telegramLink(_ principal: Principal) async throws -> (url: String, code: String, expiresAt: Date) {
        guard telegramToken != nil else {
            throw Problem.unavailable(code: "telegram_not_configured", "this server has no Telegram bot (SMC_TELEGRAM_BOT_TOKEN)")
        }
        let bot: String
        do {
            bot = try await telegramAPI()
        } catch {
            logger.warning("telegram getMe failed", metadata: ["error": "\(error)"])
            throw Problem.unavailable(code: "telegram_unavailable", "Telegram cannot be reached; try again in a moment")
        }
        let (code, hash) = TelegramLinkCode.generate(tenant: principal.tenantID)
        let ttl = Int(settings.linkCodeTTL.milliseconds / 1000)
        let expires = try await database.withTenant(principal.tenantID) { connection in
            let plan = try await plans.plan(forTenant: principal.tenantID, connection)
            guard plan.telegram else {
                throw try await plans.limitExceeded("telegram", allowed: 0, plan: plan, connection,
                                                    detail: "the \(plan.name) plan does not include Telegram alerts")
            }
            try await connection.query(
                "DELETE FROM telegram_link_codes WHERE tenant_id = \(principal.tenantID) AND expires_at < now()", logger: logger)
            return try await connection.query(
                """
                INSERT INTO telegram_link_codes (tenant_id, code_hash, user_id, expires_at)
                VALUES (\(principal.tenantID), \(ByteBuffer(bytes: hash)), \(principal.userID), now() + make_interval(secs => \(ttl)))
                RETURNING expires_at
                """, logger: logger
            ).collect().first!.decode(Date.self)
        }
        let name = bot.hasPrefix("@") ? String(bot.dropFirst()) : bot
        return ("https://t.me/\(name)?start=\(code)", code, expires)
    }

    func telegramStatus(_ principal: Principal) async throws -> (username: String?, linkedAt: Date)? {
        try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            try await connection.query(
                "SELECT username, linked_at FROM telegram_links WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID)",
                logger: logger
            ).collect().first?.decode((String?, Date).self)
        }
    }

    func unlinkTelegram(_ principal: Principal) async throws {
        try await database.withTenant(principal.tenantID) { connection in
            let deleted = try await connection.query(
                "DELETE FROM telegram_links WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID) RETURNING 1",
                logger: logger
            ).collect().count
            guard deleted == 1 else { throw Problem.notFound("Telegram is not linked") }
            try await connection.query(
                """
                UPDATE alert_deliveries SET status = 'cancelled', reason = 'Telegram unlinked', next_attempt_at = NULL, lease_token = NULL
                WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID) AND channel = 'telegram'
                  AND status IN ('pending', 'sending')
                """, logger: logger)
        }
    }

    // MARK: deliveries

    static let deliveryColumns = """
        delivery_id, event_id, event_type, channel, endpoint_id, signal_id, status, reason, silent,
        CASE WHEN status = 'pending' THEN next_attempt_at END, created_at, delivered_at
        """

    static func decodeDelivery(_ row: PostgresRow) throws -> DeliveryRecord {
        let (id, event, type, channel, endpoint, signal, status, reason, silent, next, created, delivered) =
            try row.decode((UUID, UUID, String, String, UUID?, UUID?, String, String?, Bool, Date?, Date, Date?).self)
        return DeliveryRecord(
            id: id, eventID: event, eventType: type, channel: channel, endpoint: endpoint, signal: signal, status: status,
            reason: reason, silent: silent, nextAttemptAt: next, createdAt: created, deliveredAt: delivered)
    }

    func deliveries(_ principal: Principal, _ filters: DeliveryFilters) async throws -> (items: [DeliveryRecord], nextCursor: String?) {
        let after = try filters.cursor.map { try PageCursor.decode($0, scope: filters.scope) }
        return try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            var query = SQLWhere()
            query.add("tenant_id = \(query.bind(principal.tenantID))")
            if let status = filters.status { query.add("status = \(query.bind(status))") }
            if let endpoint = filters.endpoint { query.add("endpoint_id = \(query.bind(endpoint))") }
            if let channel = filters.channel { query.add("channel = \(query.bind(channel))") }
            if let after { query.add("(created_at, delivery_id) < (\(query.time(after.micros)), \(query.bind(after.id)))") }
            let sql = """
                SELECT \(Self.deliveryColumns), (extract(epoch FROM created_at) * 1000000)::int8 FROM alert_deliveries
                WHERE \(query.clauses) ORDER BY created_at DESC, delivery_id DESC LIMIT \(query.bind(filters.limit + 1))
                """
            var items: [DeliveryRecord] = []
            var micros: [Int64] = []
            for row in try await connection.query(query.query(sql), logger: logger).collect() {
                items.append(try Self.decodeDelivery(row))
                micros.append(try row.makeRandomAccess()[12].decode(Int64.self))
            }
            var next: String?
            if items.count > filters.limit {
                items.removeLast()
                next = PageCursor(micros: micros[filters.limit - 1], id: items[filters.limit - 1].id).encoded(scope: filters.scope)
            }
            try await attachAttempts(&items, tenant: principal.tenantID, connection)
            return (items, next)
        }
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

    func delivery(_ principal: Principal, id: UUID) async throws -> DeliveryRecord {
        try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            guard let row = try await connection.query(
                "SELECT \(unescaped: Self.deliveryColumns) FROM alert_deliveries WHERE tenant_id = \(principal.tenantID) AND delivery_id = \(id)",
                logger: logger
            ).collect().first else { throw Problem.notFound("no such delivery") }
            var items = [try Self.decodeDelivery(row)]
            try await attachAttempts(&items, tenant: principal.tenantID, connection)
            return items[0]
        }
    }

    /// Queues a finished delivery again: same payload and id (so the same `webhook-id`), a fresh retry schedule.
    func redeliver(_ principal: Principal, id: UUID) async throws -> DeliveryRecord {
        try await database.withTenant(principal.tenantID) { connection in
            guard let (status, channel, endpoint, user) = try await connection.query(
                """
                SELECT status, channel, endpoint_id, user_id FROM alert_deliveries
                WHERE tenant_id = \(principal.tenantID) AND delivery_id = \(id) FOR UPDATE
                """, logger: logger
            ).collect().first?.decode((String, String, UUID?, UUID).self) else { throw Problem.notFound("no such delivery") }
            guard status != "pending" && status != "sending" else {
                throw Problem(.conflict, code: "already_pending", detail: "the delivery is still queued or being sent")
            }
            if channel == "webhook", let endpoint {
                guard let enabled = try await connection.query(
                    "SELECT enabled FROM webhook_endpoints WHERE tenant_id = \(principal.tenantID) AND endpoint_id = \(endpoint)",
                    logger: logger
                ).collect().first?.decode(Bool.self) else { throw Problem.notFound("the delivery's webhook was removed") }
                guard enabled else { throw Problem(.conflict, code: "endpoint_disabled", detail: "the webhook is disabled; enable it first") }
            } else {
                let linked = try await connection.query(
                    "SELECT 1 FROM telegram_links WHERE tenant_id = \(principal.tenantID) AND user_id = \(user)", logger: logger
                ).collect().count
                guard linked == 1 else { throw Problem.notFound("Telegram is no longer linked") }
            }
            try await connection.query(
                """
                UPDATE alert_deliveries SET status = 'pending', reason = NULL, round_attempts = 0, next_attempt_at = now(),
                    lease_token = NULL, delivered_at = NULL
                WHERE tenant_id = \(principal.tenantID) AND delivery_id = \(id)
                """, logger: logger)
            return ()
        }
        return try await delivery(principal, id: id)
    }
}
