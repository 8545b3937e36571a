import Foundation
import PostgresNIO
import SMCTestSupport
import Testing

@testable import SMCServer

/// Every JSON endpoint, fed each class of bad body: a 4xx problem+json every time, never a 500, nothing stored.
@Suite("Bad input on every JSON endpoint")
struct BadInputTests {
    static let endpoints: [(String, String, Bool)] = [  // method, path, needs a device token
        ("POST", "/v1/auth/signup", false), ("POST", "/v1/auth/login", false), ("POST", "/v1/auth/password", true),
        ("PATCH", "/v1/me", true), ("POST", "/v1/api-keys", true), ("POST", "/v1/admin/plan-changes", false),
        ("PUT", "/v1/settings/watchlist", true), ("PATCH", "/v1/settings/watchlist", true),
        ("PUT", "/v1/settings/killzones", true), ("PATCH", "/v1/settings/killzones", true),
        ("PUT", "/v1/settings/strategy", true), ("PATCH", "/v1/settings/strategy", true),
        ("PUT", "/v1/settings/alerts", true), ("PATCH", "/v1/settings/alerts", true),
        ("POST", "/v1/signals/\(UUID())/annotations", true), ("POST", "/v1/journal/trades", true),
        ("PATCH", "/v1/journal/trades/\(UUID())", true), ("POST", "/v1/journal/trades/\(UUID())/close", true),
    ]

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
                       (SELECT count(*)::int FROM trades), (SELECT count(*)::int FROM signal_annotations)
                """, logger: TestDatabase.logger
            ).collect().first!.decode((Int, Int, Int, Int, Int, Int).self)
        }
        return [row.0, row.1, row.2, row.3, row.4, row.5]
    }

    @Test("malformed, mistyped, non-UTF-8, hostile and huge bodies get a 4xx problem and change nothing")
    func everyEndpoint() async throws {
        try await TestApp.run(configure: { $0.adminToken = "op" }) { app in
            let (token, _, _) = try await app.signup()
            let before = try await counts(app)
            for (method, path, authenticated) in Self.endpoints {
                for (label, body) in Self.bodies {
                    var headers = [("content-type", "application/json"), ("if-match", "*")]
                    headers.append(("authorization", "Bearer \(authenticated ? token : "op")"))
                    let response = try await TestHTTP.request(
                        .init(rawValue: method), app.baseURL + path, headers: headers, rawBody: body)
                    #expect((400...499).contains(response.status), "\(method) \(path) with \(label) → \(response.status) \(response.body.prefix(200))")
                    #expect(response.header("content-type") == "application/problem+json", "\(method) \(path) with \(label)")
                }
            }
            #expect(try await counts(app) == before)
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
            let tenant = session.tenantID
            _ = try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger) { client in
                try await client.query("UPDATE tenants SET plan_id = 'pro' WHERE tenant_id = \(tenant)", logger: TestDatabase.logger)
            }
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
            let id = try #require((try hook.json()["webhook"] as? [String: Any])?["id"] as? String, "\(hook.body)")
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
