import Foundation
import Logging
import Metrics
import PostgresNIO
import Prometheus
import SMCEngine
import ServiceLifecycle

/// The work behind `smc-server`'s subcommands, kept here so that tests can drive it without a process.
public enum ServerCommands {
    /// `smc-server serve`: runs until SIGTERM/SIGINT, then shuts down gracefully within the timeout.
    public static func serve(configuration: AppConfiguration) async throws {
        LoggingSetup.bootstrap(format: configuration.logFormat, level: configuration.logLevel)
        let logger = Logger(label: "smc")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let app = try await buildApplication(configuration: configuration, logger: logger, metricsRegistry: registry)
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: app)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownTimeout
        groupConfiguration.maximumCancellationDuration = .seconds(10)
        try await ServiceGroup(configuration: groupConfiguration).run()
        logger.info("stopped")
    }

    /// `smc-server admin …`: runs an operator action against the configured database; returns lines to print.
    public enum AdminAction: Sendable {
        case setPlan(email: String, plan: String)
        case setSymbol(symbol: String, decimals: Int?, spread: Double?, commission: Double?, commissionRate: Double?)
        case createFeederKey(name: String)
        case listFeederKeys
        case revokeFeederKey(idOrName: String)
    }

    public static func admin(configuration: AppConfiguration, _ action: AdminAction) async throws -> [String] {
        LoggingSetup.bootstrap(format: configuration.logFormat, level: configuration.logLevel)
        let logger = Logger(label: "smc")
        let backend = try await DatabaseBackend.start(configuration: configuration, logger: logger, role: .ownerOrGuest)
        do {
            let lines = try await PostgresClient.withRunning(backend.settings, logger: logger, maxConnections: 2) { client in
                let database = Database(client: client, logger: logger)
                let admin = AdminService(database: database, plans: PlansService(database: database))
                switch action {
                case .setPlan(let email, let plan):
                    let change = try await admin.setPlan(email: email, planID: plan)
                    return ["\(email): \(change.previousPlan) → \(change.subscription.plan.id)"] + change.applied.map { "  " + $0 }
                case .setSymbol(let symbol, let decimals, let spread, let commission, let rate):
                    let spec = try await admin.setSymbol(symbol, SymbolChange(
                        priceDecimals: decimals, spread: spread, commission: commission, commissionRate: rate))
                    return ["\(spec.symbol): \(spec.priceDecimals) decimals, spread \(spec.spread), commission \(spec.commission), "
                        + "commission rate \(spec.commissionRate) (applies to signals issued from now on)"]
                case .createFeederKey(let name):
                    let key = try await admin.createFeederKey(name: name)
                    return [key, "(feeder key \"\(name)\": shown once; give it to the feeder as SMC_FEEDER_KEY)"]
                case .listFeederKeys:
                    let keys = try await admin.feederKeys()
                    if keys.isEmpty { return ["no feeder keys (smc-server admin create-feeder-key NAME issues one)"] }
                    return keys.map { key in
                        let state = key.revokedAt.map { "revoked \(CivilTime.rfc3339(Int64($0.timeIntervalSince1970)))" } ?? "in use"
                        return "\(key.id.uuidString.lowercased())  \(key.hint ?? "smcf_…")  \(key.name)  created "
                            + "\(CivilTime.rfc3339(Int64(key.createdAt.timeIntervalSince1970)))  \(state)"
                    }
                case .revokeFeederKey(let idOrName):
                    let key = try await admin.revokeFeederKey(idOrName)
                    return ["revoked feeder key \"\(key.name)\" (\(key.id.uuidString.lowercased()))"]
                }
            }
            await backend.embedded?.stop()
            return lines
        } catch {
            await backend.embedded?.stop()
            throw error
        }
    }

    /// `smc-server migrate`: applies pending migrations (or, with `statusOnly`, lists them); returns
    /// the lines to print.
    public static func migrate(configuration: AppConfiguration, statusOnly: Bool) async throws -> [String] {
        LoggingSetup.bootstrap(format: configuration.logFormat, level: configuration.logLevel)
        let logger = Logger(label: "smc")
        let migrator = Migrator(
            migrations: try Migrator.load(directory: try Migrator.locateDirectory(configured: configuration.migrationsDirectory)),
            logger: logger)
        let backend = try await DatabaseBackend.start(configuration: configuration, logger: logger, role: .ownerOrGuest)
        do {
            let lines = try await PostgresClient.withRunning(backend.settings, logger: logger, maxConnections: 2) { client in
                if statusOnly {
                    let status = try await migrator.status(client: client)
                    return status.applied.map { "applied  \($0.name)" } + status.pending.map { "pending  \($0.name)" }
                }
                let applied = try await migrator.migrate(client: client)
                if applied.isEmpty { return ["migrations current: nothing to apply (\(migrator.migrations.count) known)"] }
                return applied.map { "applied  \($0.name)" }
            }
            await backend.embedded?.stop()
            return lines
        } catch {
            await backend.embedded?.stop()
            throw error
        }
    }
}
