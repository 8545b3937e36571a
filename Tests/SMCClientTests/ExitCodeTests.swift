import Foundation
import SMCTestSupport
import Testing

@testable import SMCClient

/// Every way `smc-client` ends has a documented exit code (README, "Exit codes"): 0 done, 2 authentication,
/// 3 network, 4 refused, 5 no such id or an ambiguous prefix, 6 the client failed locally, 64 usage — never a bare 1.
@Suite("exit codes")
struct ExitCodeTests {
    @Test("usage 64, not signed in 2, unreachable 3, no such id 5, an unusable home 6, help 0 — never 1")
    func offline() async throws {
        let home = ClientHome(path: ClientHome.empty(), email: "")
        let cases: [([String], Int32, String)] = [
            (["journal", "add", "--symbol", "EURUSD", "--direction", "long"], 64, "--entry"),
            (["journal", "add", "--symbol", "EURUSD", "--direction", "long", "--entry", "abc"], 64, "abc"),
            (["journal", "add", "--symbol", "EURUSD", "--direction", "sideways", "--entry", "1.1"], 64, "long or short"),
            (["journal", "list", "--outcome", "won"], 64, "--outcome"),
            (["journal", "list", "--bogus"], 64, "--bogus"),
            (["signals", "list", "--since", "yesterday"], 64, "RFC 3339"),
            (["journal", "add", "--symbol", "EURUSD", "--direction", "long", "--entry", "1.1"], 2, "not signed in"),
            (["sync"], 2, "not signed in"),
            (["journal", "show", "0197aaaa"], 5, "no trade 0197aaaa"),
            (["signals", "show", "0197aaaa"], 5, "no signal 0197aaaa"),
            (["signals", "annotate", "zz", "--note", "x"], 5, "hex digits"),
            (["journal", "--help"], 0, ""),
        ]
        for (arguments, status, mention) in cases {
            let run = try await home.run(arguments)
            #expect(run.status == status, "\(arguments): \(run.status) \(run.stderr)")
            #expect(mention.isEmpty || run.stderr.contains(mention), "\(arguments): \(run.stderr)")
        }
        let unreachable = try await Executables.run("smc-client", ["server-status", "--server", "http://127.0.0.1:9"])
        #expect(unreachable.status == 3 && unreachable.stderr.contains("cannot reach"), "\(unreachable.stderr)")
        // A home that cannot be used (a file where the folder should be): the client's own failure, with the reason.
        let file = ClientHome.empty()
        try "not a folder".write(toFile: file, atomically: true, encoding: .utf8)
        let broken = try await Executables.run("smc-client", ["journal", "list", "--home", file])
        #expect(broken.status == 6 && broken.stderr.hasPrefix("smc-client: "), "\(broken.status) \(broken.stderr)")
        let help = try await Executables.run("smc-client", ["--help"])
        #expect(help.status == 0 && help.stdout.contains("Exit codes:"), "the codes are in the help: \(help.stdout)")
    }

    @Test("a sign-in the plan refuses (its device limit) is 4, refused, not 2; a wrong password is 2")
    func planLimitIsARefusal() async throws {
        try await TestApp.run { app in
            // The Free plan allows 2 signed-in devices; sign-up signed in the first.
            let (_, _, email) = try await app.signup(password: SyncTests.password)
            func login(_ password: String) async throws -> Executables.Run {
                try await ClientHome(path: ClientHome.empty(), email: email).run(
                    ["login", "--server", app.baseURL, "--email", email, "--password-stdin"], input: password + "\n")
            }
            #expect(try await login(SyncTests.password).status == 0)
            let third = try await login(SyncTests.password)
            #expect(third.status == 4 && third.stderr.contains("plan_limit_exceeded"), "\(third.status) \(third.stderr)")
            let wrong = try await login("not the password")
            #expect(wrong.status == 2 && wrong.stderr.contains("invalid_credentials"), "\(wrong.status) \(wrong.stderr)")
        }
    }
}
