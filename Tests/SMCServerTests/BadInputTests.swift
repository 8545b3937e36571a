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
}
