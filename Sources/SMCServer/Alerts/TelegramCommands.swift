import Foundation
import Logging
import PostgresNIO
import SMCEngine

/// The commands users send the bot (`/start <code>`, `/stop`, `/status`, `/last`), each answered in HTML. They run as
/// the worker role: the chat, not a session, says whose account it is.
struct TelegramCommands: Sendable {
    let deliveries: TelegramDeliveries
    var database: Database { deliveries.database }
    var logger: Logger { deliveries.logger }
    var links: TelegramLinks { deliveries.links }
    var plans: PlansService { PlansService(database: database) }

    /// The account a chat is linked to, as the commands show it.
    private func account(chat: Int64, _ connection: PostgresConnection) async throws
        -> (tenant: UUID, user: UUID, email: String, plan: PlanRecord)?
    {
        guard let (tenant, user) = try await links.holder(chat: chat, connection),
              let email = try await AccountsService.email(tenant, user: user, connection, logger: logger),
              let plan = try await plans.plans(forTenants: [tenant], connection)[tenant]
        else { return nil }
        return (tenant, user, email, plan)
    }

    static let help = "Commands: /status — your alert setup; /last — your latest signals; /stop — stop alerts here."

    /// The answer to a message sent to the bot (HTML).
    func handle(text: String, chat: Int64, username: String?) async throws -> String {
        let words = text.split(whereSeparator: { $0.isWhitespace }).map(String.init)
        // `/start@BotName code` in groups: the command without the bot's name.
        let command = words.first.map { String($0.split(separator: "@").first ?? "") }?.lowercased() ?? ""
        switch command {
        case "/start":
            guard words.count >= 2 else {
                return "Hello! To get your alerts here, open the link the app gives you (Alerts → Telegram → Link).\n" + Self.help
            }
            return try await link(code: words[1], chat: chat, username: username)
        case "/stop":
            let unlinked = try await database.withWorker { connection in
                try await deliveries.unlink(chat: chat, reason: "/stop in the chat", notify: false, connection)
            }
            return unlinked == nil ? "This chat is not linked to an account." : "Unlinked. You will get no more alerts here."
        case "/status": return try await status(chat: chat)
        case "/last": return try await last(chat: chat)
        default: return Self.help
        }
    }

    private func link(code: String, chat: Int64, username: String?) async throws -> String {
        let invalid = "This link is not valid or has expired. Ask the app for a new one."
        guard let tenant = TelegramLinkCode.tenant(code) else { return invalid }
        return try await database.withWorker { connection in
            guard let (user, valid) = try await links.consumeCode(tenant, hash: TelegramLinkCode.hash(code), connection), valid else {
                return invalid
            }
            guard let email = try await AccountsService.email(tenant, user: user, connection, logger: logger),
                  let plan = try await plans.plans(forTenants: [tenant], connection)[tenant]
            else { return invalid }
            guard plan.telegram else { return "Your plan does not include Telegram alerts." }
            try await links.link(tenant, user: user, chat: chat, username: username, connection)
            return "✅ Linked to <b>\(TelegramText.escape(email))</b>. Your alerts will arrive here.\n" + Self.help
        }
    }

    private func status(chat: Int64) async throws -> String {
        try await database.withWorker { connection in
            guard let a = try await account(chat: chat, connection) else {
                return "This chat is not linked. Open the link from the app to get your alerts here."
            }
            let (today, pending) = try await deliveries.queue.counts(a.tenant, user: a.user, connection)
            let webhooks = try await WebhookEndpoints(logger: logger).enabled(a.tenant, user: a.user, except: nil, connection).count
            let e = TelegramText.escape
            return """
                <b>Linked to</b> \(e(a.email)) (plan \(e(a.plan.id)))
                Delivered today: \(today) · queued: \(pending)
                Webhooks enabled: \(webhooks)
                """
        }
    }

    private func last(chat: Int64) async throws -> String {
        try await database.withWorker { connection in
            guard let a = try await account(chat: chat, connection) else {
                return "This chat is not linked. Open the link from the app to get your alerts here."
            }
            var lines = ["<b>Latest signals</b>"]
            // The plan's history applies here as everywhere: an older signal is not shown.
            let days = a.plan.historyDays
            let e = TelegramText.escape
            let latest = try await SignalStore(logger: logger).latest(a.tenant, visibleDays: days, limit: 5, connection)
            for s in try await SignalsService.withTicks(latest, connection, logger: logger) {
                // Entry at the symbol's tick, confidence to 0.1, R to 0.01 before and after costs.
                let outcome = s.outcome.map { o in
                    " · \(e(o.kind))" + (o.r.map { String(format: " %+.2fR (%+.2fR net)", $0, $0 - s.costR) } ?? "")
                } ?? " · open"
                lines.append("\(s.direction > 0 ? "🟢 long" : "🔴 short") \(e(s.symbol)) \(e(s.timeframe)) · "
                    + "\(s.setupType == "order_block" ? "OB" : "FVG") · conf \(String(format: "%.1f", s.confidence)) · "
                    + "entry \(s.format.text(s.entry)) · \(e(CivilTime.minuteText(Int64(s.closeTime.timeIntervalSince1970)))) UTC" + outcome)
            }
            if lines.count == 1 { lines.append("No signals yet.") }
            return lines.joined(separator: "\n")
        }
    }
}
