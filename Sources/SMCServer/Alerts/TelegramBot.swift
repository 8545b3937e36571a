import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO
import SMCEngine
import ServiceLifecycle
import Synchronization

/// The Bot API over async-http-client: `POST {base}/bot{token}/{method}` with a JSON body.
struct TelegramAPI: Sendable {
    let http: HTTPClient
    let baseURL: String
    let token: String

    struct Answer: Sendable {
        var status: Int
        var body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var ok: Bool { status == 200 && (json["ok"] as? Bool ?? false) }
        var description: String { json["description"] as? String ?? "HTTP \(status)" }
        /// `parameters.retry_after` of a 429.
        var retryAfter: Duration? {
            ((json["parameters"] as? [String: Any])?["retry_after"] as? NSNumber).map { .milliseconds(Int64($0.doubleValue * 1000)) }
        }
    }

    /// The bot's id: the numeric part of its token.
    static func botID(_ token: String) -> Int64 {
        if let id = token.split(separator: ":").first.flatMap({ Int64($0) }) { return id }
        return SHA256.hash(data: Data(token.utf8)).prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) } & Int64.max
    }

    func call(_ method: String, _ body: Data, timeout: Duration) async throws -> Answer {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        var request = HTTPClientRequest(url: "\(base)/bot\(token)/\(method)")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        let http = self.http, prepared = request
        return try await withDeadline(timeout) {
            let response = try await http.execute(prepared, timeout: timeout.timeAmount)
            let bytes = try await response.body.collect(upTo: 4 * 1024 * 1024)
            return Answer(status: Int(response.status.code), body: Data(buffer: bytes))
        }
    }

    func call(_ method: String, _ object: [String: Any], timeout: Duration = .seconds(15)) async throws -> Answer {
        try await call(method, try JSONSerialization.data(withJSONObject: object), timeout: timeout)
    }

    func sendMessage(chat: Int64, html: String, silent: Bool) async throws -> Answer {
        try await call("sendMessage", [
            "chat_id": chat, "text": html, "parse_mode": "HTML", "disable_notification": silent,
            "link_preview_options": ["is_disabled": true],
        ])
    }

    /// The bot's `@username` (from `getMe`).
    func username() async throws -> String {
        let answer = try await call("getMe", [:])
        guard answer.ok, let name = (answer.json["result"] as? [String: Any])?["username"] as? String else {
            throw TelegramError(description: "getMe failed: \(answer.description)")
        }
        return name
    }
}

struct TelegramError: Error, CustomStringConvertible {
    var description: String
}

/// The one-time code of a `/start` deep link: the tenant's id (so the bot knows where to look) and 16 random bytes,
/// base64url (43 characters, within Telegram's 64); only its SHA-256 is stored.
enum TelegramLinkCode {
    static func generate(tenant: UUID) -> (code: String, hash: [UInt8]) {
        var bytes = withUnsafeBytes(of: tenant.uuid) { Array($0) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<16 { bytes.append(generator.next()) }
        let code = Base64URL.encode(bytes)
        return (code, hash(code))
    }

    static func hash(_ code: String) -> [UInt8] { Array(SHA256.hash(data: Data(code.utf8))) }

    static func tenant(_ code: String) -> UUID? {
        guard code.utf8.count == 43, let bytes = Base64URL.decode(code), bytes.count == 32 else { return nil }
        return bytes.withUnsafeBytes { UUID(uuid: $0.loadUnaligned(as: uuid_t.self)) }
    }
}

/// Telegram's flood limits as two token buckets, shared by the sender and the bot's replies: one message a second per
/// chat (`chatInterval`) and about 30 a second overall. `reserve` books a slot in both and says how long to wait.
final class TelegramLimiter: Sendable {
    private struct State {
        var global: TokenBucket
        var chats: [Int64: TokenBucket] = [:]
    }
    private let state: Mutex<State>
    private let chatRate: Double
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant

