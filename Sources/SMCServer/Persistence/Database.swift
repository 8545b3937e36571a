import Foundation
import Logging
import PostgresNIO

/// The application's handle on PostgreSQL: a pooled client plus the transaction rules of DESIGN.md §3.
///
/// Every request-scoped query runs in a transaction that first switches to the restricted role
/// `smc_app` (not the owner of any table, no BYPASSRLS) and sets `smc.tenant_id`, both transaction-local,
/// so a pooled connection never carries one tenant's setting into the next transaction.
public struct Database: Sendable {
    public let client: PostgresClient
    public let logger: Logger

    /// The role that request queries run as; row-level security applies to it.
    public static let applicationRole = "smc_app"
    /// The pipeline's role: no tenant set, explicit all-tenant policies on the tables it must write.
    public static let workerRole = "smc_worker"

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public enum Isolation: String, Sendable {
        case readCommitted = "READ COMMITTED"
        case repeatableRead = "REPEATABLE READ"
        case serializable = "SERIALIZABLE"
    }

    /// Runs `body` in one transaction as `smc_app` with `smc.tenant_id` set to `tenant`.
    public func withTenant<Result: Sendable>(
        _ tenant: UUID,
        isolation: Isolation = .readCommitted,
        readOnly: Bool = false,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await transaction(isolation: isolation, readOnly: readOnly, tenant: tenant, body)
    }

    /// Runs `body` in one transaction as `smc_app` with no tenant set: tenant tables show no rows,
    /// only shared tables (plans, symbols, candles …) are reachable.
    public func withShared<Result: Sendable>(
        isolation: Isolation = .readCommitted,
        readOnly: Bool = false,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await transaction(isolation: isolation, readOnly: readOnly, tenant: nil, body)
    }

    /// A transaction as `smc_worker`, for the pipeline and other background work that spans tenants. Rows it
    /// writes name their tenant explicitly; it sees tenant tables only where migration 0003 gives it a policy.
    public func withWorker<Result: Sendable>(
        isolation: Isolation = .readCommitted,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await transaction(isolation: isolation, readOnly: false, tenant: nil, role: Self.workerRole, body)
    }

    private func transaction<Result: Sendable>(
        isolation: Isolation,
        readOnly: Bool,
        tenant: UUID?,
        role: String = Database.applicationRole,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await client.withConnection { connection in
            let begin = "BEGIN ISOLATION LEVEL \(isolation.rawValue)" + (readOnly ? " READ ONLY" : "")
            try await connection.query(PostgresQuery(unsafeSQL: begin), logger: logger)
            do {
                let tenantText = tenant?.uuidString.lowercased() ?? ""
                try await connection.query(
                    "SELECT set_config('role', \(role), true), set_config('smc.tenant_id', \(tenantText), true)",
                    logger: logger
                )
                let result = try await body(connection)
                try await connection.query("COMMIT", logger: logger)
                return result
            } catch {
                do {
                    try await connection.query("ROLLBACK", logger: logger)
                } catch {
                    logger.warning("rollback failed", metadata: ["error": "\(String(reflecting: error))"])
                }
                throw error
            }
        }
    }

    /// A cheap round trip, for readiness.
    public func ping() async throws {
        try await client.query("SELECT 1", logger: logger)
    }
}

extension PostgresClient {
    /// Runs the pool for the duration of `body` (for commands and tests; the server runs it as a service).
    public static func withRunning<Result: Sendable>(
        _ settings: DatabaseSettings, logger: Logger, maxConnections: Int = 10,
        _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        // The pool's own log stays at errors: `body` may lease before the `run` task has started, which postgres-nio
        // warns about (harmlessly: the lease waits for it) once per query; whatever fails reaches `body` as an error.
        var background = logger
        background.logLevel = max(logger.logLevel, .error)
        let client = PostgresClient(configuration: try settings.clientConfiguration(maxConnections: maxConnections), backgroundLogger: background)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}
