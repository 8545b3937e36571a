import Foundation
import PostgresNIO
import SMCServer

/// Set-up and inspection straight in the server's database, as its owner (row-level security does not apply).
extension TestServer {
    /// Runs one query; its rows.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await TestDatabase.query(database, query)
    }

    /// Runs SQL text (no parameters), e.g. to age a tenant's tombstones.
    public func sql(_ sql: String) async throws {
        try await query(PostgresQuery(unsafeSQL: sql))
    }

    /// The one integer a query answers (e.g. a `count(*)`).
    public func scalar(_ query: PostgresQuery) async throws -> Int {
        try await TestDatabase.scalar(database, query)
    }

    /// The one integer SQL text answers.
    public func sqlInt(_ sql: String) async throws -> Int {
        try await scalar(PostgresQuery(unsafeSQL: sql))
    }

    /// The tenant of a user.
    public func tenantID(email: String) async throws -> UUID {
        guard let row = try await query("SELECT tenant_id FROM users WHERE email = \(email.lowercased())").first else {
            throw TestFailure("no user \(email)")
        }
        return try row.decode(UUID.self)
    }

    /// A market-data feeder key for this server's database.
    public func feederKey(name: String = "test-\(UUID().uuidString.prefix(8))") async throws -> String {
        try await TestDatabase.feederKey(database, name: name)
    }
}

extension TestDatabase {
    /// Runs one query on a test database as its owner; its rows.
    @discardableResult
    public static func query(_ settings: DatabaseSettings, _ query: PostgresQuery) async throws -> [PostgresRow] {
        try await PostgresClient.withRunning(settings, logger: logger, maxConnections: 1) { client in
            try await client.query(query, logger: logger).collect()
        }
    }

    /// The one integer a query answers on a test database (e.g. a `count(*)`).
    public static func scalar(_ settings: DatabaseSettings, _ query: PostgresQuery) async throws -> Int {
        guard let row = try await self.query(settings, query).first else { throw TestFailure("no row from \(query.sql)") }
        return try row.decode(Int.self)
    }

    /// A market-data feeder key, written as `smc-server admin create-feeder-key` writes it (only the hash is kept).
    public static func feederKey(_ database: DatabaseSettings, name: String = "test-\(UUID().uuidString.prefix(8))")
        async throws -> String
    {
        let secret = BearerSecret.generate(.feeder, tenant: UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
        try await query(database, "INSERT INTO feeder_keys (key_id, name, key_hash) VALUES (\(UUID()), \(name), \(secret.hashBytes))")
        return secret.text
    }
}
