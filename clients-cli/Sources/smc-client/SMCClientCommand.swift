import ArgumentParser
import Foundation
import SMCClient

@main
struct SMCClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smc-client",
        abstract: "The reference client of the smc signal service.",
        discussion: """
            State lives under $SMC_CLIENT_HOME (default ~/.smc-client); the server comes from --server or SMC_SERVER. \
            IDs may be given as any unique prefix (at least 4 hex digits; tables print the shortest unique one).

            \(Exit.table)
            """,
        subcommands: [
            Login.self, Logout.self, Status.self, Sync.self, SignalsCommand.self, JournalCommand.self, ServerStatus.self, Analyze.self,
            BacktestCommand.self, Candles.self, SummaryCommand.self,
        ]
    )

    /// ArgumentParser's main, with every failure turned into a message and one of the documented exit codes (`Exit`):
    /// no library error ends in a bare `exit 1`.
    static func main() async {
        do {
            var command = try await asyncParseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: Exit.translate(error))
        }
    }
}

/// Options every command that talks to a server shares.
struct ServerOptions: ParsableArguments {
    @Option(name: .long, help: "The server's base URL (default: $SMC_SERVER, else http://127.0.0.1:8080).")
    var server: String?

    func validate() throws {
        _ = try url()
    }

    func url() throws -> URL {
        let text = server ?? ProcessInfo.processInfo.environment["SMC_SERVER"] ?? "http://127.0.0.1:8080"
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw ValidationError(ClientError.invalidServerURL(text).description)
        }
        return url
    }
}

/// Exit codes that say what happened, the same for every command; the README's table lists them.
enum Exit {
    /// Authentication: not signed in, signed out or revoked, a wrong email or password, a feeder key missing or
    /// refused — sign in again (or fix the key).
    static let auth = ExitCode(2)
    /// The server could not be reached (after the retries).
    static let network = ExitCode(3)
    /// Refused: by the server (validation, a conflict, not ready, still failing after the retries), or by the client
    /// before anything is sent — a file it cannot read or that is malformed, a change the server's rules refuse, a
    /// logout with changes not yet synced.
    static let refused = ExitCode(4)
    /// No such id here, or a prefix that names several entries (they are listed).
    static let notFound = ExitCode(5)
    /// The client itself failed: its home could not be opened, read or written (permissions, disk full, a damaged
    /// store), or an unexpected error; the message says which.
    static let local = ExitCode(6)
    // 64 (EX_USAGE): the command line itself is wrong — an unknown option, a missing or malformed value, a value out
    // of range. ArgumentParser's own usage errors, and our ValidationErrors.

    static let table = """
        Exit codes: 0 done; 2 authentication (sign in again, or fix the feeder key); 3 network (the server could not \
        be reached); 4 refused (by the server, or by the client before sending: a malformed file, a change the \
        server's rules refuse); 5 no such id, or an ambiguous prefix; 6 the client failed locally (its home cannot be \
        used); 64 usage (the command line itself is wrong).
        """

    /// The message and exit code of a failure; ArgumentParser's own errors (usage, help, explicit exit codes) pass
    /// through unchanged.
    static func translate(_ error: any Error) -> any Error {
        switch error {
        case let failure as SyncFailure:
            Output.error(failure.message)
            return ExitCode(failure.exitCode)
        case let error as StoreError:
            if case .invalid(let problems) = error {
                let lines = problems.map(\.commandLine)
                Output.error(lines.count == 1 ? lines[0] : "\(lines.count) problems:\n" + lines.map { "  " + $0 }.joined(separator: "\n"))
            } else {
                Output.error(error.description)
            }
            switch error {
            case .notSignedIn: return auth
            case .invalid: return refused
            case .notFound, .notAnID, .ambiguous, .deleted: return notFound
            case .unusableHome: return local
            }
        case let invalid as ValidationError:
            // From a run() (what validate() finds comes wrapped, with the subcommand's usage): the reason alone, as
            // the root's usage would mislead.
            Output.error(invalid.message)
            return ExitCode.validationFailure
        case is ExitCode, is CleanExit:
            return error
        default:
            // ArgumentParser's parse errors map to 64 (or 0 for help); anything else is ours to name.
            guard SMCClientCommand.exitCode(for: error) == .failure else { return error }
            Output.error("\(error)")
            return local
        }
    }
}

struct ServerStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server-status", abstract: "Show whether the server is up and ready, and its version.")

    @OptionGroup var options: ServerOptions

    func run() async throws {
        let url = try options.url()
        do {
            let status = try await ServerConnection(serverURL: url).status()
            print("server   \(url.absoluteString)")
            print("version  \(status.version)")
            print("ready    \(status.ready ? "yes (schema \(status.detail))" : "no (\(status.detail))")")
            if !status.ready { throw Exit.refused }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("smc-client: cannot reach \(url.absoluteString): \(error.localizedDescription)\n".utf8))
            throw Exit.network
        }
    }
}