    init(chatInterval: Duration, globalPerSecond: Double) {
        chatRate = 1000 / max(chatInterval.milliseconds, 1)
        state = Mutex(State(global: TokenBucket(rate: globalPerSecond)))
        origin = clock.now
    }

    private var now: Double { (clock.now - origin).milliseconds / 1000 }

    /// Whether the chat may send now (without booking).
    func chatReady(_ chat: Int64) -> Bool {
        let now = self.now
        return state.withLock { ($0.chats[chat] ?? TokenBucket(rate: chatRate)).delay(now: now) == 0 }
    }

    /// Seconds until the overall bucket has a token again: how far the booked messages already reach.
    func globalDelay() -> Double {
        let now = self.now
        return state.withLock { $0.global.delay(now: now) }
    }

    /// Books the chat's and the global next slot; the seconds to wait before sending.
    func reserve(_ chat: Int64) -> Double {
        let now = self.now
        let chatRate = self.chatRate
        return state.withLock { state in
            var bucket = state.chats[chat] ?? TokenBucket(rate: chatRate)
            let wait = max(bucket.reserve(now: now), state.global.reserve(now: now))
            state.chats[chat] = bucket
            if state.chats.count > 10_000 { state.chats = state.chats.filter { $0.value.delay(now: now) > 0 } }
            return wait
        }
    }

    /// The chat's message goes out now: its next one waits a full interval from this moment (not from when this one was
    /// booked, which a busy machine may have delayed).
    func markSent(_ chat: Int64) {
        let now = self.now
        let chatRate = self.chatRate
        state.withLock { state in
            var bucket = TokenBucket(rate: chatRate)
            _ = bucket.reserve(now: now)
            state.chats[chat] = bucket
        }
    }

