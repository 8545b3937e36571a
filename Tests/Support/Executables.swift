import Foundation
import SMCServer

/// The package's own executables, as built beside the test bundle.
public enum Executables {
    /// The path of `name` (`smc-server`, `smc-client`), from `SMC_<NAME>_BINARY` or the build products folder.
    public static func path(_ name: String) -> String {
        let variable = "SMC_" + name.dropFirst("smc-".count).uppercased() + "_BINARY"  // SMC_SERVER_BINARY, SMC_CLIENT_BINARY
        if let configured = ProcessInfo.processInfo.environment[variable] { return configured }
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for candidate in [products, products.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return TestDatabase.repositoryRoot.appendingPathComponent(".build/debug/\(name)").path
    }

    public struct Run: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Starts `name` in the background, its output discarded (see `killIfRunning`).
    public static func start(_ name: String, _ arguments: [String]) throws -> pid_t {
        try Subprocess.spawn([path(name)] + arguments, outputPath: "/dev/null")
    }

    /// Kills a started command with SIGKILL if it is still running, and reaps it either way; true when it was killed.
    public static func killIfRunning(_ pid: pid_t) async -> Bool {
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == 0 else { return false }  // exited (now reaped), or not ours
        kill(pid, SIGKILL)
        _ = await Subprocess.wait(pid)
        return true
    }

    /// Runs a command to completion with stdout and stderr captured apart; `input` is its standard input.
    public static func run(_ name: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil)
        async throws -> Run
    {
        let binary = path(name)
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw TestFailure("\(name) is not built at \(binary): run `swift build` (make test does)")
        }
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("smc-run-\(UUID().uuidString)").path
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
            try? FileManager.default.removeItem(atPath: base + ".in")
        }
        if let input { try input.write(toFile: base + ".in", atomically: true, encoding: .utf8) }
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        let pid = try Subprocess.spawn([binary] + arguments, environment: env, outputPath: base + ".out", errorPath: base + ".err",
            inputPath: input == nil ? "/dev/null" : base + ".in")
        let status = await Subprocess.wait(pid)
        return Run(
            status: status,
            stdout: (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? "")
    }
}
