import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The development default: a PostgreSQL cluster of our own under `$SMC_DATA_DIR/postgres`.
///
/// Layout: `<root>/data` is the cluster (PGDATA), `<root>` holds the Unix socket (no TCP listener),
/// `<root>/postgres.log` the server log and `<root>/owner.lock` the lock that makes one smc-server the
/// owner of the cluster. The owner starts the cluster (or adopts one a crashed owner left running) and
/// stops it on shutdown. A second process that finds the lock taken either refuses (`serve`) or uses the
/// running cluster without stopping it (`migrate`, tests). A cluster that crashed is simply started
/// again: PostgreSQL replays its WAL. PostgreSQL refuses to run as root, so when we are root every
/// PostgreSQL program runs as the `postgres` system user, which owns `<root>`.
public final class EmbeddedPostgres: Sendable {
    public enum Role: Sendable {
        /// Must own the cluster: refuse if another process does.
        case owner
        /// Own it if nobody does, otherwise use the running cluster and leave it running.
        case ownerOrGuest
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The folder holding the cluster, the socket, the log and the lock.
    public let root: String
    public var dataDirectory: String { root + "/data" }
    public var socketPath: String { root + "/.s.PGSQL.\(Self.port)" }
    public var logPath: String { root + "/postgres.log" }
    /// The bootstrap superuser; trust authentication on the socket, which only its owner can open.
    public let superuser = "postgres"
    /// Only names the socket file: the cluster does not listen on TCP.
    static let port = 5432

    private let binDirectory: String
    private let runAsUser: String?
    private let logger: Logger
    private let state = LockedBox<(lockFD: Int32?, owns: Bool, started: Bool)>((nil, false, false))

    /// `max_connections` of a cluster this creates (an existing cluster keeps its own).
    let maxConnections: Int

    /// `durable: false` (a test run's throwaway cluster): no fsync, so that a hundred databases created and written
    /// at once do not queue behind the disk (a loaded run stalled for a minute on it). Never for data that matters.
    let durable: Bool

    /// Locates PostgreSQL's programs (PATH, then `/usr/lib/postgresql/<newest>/bin`) for a cluster in `root`.
    public init(root: String, logger: Logger, maxConnections: Int = 200, durable: Bool = true) throws {
        self.durable = durable
        self.root = URL(fileURLWithPath: root).standardizedFileURL.path
        self.logger = logger
        self.maxConnections = maxConnections
        guard let bin = Self.findBinDirectory() else {
            throw Failure(
                description:
                    "PostgreSQL's programs (initdb, pg_ctl, postgres) were not found in PATH or /usr/lib/postgresql/*/bin; run scripts/setup or set DATABASE_URL"
            )
        }
        self.binDirectory = bin
        self.runAsUser = geteuid() == 0 ? "postgres" : nil
        guard socketPath.utf8.count < 104 else {
            throw Failure(description: "the socket path \(socketPath) is too long for a Unix socket; choose a shorter SMC_DATA_DIR")
        }
    }

    /// Whether this process owns (and so will stop) the cluster.
    public var ownsCluster: Bool { state.withLock { $0.owns } }