    /// After a 429: the chat waits `duration` more.
    func hold(_ chat: Int64, for duration: Duration) {
        let until = duration.milliseconds / 1000
        let now = self.now
        let chatRate = self.chatRate
        state.withLock { state in
            var bucket = TokenBucket(rate: chatRate)
            _ = bucket.reserve(now: now + until - 1 / chatRate)
            state.chats[chat] = bucket
        }
    }
}

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
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if let held = try? await locks.tryLock(key) {
                logger.info("telegram bot active in this process")
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await sendLoop(api, limiter) }
                    group.addTask { await pollLoop(api, limiter) }
                    group.addTask {
                        while !Task.isShuttingDownGracefully && !Task.isCancelled, await locks.isHeld(held) {
                            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
                        }
                    }
                    await group.next()
                    group.cancelAll()
                }
                await locks.unlock(key, held)
            } else {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(2)) }
            }
        }
        await locks.close()
        try? await http.shutdown()
    }

    // MARK: sending

    private func sendLoop(_ api: TelegramAPI, _ limiter: TelegramLimiter) async {
        let inFlight = InFlightChats()
        await withDiscardingTaskGroup { group in
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                var started = 0
                do {
                    for head in try await deliveries.heads(limit: 200) {
                        // Book no further ahead than a second: a claimed message must go well within its lease.
                        if limiter.globalDelay() > 1 { break }
                        if let chat = head.chat, inFlight.contains(chat) || !limiter.chatReady(chat) { continue }
                        guard let delivery = try await deliveries.claim(tenant: head.tenant, id: head.id), let chat = delivery.chat
                        else { continue }
                        inFlight.insert(chat)
                        let wait = limiter.reserve(chat)
                        started += 1
                        group.addTask {
                            if wait > 0 { try? await Task.sleep(for: .milliseconds(Int64(wait * 1000))) }
                            await send(delivery, chat: chat, api, limiter)
                            inFlight.remove(chat)
                            doorbell.ring()
                        }
                    }
                } catch {
                    logger.debug("telegram sender failed; retrying", metadata: ["error": "\(String(reflecting: error))"])
                }
                if started == 0 {
                    try? await cancelWhenGracefulShutdown { try await doorbell.wait(upTo: settings.poll) }
                }
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
            limiter.markSent(chat)
            let answer = try await api.sendMessage(chat: chat, html: TelegramText.render(event), silent: delivery.silent || event.data.silent)
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

    // MARK: receiving

    private func pollLoop(_ api: TelegramAPI, _ limiter: TelegramLimiter) async {
        let botID = TelegramAPI.botID(api.token)
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let offset = try await database.withWorker { connection in
                    try await connection.query("SELECT update_offset FROM telegram_bot_state WHERE bot_id = \(botID)", logger: logger)
                        .collect().first?.decode(Int64.self) ?? 0
                }
                let wait = Int(settings.telegramPollTimeout.milliseconds / 1000)
                let answer = try await cancelWhenGracefulShutdown {
                    try await api.call("getUpdates", ["offset": offset, "timeout": wait, "allowed_updates": ["message"]],
                                       timeout: .seconds(Int64(wait) + 10))
                }
                guard answer.ok else {
                    if let after = answer.retryAfter { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: after) } }
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
                        reply = try await handle(text: text, chat: chat, username: username)
                    } catch {
                        logger.warning("telegram command failed", metadata: ["error": "\(String(reflecting: error))"])
                        reply = "Something went wrong; please try again in a moment."
                    }
                    let wait = limiter.reserve(chat)
                    if wait > 0 { try? await Task.sleep(for: .milliseconds(Int64(wait * 1000))) }
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
                failures = 0
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                failures += 1
                logger.log(level: failures < 3 ? .debug : .warning, "telegram getUpdates failed; retrying",
                           metadata: ["error": "\(String(reflecting: error))"])
                let pause = Duration.milliseconds(min(30_000, 500 * (1 << min(failures, 6))))
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            }
        }
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
            let account = try await connection.query(
                """
                SELECT u.email, p.telegram FROM users u JOIN tenants t USING (tenant_id) JOIN plans p USING (plan_id)
                WHERE u.tenant_id = \(tenant) AND u.user_id = \(user)
                """, logger: logger
            ).collect().first
            guard let (email, allowed) = try account?.decode((String, Bool).self) else { return invalid }
            guard allowed else { return "Your plan does not include Telegram alerts." }
            try await links.link(tenant, user: user, chat: chat, username: username, connection)
            return "✅ Linked to <b>\(TelegramText.escape(email))</b>. Your alerts will arrive here.\n" + Self.help
        }
    }

    private func status(chat: Int64) async throws -> String {
        try await database.withWorker { connection in
            guard let a = try await links.account(chat: chat, connection) else {
                return "This chat is not linked. Open the link from the app to get your alerts here."
            }
            let (today, pending) = try await deliveries.queue.counts(a.tenant, user: a.user, connection)
            let webhooks = try await WebhookEndpoints(logger: logger).enabled(a.tenant, user: a.user, except: nil, connection).count
            let e = TelegramText.escape
            return """
                <b>Linked to</b> \(e(a.email)) (plan \(e(a.plan)))
                Delivered today: \(today) · queued: \(pending)
                Webhooks enabled: \(webhooks)
                """
        }
    }

    private func last(chat: Int64) async throws -> String {
        try await database.withWorker { connection in
            guard let a = try await links.account(chat: chat, connection) else {
                return "This chat is not linked. Open the link from the app to get your alerts here."
            }
            var lines = ["<b>Latest signals</b>"]
            // The plan's history applies here as everywhere: an older signal is not shown.
            let days = try await PlansService(database: database).plan(forTenant: a.tenant, connection).historyDays
            let e = TelegramText.escape
            for s in try await SignalStore(logger: logger).latest(a.tenant, visibleDays: days, limit: 5, connection) {
                lines.append("\(s.direction > 0 ? "🟢 long" : "🔴 short") \(e(s.symbol)) \(e(s.timeframe)) · \(String(format: "%.0f", s.confidence))"
                    + " · \(e(CivilTime.rfc3339(Int64(s.candleTime.timeIntervalSince1970))))" + (s.outcome.map { " · \(e($0.kind))" } ?? " · open"))
            }
            if lines.count == 1 { lines.append("No signals yet.") }
            return lines.joined(separator: "\n")
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
