import Configuration
import Foundation

/// `SMC_ALERT_*`, `SMC_WEBHOOK_*` and `SMC_TELEGRAM_*` tuning of alert delivery (the bot token, its API URL and
/// `SMC_ALLOW_PRIVATE_TARGETS` are top-level settings of `AppConfiguration`). The defaults are production values;
/// tests shrink the time windows rather than sleep through them.
public struct AlertSettings: Sendable {
    /// `SMC_ALERT_WORKERS`: delivery loops in this process (each runs `concurrency` deliveries at once); 0 turns
    /// delivery off in this process (an HTTP-only replica).
    public var workers = 1
    /// `SMC_ALERT_CONCURRENCY`: deliveries in flight at once per loop: a hanging receiver holds one slot, not the loop.
    public var concurrency = 32
    /// `SMC_WEBHOOK_ENDPOINT_CONCURRENCY`: deliveries in flight to one endpoint across all processes, so one slow
    /// endpoint cannot take every slot.
    public var perEndpointConcurrency = 4
    /// `SMC_ALERT_POLL_MS`: how often idle loops look for queued events and due deliveries.
    public var poll: Duration = .milliseconds(200)
    /// `SMC_WEBHOOK_TIMEOUT_SECONDS`: one webhook request, connection to last body byte.
    public var webhookTimeout: Duration = .seconds(15)
    /// `SMC_WEBHOOK_RETRY_SCHEDULE`: seconds before each attempt, comma-separated; after the last, a delivery is dead.
    public var retrySchedule: [Duration] = [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000].map { .seconds($0) }
    /// `SMC_WEBHOOK_DISABLE_AFTER_SECONDS`: an endpoint failing this long without a success is disabled (5 days).
    public var disableAfter: Duration = .seconds(5 * 86_400)
    /// `SMC_WEBHOOK_SECRET_OVERLAP_SECONDS`: after a rotation the previous secret keeps signing this long (default 24 h).
    public var secretOverlap: Duration = .seconds(86_400)
    /// `SMC_ALERT_HISTORY_DAYS`: finished deliveries (delivered, dead, suppressed, cancelled) and their attempts are
    /// listed this long after they were queued, then pruned (30 days).
    public var historyDays = 30
    /// `SMC_ALERT_LIVE_CANDLES` and `SMC_ALERT_LIVE_MIN_SECONDS`: only live signals are alerted. A signal or outcome
    /// whose candle closed longer before it was committed than this many of its stream's candles, and at least this
    /// many seconds, is history (a backfill): stored and synced, its deliveries `suppressed` with reason `historical`.
    public var liveWindow = LiveWindow()
    /// How often each process prunes finished deliveries past `historyDays` (tests shorten it).
    public var historyPruneInterval: Duration = .seconds(600)
    /// `SMC_SECRETS_KEY`: base64 of 32 bytes; webhook signing secrets are stored sealed under it (`SecretBox`). Unset:
    /// they are stored as they are.
    public var secretsKey: [UInt8]?
    /// `SMC_SECRETS_KEY_PREVIOUS`: older keys (comma-separated), still used to open what they sealed.
    public var previousSecretsKeys: [[UInt8]] = []
    /// `SMC_TELEGRAM_CHAT_INTERVAL_MS`: at most one message per chat per this interval (Telegram: 1 s).
    public var telegramChatInterval: Duration = .seconds(1)
    /// `SMC_TELEGRAM_GLOBAL_PER_SECOND`: messages per second over all chats (Telegram: about 30).
    public var telegramGlobalPerSecond = 30.0
    /// `SMC_TELEGRAM_POLL_SECONDS`: the long-poll wait of `getUpdates`.
    public var telegramPollTimeout: Duration = .seconds(25)
    /// `SMC_TELEGRAM_BOT_USERNAME`: the bot's @name for `t.me` links; asked from `getMe` when unset.
    public var telegramBotUsername: String?
    /// `SMC_TELEGRAM_LINK_TTL_SECONDS`: how long a `/start` code is valid (1 hour).
    public var linkCodeTTL: Duration = .seconds(3600)

    public init() {}

