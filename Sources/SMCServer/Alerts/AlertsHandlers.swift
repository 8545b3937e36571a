import Foundation
import OpenAPIRuntime
import SMCAPI

/// Alerts operations: authenticate, call the service, map the result.
extension APIHandlers {
    private func uuid(_ text: String, _ what: String) throws -> UUID {
        guard let id = UUID(uuidString: text) else { throw Problem.notFound("no such \(what)") }
        return id
    }

    func listWebhooks(_ input: Operations.ListWebhooks.Input) async throws -> Operations.ListWebhooks.Output {
        let hooks = try await alerts.listWebhooks(try await authenticate())
        return .ok(.init(body: .json(.init(webhooks: hooks.map(\.schema)))))
    }

    func createWebhook(_ input: Operations.CreateWebhook.Input) async throws -> Operations.CreateWebhook.Output {
        let principal = try await authenticate()
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        let (hook, secret) = try await alerts.createWebhook(
            principal, url: body.url, eventTypes: body.eventTypes.map(\.rawValue), description: body.description)
        return .created(.init(body: .json(.init(webhook: hook.schema, secret: secret))))
    }

    func getWebhook(_ input: Operations.GetWebhook.Input) async throws -> Operations.GetWebhook.Output {
        let principal = try await authenticate()
        return .ok(.init(body: .json(try await alerts.webhook(principal, id: try uuid(input.path.webhookId, "webhook")).schema)))
    }

    func updateWebhook(_ input: Operations.UpdateWebhook.Input) async throws -> Operations.UpdateWebhook.Output {
        let principal = try await authenticate()
        let id = try uuid(input.path.webhookId, "webhook")
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        let hook = try await alerts.updateWebhook(
            principal, id: id, url: body.url, eventTypes: body.eventTypes?.map(\.rawValue), description: body.description,
            enabled: body.enabled)
        return .ok(.init(body: .json(hook.schema)))
    }

    func deleteWebhook(_ input: Operations.DeleteWebhook.Input) async throws -> Operations.DeleteWebhook.Output {
        let principal = try await authenticate()
        try await alerts.deleteWebhook(principal, id: try uuid(input.path.webhookId, "webhook"))
        return .noContent(.init())
    }

    func rotateWebhookSecret(_ input: Operations.RotateWebhookSecret.Input) async throws -> Operations.RotateWebhookSecret.Output {
        let principal = try await authenticate()
        let id = try uuid(input.path.webhookId, "webhook")
        var overlap: Int?
        if case .json(let body)? = input.body { overlap = body.overlapSeconds }
        let (hook, secret) = try await alerts.rotateSecret(principal, id: id, overlapSeconds: overlap)
        return .ok(.init(body: .json(.init(secret: secret, webhook: hook.schema))))
    }

    func testWebhook(_ input: Operations.TestWebhook.Input) async throws -> Operations.TestWebhook.Output {
        let principal = try await authenticate()
        let delivery = try await alerts.testWebhook(principal, id: try uuid(input.path.webhookId, "webhook"))
        return .accepted(.init(body: .json(delivery.schema)))
    }

    func getTelegramStatus(_ input: Operations.GetTelegramStatus.Input) async throws -> Operations.GetTelegramStatus.Output {
        let principal = try await authenticate()
        let link = try await alerts.telegramStatus(principal)
        return .ok(.init(body: .json(.init(
            configured: alerts.telegramToken != nil, linked: link != nil, username: link?.username ?? nil, linkedAt: link?.linkedAt))))
    }

    func unlinkTelegram(_ input: Operations.UnlinkTelegram.Input) async throws -> Operations.UnlinkTelegram.Output {
        try await alerts.unlinkTelegram(try await authenticate())
        return .noContent(.init())
    }

    func createTelegramLink(_ input: Operations.CreateTelegramLink.Input) async throws -> Operations.CreateTelegramLink.Output {
        let link = try await alerts.telegramLink(try await authenticate())
        return .created(.init(body: .json(.init(url: link.url, code: link.code, expiresAt: link.expiresAt))))
    }

    func listDeliveries(_ input: Operations.ListDeliveries.Input) async throws -> Operations.ListDeliveries.Output {
        let principal = try await authenticate()
        let q = input.query
        var rules = QueryRules()
        var filters = DeliveryFilters()
        filters.status = q.status?.rawValue
        filters.channel = q.channel?.rawValue
        if let text = q.webhookId {
            if let id = UUID(uuidString: text) { filters.endpoint = id } else { rules.fail("webhook_id", "is not a UUID") }
        }
        filters.limit = rules.limit(q.limit)
        filters.cursor = q.cursor
        try rules.throwIfAny()
        let page = try await alerts.deliveries(principal, filters)
        return .ok(.init(body: .json(.init(deliveries: page.items.map(\.schema), nextCursor: page.nextCursor))))
    }

    func redeliverAlert(_ input: Operations.RedeliverAlert.Input) async throws -> Operations.RedeliverAlert.Output {
        let principal = try await authenticate()
        let delivery = try await alerts.redeliver(principal, id: try uuid(input.path.deliveryId, "delivery"))
        return .accepted(.init(body: .json(delivery.schema)))
    }
}

extension WebhookRecord {
    var schema: Components.Schemas.WebhookEndpoint {
        .init(
            id: id.uuidString.lowercased(), url: url, description: description,
            eventTypes: eventTypes.compactMap(Components.Schemas.AlertEventType.init(rawValue:)), enabled: enabled,
            disabledReason: disabledReason, failingSince: failingSince, previousSecretExpiresAt: previousSecretExpiresAt,
            createdAt: createdAt, updatedAt: updatedAt)
    }
}

extension DeliveryRecord {
    var schema: Components.Schemas.Delivery {
        .init(
            id: id.uuidString.lowercased(), webhookMessageId: StandardWebhooks.messageID(id), eventId: eventID.uuidString.lowercased(),
            eventType: eventType, channel: .init(rawValue: channel) ?? .webhook, webhookId: endpoint?.uuidString.lowercased(),
            signalId: signal?.uuidString.lowercased(), status: .init(rawValue: status) ?? .pending, reason: reason, silent: silent,
            attempts: attempts.map {
                .init(attempt: $0.attempt, at: $0.at, outcome: .init(rawValue: $0.outcome) ?? .failed, statusCode: $0.statusCode,
                      latencyMs: $0.latencyMS, error: $0.error)
            },
            nextAttemptAt: nextAttemptAt, createdAt: createdAt, deliveredAt: deliveredAt)
    }
}
