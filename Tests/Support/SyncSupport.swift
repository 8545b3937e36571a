import Foundation
import PostgresNIO
import SMCServer

extension TestApp {
    /// Runs SQL as the database owner (outside RLS), e.g. to move a tenant's plan or age its tombstones.
    public func sql(_ sql: String) async throws {
        try await PostgresClient.withRunning(database, logger: TestDatabase.logger, maxConnections: 1) { client in
            try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestDatabase.logger)
        }
    }

    /// The tenant of a user.
    public func tenantID(email: String) async throws -> UUID {
        try await PostgresClient.withRunning(database, logger: TestDatabase.logger, maxConnections: 1) { client in
            guard
                let row = try await client.query("SELECT tenant_id FROM users WHERE email = \(email.lowercased())", logger: TestDatabase.logger)
                    .collect().first
            else { throw TestFailure("no user \(email)") }
            return try row.decode(UUID.self)
        }
    }

    /// Signals written as the pipeline writes them: the tenant's `signals` counter bumped and the rows stamped in one
    /// transaction, which stays open `holdMillis` after the bump (a slow writer holding its versions uncommitted).
    @discardableResult
    public func insertSignals(tenant: UUID, count: Int, symbol: String = "EURUSD", holdMillis: Int = 0) async throws -> [UUID] {
        let ids = (0..<count).map { _ in UUID() }
        try await PostgresClient.withRunning(database, logger: TestDatabase.logger, maxConnections: 1) { client in
            try await client.withConnection { connection in
                try await connection.query("BEGIN", logger: TestDatabase.logger)
                let top = try await connection.query(
                    """
                    INSERT INTO sync_counters AS c (tenant_id, stream, version) VALUES (\(tenant), 'signals', \(Int64(count)))
                    ON CONFLICT (tenant_id, stream) DO UPDATE SET version = c.version + EXCLUDED.version RETURNING version
                    """, logger: TestDatabase.logger
                ).collect().first!.decode(Int64.self)
                if holdMillis > 0 {
                    try await connection.query("SELECT pg_sleep(\(Double(holdMillis) / 1000))", logger: TestDatabase.logger)
                }
                let versions = (0..<count).map { top - Int64(count) + 1 + Int64($0) }
                let keys = ids.map { "test:\($0.uuidString)" }
                try await connection.query(
                    """
                    INSERT INTO signals (tenant_id, signal_id, signal_key, symbol, timeframe, direction, setup_type, confidence, level,
                        candle_time, close_time, entry, stop, targets, reward_risk, confluence, detail, sync_version)
                    SELECT \(tenant), u.id, u.key, \(symbol), '15m', 1, 'fair_value_gap', 61.5, 'MEDIUM',
                        now() - interval '1 hour', now() - interval '45 minutes', 1.1, 1.09, ARRAY[1.13], 3, 0.4, '{}'::jsonb, u.v
                    FROM unnest(\(ids)::uuid[], \(keys)::text[], \(versions)::int8[]) AS u(id, key, v)
                    """, logger: TestDatabase.logger)
                try await connection.query("COMMIT", logger: TestDatabase.logger)
            }
        }
        return ids
    }
}
