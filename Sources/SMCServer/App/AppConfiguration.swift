import Configuration
import Foundation
import Logging

/// Everything the server reads from its environment, resolved once at start-up.
///
/// Sources, strongest first: command-line flags (applied by `smc-server`), environment variables, the JSON
/// file named by `SMC_CONFIG_FILE`, then these defaults. Every setting is listed in `deploy/.env.example`.
public struct AppConfiguration: Sendable {
    public enum LogFormat: String, Sendable { case json, text }

    /// `SMC_HOST`: the address to listen on.
    public var host = "127.0.0.1"
    /// `PORT`: the TCP port; 0 picks a free one (tests).
    public var port = 8080
    /// `SMC_PUBLIC_URL`: the base of every link the server hands out (alerts' `chart_url` and signal links);
    /// `http://{SMC_HOST}:{PORT}` when unset.
    public var publicURL: String?
    /// `SMC_URL_SIGNING_KEY`: base64 of 32 bytes; signs the chart links alerts carry. Unset: a key is made at start
    /// (with a warning), so links die with the process and differ between processes.
    public var urlSigningKey: [UInt8]?
    /// `DATABASE_URL`: an external PostgreSQL; when absent the embedded cluster is used.
    public var databaseURL: String?
    /// `SMC_DATA_DIR`: where the embedded cluster (and other local state) lives.
    public var dataDirectory = ".smc"
    /// `SMC_DATABASE_NAME`: the database inside the embedded cluster.
    public var embeddedDatabaseName = "smc"
    /// `SMC_MIGRATIONS_DIR`: where `NNNN_name.sql` files are; found automatically when unset.
    public var migrationsDirectory: String?
    /// Apply pending migrations at start-up instead of refusing to start (`serve --migrate`).
    public var migrateOnStart = false
    /// `SMC_DB_MAX_CONNECTIONS`: pool size.
    public var databaseMaxConnections = 20
    /// `SMC_MAX_BODY_BYTES`: the largest request body accepted (413 beyond).
    public var maxBodyBytes = 4 * 1024 * 1024
    /// `SMC_SHUTDOWN_TIMEOUT_SECONDS`: how long in-flight work may take to finish after SIGTERM.
    public var shutdownTimeout: Duration = .seconds(25)
    /// `SMC_LOG_LEVEL`: trace, debug, info, notice, warning, error, critical.
    public var logLevel: Logger.Level = .info
    /// `SMC_LOG_FORMAT`: `json` (one object per line, the default) or `text`.
    public var logFormat: LogFormat = .json
    /// `SMC_SESSION_TTL_DAYS`: a device token unused this long expires (each use slides it forward).
    public var sessionTTL: Duration = .seconds(30 * 86400)
    /// `SMC_ADMIN_TOKEN`: guards the operator API; the operator API is off when unset.
    public var adminToken: String?
    /// `SMC_ALLOW_PRIVATE_TARGETS`: lets user-supplied URLs reach loopback/private addresses.
    public var allowPrivateTargets = false
    /// `SMC_LOGIN_FIRST_LOCK_SECONDS`: how long an account or address is locked after its free failed sign-ins (each
    /// further failure doubles it, up to 15 minutes).
    public var loginFirstLock: Duration = .seconds(1)
    /// `SMC_PIPELINE_WORKERS`: signal-pipeline workers in this process (0: this process only serves HTTP).
    public var pipelineWorkers = 2
    /// `SMC_PIPELINE_POLL_MS`: how often an idle worker looks for queued streams.
    public var pipelinePoll: Duration = .milliseconds(200)
    /// `SMC_MAINTENANCE_SECONDS`: how often alerts are parsed, closed forming candles re-queued, history pruned.
    public var maintenanceInterval: Duration = .seconds(2)
    /// `SMC_TELEGRAM_BOT_TOKEN`
    public var telegramBotToken: String?
    /// `SMC_TELEGRAM_API_URL`
    public var telegramAPIURL = "https://api.telegram.org"
    /// `SMC_BINANCE_PAIRS`, `SMC_BINANCE_URL`, `SMC_BINANCE_POLL_SECONDS`, `SMC_BINANCE_BACKFILL_CANDLES`,
    /// `SMC_BINANCE_TIMEOUT_SECONDS`: the Binance klines connector (off without pairs).
    public var binance = BinanceSettings()
    /// `SMC_SYNC_MAX_DRIFT_SECONDS`, `SMC_SYNC_TOMBSTONE_DAYS`: sync's clock-skew limit and tombstone horizon.
    public var sync = SyncSettings()
    /// `SMC_ALERT_*`, `SMC_WEBHOOK_*`, `SMC_TELEGRAM_*` (besides the token and URL above): alert delivery.
    public var alerts = AlertSettings()