    /// Initialises the cluster if it does not exist yet, starts it (or adopts or joins a running one) and
    /// makes sure `database` exists.
    public func start(role: Role, database: String) async throws {
        try await prepareRoot()
        let lock = try acquireOwnerLock()
        switch (lock, role) {
        case (.some(let fd), _):
            state.withLock { $0 = (fd, true, false) }
        case (nil, .owner):
            let holder = (try? String(contentsOfFile: root + "/owner.lock", encoding: .utf8))?.trimmingWhitespace() ?? "?"
            throw Failure(
                description:
                    "another smc-server (pid \(holder)) already runs the embedded PostgreSQL in \(root); stop it, or give this one its own SMC_DATA_DIR"
            )
        case (nil, .ownerOrGuest):
            logger.info("embedded PostgreSQL is owned by another process; using it", metadata: ["root": "\(root)"])
        }
        if ownsCluster {
            if !FileManager.default.fileExists(atPath: dataDirectory + "/PG_VERSION") {
                try await initialise()
            }
            if try await isRunning() {
                // pg_ctl only checks that the recorded PID exists; a dying postmaster passes that too.
                if try await waitUntilAccepting(timeout: .seconds(15)) {
                    logger.warning(
                        "adopting the embedded PostgreSQL a previous smc-server left running",
                        metadata: ["root": "\(root)"])
                } else {
                    logger.warning(
                        "the embedded PostgreSQL a previous smc-server left does not answer; restarting it",
                        metadata: ["root": "\(root)"])
                    try? await pgCtl(["-m", "immediate", "-w", "-t", "30", "stop"])
                    try await startCluster()
                }
            } else {
                try await startCluster()
            }
            state.withLock { $0.started = true }
        } else {
            guard try await isRunning() else {
                throw Failure(description: "the embedded PostgreSQL in \(root) is locked by another process but not running")
            }
        }
        try await ensureDatabase(database)
    }

    /// Stops the cluster if this process owns it, then releases the ownership lock.
    public func stop() async {
        let current = state.withLock { $0 }
        guard current.owns else { return }
        if current.started {
            do {
                try await pgCtl(["-m", "fast", "-w", "-t", "60", "stop"])
                logger.info("embedded PostgreSQL stopped", metadata: ["root": "\(root)"])
            } catch {
                logger.error("could not stop the embedded PostgreSQL", metadata: ["error": "\(error)"])
            }
        }
        if let fd = current.lockFD {
            _ = flock(fd, LOCK_UN)
            close(fd)
        }
        state.withLock { $0 = (nil, false, false) }
    }

    /// Stops a cluster that no process owns any more (its owner crashed), without starting it first.
    /// Returns false if another process still owns it.
    public func stopAbandoned() async throws -> Bool {
        guard FileManager.default.fileExists(atPath: root) else { return true }
        guard let fd = try acquireOwnerLock() else { return false }
        defer {
            _ = flock(fd, LOCK_UN)
            close(fd)
        }
        if FileManager.default.fileExists(atPath: dataDirectory + "/PG_VERSION"), try await isRunning() {
            try await pgCtl(["-m", "immediate", "-w", "-t", "60", "stop"])
        }
        return true
    }

    /// Settings for connecting over the socket.
    public func connectionSettings(database: String) -> DatabaseSettings {
        DatabaseSettings(endpoint: .unixSocket(path: socketPath), username: superuser, password: nil, database: database, tls: .disable)
    }

    // MARK: - Steps

    private func prepareRoot() async throws {
        // Parents with ordinary permissions (the postgres user must traverse them), the root itself private.
        let parent = URL(fileURLWithPath: root).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: root) {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        }
        if let user = runAsUser {
            try await Subprocess.check(["chown", user + ":" + user, root])
            let reachable = try await Subprocess.run(["runuser", "-u", user, "--", "test", "-w", root])
            guard reachable.status == 0 else {
                throw Failure(
                    description:
                        "the \(user) system user cannot write \(root) (a parent folder is not searchable by it?): make the parents searchable (chmod o+x) or set SMC_DATA_DIR elsewhere"
                )
            }
        }
    }

    /// nil when another process holds the lock.
    private func acquireOwnerLock() throws -> Int32? {
        let path = root + "/owner.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            return nil
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        return fd
    }

