import ArgumentParser
import Foundation
import SMCClient

#if canImport(Glibc)
import Glibc
#endif

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign in this client home as a device of your account.",
        discussion: "The password comes from a prompt, or from standard input with --password-stdin. Signing in as another account starts from an empty local store.")

    @OptionGroup var options: ServerOptions
    @OptionGroup var homeOptions: HomeOptions
    @Option(help: "Your account's email.") var email: String
    @Flag(help: "Read the password from standard input (one line).") var passwordStdin = false
    @Option(help: "This device's name, as `GET /v1/devices` lists it (default: smc-client@<host>).") var deviceName: String?

    func run() async throws {
        let url = try options.url()
        let password: String
        if passwordStdin {
            password = readLine(strippingNewline: true) ?? ""
        } else {
            guard let typed = getpass("Password for \(email): ") else { throw ValidationError("no password given") }
            password = String(cString: typed)
        }
        guard !password.isEmpty else { throw ValidationError("the password is empty") }
        let store = try homeOptions.store()
        let name = deviceName ?? "smc-client@\(ProcessInfo.processInfo.hostName)".prefix(100).description
        let session = try await SyncEngine.login(store: store, server: url, email: email, password: password, deviceName: name)
        print("signed in as \(session.email) (plan \(session.plan)) on \(session.server); device \(session.deviceID)")
        let pending = try store.status().pendingChanges
        if pending > 0 { print("\(pending) local change(s) will be sent on the next sync") }
    }
}

struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign this device out and forget the local copies.",
        discussion: "Refuses while local changes are not synced, unless --force (they would be lost).")

    @OptionGroup var homeOptions: HomeOptions
    @Flag(help: "Sign out even though local changes are not synced (they are lost).") var force = false

    func run() async throws {
        let store = try homeOptions.store()
        let status = try store.status()
        guard let session = status.session else {
            print("not signed in")
            return
        }
        if status.pendingChanges > 0 && !force {
            Output.error("\(status.pendingChanges) local change(s) are not synced yet: run smc-client sync first, or logout --force to drop them")
            throw Exit.refused
        }
        if let url = URL(string: session.server) {
            do {
                try await APIConnection(serverURL: url, token: session.token, attempts: 2).logout()
            } catch {
                Output.error("could not reach \(session.server) to revoke the device (\(error)); it expires on its own")
            }
        }
        try store.signOut()
        print("signed out \(session.email) from \(session.server)")
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the account, the last sync and the changes not yet synced.")

    @OptionGroup var homeOptions: HomeOptions
    @Flag(help: "Print JSON.") var json = false

    struct Report: Encodable {
        var signedIn: Bool
        var server: String?
        var email: String?
        var plan: String?
        var deviceID: String?
        var lastSync: String?
        var pendingChanges: Int
        var signals: Int
        var trades: Int
        var rejected: Int

        enum CodingKeys: String, CodingKey {
            case server, email, plan, signals, trades, rejected
            case signedIn = "signed_in", deviceID = "device_id", lastSync = "last_sync", pendingChanges = "pending_changes"
        }
    }

    func run() async throws {
        let store = try homeOptions.store()
        let s = try store.status()
        let report = Report(
            signedIn: s.session != nil, server: s.session?.server, email: s.session?.email, plan: s.session?.plan,
            deviceID: s.session?.deviceID, lastSync: s.lastSync, pendingChanges: s.pendingChanges, signals: s.signals, trades: s.trades,
            rejected: s.rejections)
        if json {
            try Output.json(report)
            return
        }
        guard let session = s.session else {
            print("not signed in (smc-client login --server URL --email E)")
            print("home     \(store.home.path)")
            return
        }
        print("server   \(session.server)")
        print("user     \(session.email)")
        print("plan     \(session.plan)")
        print("device   \(session.deviceName) (\(session.deviceID))")
        print("synced   \(s.lastSync ?? "never")")
        print("pending  \(s.pendingChanges) local change(s)")
        print("local    \(s.signals) signal(s), \(s.trades) trade(s)")
        if s.rejections > 0 {
            print("refused  \(s.rejections) change(s) the server refused:")
            let rejections = try store.rejections().suffix(5)
            let known = Array(try store.tradeIDPrefixes().keys) + Array(try store.signalIDPrefixes().keys)
            let prefixes = IDPrefix.shortest(known + rejections.map(\.entityID))
            for r in rejections {
                print("         #\(r.mutationID) \(r.op) \(r.entity) \(prefixes[r.entityID] ?? r.entityID): \(r.code): \(r.reason)")
            }
        }
    }
}
