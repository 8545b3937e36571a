import Foundation
import SMCAPI
import SMCSync
import SMCTestSupport
import Testing

@testable import SMCClient

/// One rule for both (issue 13): the client checks and normalises a trade as `POST /v1/journal/trades` does — the same
/// symbols accepted and normalised (`eur/usd` → `EURUSD`), a stop optional, the same refusals at the same fields with
/// the same messages.
@Suite("trade rules")
struct TradeRulesTests {
    static var base: [String: Any] {
        [
            "symbol": "EURUSD", "direction": "long", "entry_price": 1.1, "entry_time": "2025-06-02T08:00:00Z",
        ]
    }

    /// Inputs (changes to `base`; NSNull removes a member) the server and the client must judge alike.
    static var inputs: [[String: Any]] { [
        [:],
        ["symbol": "eur/usd"], ["symbol": "EUR-USD"], ["symbol": " eurusd "], ["symbol": "Eur.Usd"], ["symbol": "btc_usdt"],
        ["symbol": "e/u"], ["symbol": "EURUSD!"], ["symbol": "€URUSD"], ["symbol": String(repeating: "A", count: 21)],
        ["stop_price": 1.09], ["stop_price": 1.2], ["stop_price": 1.1], ["direction": "short", "stop_price": 1.09],
        ["direction": "short", "stop_price": 1.11, "targets": [1.05, 1.2]],
        ["targets": [1.2, 1.05]], ["targets": Array(repeating: 1.2, count: 11)],
        ["size": 0], ["size": -1], ["fees": -0.5], ["fees": 0], ["entry_price": 0], ["entry_price": 2e12],
        ["exit_price": 1.2], ["exit_time": "2025-06-02T09:00:00Z"],
        ["exit_price": 1.2, "exit_time": "2025-06-02T07:00:00Z"], ["exit_price": 1.2, "exit_time": "2999-01-01T00:00:00Z"],
        ["exit_price": 1.2, "exit_time": "2025-06-02T09:00:00+02:00"], ["exit_time": "yesterday", "exit_price": 1.2],
        ["entry_time": "2025-02-30T08:00:00Z"], ["entry_time": "2025-06-02 08:00:00.123456789Z"],
        ["tags": [" fvg ", "ny"]], ["tags": ["a", " a"]], ["tags": [""]], ["tags": ["bell\u{7}"]], ["tags": (0..<21).map { "t\($0)" }],
        ["tags": [String(repeating: "x", count: 41)]],
        ["notes": ""], ["notes": "nul\u{0}"], ["notes": String(repeating: "n", count: 10_001)],
        ["setup_type": " fvg "], ["setup_type": "  "], ["setup_type": String(repeating: "s", count: 51)], ["killzone": "London\u{1}"],
        ["signal_id": "not-a-uuid"],
        ["screenshots": ["https://example.com/a.png"]], ["screenshots": ["http://example.com/a.png"]],
        ["screenshots": ["https://user:pw@example.com/a.png"]],
        ["stop_price": 1.2, "size": 0, "symbol": "x", "tags": ["a", "a"]],
    ] }

    /// The JSON members of an input, as the client's store holds them.
    static func fields(_ object: [String: Any]) throws -> [String: JSONValue] {
        try JSONDecoder().decode([String: JSONValue].self, from: JSONSerialization.data(withJSONObject: object))
    }

