import Foundation
import SMCAPI
import SMCSync
import SMCTestSupport
import Testing

@testable import SMCClient

/// `signals list --setup-type --level --killzone` (issue 13): filters on the synced signals, with the semantics of
/// `GET /v1/signals?setup_type=&level=&killzone=` (killzone without regard to case).
@Suite("signal filters")
struct SignalFilterTests {
    static let signals: [TestSignal] = [
        TestSignal(setupType: "order_block", level: "HIGH", confidence: 80, killzone: "London open"),
        TestSignal(setupType: "fair_value_gap", level: "HIGH", confidence: 78, killzone: "New York open"),
        TestSignal(setupType: "fair_value_gap", level: "MEDIUM", killzone: "london OPEN"),
        TestSignal(setupType: "order_block", level: "LOW", confidence: 45, killzone: nil),
        TestSignal(symbol: "GBPUSD", direction: -1, setupType: "order_block", level: "MEDIUM", killzone: "Asian"),
    ]

    /// Filters and the signals (indexes into `signals`, newest first) they select.
    static let filters: [([String], [Int])] = [
        (["--setup-type", "order_block"], [0, 3, 4]),
        (["--setup-type", "fair_value_gap"], [1, 2]),
        (["--level", "HIGH"], [0, 1]),
        (["--level", "medium"], [2, 4]),
        (["--killzone", "london open"], [0, 2]),
        (["--killzone", " LONDON OPEN "], [0, 2]),
        (["--killzone", "Tokyo"], []),
        (["--setup-type", "order_block", "--level", "MEDIUM"], [4]),
        (["--setup-type", "order_block", "--killzone", "London Open", "--level", "HIGH"], [0]),
        (["--killzone", "london open", "--limit", "1"], [0]),
        (["--setup-type", "fair_value_gap", "--symbol", "eur/usd", "--direction", "long"], [1, 2]),
    ]

    static func listed(_ home: ClientHome, _ arguments: [String]) async throws -> [String] {
        let run = try await home.run(["signals", "list", "--json"] + arguments)
        #expect(run.status == 0, "\(arguments): \(run.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]], "\(run.stdout)")
        return rows.compactMap { $0["id"] as? String }
    }

    @Test("signals list filters the synced signals by setup type, level and killzone (case-insensitive), offline")
    func localFilters() async throws {
        try await TestApp.run { app in
            let home = try await ClientHome.signedIn(app)
            try await TestSignal.insert(app, email: home.email, Self.signals)
            #expect(try await home.run(["sync"]).status == 0)
            #expect(try await Self.listed(home, []) == Self.signals.map(\.id))
            for (arguments, expected) in Self.filters {
                #expect(try await Self.listed(home, arguments) == expected.map { Self.signals[$0].id }, "\(arguments)")
            }
            // The table too.
            let table = try await home.run(["signals", "list", "--killzone", "LONDON OPEN"])
            #expect(ClientHome.ids(table.stdout).count == 2, "\(table.stdout)")
            for (arguments, mention) in [
                (["--setup-type", "breaker"], "--setup-type"), (["--level", "EXTREME"], "--level"), (["--killzone", ""], "--killzone"),
                (["--killzone", String(repeating: "k", count: 51)], "--killzone"),
            ] {
                let run = try await home.run(["signals", "list"] + arguments)
                #expect(run.status == 64 && run.stderr.contains(mention), "\(arguments): \(run.status) \(run.stderr)")
            }
        }
    }

    /// Needs the server's side of these filters (`GET /v1/signals?setup_type=&level=&killzone=`): until it honours
    /// them, the server answers every signal and this test fails.
    @Test("signals list --setup-type/--level/--killzone select what GET /v1/signals selects with the same filters")
    func sameAsServer() async throws {
        try await TestApp.run { app in
            let home = try await ClientHome.signedIn(app)
            try await TestSignal.insert(app, email: home.email, Self.signals)
            #expect(try await home.run(["sync"]).status == 0)
            let token = try home.token
            for (arguments, _) in Self.filters {
                var query: [String] = []
                for i in stride(from: 0, to: arguments.count, by: 2) {
                    let name = String(arguments[i].dropFirst(2)).replacingOccurrences(of: "-", with: "_")
                    let value = name == "level" ? arguments[i + 1].uppercased() : arguments[i + 1].trimmingCharacters(in: .whitespaces)
                    query.append("\(name)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)")
                }
                let response = try await app.json(.GET, "/v1/signals?" + query.joined(separator: "&"), token: token)
                #expect(response.status == 200, "\(query): \(response.body)")
                let server = try response.decode(Components.Schemas.SignalPage.self).signals.map(\.id)
                #expect(try await Self.listed(home, arguments) == server, "\(arguments)")
            }
        }
    }
}
