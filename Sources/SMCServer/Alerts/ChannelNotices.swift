import Foundation
import Logging
import PostgresNIO
import SMCEngine
import SMCSync

/// Notices to a user about one of their channels (a webhook disabled, a chat unlinked), sent on their others.
struct ChannelNotices: Sendable {
    let queue: DeliveryQueue
    let endpoints: WebhookEndpoints
    let links: TelegramLinks
    let plans: PlansService
    let now: @Sendable () -> Date
    var logger: Logger { queue.logger }

    /// Telegram when linked and the plan has it, else their other enabled webhooks.
    func notify(tenant: UUID, user: UUID, type: String, data: AlertData, exceptEndpoint: UUID? = nil, telegram: Bool = true,
                _ connection: PostgresConnection) async throws
    {
        let payload = try AlertEvent(type: type, timestamp: CivilTime.rfc3339(Int64(now().timeIntervalSince1970)), data: data).encoded()
        var batch = DeliveryBatch()
        let event = UUIDv7.generate()
        var linked = false
        if telegram, try await links.chat(tenant, user: user, connection) != nil {
            linked = try await plans.plan(forTenant: tenant, connection).telegram
        }
        if linked {
            batch.add(event: event, type: type, user: user, endpoint: nil, signal: nil, payload: payload, verdict: .deliver(silent: false))
        } else {
            for endpoint in try await endpoints.enabled(tenant, user: user, except: exceptEndpoint, connection) {
                batch.add(event: event, type: type, user: user, endpoint: endpoint, signal: nil, payload: payload,
                          verdict: .deliver(silent: false))
            }
        }
        if batch.isEmpty {
            logger.notice("no other channel to tell the user", metadata: ["tenant": "\(tenant)", "user": "\(user)", "notice": "\(type)"])
        }
        try await queue.insert(batch, tenant: tenant, connection)
    }
}
