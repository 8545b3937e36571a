import Foundation
import Logging
import PostgresNIO
import SMCEngine
import SMCSync

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
    var endpoints: WebhookEndpoints { WebhookEndpoints(logger: logger) }
    var links: TelegramLinks { TelegramLinks(logger: logger) }
    var queue: DeliveryQueue { DeliveryQueue(logger: logger) }

    // MARK: webhooks

    /// Checks a URL's shape and where it resolves (422 `validation_failed` / `target_not_allowed`).
    func checkURL(_ url: String) async throws -> String {
        let trimmed = url.trimmingWhitespace()
        do {
            let target = try guardrail.parse(trimmed)
            _ = try await guardrail.vet(target)
        } catch {
            throw Problem(.targetNotAllowed,
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
            try await checkRoom(principal, enabledOnly: false, except: nil, connection)
            let secret = StandardWebhooks.generateSecret(), endpoint = UUIDv7.generate()
            let stored = try secretBox.seal(secret, endpoint: endpoint)
            let record = try await endpoints.create(
                principal.tenantID, id: endpoint, user: principal.userID, url: url, description: description, eventTypes: types,
                sealedSecret: stored, connection)
            return (record, secret)
        }
    }

    func listWebhooks(_ principal: Principal) async throws -> [WebhookRecord] {
        try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            try await endpoints.list(principal.tenantID, connection)
        }
    }

    func webhook(_ principal: Principal, id: UUID) async throws -> WebhookRecord {
        try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            guard let record = try await endpoints.get(principal.tenantID, id, connection) else { throw Problem.notFound("no such webhook") }
            return record
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
            if enabled == true { try await checkRoom(principal, enabledOnly: true, except: id, connection) }
            guard let record = try await endpoints.update(
                principal.tenantID, id, url: checkedURL, eventTypes: types, description: checkedDescription, enabled: enabled, connection)
            else { throw Problem.notFound("no such webhook") }
            if enabled == false {
                try await queue.cancel(.endpoints(tenant: principal.tenantID, [id]), .endpointDisabledByOwner, connection)
            }
            return record
        }
    }

    /// Room for one more endpoint (creating one: all of them count; enabling one: the enabled others), counted under
    /// the tenant's row lock so two requests cannot both take the last place: 403 `plan_limit_exceeded` when full.
    private func checkRoom(_ principal: Principal, enabledOnly: Bool, except: UUID?, _ connection: PostgresConnection) async throws {
        let plan = try await plans.plan(forTenant: principal.tenantID, connection)
        try await plans.lockTenant(principal.tenantID, connection)
        if try await endpoints.count(principal.tenantID, enabledOnly: enabledOnly, except: except, connection) >= plan.maxWebhooks {
            throw try await plans.limitExceeded(
                "webhooks", allowed: plan.maxWebhooks, plan: plan, connection,
                detail: "the \(plan.name) plan allows \(plan.maxWebhooks) \(enabledOnly ? "enabled " : "")webhook endpoints")
        }
    }

    func deleteWebhook(_ principal: Principal, id: UUID) async throws {
        try await database.withTenant(principal.tenantID) { connection in
            guard try await endpoints.delete(principal.tenantID, id, connection) else { throw Problem.notFound("no such webhook") }
            try await queue.cancel(.endpoints(tenant: principal.tenantID, [id]), .endpointRemoved, connection)
        }
    }

    func rotateSecret(_ principal: Principal, id: UUID, overlapSeconds: Int?) async throws -> (WebhookRecord, String) {
        let overlap = overlapSeconds ?? Int(settings.secretOverlap.milliseconds / 1000)
        var errors = FieldErrors()
        errors.check((0...2_592_000).contains(overlap), "/overlap_seconds", "must be between 0 and 2592000 (30 days)")
        try errors.throwIfAny()
        let secret = StandardWebhooks.generateSecret()
        let stored = try secretBox.seal(secret, endpoint: id)
        return try await database.withTenant(principal.tenantID) { connection in
            guard let record = try await endpoints.rotate(principal.tenantID, id, sealedSecret: stored, overlapSeconds: overlap, connection)
            else { throw Problem.notFound("no such webhook") }
            return (record, secret)
        }
    }

    /// Queues an `alert.test` event to one endpoint (the same delivery path as every alert).
    func testWebhook(_ principal: Principal, id: UUID) async throws -> DeliveryRecord {
        let delivery = try await database.withTenant(principal.tenantID) { connection in
            guard let (enabled, owner) = try await endpoints.state(principal.tenantID, id, connection) else {
                throw Problem.notFound("no such webhook")
            }
            guard enabled else {
                throw Problem(.endpointDisabled, detail: "the webhook is disabled; enable it first")
            }
            let data = AlertData(endpointId: id.uuidString.lowercased(), message: "A test alert from smc.", silent: false)
            let payload = try AlertEvent(type: "alert.test", timestamp: CivilTime.rfc3339(Int64(Date().timeIntervalSince1970)), data: data)
                .encoded()
            var batch = DeliveryBatch()
            batch.add(event: UUIDv7.generate(), type: "alert.test", user: owner, endpoint: id, signal: nil, payload: payload,
                      verdict: .deliver(silent: false))
            return try await queue.insert(batch, tenant: principal.tenantID, connection).first!
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
        let endpoints = WebhookEndpoints(logger: logger), queue = DeliveryQueue(logger: logger)
        let disabled = try await endpoints.disableOverLimit(tenant, limit: plan.maxWebhooks, reason: reason, connection)
        if !disabled.isEmpty {
            try await queue.cancel(.endpoints(tenant: tenant, disabled.map(\.id)), .endpointOverPlan, connection)
            applied.append(
                "disabled \(disabled.count) webhook endpoint(s) over the limit of \(plan.maxWebhooks): "
                    + disabled.map(\.url).joined(separator: ", "))
        }
        let enabled = try await endpoints.enableWithinLimit(tenant, limit: plan.maxWebhooks, connection)
        if !enabled.isEmpty {
            applied.append("enabled \(enabled.count) webhook endpoint(s) again: " + enabled.joined(separator: ", "))
        }
        if !plan.telegram {
            let cancelled = try await queue.cancel(.telegram(tenant: tenant, user: nil), .planWithoutTelegram, connection)
            if cancelled > 0 { applied.append("cancelled \(cancelled) queued Telegram message(s): the plan has no Telegram") }
        }
        return applied
    }

    // MARK: Telegram

    func telegramLink(_ principal: Principal) async throws -> (url: String, code: String, expiresAt: Date) {
        guard telegramToken != nil else {
            throw Problem.unavailable(code: .telegramNotConfigured, "this server has no Telegram bot (SMC_TELEGRAM_BOT_TOKEN)")
        }
        let bot: String
        do {
            bot = try await telegramAPI()
        } catch {
            logger.warning("telegram getMe failed", metadata: ["error": "\(error)"])
            throw Problem.unavailable(code: .telegramUnavailable, "Telegram cannot be reached; try again in a moment")
        }
        let (code, hash) = TelegramLinkCode.generate(tenant: principal.tenantID)
        let ttl = Int(settings.linkCodeTTL.milliseconds / 1000)
        let expires = try await database.withTenant(principal.tenantID) { connection in
            let plan = try await plans.plan(forTenant: principal.tenantID, connection)
            guard plan.telegram else {
                throw try await plans.limitExceeded("telegram", allowed: 0, plan: plan, connection,
                                                    detail: "the \(plan.name) plan does not include Telegram alerts")
            }
            return try await links.issueCode(principal.tenantID, user: principal.userID, hash: hash, ttlSeconds: ttl, connection)
        }
        let name = bot.hasPrefix("@") ? String(bot.dropFirst()) : bot
        return ("https://t.me/\(name)?start=\(code)", code, expires)
    }

    func telegramStatus(_ principal: Principal) async throws -> (username: String?, linkedAt: Date)? {
        try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            try await links.status(principal.tenantID, user: principal.userID, connection)
        }
    }

    func unlinkTelegram(_ principal: Principal) async throws {
        try await database.withTenant(principal.tenantID) { connection in
            guard try await links.unlink(principal.tenantID, user: principal.userID, connection) else {
                throw Problem.notFound("Telegram is not linked")
            }
            try await queue.cancel(.telegram(tenant: principal.tenantID, user: principal.userID), .telegramUnlinkedByUser, connection)
        }
    }

    // MARK: deliveries

    func deliveries(_ principal: Principal, _ filters: DeliveryFilters) async throws -> (items: [DeliveryRecord], nextCursor: String?) {
        let after = try filters.cursor.map { try PageCursor.decode($0, scope: filters.scope) }
        return try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            var rows = try await queue.page(principal.tenantID, filters, after: after, connection)
            var next: String?
            if rows.count > filters.limit {
                rows.removeLast()
                next = PageCursor(micros: rows[filters.limit - 1].micros, id: rows[filters.limit - 1].record.id).encoded(scope: filters.scope)
            }
            return (rows.map(\.record), next)
        }
    }

    func delivery(_ principal: Principal, id: UUID) async throws -> DeliveryRecord {
        try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            guard let record = try await queue.get(principal.tenantID, id, connection) else { throw Problem.notFound("no such delivery") }
            return record
        }
    }

    /// Queues a finished delivery again: same payload and id (so the same `webhook-id`), a fresh retry schedule.
    func redeliver(_ principal: Principal, id: UUID) async throws -> DeliveryRecord {
        try await database.withTenant(principal.tenantID) { connection in
            guard let found = try await queue.lockForRedelivery(principal.tenantID, id, connection) else {
                throw Problem.notFound("no such delivery")
            }
            var lifecycle = found.lifecycle
            let (channel, endpoint, user) = (found.channel, found.endpoint, found.user)
            let actions: [DeliveryLifecycle.Action]
            do {
                actions = try lifecycle.redeliver()
            } catch {
                throw Problem(.alreadyPending, detail: "the delivery is still queued or being sent")
            }
            if channel == "webhook", let endpoint {
                guard let (enabled, _) = try await endpoints.state(principal.tenantID, endpoint, connection) else {
                    throw Problem.notFound("the delivery's webhook was removed")
                }
                guard enabled else { throw Problem(.endpointDisabled, detail: "the webhook is disabled; enable it first") }
            } else {
                guard try await links.chat(principal.tenantID, user: user, connection) != nil else {
                    throw Problem.notFound("Telegram is no longer linked")
                }
            }
            for case .update(let change) in actions { try await queue.update(principal.tenantID, id, change, connection) }
        }
        return try await delivery(principal, id: id)
    }
}
