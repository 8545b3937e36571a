import ArgumentParser
import Foundation
import SMCClient

@main
struct SMCClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smc-client",
        abstract: "The reference client of the smc signal service.",
        discussion: "State lives under $SMC_CLIENT_HOME (default ~/.smc-client); the server comes from --server or SMC_SERVER.",
        subcommands: [
            Login.self, Logout.self, Status.self, Sync.self, SignalsCommand.self, JournalCommand.self, ServerStatus.self, Analyze.self,
            BacktestCommand.self, Candles.self,
        ]
    )
}

/// Options every command that talks to a server shares.
struct ServerOptions: ParsableArguments {
    @Option(name: .long, help: "The server's base URL (default: $SMC_SERVER, else http://127.0.0.1:8080).")
    var server: String?

    func url() throws -> URL {
        let text = server ?? ProcessInfo.processInfo.environment["SMC_SERVER"] ?? "http://127.0.0.1:8080"
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw ValidationError(ClientError.invalidServerURL(text).description)
        }
        return url
    }
}

/// Exit codes that say what happened (see the README).
enum Exit {
    static let auth = ExitCode(2)
    static let network = ExitCode(3)
    static let refused = ExitCode(4)
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
