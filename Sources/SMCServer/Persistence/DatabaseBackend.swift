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
