import Foundation
import Logging
import PostgresNIO
import SMCServer

#if canImport(Glibc)
import Glibc
#endif

/// One throwaway PostgreSQL cluster per test process, and a fresh, migrated database per caller.
///
/// The cluster lives in `/tmp/smc-test-<pid>` and is stopped when the process exits; clusters that
/// a crashed earlier run left behind are stopped and removed on the next start.
public enum TestDatabase {
    /// The repository's root folder (for migrations and the built executables).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var migrationsDirectory: String { repositoryRoot.appendingPathComponent("migrations").path }

    /// The newest migration's name, e.g. `0002_accounts`.
    public static var latestMigration: String {
        ((try? Migrator.load(directory: migrationsDirectory)) ?? []).last?.name ?? "?"
    }

    public static let logger: Logger = {
        var logger = Logger(label: "smc-test")
        logger.logLevel = .warning
        return logger
    }()

    /// A new database on the shared cluster with every migration applied.
    public static func makeMigrated() async throws -> DatabaseSettings {
        let settings = try await makeEmpty()
        let migrator = Migrator(migrations: try Migrator.load(directory: migrationsDirectory), logger: logger)
        try await PostgresClient.withRunning(settings, logger: logger, maxConnections: 2) { client in
            _ = try await migrator.migrate(client: client)
        }
        return settings
    }

    /// A new, empty database on the shared cluster.
    public static func makeEmpty() async throws -> DatabaseSettings {
        let cluster = try await SharedCluster.shared.cluster()
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let admin = cluster.connectionSettings(database: "postgres")
        try await PostgresClient.withRunning(admin, logger: logger, maxConnections: 1) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        }
        return cluster.connectionSettings(database: String(name))
    }

    /// `DATABASE_URL` for settings on the test cluster (the socket folder goes in `?host=`).
    public static func url(for settings: DatabaseSettings) -> String {
        guard case .unixSocket(let path) = settings.endpoint else { fatalError("test databases use the socket") }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return "postgres://\(settings.username)@localhost/\(settings.database)?host=\(folder)"
    }
}

/// Starts the cluster once, on first use.
actor SharedCluster {
    static let shared = SharedCluster()
    /// One start shared by every caller: an actor method that awaits is re-entered, so a stored value
    /// checked before the await would let two callers start two clusters.
    private var starting: Task<EmbeddedPostgres, any Error>?

    func cluster() async throws -> EmbeddedPostgres {
        if let starting { return try await starting.value }
        let task = Task { try await Self.start() }
        starting = task
        return try await task.value
    }

    private static func start() async throws -> EmbeddedPostgres {
        await reapStale()
        let root = "/tmp/smc-test-\(getpid())/postgres"
        // Dozens of apps (pools, workers, server processes) share this cluster while the suites run in parallel.
        // Throwaway: no fsync (durability is not what these tests test; the kill -9 tests kill smc-server, not PostgreSQL).
        let cluster = try EmbeddedPostgres(root: root, logger: TestDatabase.logger, maxConnections: 1000, durable: false)
        try await cluster.start(role: .owner, database: "postgres")
        clusterToStop = cluster
        atexit {
            // Runs on the exiting thread; a semaphore bridges to the async stop.
            guard let cluster = clusterToStop else { return }
            let done = DispatchSemaphore(value: 0)
            Task.detached {
                await cluster.stop()
                done.signal()
            }
            _ = done.wait(timeout: .now() + 30)
            try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: cluster.root).deletingLastPathComponent().path)
        }
        return cluster
    }

    /// Stops and deletes test clusters whose process is gone (it no longer exists, and their owner lock is free). The
    /// process check comes first: another test run's cluster is not locked yet while it is being set up.
    static func reapStale() async {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        for entry in entries where entry.hasPrefix("smc-test-") {
            if let pid = pid_t(entry.dropFirst("smc-test-".count)), pid == getpid() || kill(pid, 0) == 0 || errno == EPERM {
                continue
            }
            guard let stale = try? EmbeddedPostgres(root: "/tmp/\(entry)/postgres", logger: TestDatabase.logger),
                (try? await stale.stopAbandoned()) == true
            else { continue }
            try? FileManager.default.removeItem(atPath: "/tmp/\(entry)")
        }
    }
}

nonisolated(unsafe) private var clusterToStop: EmbeddedPostgres?
