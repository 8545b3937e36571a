import Foundation
import PostgresNIO
import SMCAPI
import SMCTestSupport
import Testing

@testable import SMCServer

/// Every JSON endpoint, fed each class of bad body: a 4xx problem+json every time, never a 500, nothing stored.
@Suite("Bad input on every JSON endpoint")
struct BadInputTests {
    /// An operation of the spec that takes a JSON request body.
    struct Operation: Decodable, CustomStringConvertible {
        let method: String
        let path: String
        /// The security schemes it accepts (`[]`: none).
        let schemes: [String]
        var description: String { "\(method) \(path)" }
    }

    /// Every operation of `api-spec/openapi.yaml` with an `application/json` request body, read with PyYAML (installed
    /// from PyPI on first use, as the webhook verifier is).
    static func jsonBodyOperations() async throws -> [Operation] {
        if try await Subprocess.run(["python3", "-c", "import yaml"]).status != 0 {
            let install = try await Subprocess.run(["python3", "-m", "pip", "install", "-q", "pyyaml"])
            guard install.status == 0 else { throw TestFailure("could not install PyYAML from PyPI: \(install.output)") }
        }
        let spec = TestDatabase.repositoryRoot.appendingPathComponent("api-spec/openapi.yaml").path
        let script = """
            import json, sys, yaml
            spec = yaml.safe_load(open(sys.argv[1]))
            default = spec.get("security", [])
            out = []
            for path, item in spec["paths"].items():
                for method, op in item.items():
                    if method in ("get", "put", "post", "patch", "delete") and "application/json" in (op.get("requestBody") or {}).get("content", {}):
                        out.append({"method": method.upper(), "path": path,
                                    "schemes": sorted(k for req in op.get("security", default) for k in req)})
            print(json.dumps(out))
            """
        let run = try await Subprocess.run(["python3", "-c", script, spec])
        guard run.status == 0, let line = run.output.split(separator: "\n").last else { throw TestFailure("reading the spec: \(run.output)") }
        return try JSONDecoder().decode([Operation].self, from: Data(line.utf8))
    }

    /// The TradingView hook stores any well-formed alert at once and parses it afterwards (what it cannot read is kept
    /// with a parse error: `TradingViewHookTests`), so well-formed JSON of another shape is 202 there, and stored.
    static let storesAnyWellFormedJSON: Set<String> = ["POST /v1/hooks/tradingview/{hook_token}"]
    static let wellFormed: Set<String> = ["an array", "a string", "wrong types"]

