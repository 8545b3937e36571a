import Foundation

/// Where a stream's page starts: after (version, id); `id` nil means after every row of `version`. Every owner of a
/// table in a sync stream reads its rows after a position with the same keyset condition.
struct SyncPosition: Sendable, Equatable {
    var version: Int64
    var id: UUID?

    static let start = SyncPosition(version: 0, id: nil)
    private static let lastID = UUID(uuidString: "ffffffff-ffff-ffff-ffff-ffffffffffff")!

    /// `(version, id) > self` over the table's `version` and `id` columns.
    func add(to query: inout SQLWhere, version versionColumn: String, id idColumn: String) {
        // The first condition is implied by the second; it lets PostgreSQL range-scan the (tenant_id, sync_version)
        // index from the cursor instead of filtering the tenant's whole history.
        let v = query.bind(version)
        query.add("\(versionColumn) >= \(v) AND (\(versionColumn) > \(v) OR \(idColumn) > \(query.bind(id ?? Self.lastID)))")
    }
}
