import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO
import SMCEngine
import ServiceLifecycle
import Synchronization


/// The server-wide bot: sends queued Telegram alerts within the flood limits, and long-polls `getUpdates` for the
/// commands users send it (`/start <code>`, `/stop`, `/status`, `/last`).
///
/// **One process per bot token.** Both run only in the process that holds a PostgreSQL advisory lock keyed by the bot
/// (on a connection of its own, like the Binance connector's): Telegram allows one `getUpdates` consumer per token,
/// and one sender makes the in-memory token buckets exact for the whole bot. Another process takes over within a few
/// seconds of the holder's death (its connection, and with it the lock, is gone). Deliveries are leased rows, so a
/// message in flight when the holder died is sent again (at least once).
struct TelegramBot: Service {
    let token: String?
    let apiURL: String
    let settings: AlertSettings
    let deliveries: TelegramDeliveries
    let lockConnection: PostgresConnection.Configuration
    let doorbell: Doorbell
    /// Renders signal alerts' charts (sent as photos when the payload carries `chart_url`); nil: text only.
    var charts: ChartService?
    var database: Database { deliveries.database }
    var logger: Logger { deliveries.logger }
    var links: TelegramLinks { deliveries.links }

    func run() async throws {
        guard let token, settings.workers > 0 else {
            try? await gracefulShutdown()
            return
        }
        let http = HTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup,
            configuration: .init(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10))),
            backgroundActivityLogger: logger)
        let api = TelegramAPI(http: http, baseURL: apiURL, token: token)
        let locks = AdvisoryLocks(configuration: lockConnection, logger: logger)
        let limiter = TelegramLimiter(chatInterval: settings.telegramChatInterval, globalPerSecond: settings.telegramGlobalPerSecond)
        let key = TelegramAPI.botID(token) ^ 0x736D_635F_7467_0000  // "smc_tg": apart from other advisory locks
        // Wait for the bot's lock (another process may hold it), then run while it is held.
        await WorkerLoop(name: "telegram bot lock", poll: .seconds(2), logger: logger).run {
            try await locks.tryLock(key)
        } then: { held in
            guard let held else { return .idle }
            logger.info("telegram bot active in this process")
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await sendLoop(api, limiter) }
                group.addTask { await pollLoop(api, limiter, TelegramCommands(deliveries: deliveries)) }
                group.addTask {
                    await WorkerLoop(name: "telegram bot lock check", poll: .seconds(1), logger: logger).run {
                        await locks.isHeld(held) ? .idle : .stop
                    }
                }
                await group.next()
                group.cancelAll()
            }
            await locks.unlock(key, held)
            return .worked
        }
        await locks.close()
        try? await http.shutdown()
    }

    // MARK: sending

    private func sendLoop(_ api: TelegramAPI, _ limiter: TelegramLimiter) async {
        let inFlight = InFlightChats()
        let deliveries = self.deliveries, logger = self.logger
        await withDiscardingTaskGroup { group in
            await WorkerLoop(name: "telegram sender", poll: settings.poll, wake: doorbell, logger: logger).run {
                var claimed: [(delivery: ClaimedDelivery, chat: Int64, wait: Double)] = []
                do {
                    for head in try await deliveries.heads(limit: 200) {
                        // Book no further ahead than a second: a claimed message must go well within its lease.
                        if limiter.globalDelay() > 1 { break }
                        if let chat = head.chat, inFlight.contains(chat) || !limiter.chatReady(chat) { continue }
                        guard let delivery = try await deliveries.claim(tenant: head.tenant, id: head.id), let chat = delivery.chat
                        else { continue }
                        inFlight.insert(chat)
                        claimed.append((delivery, chat, limiter.reserve(chat)))
                    }
                } catch where !claimed.isEmpty {
                    // What was claimed goes out; the rest is found again next round.
                    logger.debug("telegram sender failed; retrying", metadata: ["error": "\(String(reflecting: error))"])
                }
                return claimed
            } then: { claimed in
                for (delivery, chat, wait) in claimed {
                    group.addTask {
                        if wait > 0 { try? await Task.sleep(for: .milliseconds(Int64(wait * 1000))) }
                        await send(delivery, chat: chat, api, limiter)
                        inFlight.remove(chat)
                        doorbell.ring()
                    }
                }
                return claimed.isEmpty ? .idle : .worked
            }
        }
    }

    private func send(_ delivery: ClaimedDelivery, chat: Int64, _ api: TelegramAPI, _ limiter: TelegramLimiter) async {
        let started = Date()
        let clock = ContinuousClock()
        let began = clock.now
        var outcome: TelegramOutcome
        var report: AttemptReport
        do {
            let event = try AlertEvent.decode(delivery.payload)
            let silent = delivery.silent || event.data.silent
            let answer: TelegramAPI.Answer
            if let png = await chart(for: event, delivery) {
                answer = try await sendPhoto(png, event, chat: chat, silent: silent, api, limiter)
            } else {
                limiter.markSent(chat)
                answer = try await api.sendMessage(chat: chat, html: TelegramText.render(event), silent: silent)
            }
            let error = answer.ok ? nil : answer.description
            report = AttemptReport(result: .answered(status: answer.status, retryAfter: answer.retryAfter), statusCode: answer.status,
                                   latency: clock.now - began, error: error)
            outcome = TelegramOutcome(status: answer.status, ok: answer.ok, retryAfter: answer.retryAfter)
            if case .throttled(let wait) = outcome { limiter.hold(chat, for: wait) }
        } catch {
            report = AttemptReport(result: .transportFailed("\(error)"), statusCode: nil, latency: clock.now - began, error: "\(error)")
            outcome = .failed
        }
        do {
            try await deliveries.record(delivery, started: started, outcome, report)
        } catch {
            logger.warning("could not record a Telegram attempt (its lease will expire and it is sent again)",
                           metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    /// The chart of a signal alert whose payload has `chart_url` (the user wants pictures); nil when there is none to
    /// send or it cannot be drawn (the alert then goes as text: a failed chart never loses an alert).
    private func chart(for event: AlertEvent, _ delivery: ClaimedDelivery) async -> [UInt8]? {
        guard let charts, event.data.chartUrl != nil, event.type == "signal.created" || event.type == "signal.outcome",
              let id = event.data.signalId.flatMap(UUID.init(uuidString:))
        else { return nil }
        do {
            return try await charts.alertChart(tenant: delivery.tenant, user: delivery.user, signal: id)
        } catch {
            logger.warning("could not draw an alert's chart; sending it as text",
                           metadata: ["signal_id": "\(id)", "error": "\(String(reflecting: error))"])
            return nil
        }
    }

    /// The chart with its caption; when the whole message does not fit in a caption it follows as a text message
    /// (within the chat's flood limit). Telegram refusing the photo itself (a 400) sends the text message instead.
    private func sendPhoto(_ png: [UInt8], _ event: AlertEvent, chat: Int64, silent: Bool, _ api: TelegramAPI,
                           _ limiter: TelegramLimiter) async throws -> TelegramAPI.Answer
    {
        let (caption, followUp) = TelegramText.caption(event)
        limiter.markSent(chat)
        let answer = try await api.sendPhoto(chat: chat, png: png, caption: caption, silent: silent)
        if answer.status == 400 {
            logger.warning("telegram refused an alert's photo; sending it as text", metadata: ["error": "\(answer.description)"])
            let pause = limiter.reserve(chat)
            if pause > 0 { try? await Task.sleep(for: .milliseconds(Int64(pause * 1000))) }
            limiter.markSent(chat)
            return try await api.sendMessage(chat: chat, html: TelegramText.render(event), silent: silent)
        }
        if answer.ok && followUp {
            let pause = limiter.reserve(chat)
            if pause > 0 { try? await Task.sleep(for: .milliseconds(Int64(pause * 1000))) }
            limiter.markSent(chat)
            let full = try? await api.sendMessage(chat: chat, html: TelegramText.render(event), silent: true)
            if full?.ok != true {
                logger.warning("the full text after an alert's photo was not sent", metadata: ["error": "\(full?.description ?? "no answer")"])
            }
        }
        return answer
    }

    // MARK: receiving

    private func pollLoop(_ api: TelegramAPI, _ limiter: TelegramLimiter, _ commands: TelegramCommands) async {
        let botID = TelegramAPI.botID(api.token)
        let database = self.database, logger = self.logger
        let wait = Int(settings.telegramPollTimeout.milliseconds / 1000)
        let backoff = Backoff(first: .seconds(1), cap: .seconds(30), quietFailures: 2)
        await WorkerLoop(name: "telegram getUpdates", poll: .zero, backoff: backoff, logger: logger).run {
            // The long poll is cancelled on shutdown; what it fetched is answered (below) before the loop ends.
            let offset = try await database.withWorker { connection in
                try await connection.query("SELECT update_offset FROM telegram_bot_state WHERE bot_id = \(botID)", logger: logger)
                    .collect().first?.decode(Int64.self) ?? 0
            }
            let answer = try await api.call(
                "getUpdates", ["offset": offset, "timeout": wait, "allowed_updates": ["message"]], timeout: .seconds(Int64(wait) + 10))
            return (offset, answer)
        } then: { (offset: Int64, answer: TelegramAPI.Answer) in
            guard answer.ok else {
                if let after = answer.retryAfter { return .wait(after) }
                throw TelegramError(description: "getUpdates: \(answer.description)")
            }
            var next = offset
            for update in answer.json["result"] as? [[String: Any]] ?? [] {
                guard let id = (update["update_id"] as? NSNumber)?.int64Value else { continue }
                next = max(next, id + 1)
                guard let message = update["message"] as? [String: Any],
                      let chat = ((message["chat"] as? [String: Any])?["id"] as? NSNumber)?.int64Value,
                      let text = message["text"] as? String
                else { continue }
                let username = (message["from"] as? [String: Any])?["username"] as? String
                let reply: String
                do {
                    reply = try await commands.handle(text: text, chat: chat, username: username)
                } catch {
                    logger.warning("telegram command failed", metadata: ["error": "\(String(reflecting: error))"])
                    reply = "Something went wrong; please try again in a moment."
                }
                let pause = limiter.reserve(chat)
                if pause > 0 { try? await Task.sleep(for: .milliseconds(Int64(pause * 1000))) }
                limiter.markSent(chat)
                _ = try? await api.sendMessage(chat: chat, html: TelegramText.fit(reply), silent: false)
            }
            if next != offset {
                _ = try await database.withWorker { connection in
                    try await connection.query(
                        """
                        INSERT INTO telegram_bot_state (bot_id, update_offset) VALUES (\(botID), \(next))
                        ON CONFLICT (bot_id) DO UPDATE SET update_offset = EXCLUDED.update_offset, updated_at = now()
                        """, logger: logger)
                }
            }
            return .worked
        }
    }
}

/// The chats with a message in flight (one at a time per chat keeps their order).
final class InFlightChats: Sendable {
    private let chats = Mutex<Set<Int64>>([])
    func contains(_ chat: Int64) -> Bool { chats.withLock { $0.contains(chat) } }
    func insert(_ chat: Int64) { chats.withLock { _ = $0.insert(chat) } }
    func remove(_ chat: Int64) { chats.withLock { _ = $0.remove(chat) } }
}
