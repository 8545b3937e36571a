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
            return .notReady(.unavailable(code: "database_unreachable", "the database cannot be reached"))
        case .success(let applied):
            do {
                let pending = try migrator.pending(given: applied)
                guard pending.isEmpty else {
                    return .notReady(
                        .unavailable(code: "migrations_pending", "\(pending.count) migration(s) pending: \(pending.map(\.name).joined(separator: ", "))"))
                }
            } catch {
                return .notReady(.unavailable(code: "migrations_diverged", "\(error)"))
            }
            return .ready(applied: applied.count, latest: applied.last?.name ?? "")
        }
    }
}

/// Runs `body`, giving up after `limit`.
func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async -> Result<T, any Error> {
    await withTaskGroup(of: Result<T, any Error>?.self) { group in
        group.addTask {
            do { return .success(try await body()) } catch { return .failure(error) }
        }
        group.addTask {
            try? await Task.sleep(for: limit)
            return Task.isCancelled ? nil : .failure(TimeoutError(limit: limit))
        }
        var outcome: Result<T, any Error> = .failure(TimeoutError(limit: limit))
        for await result in group {
            if let result {
                outcome = result
                break
            }
        }
        group.cancelAll()
        return outcome
    }
}

struct TimeoutError: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "timed out after \(limit)" }
}
