import Foundation
import Hummingbird
import Logging
import OpenAPIHummingbird
import OpenAPIRuntime
import PostgresNIO
import Prometheus
import SMCAPI
import SMCEngine
import ServiceLifecycle

/// Builds the whole server from configuration: database (external or embedded), migrations check,
/// router with middleware and the generated OpenAPI handlers, and the services that run beside it.
///
/// Shutdown order (reverse of start): the HTTP server stops accepting and drains in-flight requests,
/// then the connection pool closes, then the embedded PostgreSQL (if we started it) stops.
///
/// `now` is the wall clock the exchange connectors judge closed klines by (tests move it).
public func buildApplication(
    configuration: AppConfiguration,
    logger: Logger = Logger(label: "smc"),
    metricsRegistry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    hasher: PasswordHasher = PasswordHasher(),
    now: @escaping @Sendable () -> Date = { Date() },
    onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    let logger = {
        var logger = logger
        logger.logLevel = configuration.logLevel
        return logger
    }()

    let migrator = Migrator(
        migrations: try Migrator.load(directory: try Migrator.locateDirectory(configured: configuration.migrationsDirectory)),
        logger: logger)

    // Secrets whose shape says nothing: registered so that no log line or error shows them.
    for secret in [configuration.adminToken, configuration.telegramBotToken] { Redaction.register(secret) }
    for key in [configuration.alerts.secretsKey] + configuration.alerts.previousSecretsKeys.map(Optional.some) {
        Redaction.register(key.map { Data($0).base64EncodedString() })
    }
    let backend = try await DatabaseBackend.start(configuration: configuration, logger: logger)
    Redaction.register(backend.settings.password)
    do {
        // The schema is current before anything uses it: the workers start with the server, and on a first
        // `serve --migrate` they used to query tables the migration had not made yet.
        try await PostgresClient.withRunning(backend.settings, logger: logger, maxConnections: 1) { client in
            if configuration.migrateOnStart {
                let applied = try await migrator.migrate(client: client)
                logger.info("migrations current", metadata: ["applied_now": "\(applied.map(\.name))"])
            } else {
                let status = try await migrator.status(client: client)
                guard status.pending.isEmpty else { throw MigrationError.pending(status.pending.map(\.name)) }
            }
        }
        let client = PostgresClient(
            configuration: try backend.settings.clientConfiguration(maxConnections: configuration.databaseMaxConnections),
            backgroundLogger: logger)
        let database = Database(client: client, logger: logger)
        let metrics = HTTPMetrics(registry: metricsRegistry)

        let plans = PlansService(database: database)
        let accounts = AccountsService(
            database: database, hasher: hasher, plans: plans, throttle: LoginThrottle(database: database, firstLock: configuration.loginFirstLock), rateLimiter: RateLimiter(),
            sessionTTL: configuration.sessionTTL)
        let apiKeys = APIKeysService(database: database, plans: plans)
        let externalAlerts = ExternalAlertsService(database: database, apiKeys: apiKeys)
        let doorbell = Doorbell()
        let signals = SignalsService(database: database, plans: plans, rateLimiter: accounts.rateLimiter)
        let journal = JournalService(database: database)
        let alerts = AlertsAssembly(
            configuration: configuration, database: database, lockConnection: try backend.settings.connectionConfiguration(),
            metrics: metricsRegistry, now: now)
        let handlers = APIHandlers(
            operations: OperationsService(database: database, migrator: migrator, metrics: metrics),
            accounts: accounts, plans: plans, admin: AdminService(database: database, plans: plans),
            settings: SettingsService(database: database, plans: plans),
            apiKeys: apiKeys, market: MarketDataService(database: database, doorbell: doorbell), externalAlerts: externalAlerts,
            signals: signals, journal: journal,
            sync: SyncService(database: database, plans: plans, journal: journal, signals: signals, settings: configuration.sync),
            adminToken: configuration.adminToken, alerts: alerts.channels)
        // Hummingbird applies router middleware only to routes added after it, so the middleware goes
        // first; the route table it needs (for 405 + Allow) comes from a dry-run registration.
        let probe = Router(context: AppRequestContext.self)
        try handlers.registerHandlers(on: probe, configuration: openAPIConfiguration)
        let routes = RouteTable(routes: probe.routes.map { ("\($0.path)", $0.method.rawValue) })
        let router = Router(context: AppRequestContext.self)
        router.middlewares.add(ObservabilityMiddleware(metrics: metrics))
        router.middlewares.add(ProblemMiddleware(routes: routes, bodyLimit: configuration.maxBodyBytes))
        router.middlewares.add(SpecOperationMiddleware())
        router.middlewares.add(BodyLimitMiddleware(limit: configuration.maxBodyBytes))
        router.middlewares.add(QueryParameterMiddleware())
        try handlers.registerHandlers(on: router, configuration: openAPIConfiguration)

        var app = Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port),
                serverName: nil
            ),
            services: [],
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                logger.info("serving", metadata: ["url": "http://\(configuration.host):\(port)"])
                await onServerRunning(port)
            },
            logger: logger
        )
        if let embedded = backend.embedded {
            app.addServices(EmbeddedPostgresService(cluster: embedded))
        }
        app.addServices(client)
        // After the pool: shut down before it, so a worker's last transaction can commit.
        app.addServices(PipelineService(
            pipeline: Pipeline(database: database, cache: PipelineCache()), alerts: externalAlerts,
            workers: configuration.pipelineWorkers, pollInterval: configuration.pipelinePoll,
            maintenanceInterval: configuration.maintenanceInterval, doorbell: doorbell,
            tombstoneDays: configuration.sync.tombstoneDays))
        // After the pool too: it stops pulling klines before the pool closes.
        app.addServices(BinanceConnector(
            settings: configuration.binance, market: MarketDataService(database: database, doorbell: doorbell),
            lockConnection: try backend.settings.connectionConfiguration(), metrics: metricsRegistry, now: now,
            logger: logger))
        // After the pool too: alert workers and the Telegram bot finish what they hold before it closes.
        for service in alerts.services { app.addServices(service) }
        return app
    } catch {
        await backend.embedded?.stop()
        throw error
    }
}

