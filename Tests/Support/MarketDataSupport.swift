import Foundation
import PostgresNIO
import SMCServer

extension TestDatabase {
    /// A market-data feeder key, written as `smc-server admin create-feeder-key` writes it (only the hash is kept).
    public static func feederKey(_ database: DatabaseSettings, name: String = "test-\(UUID().uuidString.prefix(8))")
        async throws -> String
    {
        let secret = BearerSecret.generate(.feeder, tenant: UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
        try await PostgresClient.withRunning(database, logger: TestDatabase.logger, maxConnections: 1) { client in
            try await client.query(
                "INSERT INTO feeder_keys (key_id, name, key_hash) VALUES (\(UUID()), \(name), \(secret.hashBytes))",
                logger: TestDatabase.logger)
        }
        return secret.text
    }
}

extension TestApp {
    /// A market-data feeder key for this app's database.
    public func feederKey(name: String = "test-\(UUID().uuidString.prefix(8))") async throws -> String {
        try await TestDatabase.feederKey(database, name: name)
    }

    /// One integer from the database, as its owner (shared tables such as `candles` and `pipeline_jobs`).
    public func sqlInt(_ sql: String) async throws -> Int {
        try await PostgresClient.withRunning(database, logger: TestDatabase.logger, maxConnections: 1) { client in
            guard let row = try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestDatabase.logger).collect().first
            else { throw TestFailure("no row from \(sql)") }
            return try row.decode(Int.self)
        }
    }
}
