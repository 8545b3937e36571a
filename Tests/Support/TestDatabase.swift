import Foundation
import Logging
import PostgresNIO
import SMCServer

#if canImport(Glibc)
import Glibc
#endif

/// One throwaway PostgreSQL cluster per test process, and a fresh database per caller: empty, or a copy of a
/// template migrated once per process.
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

    /// A new database on the shared cluster with every migration applied: a `CREATE DATABASE … TEMPLATE` clone of
    /// the one template this process migrated (copying files is much cheaper than running the migrations again).
    public static func makeMigrated() async throws -> DatabaseSettings {
        try await SharedCluster.shared.cloneTemplate()
    }

    /// A new, empty database on the shared cluster (for the migration tests, which migrate it themselves).
    public static func makeEmpty() async throws -> DatabaseSettings {
        let cluster = try await SharedCluster.shared.cluster()
        let name = freshName()
        try await cluster.admin("CREATE DATABASE \(name)")
        return cluster.connectionSettings(database: name)
    }

    /// A database name no other caller gets.
    static func freshName() -> String {
        "t_" + String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16))
    }

    /// `DATABASE_URL` for settings on the test cluster (the socket folder goes in `?host=`).
    public static func url(for settings: DatabaseSettings) -> String {
        guard case .unixSocket(let path) = settings.endpoint else { fatalError("test databases use the socket") }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return "postgres://\(settings.username)@localhost/\(settings.database)?host=\(folder)"
    }
}

/// Starts the cluster once, on first use, and migrates its template database once.
actor SharedCluster {
    static let shared = SharedCluster()
    /// The migrated database every `makeMigrated()` copies. Nothing stays connected to it: PostgreSQL refuses to copy
    /// a database other sessions are using.
    static let templateName = "smc_template"
    /// One start shared by every caller: an actor method that awaits is re-entered, so a stored value
    /// checked before the await would let two callers start two clusters.
    private var starting: Task<EmbeddedPostgres, any Error>?
    /// The template's migration, shared the same way.
    private var migratingTemplate: Task<EmbeddedPostgres, any Error>?
    /// The clone before this one: clones are made one at a time (the copy reads the template while no one else may
    /// be connected to it, and dozens at once would only queue on the disk anyway).
    private var previousClone: Task<Void, Never>?

    func cluster() async throws -> EmbeddedPostgres {
        if let starting { return try await starting.value }
        let task = Task { try await Self.start() }
        starting = task
        return try await task.value
    }

    /// A new database copied from the migrated template.
    func cloneTemplate() async throws -> DatabaseSettings {
        let cluster = try await migratedTemplate()
        let name = TestDatabase.freshName()
        let previous = previousClone
        let clone = Task<Void, any Error> {
            await previous?.value
            try await cluster.admin("CREATE DATABASE \(name) TEMPLATE \(Self.templateName)")
        }
        previousClone = Task { _ = await clone.result }
        try await clone.value
        return cluster.connectionSettings(database: name)
    }

    private func migratedTemplate() async throws -> EmbeddedPostgres {
        if let migratingTemplate { return try await migratingTemplate.value }
        let task = Task { [self] in
            let cluster = try await self.cluster()
            try await cluster.admin("CREATE DATABASE \(Self.templateName)")
            let migrator = Migrator(
                migrations: try Migrator.load(directory: TestDatabase.migrationsDirectory), logger: TestDatabase.logger)
            // `withRunning` returns once its pool has closed every connection, so the first clone finds the template free.
            try await PostgresClient.withRunning(
                cluster.connectionSettings(database: Self.templateName), logger: TestDatabase.logger, maxConnections: 1
            ) { client in
                _ = try await migrator.migrate(client: client)
            }
            // No one connects to it again by mistake (a connection would make every later clone fail).
            try await cluster.admin("ALTER DATABASE \(Self.templateName) WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
            return cluster
        }
        migratingTemplate = task
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

extension EmbeddedPostgres {
    /// Runs one statement against the cluster's `postgres` database (CREATE DATABASE and the like).
    func admin(_ sql: String) async throws {
        try await PostgresClient.withRunning(connectionSettings(database: "postgres"), logger: TestDatabase.logger, maxConnections: 1) {
            client in
            try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestDatabase.logger)
        }
    }
}

nonisolated(unsafe) private var clusterToStop: EmbeddedPostgres?
