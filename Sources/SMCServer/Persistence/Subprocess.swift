import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a command to completion without blocking a cooperative thread, capturing its combined output.
///
/// Output goes to a temporary file rather than a pipe: `pg_ctl start` leaves a daemon behind that could
/// inherit the pipe and keep it open long after `pg_ctl` itself exits.
package struct Subprocess {
    package struct Result: Sendable {
        package var status: Int32
        package var output: String
    }

    struct Failure: Error, CustomStringConvertible {
        var command: String
        var status: Int32
        var output: String
        var description: String {
            "`\(command)` exited with status \(status): \(output.trimmingWhitespace())"
        }
    }

    /// Runs `arguments[0]` (an absolute path, or a name looked up in PATH) with the rest as arguments.
    ///
    /// posix_spawn and a blocking `waitpid` on a thread of its own: Foundation's `Process` on Linux was
    /// seen to leave a child unreaped (and its termination handler never called) once `pg_ctl` had
    /// forked its daemon.
    package static func run(_ arguments: [String], environment: [String: String]? = nil) async throws -> Result {
        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("smc-subprocess-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let pid = try spawn(arguments, environment: environment, outputPath: outputPath)
        let status = await wait(pid)
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return Result(status: status, output: output)
    }

    /// Starts a command with stdin from /dev/null and stdout appended to `outputPath`; stderr too, unless
    /// `errorPath` names a file of its own.
    package static func spawn(
        _ arguments: [String], environment: [String: String]? = nil, outputPath: String, errorPath: String? = nil,
        inputPath: String = "/dev/null"
    ) throws -> pid_t {
        precondition(!arguments.isEmpty)
        let executable = arguments[0].hasPrefix("/") ? arguments[0] : (which(arguments[0]) ?? arguments[0])
        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inputPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        if let errorPath {
            posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        var pid: pid_t = 0
        let argv = ([executable] + arguments.dropFirst()).map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard spawned == 0 else {
            throw Failure(command: arguments.joined(separator: " "), status: -1, output: String(cString: strerror(spawned)))
        }
        return pid
    }

    /// Waits for `pid` to exit; its status as a shell reports it (128 + signal when killed).
    package static func wait(_ pid: pid_t) async -> Int32 {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                var raw: Int32 = 0
                while waitpid(pid, &raw, 0) == -1, errno == EINTR {}
                let code = (raw & 0x7F) == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
                continuation.resume(returning: code)
            }
            thread.start()
        }
    }

    /// Like `run`, but a non-zero exit status is an error carrying the output.
    @discardableResult
    static func check(_ arguments: [String], environment: [String: String]? = nil) async throws -> String {
        let result = try await run(arguments, environment: environment)
        guard result.status == 0 else {
            throw Failure(command: arguments.joined(separator: " "), status: result.status, output: result.output)
        }
        return result.output
    }

    /// The first executable called `name` in PATH.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