    private func initialise() async throws {
        logger.info("initialising the embedded PostgreSQL cluster", metadata: ["root": "\(root)"])
        // initdb into a scratch folder and rename, so that a crash mid-way never leaves a half cluster.
        let scratch = root + "/data.initdb"
        try? FileManager.default.removeItem(atPath: scratch)
        try await runPG([
            binDirectory + "/initdb", "-D", scratch, "-U", superuser, "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-instructions",
        ] + (durable ? [] : ["--no-sync"]))
        let settings = """

            # smc: embedded development cluster
            listen_addresses = ''
            unix_socket_permissions = 0700
            max_connections = \(maxConnections)
            shared_buffers = 128MB
            fsync = \(durable ? "on" : "off")
            synchronous_commit = \(durable ? "on" : "off")
            full_page_writes = \(durable ? "on" : "off")
            timezone = 'UTC'
            log_timezone = 'UTC'

            """
        let conf = scratch + "/postgresql.conf"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: conf))
        handle.seekToEndOfFile()
        handle.write(Data(settings.utf8))
        try handle.close()
        try FileManager.default.moveItem(atPath: scratch, toPath: dataDirectory)
    }

    private func startCluster() async throws {
        try await pgCtl([
            "-l", logPath, "-w", "-t", "120",
            "-o", "-k '\(root)' -c listen_addresses='' -p \(Self.port)", "start",
        ])
    }

    /// Polls `pg_isready` until the cluster accepts connections (true) or stops answering at all (false).
    private func waitUntilAccepting(timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let result = try await runPGResult([binDirectory + "/pg_isready", "-q", "-h", root, "-p", "\(Self.port)"])
            switch result.status {
            case 0: return true  // accepting
            case 1: break  // starting up or shutting down: keep waiting
            default: return false  // no response: nothing is listening
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    private func isRunning() async throws -> Bool {
        let result = try await runPGResult([binDirectory + "/pg_ctl", "-D", dataDirectory, "status"])
        return result.status == 0
    }

    private func pgCtl(_ arguments: [String]) async throws {
        try await runPG([binDirectory + "/pg_ctl", "-D", dataDirectory] + arguments)
    }

    private func ensureDatabase(_ database: String) async throws {
        let created = try await runPGResult([
            binDirectory + "/createdb", "-h", root, "-p", "\(Self.port)", "-U", superuser, database,
        ])
        // Existing is fine: the database outlives the process, and another process may have just made it.
        if created.status != 0, !created.output.contains("already exists") {
            throw Failure(description: "could not create database \(database): \(created.output.trimmingWhitespace())")
        }
    }

    private func runPG(_ arguments: [String]) async throws {
        let result = try await runPGResult(arguments)
        guard result.status == 0 else {
            var output = result.output.trimmingWhitespace()
            if let log = try? String(contentsOfFile: logPath, encoding: .utf8) {
                output += "\n--- \(logPath) (last lines) ---\n" + log.split(separator: "\n").suffix(15).joined(separator: "\n")
            }
            throw Failure(description: "`\(arguments.joined(separator: " "))` failed (status \(result.status)): \(output)")
        }
    }

    private func runPGResult(_ arguments: [String]) async throws -> Subprocess.Result {
        var env = ProcessInfo.processInfo.environment
        env["LC_ALL"] = "C"
        env.removeValue(forKey: "PGDATA")
        env.removeValue(forKey: "PGHOST")
        if let user = runAsUser {
            return try await Subprocess.run(["runuser", "-u", user, "--"] + arguments, environment: env)
        }
        return try await Subprocess.run(arguments, environment: env)
    }

    static func findBinDirectory() -> String? {
        if let dir = ProcessInfo.processInfo.environment["SMC_POSTGRES_BIN"], !dir.isEmpty { return dir }
        if let pgCtl = Subprocess.which("pg_ctl") {
            let resolved = URL(fileURLWithPath: pgCtl).resolvingSymlinksInPath().deletingLastPathComponent().path
            if FileManager.default.isExecutableFile(atPath: resolved + "/initdb") { return resolved }
        }
        let base = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        let newest = versions.compactMap(Int.init).sorted().last
        if let newest, FileManager.default.isExecutableFile(atPath: "\(base)/\(newest)/bin/pg_ctl") {
            return "\(base)/\(newest)/bin"
        }
        return nil
    }
}

/// A tiny lock-protected box: enough for the few bits of state that `Sendable` classes here keep.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
