import ArgumentParser
import Foundation
import SMCServer

@main
struct SMCServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smc-server",
        abstract: "The smc signal service.",
        discussion: """
            Settings come from the environment (see deploy/.env.example): DATABASE_URL (else an embedded
            PostgreSQL under SMC_DATA_DIR, default ./.smc), PORT, SMC_HOST, SMC_LOG_LEVEL, SMC_LOG_FORMAT …
            """,
        version: SMCServerInfo.version,
        subcommands: [Serve.self, Migrate.self, Admin.self]
    )
}

/// Fails the command with a plain message (no stack trace) and exit status 1.
func fail(_ error: any Error) -> ExitCode {
    FileHandle.standardError.write(Data("smc-server: \(error)\n".utf8))
    return ExitCode(1)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the REST API (and the workers).")

    @Option(help: "Address to listen on (default SMC_HOST or 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (default PORT or 8080).") var port: Int?
    @Flag(help: "Apply pending migrations before serving instead of refusing to start.") var migrate = false

    func run() async throws {
        do {
            var configuration = try await AppConfiguration.fromEnvironment()
            if let host { configuration.host = host }
            if let port { configuration.port = port }
            configuration.migrateOnStart = migrate
            try await ServerCommands.serve(configuration: configuration)
        } catch {
            throw fail(error)
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending database migrations (one transaction, under an advisory lock).")

    @Flag(help: "Only list applied and pending migrations.") var status = false

    func run() async throws {
        do {
            let configuration = try await AppConfiguration.fromEnvironment()
            for line in try await ServerCommands.migrate(configuration: configuration, statusOnly: status) {
                print(line)
            }
        } catch {
            throw fail(error)
        }
    }
}

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Operator actions against the configured database.",
        discussion: "Results go to standard output, log lines to standard error.",
        subcommands: [SetPlan.self, CreateFeederKey.self, ListFeederKeys.self, RevokeFeederKey.self])

    struct SetPlan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-plan", abstract: "Move the tenant of EMAIL to PLAN (free, pro, team); says what a downgrade disabled.")
        @Argument var email: String
        @Argument var plan: String

        func run() async throws {
            try await runAdmin(.setPlan(email: email, plan: plan))
        }
    }

    struct CreateFeederKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-feeder-key", abstract: "Issue a market-data feeder key (printed once).")
        @Argument var name: String

        func run() async throws {
            try await runAdmin(.createFeederKey(name: name))
        }
    }

    struct ListFeederKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list-feeder-keys", abstract: "List the feeder keys: id, last characters, name, created, revoked.")

        func run() async throws {
            try await runAdmin(.listFeederKeys)
        }
    }

    struct RevokeFeederKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke-feeder-key", abstract: "Revoke a feeder key by its id (or the name of a key in use).")
        @Argument(help: "The key's id, as list-feeder-keys prints it, or its name.") var key: String

        func run() async throws {
            try await runAdmin(.revokeFeederKey(idOrName: key))
        }
    }
}

func runAdmin(_ action: ServerCommands.AdminAction) async throws {
    do {
        let configuration = try await AppConfiguration.fromEnvironment()
        for line in try await ServerCommands.admin(configuration: configuration, action) { print(line) }
    } catch let problem as Problem {
        FileHandle.standardError.write(Data("smc-server: \(problem.detail ?? problem.code)\n".utf8))
        throw ExitCode(2)
    } catch {
        throw fail(error)
    }
}
