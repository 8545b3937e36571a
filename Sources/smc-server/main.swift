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
        subcommands: [SetPlan.self, SetSymbol.self, CreateFeederKey.self, ListFeederKeys.self, RevokeFeederKey.self])

    struct SetSymbol: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-symbol",
            abstract: "Change a symbol's tick (price decimals) and round-trip costs; they apply to signals issued from now on.")
        @Argument var symbol: String
        @Option(help: "Decimals of the tick (0–10); prices are shown and sent rounded to it.") var decimals: Int?
        @Option(help: "Spread per round trip, in price units.") var spread: Double?
        @Option(help: "Commission per round trip, in price units.") var commission: Double?
        @Option(name: .customLong("commission-rate"), help: "Commission per round trip as a fraction of the entry price (0.002 = 0.1 % a side).")
        var commissionRate: Double?

        func run() async throws {
            try await runAdmin(.setSymbol(symbol: symbol, decimals: decimals, spread: spread, commission: commission,
                                          commissionRate: commissionRate))
        }
    }

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