    @Test("the client accepts, normalises and refuses (same fields, same messages) what POST /v1/journal/trades does")
    func sameVerdicts() async throws {
        try await TestApp.run { app in
            // The Team plan's request budget: one request per input.
            let token = try await app.account(plan: "team").token
            for change in Self.inputs {
                var object = Self.base
                for (key, value) in change { if value is NSNull { object.removeValue(forKey: key) } else { object[key] = value } }
                let response = try await app.json(.POST, "/v1/journal/trades", token: token, object)
                let client = TradeRules.check(try Self.fields(object))
                let body = try response.json()
                if response.status == 201 {
                    #expect(client.problems.isEmpty, "\(change): the server accepted it, the client refused \(client.problems)")
                    // Normalised alike: symbol, tags, labels, an empty note.
                    for key in ["symbol", "tags", "setup_type", "killzone", "notes", "targets", "size", "fees", "screenshots"] {
                        let server = try Self.fields(body)[key] ?? .null
                        #expect(client.fields[key] ?? .null == server, "\(change): \(key) client \(String(describing: client.fields[key])) server \(server)")
                    }
                    // Times: the same instant (REST answers in milliseconds, sync in microseconds, which the client keeps).
                    for key in ["entry_time", "exit_time"] {
                        func millis(_ value: JSONValue?) -> Int64? {
                            if case .string(let text)? = value { TradeRules.micros(rfc3339: text).map { $0 / 1000 } } else { nil }
                        }
                        #expect(millis(client.fields[key]) == millis(try Self.fields(body)[key]), "\(change): \(key)")
                    }
                } else {
                    #expect(response.status == 422, "\(change): \(response.body)")
                    let errors = (body["errors"] as? [[String: Any]] ?? []).map { FieldProblem($0["field"] as? String, $0["message"] as? String ?? "") }
                    #expect(client.problems == errors, "\(change):\n client \(client.problems)\n server \(errors)")
                }
            }
        }
    }

    @Test("journal add takes eur/usd and no stop, as REST does; the trade syncs as EURUSD without a stop")
    func addLikeREST() async throws {
        try await TestApp.run { app in
            let home = try await ClientHome.signedIn(app)
            let added = try await home.run(["journal", "add", "--symbol", "eur/usd", "--direction", "long", "--entry", "1.1", "--tag", " fvg "])
            #expect(added.status == 0, "\(added.stderr)")
            let id = added.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let entry = try home.store.trade(id)
            #expect(entry.symbol == "EURUSD" && entry.stop == nil && entry.tags == ["fvg"], "\(entry)")
            #expect(try await home.run(["journal", "edit", id, "--symbol", "gbp-usd"]).status == 0)
            let list = try await home.run(["journal", "list", "--symbol", "gbp/usd", "--json"])
            #expect(list.stdout.contains(id), "the filter is normalised too: \(list.stdout)")
            #expect(try await home.run(["sync"]).status == 0)
            let response = try await app.json(.GET, "/v1/journal/trades/\(id)", token: try home.token)
            let server = try response.decode(Components.Schemas.Trade.self)
            #expect(try server.symbol == "GBPUSD" && response.member("/stop_price") == nil && server.tags == ["fvg"], "\(response.body)")
            #expect(try home.store.rejections().isEmpty)

            // What the server refuses is refused offline, naming the option, exit 4; nothing enters the outbox.
            let pending = try home.store.status().pendingChanges
            let bad = try await home.run(["journal", "add", "--symbol", "e/u", "--direction", "long", "--entry", "1.1", "--stop", "1.2"])
            #expect(bad.status == 4, "\(bad.stderr)")
            #expect(bad.stderr.contains("--symbol: is not a symbol (3–20 letters and digits)"), "\(bad.stderr)")
            #expect(bad.stderr.contains("--stop: must be below the entry price for a long"), "\(bad.stderr)")
            let target = try await home.run(["journal", "edit", id, "--target", "1.2", "--target", "1.0"])
            #expect(target.status == 4 && target.stderr.contains("--target (the 2nd): must be above the entry price for a long"), "\(target.stderr)")
            #expect(try home.store.status().pendingChanges == pending)
            // The stop can be removed again.
            #expect(try await home.run(["journal", "edit", id, "--stop", "1.09"]).status == 0)
            #expect(try home.store.trade(id).stop == 1.09)
            #expect(try await home.run(["journal", "edit", id, "--clear-stop"]).status == 0)
            #expect(try home.store.trade(id).stop == nil)
        }
    }
}
