import Foundation
import Logging
import PostgresNIO

/// The Telegram queue, as the worker role: each chat's next due message, leased with its chat, and each attempt
/// recorded through `DeliveryLifecycle` (a chat that blocked the bot is unlinked and the user told on their webhooks).
struct TelegramDeliveries: Sendable {
    let database: Database
    let queue: DeliveryQueue
    let links: TelegramLinks
    let notices: ChannelNotices
    let policy: RetryPolicy
    let metrics: AlertMetrics
    var logger: Logger { database.logger }

    /// The oldest unfinished message of each chat, when it is due, with the chat (nil: no longer linked).
    func heads(limit: Int) async throws -> [(tenant: UUID, id: UUID, chat: Int64?)] {
        try await database.withWorker { connection in
            let heads = try await queue.telegramHeads(limit: limit, connection)
            let chats = try await links.chats(heads.map { ($0.tenant, $0.user) }, connection)
            return heads.map { ($0.tenant, $0.id, chats[$0.user]) }
        }
    }

    /// Leases one message (nil when it is no longer due, or its chat is gone: then it is cancelled).
    func claim(tenant: UUID, id: UUID) async throws -> ClaimedDelivery? {
        try await database.withWorker { connection in
            guard var delivery = try await queue.lease([(tenant, id)], dueOnly: true, connection).first else { return nil }
            guard let chat = try await links.chat(tenant, user: delivery.user, connection) else {
                try await queue.cancel(.deliveries([(tenant, id)]), .telegramNotLinked, connection)
                return nil
            }
            delivery.chat = chat
            return delivery
        }
    }

    func record(_ d: ClaimedDelivery, started: Date, _ outcome: TelegramOutcome, _ report: AttemptReport) async throws {
        switch outcome {
        case .sent: metrics.attempt(channel: "telegram", outcome: "delivered")
        case .throttled: metrics.attempt(channel: "telegram", outcome: "throttled")
        case .blocked: metrics.attempt(channel: "telegram", outcome: "blocked")
        case .rejected, .failed: metrics.attempt(channel: "telegram", outcome: "failed")
        }
        var lifecycle = d.lifecycle
        let actions = lifecycle.attempted(telegram: outcome, report, policy: policy, random: Double.random(in: 0...1))
        try await database.withWorker { connection in
            try await queue.perform(actions, for: d, started: started, report, connection)
            for case .unlinkChat(let reason) in actions {
                if let chat = d.chat { try await unlink(chat: chat, reason: reason, notify: true, connection) }
            }
        }
    }

    /// Unlinks a chat (from whichever user it belongs to), cancels its queued messages and, when asked, tells the
    /// user on their webhooks. Returns the (tenant, user) it belonged to.
    @discardableResult
    func unlink(chat: Int64, reason: String, notify shouldNotify: Bool, _ connection: PostgresConnection) async throws -> (UUID, UUID)? {
        guard let (tenant, user) = try await links.unlink(chat: chat, connection) else { return nil }
        try await queue.cancel(.telegram(tenant: tenant, user: user), .telegramUnlinked(reason), connection)
        if shouldNotify {
            let data = AlertData(message: "Telegram alerts stopped: \(reason). Link the chat again to resume them.", silent: false)
            try await notices.notify(tenant: tenant, user: user, type: "telegram.unlinked", data: data, telegram: false, connection)
        }
        return (tenant, user)
    }
}