    public init() {}

    /// `SMC_PUBLIC_URL`, or this server's own address.
    public var resolvedPublicURL: String { publicURL ?? "http://\(host):\(port)" }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads every setting from `reader`, validating as it goes.
    public init(reader: ConfigReader) throws {
        self.init()
        host = reader.string(forKey: "smc.host", default: host)
        port = reader.int(forKey: "port", default: port)
        guard (0...65535).contains(port) else { throw Invalid(description: "PORT must be 0…65535, not \(port)") }
        if let url = reader.string(forKey: "smc.public.url")?.trimmingWhitespace(), !url.isEmpty {
            guard let parts = URLComponents(string: url), ["http", "https"].contains(parts.scheme?.lowercased() ?? ""),
                  !(parts.host ?? "").isEmpty, parts.query == nil, parts.fragment == nil
            else { throw Invalid(description: "SMC_PUBLIC_URL must be an http(s) base URL such as https://smc.example.com") }
            publicURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        }
        if let key = reader.string(forKey: "smc.url.signing.key", isSecret: true)?.trimmingWhitespace(), !key.isEmpty {
            urlSigningKey = try SecretBox.parseKey(key, name: "SMC_URL_SIGNING_KEY")
        }
        databaseURL = reader.string(forKey: "database.url", isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
        dataDirectory = reader.string(forKey: "smc.data.dir", default: dataDirectory)
        embeddedDatabaseName = reader.string(forKey: "smc.database.name", default: embeddedDatabaseName)
        migrationsDirectory = reader.string(forKey: "smc.migrations.dir")
        databaseMaxConnections = reader.int(forKey: "smc.db.max.connections", default: databaseMaxConnections)
        guard databaseMaxConnections >= 2 else { throw Invalid(description: "SMC_DB_MAX_CONNECTIONS must be at least 2") }
        let firstLock = reader.int(forKey: "smc.login.first.lock.seconds", default: 1)
        guard (1...900).contains(firstLock) else { throw Invalid(description: "SMC_LOGIN_FIRST_LOCK_SECONDS must be 1…900") }
        loginFirstLock = .seconds(firstLock)
        pipelineWorkers = reader.int(forKey: "smc.pipeline.workers", default: pipelineWorkers)
        guard (0...64).contains(pipelineWorkers) else { throw Invalid(description: "SMC_PIPELINE_WORKERS must be 0…64") }
        let pollMS = reader.int(forKey: "smc.pipeline.poll.ms", default: 200)
        guard (10...60_000).contains(pollMS) else { throw Invalid(description: "SMC_PIPELINE_POLL_MS must be 10…60000") }
        pipelinePoll = .milliseconds(pollMS)
        let maintenance = reader.double(forKey: "smc.maintenance.seconds", default: 2)
        guard maintenance >= 0.1 && maintenance <= 3600 else { throw Invalid(description: "SMC_MAINTENANCE_SECONDS must be 0.1…3600") }
        maintenanceInterval = .milliseconds(Int64(maintenance * 1000))
        sync.maxDriftSeconds = reader.int(forKey: "smc.sync.max.drift.seconds", default: sync.maxDriftSeconds)
        guard (1...86_400).contains(sync.maxDriftSeconds) else { throw Invalid(description: "SMC_SYNC_MAX_DRIFT_SECONDS must be 1…86400") }
        sync.tombstoneDays = reader.int(forKey: "smc.sync.tombstone.days", default: sync.tombstoneDays)
        guard (1...3650).contains(sync.tombstoneDays) else { throw Invalid(description: "SMC_SYNC_TOMBSTONE_DAYS must be 1…3650") }
        maxBodyBytes = reader.int(forKey: "smc.max.body.bytes", default: maxBodyBytes)
        guard maxBodyBytes >= 1024 else { throw Invalid(description: "SMC_MAX_BODY_BYTES must be at least 1024") }
        let shutdownSeconds = reader.double(forKey: "smc.shutdown.timeout.seconds", default: 25)
        guard shutdownSeconds > 0 else { throw Invalid(description: "SMC_SHUTDOWN_TIMEOUT_SECONDS must be positive") }
        shutdownTimeout = .milliseconds(Int64(shutdownSeconds * 1000))
        let level = reader.string(forKey: "smc.log.level", default: "info")
        guard let parsedLevel = Logger.Level(rawValue: level.lowercased()) else {
            throw Invalid(description: "SMC_LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical")
        }
        logLevel = parsedLevel
        let format = reader.string(forKey: "smc.log.format", default: "json")
        guard let parsedFormat = LogFormat(rawValue: format.lowercased()) else {
            throw Invalid(description: "SMC_LOG_FORMAT must be json or text")
        }
        logFormat = parsedFormat
        let ttlDays = reader.double(forKey: "smc.session.ttl.days", default: 30)
        guard ttlDays > 0, ttlDays <= 3650 else { throw Invalid(description: "SMC_SESSION_TTL_DAYS must be in (0, 3650]") }
        sessionTTL = .seconds(Int64(ttlDays * 86400))
        adminToken = reader.string(forKey: "smc.admin.token", isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
        allowPrivateTargets = reader.bool(forKey: "smc.allow.private.targets", default: false)
        telegramBotToken = reader.string(forKey: "smc.telegram.bot.token", isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
        telegramAPIURL = reader.string(forKey: "smc.telegram.api.url", default: telegramAPIURL)
        binance.pairs = try BinancePair.parseList(reader.string(forKey: "smc.binance.pairs", default: ""))
        binance.baseURL = reader.string(forKey: "smc.binance.url", default: binance.baseURL)
        guard let url = URLComponents(string: binance.baseURL), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
              !(url.host ?? "").isEmpty, url.query == nil
        else { throw Invalid(description: "SMC_BINANCE_URL must be an http(s) base URL such as https://api.binance.com") }
        let binancePoll = reader.double(forKey: "smc.binance.poll.seconds", default: 10)
        guard binancePoll >= 0.05 && binancePoll <= 3600 else { throw Invalid(description: "SMC_BINANCE_POLL_SECONDS must be 0.05…3600") }
        binance.pollInterval = .milliseconds(Int64(binancePoll * 1000))
        binance.backfillCandles = reader.int(forKey: "smc.binance.backfill.candles", default: binance.backfillCandles)
        guard (0...1_000_000).contains(binance.backfillCandles) else {
            throw Invalid(description: "SMC_BINANCE_BACKFILL_CANDLES must be 0…1000000")
        }
        let binanceTimeout = reader.double(forKey: "smc.binance.timeout.seconds", default: 10)
        guard binanceTimeout >= 0.1 && binanceTimeout <= 300 else { throw Invalid(description: "SMC_BINANCE_TIMEOUT_SECONDS must be 0.1…300") }
        binance.requestTimeout = .milliseconds(Int64(binanceTimeout * 1000))
        alerts = try AlertSettings(reader: reader)
    }

    /// The standard sources: environment variables over the optional JSON file `SMC_CONFIG_FILE`.
    public static func fromEnvironment() async throws -> AppConfiguration {
        let environment = EnvironmentVariablesProvider()
        var providers: [any ConfigProvider] = [environment]
        if let file = ProcessInfo.processInfo.environment["SMC_CONFIG_FILE"], !file.isEmpty {
            providers.append(try await FileProvider<JSONSnapshot>(filePath: .init(file)))
        }
        return try AppConfiguration(reader: ConfigReader(providers: providers))
    }
}
