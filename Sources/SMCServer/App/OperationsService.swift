import Foundation
import Logging
import PostgresNIO

/// Liveness, readiness and metrics: what operators and orchestrators ask of a running server.
struct OperationsService: Sendable {
    let database: Database
    let migrator: Migrator
    let metrics: HTTPMetrics

    enum Readiness {
        case ready(applied: Int, latest: String)
        case notReady(Problem)
    }

    /// Ready when PostgreSQL answers within 15 s (a busy pool queues the check behind requests; the probe's own timeout
    /// decides sooner) and the applied migrations are exactly ours.
    func readiness() async -> Readiness {
        let check: Result<[AppliedMigration], any Error> = await withTimeout(.seconds(15)) {
            try await database.client.withConnection { connection in
                try await migrator.applied(on: connection)
            }
        }
        switch check {
        case .failure(let error):
            database.logger.warning("readiness: database unreachable", metadata: ["error": "\(String(reflecting: error))"])
            return .notReady(.unavailable(code: .databaseUnreachable, "the database cannot be reached"))
        case .success(let applied):
            do {
                let pending = try migrator.pending(given: applied)
                guard pending.isEmpty else {
                    return .notReady(
                        .unavailable(code: .migrationsPending, "\(pending.count) migration(s) pending: \(pending.map(\.name).joined(separator: ", "))"))
                }
            } catch {
                return .notReady(.unavailable(code: .migrationsDiverged, "\(error)"))
            }
            return .ready(applied: applied.count, latest: applied.last?.name ?? "")
        }
    }
}
