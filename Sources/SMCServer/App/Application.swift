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
    let signingKey: [UInt8]
    if let key = configuration.urlSigningKey {
        signingKey = key
    } else {
        signingKey = (0..<32).map { _ in UInt8.random(in: .min ... .max) }
        logger.warning("SMC_URL_SIGNING_KEY is not set: chart links are signed with a key made for this process (they stop working when it restarts, and other processes cannot verify them); set it to base64 of 32 bytes")
    }
    Redaction.register(Data(signingKey).base64EncodedString())
    let chartLinks = ChartLinks(key: signingKey, publicURL: configuration.resolvedPublicURL)
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
            metrics: metricsRegistry, chartLinks: chartLinks, now: now)
        // One pipeline (and its cache of decoded states) for the workers and the market summary's reads.
        let pipeline = Pipeline(database: database, cache: PipelineCache())
        let handlers = APIHandlers(
            operations: OperationsService(database: database, migrator: migrator, metrics: metrics),
            accounts: accounts, plans: plans, admin: AdminService(database: database, plans: plans),
            settings: SettingsService(database: database, plans: plans),
            apiKeys: apiKeys, market: MarketDataService(database: database, doorbell: doorbell), externalAlerts: externalAlerts,
            signals: signals, journal: journal,
            sync: SyncService(database: database, plans: plans, journal: journal, signals: signals, settings: configuration.sync),
            adminToken: configuration.adminToken, alerts: alerts.channels,
            charts: ChartService(database: database, plans: plans, rateLimiter: accounts.rateLimiter, links: chartLinks),
            summary: MarketSummaryService(database: database, pipeline: pipeline, plans: plans, rateLimiter: accounts.rateLimiter,
                                          windows: RecentWindows()))
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
            pipeline: pipeline, alerts: externalAlerts,
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
