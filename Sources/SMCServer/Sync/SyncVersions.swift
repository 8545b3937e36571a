import Foundation
import Logging
import PostgresNIO
import SMCSync

/// The owner of `sync_counters` and `signal_tombstones`: each tenant's gap-free version counter per sync stream
/// (DESIGN.md §5), its epoch and tombstone horizon, and the tombstones of deleted signals.
///
/// A counter is bumped inside the writing transaction, so version order is commit order; its row lock serialises the
/// tenant's writers on the stream. Writers that bump several tenants at once take them in tenant-id order (as every
/// caller here does), so two of them cannot deadlock.
enum SyncVersions {
    typealias Stream = SyncProtocol.Stream

    /// A stream's counter as a pull reads it; a stream never written is at version 0 of epoch 1.
    struct Counter: Sendable, Equatable {
        var version: Int64 = 0
        var epoch: Int64 = 1
        var horizon: Int64 = 0
    }

    /// The next version of the tenant's stream.
    static func bump(_ stream: Stream, tenant: UUID, _ connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        try await connection.query(
            """
            INSERT INTO sync_counters AS c (tenant_id, stream, version) VALUES (\(tenant), \(stream.rawValue), 1)
            ON CONFLICT (tenant_id, stream) DO UPDATE SET version = c.version + 1
            RETURNING version
            """, logger: logger
        ).collect().first!.decode(Int64.self)
    }

    /// Blocks of versions for several tenants in one statement: `counts[tenant]` versions each; returns the first of
    /// each tenant's block (its versions are `first ..< first + count`).
    static func reserve(_ stream: Stream, counts: [UUID: Int64], _ connection: PostgresConnection, logger: Logger)
        async throws -> [UUID: Int64]
    {
        let tenants = counts.keys.sorted { $0.uuidString < $1.uuidString }
        guard !tenants.isEmpty else { return [:] }
        let rows = try await connection.query(
            """
            INSERT INTO sync_counters AS c (tenant_id, stream, version)
            SELECT u.tenant, \(stream.rawValue), u.n FROM unnest(\(tenants)::uuid[], \(tenants.map { counts[$0]! })::int8[]) AS u(tenant, n)
            ON CONFLICT (tenant_id, stream) DO UPDATE SET version = c.version + EXCLUDED.version
            RETURNING tenant_id, version
            """, logger: logger)
        var first: [UUID: Int64] = [:]
        for try await (tenant, top) in rows.decode((UUID, Int64).self) { first[tenant] = top - counts[tenant]! + 1 }
        return first
    }

    /// The tenant's counters, as the transaction's snapshot sees them.
    static func counters(tenant: UUID, _ connection: PostgresConnection, logger: Logger) async throws -> [Stream: Counter] {
        var counters: [Stream: Counter] = [:]
        let rows = try await connection.query(
            "SELECT stream, version, epoch, horizon FROM sync_counters WHERE tenant_id = \(tenant)", logger: logger)
        for try await (stream, version, epoch, horizon) in rows.decode((String, Int64, Int64, Int64).self) {
            if let s = Stream(rawValue: stream) { counters[s] = Counter(version: version, epoch: epoch, horizon: horizon) }
        }
        return counters
    }

    /// Raises each tenant's horizon of `stream` to at least `tops[tenant]`: a cursor older than that re-downloads.
    static func raiseHorizons(_ stream: Stream, tops: [UUID: Int64], _ connection: PostgresConnection, logger: Logger) async throws {
        guard !tops.isEmpty else { return }
        let tenants = tops.keys.sorted { $0.uuidString < $1.uuidString }
        try await connection.query(
            """
            UPDATE sync_counters c SET horizon = greatest(c.horizon, u.top)
            FROM unnest(\(tenants)::uuid[], \(tenants.map { tops[$0]! })::int8[]) AS u(tenant, top)
            WHERE c.tenant_id = u.tenant AND c.stream = \(stream.rawValue)
            """, logger: logger)
    }

    // MARK: signal tombstones

    /// Records deleted signals in their tenants' signals stream.
    static func tombstoneSignals(_ gone: [(tenant: UUID, id: UUID, version: Int64)], _ connection: PostgresConnection, logger: Logger)
        async throws
    {
        guard !gone.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO signal_tombstones (tenant_id, signal_id, sync_version)
            SELECT * FROM unnest(\(gone.map(\.tenant))::uuid[], \(gone.map(\.id))::uuid[], \(gone.map(\.version))::int8[])
            """, logger: logger)
    }

    /// The tenant's signal tombstones after `position`, in (version, id) order.
    static func signalTombstones(tenant: UUID, after position: SyncPosition, limit: Int, _ connection: PostgresConnection, logger: Logger)
        async throws -> [(version: Int64, id: UUID)]
    {
        var gone = SQLWhere()
        gone.add("tenant_id = \(gone.bind(tenant))")
        position.add(to: &gone, version: "sync_version", id: "signal_id")
        let sql = """
            SELECT sync_version, signal_id FROM signal_tombstones WHERE \(gone.clauses)
            ORDER BY sync_version, signal_id LIMIT \(gone.bind(limit))
            """
        var out: [(version: Int64, id: UUID)] = []
        for try await (version, id) in try await connection.query(gone.query(sql), logger: logger).decode((Int64, UUID).self) {
            out.append((version, id))
        }
        return out
    }

    /// Deletes signal tombstones older than `days`; returns the newest deleted version and the count per tenant.
    static func purgeSignalTombstones(olderThanDays days: Int, _ connection: PostgresConnection, logger: Logger)
        async throws -> [UUID: (top: Int64, count: Int)]
    {
        let rows = try await connection.query(
            """
            WITH purged AS (
                DELETE FROM signal_tombstones WHERE deleted_at <= now() - make_interval(days => \(days)::int)
                RETURNING tenant_id, sync_version
            )
            SELECT tenant_id, max(sync_version), count(*)::int FROM purged GROUP BY tenant_id
            """, logger: logger)
        var out: [UUID: (top: Int64, count: Int)] = [:]
        for try await (tenant, top, n) in rows.decode((UUID, Int64, Int).self) { out[tenant] = (top, n) }
        return out
    }
}