/// Compact JSON with stable key order; dates written as RFC 3339 with fractional seconds, read strictly as RFC 3339
/// with or without them (feeders and scripts send `2024-03-10T07:00:00Z`; Foundation's formatter would also take
/// 24:00, Feb 29 of 2023 or `+0100`).
let openAPIConfiguration = OpenAPIRuntime.Configuration(
    dateTranscoder: RFC3339DateTranscoder(), jsonEncodingOptions: [.sortedKeys, .withoutEscapingSlashes])

struct RFC3339DateTranscoder: DateTranscoder {
    /// `2025-06-02T08:15:00.250Z`: UTC, milliseconds, without a date formatter (Foundation's costs tens of
    /// microseconds per date on Linux, and a page of sync changes has thousands).
    func encode(_ date: Date) throws -> String { Self.format(date) }

    static func format(_ date: Date) -> String {
        // To the microsecond first (PostgreSQL's precision), so 0.864 s stored as 0.86399999… still prints .864.
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        return CivilTime.rfc3339(millis: CivilTime.floorDiv(micros, 1000))
    }

    func decode(_ text: String) throws -> Date {
        guard let date = Self.parse(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "'\(text.prefix(40))' is not an RFC 3339 date-time"))
        }
        return date
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` without a formatter (a 10,000-candle batch has 10,000 dates, and
    /// Foundation's formatter costs tens of microseconds each on Linux); nil for anything else.
    static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        func digits(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= b.count else { return nil }
            var v = 0
            for k in at..<(at + n) {
                guard (48...57).contains(b[k]) else { return nil }
                v = v * 10 + Int(b[k] - 48)
            }
            return v
        }
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116, b[13] == 58, b[16] == 58,
              let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2), let hour = digits(11, 2),
              let minute = digits(14, 2), let second = digits(17, 2),
              (1...12).contains(month), day >= 1, day <= CivilTime.daysInMonth(year: year, month: month),
              hour <= 23, minute <= 59, second <= 59
        else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == 46 {
            i += 1
            var scale = 0.1
            let startDigits = i
            while i < b.count, (48...57).contains(b[i]) {
                fraction += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > startDigits else { return nil }
        }
        var offset = 0
        guard i < b.count else { return nil }
        if b[i] == 90 || b[i] == 122 {
            i += 1
        } else if b[i] == 43 || b[i] == 45, b.count == i + 6, b[i + 3] == 58, let oh = digits(i + 1, 2), let om = digits(i + 4, 2),
                  oh <= 23, om <= 59
        {
            offset = (oh * 3600 + om * 60) * (b[i] == 43 ? 1 : -1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let seconds = CivilTime.days(year: year, month: month, day: day) * 86_400 + Int64(hour * 3600 + minute * 60 + second - offset)
        return Date(timeIntervalSince1970: TimeInterval(seconds) + fraction)
    }
}

/// The database the server talks to: `DATABASE_URL`, or the embedded development cluster.
struct DatabaseBackend: Sendable {
    var settings: DatabaseSettings
    var embedded: EmbeddedPostgres?

    static func start(
        configuration: AppConfiguration, logger: Logger, role: EmbeddedPostgres.Role = .owner
    ) async throws -> DatabaseBackend {
        if let url = configuration.databaseURL {
            let settings = try DatabaseSettings(url: url)
            logger.info("using PostgreSQL from DATABASE_URL", metadata: ["database": "\(settings.redacted)"])
            return DatabaseBackend(settings: settings, embedded: nil)
        }
        let root = URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("postgres").path
        logger.notice(
            "no DATABASE_URL: using the embedded development PostgreSQL (set DATABASE_URL in production)",
            metadata: ["root": "\(root)"])
        let cluster = try EmbeddedPostgres(root: root, logger: logger)
        try await cluster.start(role: role, database: configuration.embeddedDatabaseName)
        return DatabaseBackend(settings: cluster.connectionSettings(database: configuration.embeddedDatabaseName), embedded: cluster)
    }
}

/// Keeps the embedded cluster's lifetime inside the service group: it stops after everything that
/// was started after it (the pool, the server) has shut down.
struct EmbeddedPostgresService: Service {
    let cluster: EmbeddedPostgres

    func run() async throws {
        try? await gracefulShutdown()
        await cluster.stop()
    }
}
