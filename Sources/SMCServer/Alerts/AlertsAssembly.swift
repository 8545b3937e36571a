import AsyncHTTPClient
import Foundation
import Logging
import PostgresNIO
import Prometheus
import ServiceLifecycle
import Synchronization

/// Builds the alerts capability from configuration: the REST service and the background services (delivery workers,
/// the Telegram bot), so that `buildApplication` wires it in two lines.
struct AlertsAssembly: Sendable {
    let channels: AlertChannelsService
    let services: [any Service]

    init(configuration: AppConfiguration, database: Database, lockConnection: PostgresConnection.Configuration,
         metrics: PrometheusCollectorRegistry, chartLinks: ChartLinks, now: @escaping @Sendable () -> Date = { Date() })
    {
        let settings = configuration.alerts
        if settings.secretsKey == nil {
            database.logger.notice("webhook signing secrets are stored unsealed: set SMC_SECRETS_KEY (base64 of 32 bytes) to seal them")
        }
        let guardrail = TargetGuard(allowPrivate: configuration.allowPrivateTargets)
        let doorbell = Doorbell()
        let secretBox = SecretBox(current: settings.secretsKey, previous: settings.previousSecretsKeys)
        let queue = DeliveryQueue(
            logger: database.logger, lease: settings.webhookTimeout * 2 + .seconds(10), perEndpoint: settings.perEndpointConcurrency)
        let plans = PlansService(database: database)
        let endpoints = WebhookEndpoints(logger: database.logger), links = TelegramLinks(logger: database.logger)
        let notices = ChannelNotices(queue: queue, endpoints: endpoints, links: links, plans: plans, now: now)
        let policy = RetryPolicy(schedule: settings.retrySchedule), alertMetrics = AlertMetrics(registry: metrics)
        let webhooks = WebhookDeliveries(
            database: database, queue: queue, endpoints: endpoints, notices: notices, policy: policy, disableAfter: settings.disableAfter,
            metrics: alertMetrics, secretBox: secretBox, now: now)
        let telegram = TelegramDeliveries(
            database: database, queue: queue, links: links, notices: notices, policy: policy, metrics: alertMetrics)
        let username = BotUsername(configured: settings.telegramBotUsername, token: configuration.telegramBotToken,
                                   apiURL: configuration.telegramAPIURL)
        channels = AlertChannelsService(
            database: database, plans: plans, guardrail: guardrail, settings: settings,
            telegramToken: configuration.telegramBotToken, telegramAPI: { try await username.get() }, secretBox: secretBox)
        services = [
            AlertWorkers(fanout: AlertFanout(database: database, queue: queue, liveWindow: settings.liveWindow, links: chartLinks, now: now), webhooks: webhooks, guardrail: guardrail, settings: settings,
                         doorbell: doorbell),
            TelegramBot(token: configuration.telegramBotToken, apiURL: configuration.telegramAPIURL, settings: settings, deliveries: telegram,
                        lockConnection: lockConnection, doorbell: doorbell,
                        charts: ChartService(database: database, plans: plans, rateLimiter: RateLimiter(), links: chartLinks)),
        ]
    }
}

/// The bot's `@username` for `t.me` links: the configured one, else asked once from `getMe` and kept.
final class BotUsername: Sendable {
    private let configured: String?
    private let token: String?
    private let apiURL: String
    private let cached = Mutex<String?>(nil)

    init(configured: String?, token: String?, apiURL: String) {
        self.configured = configured
        self.token = token
        self.apiURL = apiURL
    }

    func get() async throws -> String {
        if let configured { return configured }
        if let name = cached.withLock({ $0 }) { return name }
        guard let token else { throw TelegramError(description: "no bot token") }
        let name = try await TelegramAPI(http: HTTPClient.shared, baseURL: apiURL, token: token).username()
        cached.withLock { $0 = name }
        return name
    }
}

/// `smc_alert_attempts_total{channel, outcome}` and `smc_alert_events_total` at `/metrics`.
struct AlertMetrics: Sendable {
    let registry: PrometheusCollectorRegistry

    static var attempts: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "smc", subsystem: "alert", metricName: "attempts", unitName: "total",
                             helpText: "Alert delivery attempts by channel (webhook, telegram) and outcome")
    }
    static var events: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "smc", subsystem: "alert", metricName: "events", unitName: "total",
                             helpText: "Outbox events fanned out into deliveries")
    }

    func attempt(channel: String, outcome: String) {
        registry.makeCounter(descriptor: Self.attempts, labels: [("channel", channel), ("outcome", outcome)]).increment()
    }

    func fannedOut(_ count: Int) {
        registry.makeCounter(descriptor: Self.events, labels: []).increment(by: Int64(count))
    }
}
