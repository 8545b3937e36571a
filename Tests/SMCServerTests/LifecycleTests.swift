import Foundation
import PostgresNIO
import SMCTestSupport
import Testing

@testable import SMCServer

#if canImport(Glibc)
import Glibc
#endif

/// A real `smc-server` process, as an operator runs it.
final class ServerProcess: Sendable {
    let pid: pid_t
    let logPath: String
    /// Set once the process has exited.
    private let exited = LockedBox<Int32?>(nil)

    static var binary: String { Executables.path("smc-server") }

    init(_ arguments: [String], environment: [String: String]) throws {
        let binary = Self.binary
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw TestFailure("smc-server is not built at \(binary): run `swift build` (make test does)")
        }
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "DATABASE_URL")
        env["SMC_LOG_FORMAT"] = "json"
        env["PORT"] = "0"
        env.merge(environment) { _, new in new }
        logPath = FileManager.default.temporaryDirectory.appendingPathComponent("smc-server-\(UUID().uuidString).log").path
        pid = try Subprocess.spawn([binary] + arguments, environment: env, outputPath: logPath)
        let pid = pid
        let exited = exited
        Task { exited.withLock { [status = await Subprocess.wait(pid)] in $0 = status } }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits for the "serving" log line and returns the port it names.
    func port(timeout: Duration = .seconds(60)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for line in log.split(separator: "\n") where line.contains(#""msg":"serving""#) {
                if let range = line.range(of: #"http://127\.0\.0\.1:([0-9]+)"#, options: .regularExpression),
                    let port = Int(line[range].split(separator: ":").last!)
                {
                    return port
                }
            }
            if let status = await exitStatus(within: .milliseconds(100)) {
                throw TestFailure("smc-server exited (\(status)) before serving:\n\(log)")
            }
        }
        throw TestFailure("smc-server did not serve within \(timeout):\n\(log)")
    }

    /// The exit status, if the process ends within `limit`.
    func exitStatus(within limit: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + limit
        while true {
            if let status = exited.withLock({ $0 }) { return status }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    func signal(_ signal: Int32) { kill(pid, signal) }

    /// `smc-server serve` on a test database (plus `environment`), once it serves: the process and its address.
    static func serve(_ settings: DatabaseSettings, environment: [String: String] = [:]) async throws -> (ServerProcess, ServerAt) {
        let server = try ServerProcess(["serve"], environment: ["DATABASE_URL": TestDatabase.url(for: settings), "SMC_LOG_LEVEL": "info"]
            .merging(environment) { _, new in new })
        return (server, ServerAt("http://127.0.0.1:\(try await server.port())", database: settings))
    }
}

func isAlive(_ pid: pid_t) -> Bool {
    // Zombies count as gone: look at the state in /proc.
    guard kill(pid, 0) == 0 else { return false }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    return !stat.contains(") Z ")
}

func postmasterPID(_ dataDir: String) -> pid_t? {
    (try? String(contentsOfFile: dataDir + "/postgres/data/postmaster.pid", encoding: .utf8))?
        .split(separator: "\n").first.flatMap { pid_t($0) }
}

@Suite("Lifecycle of the smc-server process", .serialized)
struct LifecycleTests {
    @Test("SIGTERM stops accepting, completes the request in flight, and exits 0")
    func sigtermDrainsInFlight() async throws {
        let settings = try await TestDatabase.makeMigrated()
        let server = try ServerProcess(["serve"], environment: ["DATABASE_URL": TestDatabase.url(for: settings)])
        let port = try await server.port()
        let base = "http://127.0.0.1:\(port)"
        #expect(try await TestHTTP.request(.GET, base + "/ready").status == 200)

        // Hold a lock that /ready's query must wait for, so that a request is truly in flight.
        let (locked, lockedContinuation) = AsyncStream.makeStream(of: Void.self)
        let blocker = Task {
            try await PostgresClient.withRunning(settings, logger: TestDatabase.logger, maxConnections: 1) { client in
                try await client.withConnection { connection in
                    try await connection.query("BEGIN", logger: TestDatabase.logger)
                    try await connection.query("LOCK TABLE smc_schema_migrations IN ACCESS EXCLUSIVE MODE", logger: TestDatabase.logger)
                    lockedContinuation.yield()
                    try await Task.sleep(for: .seconds(2))
                    try await connection.query("COMMIT", logger: TestDatabase.logger)
                }
            }
        }
        for await _ in locked { break }
        let inFlight = Task { try await TestHTTP.request(.GET, base + "/ready") }
        try await Task.sleep(for: .milliseconds(500))
        server.signal(SIGTERM)
        try await Task.sleep(for: .milliseconds(500))

        // No longer accepting new connections…
        await #expect(throws: (any Error).self) { _ = try await TestHTTP.request(.GET, base + "/health", timeout: .seconds(3)) }
        // …but the request in flight completes normally once the lock is released.
        let response = try await inFlight.value
        #expect(response.status == 200)
        try await blocker.value
        let status = await server.exitStatus(within: .seconds(20))
        #expect(status == 0, "exit status \(String(describing: status)); log:\n\(server.log)")
        #expect(server.log.contains(#""msg":"stopped""#))
    }

    @Test("embedded PostgreSQL: the first serve --migrate logs no error, a second serve refuses cleanly, migrate joins, and SIGTERM leaves no postgres behind")
    func embeddedCluster() async throws {
        let dataDir = "/tmp/smc-life-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let env = ["SMC_DATA_DIR": dataDir]
        let server = try ServerProcess(["serve", "--migrate"], environment: env)
        let port = try await server.port()
        #expect(try await TestHTTP.request(.GET, "http://127.0.0.1:\(port)/ready").status == 200)
        let postgres = try #require(postmasterPID(dataDir))
        #expect(isAlive(postgres))
        #expect(server.log.contains("embedded development PostgreSQL"))
        // The first serve --migrate: the workers start only once the schema is current, so nothing fails meanwhile.
        try await Task.sleep(for: .seconds(1))
        let errors = server.log.split(separator: "\n").filter { $0.contains(#""level":"error""#) || $0.contains("current transaction is aborted") }
        #expect(errors.isEmpty, "errors on the first start: \(errors.prefix(3))")

        let second = try ServerProcess(["serve"], environment: env)
        let secondStatus = await second.exitStatus(within: .seconds(30))
        #expect(secondStatus == 1)
        #expect(second.log.contains("already runs the embedded PostgreSQL"), "\(second.log)")

        let migrate = try ServerProcess(["migrate"], environment: env)
        #expect(await migrate.exitStatus(within: .seconds(30)) == 0, "\(migrate.log)")
        #expect(migrate.log.contains("migrations current"))
        #expect(isAlive(postgres), "a guest must not stop the owner's cluster")
        #expect(try await TestHTTP.request(.GET, "http://127.0.0.1:\(port)/ready").status == 200)

        server.signal(SIGTERM)
        #expect(await server.exitStatus(within: .seconds(30)) == 0, "\(server.log)")
        #expect(!isAlive(postgres), "postgres (pid \(postgres)) is still running")
        #expect(postmasterPID(dataDir) == nil)
    }

    @Test("a crashed server's cluster is adopted, and a crashed cluster recovers, on the next start")
    func crashRecovery() async throws {
        let dataDir = "/tmp/smc-life-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let env = ["SMC_DATA_DIR": dataDir]

        // 1. smc-server dies hard: its cluster keeps running and the next start adopts it.
        let first = try ServerProcess(["serve", "--migrate"], environment: env)
        _ = try await first.port()
        let postgres = try #require(postmasterPID(dataDir))
        first.signal(SIGKILL)
        _ = await first.exitStatus(within: .seconds(10))
        #expect(isAlive(postgres))
        let second = try ServerProcess(["serve"], environment: env)
        let port = try await second.port()
        #expect(second.log.contains("adopting"))
        #expect(try await TestHTTP.request(.GET, "http://127.0.0.1:\(port)/ready").status == 200)

        // 2. Both die hard (postgres first, uncleanly): the next start recovers the cluster.
        kill(postgres, SIGKILL)
        second.signal(SIGKILL)
        _ = await second.exitStatus(within: .seconds(10))
        // Orphaned backends go when the postmaster does; give them a moment.
        try await Task.sleep(for: .seconds(1))
        let third = try ServerProcess(["serve"], environment: env)
        let thirdPort = try await third.port()
        #expect(try await TestHTTP.request(.GET, "http://127.0.0.1:\(thirdPort)/ready").status == 200)
        let recovered = try #require(postmasterPID(dataDir))
        third.signal(SIGTERM)
        #expect(await third.exitStatus(within: .seconds(30)) == 0, "\(third.log)")
        #expect(!isAlive(recovered))
    }
}
