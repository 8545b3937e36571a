import AsyncHTTPClient
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Builds the alerts capability from configuration: the REST service and the background services (delivery workers,
/// the Telegram bot), so that `buildApplication` wires it in two lines.
struct AlertsAssembly: Sendable {
    let channels: AlertChannelsService
    let services: [any Service]

    init(configuration: AppConfiguration, database: Database, lockConnection: PostgresConnection.Configuration,
         now: @escaping @Sendable () -> Date = { Date() })
    {
        let settings = configuration.alerts
        let guardrail = TargetGuard(allowPrivate: configuration.allowPrivateTargets)
        let doorbell = Doorbell()
        let store = DeliveryStore(
            database: database, policy: RetryPolicy(schedule: settings.retrySchedule), disableAfter: settings.disableAfter,
            lease: settings.webhookTimeout * 2 + .seconds(10), perEndpoint: settings.perEndpointConcurrency, now: now)
        let username = BotUsername(configured: settings.telegramBotUsername, token: configuration.telegramBotToken,
                                   apiURL: configuration.telegramAPIURL)
        channels = AlertChannelsService(
            database: database, plans: PlansService(database: database), guardrail: guardrail, settings: settings,
            telegramToken: configuration.telegramBotToken, telegramAPI: { try await username.get() })
        services = [
            AlertWorkers(fanout: AlertFanout(database: database, now: now), store: store, guardrail: guardrail, settings: settings,
                         doorbell: doorbell),
            TelegramBot(token: configuration.telegramBotToken, apiURL: configuration.telegramAPIURL, settings: settings, store: store,
                        lockConnection: lockConnection, doorbell: doorbell),
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
