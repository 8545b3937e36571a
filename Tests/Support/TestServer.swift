import Foundation
import NIOCore
import NIOHTTP1
import OpenAPIRuntime
import SMCAPI
import SMCServer

/// A server a test talks to over HTTP, and the database it runs on: the in-process `TestApp`, or an `smc-server`
/// process (`ServerAt`). The fixtures below work on either, so a test that starts real processes signs up, feeds and
/// reads the same way as one that runs the app in-process.
public protocol TestServer: Sendable {
    /// `http://127.0.0.1:<port>`
    var baseURL: String { get }
    var database: DatabaseSettings { get }
}

/// A server started some other way (an `smc-server` process) on a test database.
public struct ServerAt: TestServer {
    public let baseURL: String
    public let database: DatabaseSettings

    public init(_ baseURL: String, database: DatabaseSettings) {
        self.baseURL = baseURL
        self.database = database
    }
}

/// How the generated client reads JSON: the spec's `date-time` as RFC 3339 (with or without fractional seconds).
public enum APIJSON {
    static let plain = ISO8601DateTranscoder()
    static let fractional = ISO8601DateTranscoder(options: [.withInternetDateTime, .withFractionalSeconds])

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            if let date = try? fractional.decode(text) { return date }
            return try plain.decode(text)
        }
        return decoder
    }
}

/// A signed-up user: what sign-up answered, with the ids tests need most.
public struct TestAccount: Sendable {
    public let token: String
    public let email: String
    public let session: Components.Schemas.Session
    public var tenant: UUID { UUID(uuidString: session.tenant.id)! }
    public var user: UUID { UUID(uuidString: session.user.id)! }
}

extension TestServer {
    /// Sends a JSON request (`Authorization: Bearer token` when given).
    public func json(
        _ method: HTTPMethod, _ path: String, token: String? = nil, _ object: [String: Any]? = nil,
        headers: [(String, String)] = [], timeout: TimeAmount = .seconds(30)
    ) async throws -> TestResponse {
        var all = headers
        if let token { all.append(("authorization", "Bearer \(token)")) }
        var body: String?
        if let object {
            all.append(("content-type", "application/json"))
            body = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        return try await request(method, path, headers: all, body: body, timeout: timeout)
    }

    /// Sends a request and collects the whole response.
    public func request(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: String? = nil,
        chunked: Bool = false, timeout: TimeAmount = .seconds(30)
    ) async throws -> TestResponse {
        try await TestHTTP.request(method, baseURL + path, headers: headers, body: body, chunked: chunked, timeout: timeout)
    }

    /// Signs a new user up (free plan); returns the token, the typed session and the email.
    public func signup(
        email: String = "user-\(UUID().uuidString.prefix(8).lowercased())@example.com", password: String = "correct horse battery"
    ) async throws -> (token: String, session: Components.Schemas.Session, email: String) {
        let response = try await json(.POST, "/v1/auth/signup", ["email": email, "password": password])
        guard response.status == 201 else { throw TestFailure("signup failed: \(response.status) \(response.body)") }
        let session = try response.decode(Components.Schemas.Session.self)
        return (session.token, session, email)
    }

    /// A new user on `plan` (set in the database, as `smc-server admin set-plan` would).
    public func account(plan: String = "free", password: String = "correct horse battery") async throws -> TestAccount {
        let (token, session, email) = try await signup(password: password)
        let account = TestAccount(token: token, email: email, session: session)
        if plan != "free" { try await setPlan(account.tenant, plan) }
        return account
    }

    /// Moves a tenant to another plan (as the database owner).
    public func setPlan(_ tenant: UUID, _ plan: String) async throws {
        try await query("UPDATE tenants SET plan_id = \(plan) WHERE tenant_id = \(tenant)")
    }

    /// An API key of the user (`smck_…`) with these scopes, e.g. `tradingview_hook` for the TradingView hook.
    public func apiKey(token: String, scopes: [String], name: String = "test key") async throws -> String {
        let created = try await json(.POST, "/v1/api-keys", token: token, ["name": name, "scopes": scopes])
        guard created.status == 201 else { throw TestFailure("api key: \(created.status) \(created.body)") }
        return try created.decode(Components.Schemas.APIKeyCreated.self).key
    }

    /// Watches EURUSD 15m and optionally changes strategy members (merged into the current strategy).
    public func watchEURUSD(token: String, strategy: [String: Any]? = nil) async throws {
        let watch = try await json(.PUT, "/v1/settings/watchlist", token: token,
                                   ["entries": [["symbol": "EURUSD", "timeframes": ["15m"]]]], headers: [("if-match", "*")])
        guard watch.status == 200 else { throw TestFailure("watchlist: \(watch.status) \(watch.body)") }
        if let strategy {
            let current = try await json(.GET, "/v1/settings/strategy", token: token).json()
            let put = try await json(.PUT, "/v1/settings/strategy", token: token, current.merging(strategy) { $1 }, headers: [("if-match", "*")])
            guard put.status == 200 else { throw TestFailure("strategy: \(put.status) \(put.body)") }
        }
    }
}

/// A page of a cursor-paged list (`GET /v1/signals`, `GET /v1/journal/trades`).
public protocol CursorPage: Decodable {
    var itemIDs: [String] { get }
    var nextCursor: String? { get }
    var hasMore: Bool { get }
}

extension Components.Schemas.SignalPage: CursorPage {
    public var itemIDs: [String] { signals.map(\.id) }
}

extension Components.Schemas.TradePage: CursorPage {
    public var itemIDs: [String] { trades.map(\.id) }
}

extension TestServer {
    /// Every page of a list, following `next_cursor`: the ids in order. Fails on a page larger than `limit`, on
    /// `has_more` disagreeing with the cursor, or on a list that does not end.
    public func allPages<Page: CursorPage>(_ path: String, token: String, limit: Int, of page: Page.Type) async throws -> [String] {
        var ids: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let separator = path.contains("?") ? "&" : "?"
            let url = path + separator + "limit=\(limit)" + (cursor.map { "&cursor=\($0)" } ?? "")
            let response = try await json(.GET, url, token: token)
            guard response.status == 200 else { throw TestFailure("\(url) → \(response.status) \(response.body)") }
            let body = try response.decode(Page.self)
            guard body.itemIDs.count <= limit else { throw TestFailure("\(url): \(body.itemIDs.count) items on a page of \(limit)") }
            guard body.hasMore == (body.nextCursor != nil) else { throw TestFailure("\(url): has_more disagrees with next_cursor") }
            ids += body.itemIDs
            cursor = body.nextCursor
            pages += 1
            if pages > 1000 { throw TestFailure("pagination does not end") }
        } while cursor != nil
        return ids
    }

    /// Moves the account to `plan` through the operator API (the app must run with this `adminToken`).
    public func changePlan(_ email: String, to plan: String, adminToken: String = "op") async throws {
        let response = try await json(.POST, "/v1/admin/plan-changes", ["email": email, "plan": plan], headers: [("authorization", "Bearer \(adminToken)")])
        guard response.status == 200 else { throw TestFailure("plan change → \(response.status) \(response.body)") }
    }
}

extension Components.Schemas.Session {
    /// The tenant's id as a UUID (the spec's ids are strings).
    public var tenantID: UUID { UUID(uuidString: tenant.id)! }
    public var userID: UUID { UUID(uuidString: user.id)! }
}

extension Components.Schemas.Me {
    public var tenantID: UUID { UUID(uuidString: tenant.id)! }
}