    public init(reader: ConfigReader) throws {
        self.init()
        typealias Invalid = AppConfiguration.Invalid
        workers = reader.int(forKey: "smc.alert.workers", default: workers)
        guard (0...16).contains(workers) else { throw Invalid(description: "SMC_ALERT_WORKERS must be 0…16") }
        concurrency = reader.int(forKey: "smc.alert.concurrency", default: concurrency)
        guard (1...1024).contains(concurrency) else { throw Invalid(description: "SMC_ALERT_CONCURRENCY must be 1…1024") }
        perEndpointConcurrency = reader.int(forKey: "smc.webhook.endpoint.concurrency", default: perEndpointConcurrency)
        guard (1...256).contains(perEndpointConcurrency) else {
            throw Invalid(description: "SMC_WEBHOOK_ENDPOINT_CONCURRENCY must be 1…256")
        }
        let pollMS = reader.int(forKey: "smc.alert.poll.ms", default: 200)
        guard (5...60_000).contains(pollMS) else { throw Invalid(description: "SMC_ALERT_POLL_MS must be 5…60000") }
        poll = .milliseconds(pollMS)
        webhookTimeout = try Self.seconds(reader, "smc.webhook.timeout.seconds", "SMC_WEBHOOK_TIMEOUT_SECONDS", 15, 0.1...120)
        let schedule = reader.string(forKey: "smc.webhook.retry.schedule", default: "")
        if !schedule.trimmingWhitespace().isEmpty {
            let parts = schedule.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard !parts.isEmpty, parts.count <= 50, parts.allSatisfy({ $0.map { $0 >= 0 && $0 <= 7 * 86_400 } ?? false }) else {
                throw Invalid(description: "SMC_WEBHOOK_RETRY_SCHEDULE must be 1–50 comma-separated seconds (0…604800), e.g. 0,5,300")
            }
            retrySchedule = parts.map { .milliseconds(Int64($0! * 1000)) }
        }
        disableAfter = try Self.seconds(reader, "smc.webhook.disable.after.seconds", "SMC_WEBHOOK_DISABLE_AFTER_SECONDS", 432_000, 1...(365 * 86_400))
        secretOverlap = try Self.seconds(reader, "smc.webhook.secret.overlap.seconds", "SMC_WEBHOOK_SECRET_OVERLAP_SECONDS", 86_400, 0...(30 * 86_400))
        historyDays = reader.int(forKey: "smc.alert.history.days", default: historyDays)
        guard (1...3650).contains(historyDays) else { throw Invalid(description: "SMC_ALERT_HISTORY_DAYS must be 1…3650") }
        liveWindow.candles = reader.int(forKey: "smc.alert.live.candles", default: liveWindow.candles)
        guard (1...10_000).contains(liveWindow.candles) else { throw Invalid(description: "SMC_ALERT_LIVE_CANDLES must be 1…10000") }
        liveWindow.minSeconds = reader.int(forKey: "smc.alert.live.min.seconds", default: liveWindow.minSeconds)
        guard (0...31 * 86_400).contains(liveWindow.minSeconds) else {
            throw Invalid(description: "SMC_ALERT_LIVE_MIN_SECONDS must be 0…2678400")
        }
        if let key = reader.string(forKey: "smc.secrets.key")?.trimmingWhitespace(), !key.isEmpty {
            secretsKey = try SecretBox.parseKey(key, name: "SMC_SECRETS_KEY")
        }
        previousSecretsKeys = try reader.string(forKey: "smc.secrets.key.previous", default: "").split(separator: ",")
            .map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
            .map { try SecretBox.parseKey($0, name: "SMC_SECRETS_KEY_PREVIOUS") }
        let chatMS = reader.int(forKey: "smc.telegram.chat.interval.ms", default: 1000)
        guard (10...60_000).contains(chatMS) else { throw Invalid(description: "SMC_TELEGRAM_CHAT_INTERVAL_MS must be 10…60000") }
        telegramChatInterval = .milliseconds(chatMS)
        telegramGlobalPerSecond = reader.double(forKey: "smc.telegram.global.per.second", default: telegramGlobalPerSecond)
        guard telegramGlobalPerSecond >= 0.1 && telegramGlobalPerSecond <= 1000 else {
            throw Invalid(description: "SMC_TELEGRAM_GLOBAL_PER_SECOND must be 0.1…1000")
        }
        telegramPollTimeout = try Self.seconds(reader, "smc.telegram.poll.seconds", "SMC_TELEGRAM_POLL_SECONDS", 25, 0...50)
        telegramBotUsername = reader.string(forKey: "smc.telegram.bot.username").flatMap { $0.isEmpty ? nil : $0 }
        linkCodeTTL = try Self.seconds(reader, "smc.telegram.link.ttl.seconds", "SMC_TELEGRAM_LINK_TTL_SECONDS", 3600, 1...86_400)
    }

    private static func seconds(
        _ reader: ConfigReader, _ key: ConfigKey, _ name: String, _ fallback: Double, _ range: ClosedRange<Double>
    ) throws -> Duration {
        let value = reader.double(forKey: key, default: fallback)
        guard range.contains(value) else {
            throw AppConfiguration.Invalid(description: "\(name) must be \(range.lowerBound)…\(range.upperBound) seconds")
        }
        return .milliseconds(Int64(value * 1000))
    }
}

/// How late a signal or outcome may be committed after its candle closed and still be alerted.
public struct LiveWindow: Sendable, Equatable {
    public var candles = 2
    public var minSeconds = 300

    public init(candles: Int = 2, minSeconds: Int = 300) {
        self.candles = candles
        self.minSeconds = minSeconds
    }

    /// The longest delay, in seconds, for a stream of `timeframeSeconds` candles.
    public func limit(timeframeSeconds: Int64) -> Int64 {
        max(Int64(candles) * timeframeSeconds, Int64(minSeconds))
    }

    /// Whether something about a candle that closed at `candleClose` and was committed at `committed` is history.
    public func isHistorical(candleClose: Date, committed: Date, timeframeSeconds: Int64) -> Bool {
        committed.timeIntervalSince(candleClose) > Double(limit(timeframeSeconds: timeframeSeconds))
    }
}