    static let bodies: [(String, Data)] = [
        ("truncated JSON", Data(#"{"email": "#.utf8)),
        ("an array", Data("[1, 2, 3]".utf8)),
        ("a string", Data(#""hello""#.utf8)),
        ("wrong types", Data(#"{"email": 1, "password": [], "name": {}, "entries": 5, "mode": 7, "swing_length": "x", "events": 3}"#.utf8)),
        ("invalid UTF-8", Data([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0xFF, 0x22, 0x7D])),
        ("NUL and markup", Data(#"{"email": "\u0000<script>", "password": "'; DROP TABLE users;--", "name": "\u0000"}"#.utf8)),
        ("10 MB", Data((#"{"name": ""# + String(repeating: "a", count: 10 * 1024 * 1024) + #""}"#).utf8)),
    ]

    func counts(_ app: TestApp) async throws -> [Int] {
        let row = try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger) { client in
            try await client.query(
                """
                SELECT (SELECT count(*)::int FROM users), (SELECT count(*)::int FROM api_keys),
                       (SELECT count(*)::int FROM user_settings), (SELECT count(*)::int FROM devices),
                       (SELECT count(*)::int FROM trades), (SELECT count(*)::int FROM signal_annotations),
                       (SELECT count(*)::int FROM candles), (SELECT count(*)::int FROM external_alerts),
                       (SELECT count(*)::int FROM webhook_endpoints), (SELECT count(*)::int FROM tenants)
                """, logger: TestDatabase.logger
            ).collect().first!.decode((Int, Int, Int, Int, Int, Int, Int, Int, Int, Int).self)
        }
        return [row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9]
    }

    @Test("malformed, mistyped, non-UTF-8, hostile and huge bodies get a 4xx problem and change nothing, on every operation of the spec that takes JSON")
    func everyEndpoint() async throws {
        let operations = try await Self.jsonBodyOperations()
        #expect(operations.count >= 26, "the spec has fewer JSON bodies than it did: \(operations)")
        try await TestApp.run(configure: { $0.adminToken = "op"; $0.allowPrivateTargets = true }) { app in
            // Real targets for every path parameter, so that nothing but the body can be wrong.
            let account = try await app.account(plan: "pro")
            let token = account.token
            let hookKey = try await app.apiKey(token: token, scopes: ["tradingview_hook"])
            let credentials = ["bearerAuth": token, "feederKey": try await app.feederKey(), "adminToken": "op"]
            let signal = try await app.insertSignals([SignalRow(candleTime: SignalRow.time(ago: 3600))], tenant: account.tenant)[0]
            let trade = try await app.json(.POST, "/v1/journal/trades", token: token, [
                "symbol": "EURUSD", "direction": "long", "entry_price": 1.1, "entry_time": "2025-01-02T03:04:05Z",
            ]).decode(Components.Schemas.Trade.self)
            let webhook = try await AlertTest.createWebhook(app, token, url: "http://127.0.0.1:9/hook")
            let parameters = [
                "{signal_id}": signal.uuidString.lowercased(), "{trade_id}": trade.id, "{webhook_id}": webhook.id, "{hook_token}": hookKey,
                "{symbol}": "EURUSD",
            ]
            var expected = try await counts(app)
            for operation in operations {
                var path = operation.path
                for (name, value) in parameters { path = path.replacingOccurrences(of: name, with: value) }
                guard !path.contains("{") else {
                    Issue.record("\(operation): no value for a path parameter; add one to `parameters`")
                    continue
                }
                var headers = [("content-type", "application/json"), ("if-match", "*")]
                if let scheme = operation.schemes.first {
                    guard let secret = credentials[scheme] else {
                        Issue.record("\(operation): no credentials for the security scheme \(scheme); add them to `credentials`")
                        continue
                    }
                    headers.append(("authorization", "Bearer \(secret)"))
                }
                for (label, body) in Self.bodies {
                    let response = try await TestHTTP.request(
                        .init(rawValue: operation.method), app.baseURL + path, headers: headers, rawBody: body)
                    if Self.storesAnyWellFormedJSON.contains(operation.description) && Self.wellFormed.contains(label) {
                        #expect(response.status == 202, "\(operation) with \(label) → \(response.status) \(response.body.prefix(200))")
                        expected[7] += 1  // one more external alert
                        continue
                    }
                    #expect((400...499).contains(response.status), "\(operation) with \(label) → \(response.status) \(response.body.prefix(200))")
                    #expect(response.header("content-type") == "application/problem+json", "\(operation) with \(label)")
                }
            }
            #expect(try await counts(app) == expected)
        }
    }

    @Test("a NUL (U+0000) in a body field, a query parameter, a path or a text body is 422/400 naming where, never a 500")
    func nulIsRefusedByName() async throws {
        try await TestApp.run { app in
            let (token, _, _) = try await app.signup()
            let login = try await app.json(.POST, "/v1/auth/login", ["email": "a\u{0}b@x.io", "password": "whatever it is", "device_name": "d"])
            #expect(login.status == 422, "\(login.body)")
            #expect((try login.json()["errors"] as? [[String: Any]])?.first?["field"] as? String == "/email", "\(login.body)")
            let signup = try await app.json(.POST, "/v1/auth/signup", ["email": "x\(UUID().uuidString.prefix(6))@x.io", "password": "correct horse\u{0}battery"])
            #expect(signup.status == 422 && signup.body.contains("/password"), "\(signup.body)")
            let nested = try await app.json(.PUT, "/v1/settings/watchlist", token: token,
                                            ["entries": [["symbol": "EUR\u{0}USD", "timeframes": ["15m"]]]], headers: [("if-match", "*")])
            #expect(nested.status == 422 && nested.body.contains("/entries/0/symbol"), "\(nested.body)")
            let trade = try await app.json(.POST, "/v1/journal/trades", token: token, [
                "symbol": "EURUSD", "direction": "long", "entry_price": 1.1, "size": 1, "entry_time": "2025-01-02T03:04:05Z", "notes": "a\u{0}b",
            ])
            #expect(trade.status == 422 && trade.body.contains("/notes"), "\(trade.body)")
            for path in ["/v1/signals?symbol=EUR%00USD", "/v1/journal/trades?tag=%00", "/v1/signals/%00"] {
                let response = try await app.request(.GET, path, headers: [("authorization", "Bearer \(token)")])
                #expect(response.status == 400, "\(path) → \(response.status) \(response.body)")
            }
            let named = try await app.request(.GET, "/v1/signals?symbol=EUR%00USD", headers: [("authorization", "Bearer \(token)")])
            #expect(named.body.contains("\"field\":\"symbol\""), "\(named.body)")
            let text = try await TestHTTP.request(
                .POST, app.baseURL + "/v1/hooks/tradingview/smck_x", headers: [("content-type", "text/plain")],
                rawBody: Data("BUY EURUSD\u{0}".utf8))
            #expect(text.status == 422, "\(text.status) \(text.body)")
            // An escaped backslash before "u0000" is ordinary text, not a NUL.
            let literal = try await app.json(.PATCH, "/v1/me", token: token, ["name": "back\\u0000slash"])
            #expect(literal.status == 200, "\(literal.body)")
        }
    }

    @Test("errors a person can act on: quoted ETags, unknown members and query parameters named, integers, future trades, 428")
    func actionableErrors() async throws {
        try await TestApp.run(configure: { $0.allowPrivateTargets = true }) { app in
            let (token, session, _) = try await app.signup()
            try await app.setPlan(session.tenantID, "pro")
            let watchlist: [String: Any] = ["entries": [["symbol": "EURUSD", "timeframes": ["15m"]]]]
            let unquoted = try await app.json(.PUT, "/v1/settings/watchlist", token: token, watchlist, headers: [("if-match", "0")])
            #expect(unquoted.status == 400 && unquoted.body.contains("double quotes"), "\(unquoted.body)")
            let stale = try await app.json(.PUT, "/v1/settings/watchlist", token: token, watchlist, headers: [("if-match", "\"7\"")])
            #expect(stale.status == 412, "\(stale.body)")
            let missing = try await app.json(.PUT, "/v1/settings/watchlist", token: token, watchlist)
            #expect(missing.status == 428, "\(missing.body)")
            var extra = watchlist
            extra["foo"] = 1
            let unknown = try await app.json(.PUT, "/v1/settings/watchlist", token: token, extra, headers: [("if-match", "*")])
            #expect(unknown.status == 422 && unknown.body.contains("\"/foo\""), "the watchlist refuses unknown members: \(unknown.body)")
            let query = try await app.request(.GET, "/v1/signals?setup_typ=order_block", headers: [("authorization", "Bearer \(token)")])
            #expect(query.status == 400 && query.body.contains("setup_typ") && query.body.contains("setup_type"), "\(query.body)")
            let badEnum = try await app.request(.GET, "/v1/signals?level=SUPER", headers: [("authorization", "Bearer \(token)")])
            #expect(badEnum.status == 400 && badEnum.body.contains("HIGH, MEDIUM, LOW, NEUTRAL"), "\(badEnum.body)")
            let hook = try await app.json(.POST, "/v1/alerts/webhooks", token: token, ["url": "http://127.0.0.1:9/h", "event_types": ["alert.test"]])
            let id = try hook.decode(Components.Schemas.WebhookCreated.self).webhook.id  // a failure names status and body
            let fraction = try await app.request(
                .POST, "/v1/alerts/webhooks/\(id)/rotate-secret", headers: [("authorization", "Bearer \(token)"), ("content-type", "application/json")],
                body: #"{"overlap_seconds": 10.5}"#)
            #expect(fraction.status == 422 && fraction.body.contains("/overlap_seconds"), "\(fraction.body)")
            let bodyless = try await app.request(.POST, "/v1/alerts/webhooks/\(id)/rotate-secret", headers: [("authorization", "Bearer \(token)")])
            #expect(bodyless.status == 200, "an optional body may be left out: \(bodyless.body)")
            let explicitNull = try await app.json(.POST, "/v1/api-keys", token: token, ["name": "k", "scopes": ["signals_read"], "expires_at": NSNull()])
            #expect(explicitNull.status == 422 && explicitNull.body.contains("/expires_at"), "\(explicitNull.body)")
            let future = try await app.json(.POST, "/v1/journal/trades", token: token, [
                "symbol": "EURUSD", "direction": "long", "entry_price": 1.1, "entry_time": "2030-01-02T03:04:05Z",
            ])
            #expect(future.status == 422 && future.body.contains("/entry_time") && future.body.contains("future"), "\(future.body)")
            let stranger = try await app.request(.POST, "/v1/journal/trades", headers: [("content-type", "application/json")], body: "{")
            #expect(stranger.status == 401, "no credentials: 401 before the body is read, \(stranger.status)")
        }
    }
}
