import AsyncHTTPClient
import Foundation
import PostgresNIO
import SMCAPI
import SMCTestSupport
import Testing

@testable import SMCServer

/// A UUIDv7 as a client would mint it (48-bit milliseconds, version 7, RFC 4122 variant).
func clientTradeID() -> String {
    var bytes = withUnsafeBytes(of: UUID().uuid) { Array($0) }
    let millis = UInt64(Date().timeIntervalSince1970 * 1000)
    for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - i))) }
    bytes[6] = 0x70 | (bytes[6] & 0x0F)
    bytes[8] = 0x80 | (bytes[8] & 0x3F)
    let id = bytes.withUnsafeBytes { $0.loadUnaligned(as: uuid_t.self) }
    return UUID(uuid: id).uuidString.lowercased()
}

/// Numbers computed by the server against numbers computed by hand.
func approx(_ value: Double?, _ expected: Double, tolerance: Double = 1e-9) -> Bool {
    guard let value else { return false }
    return abs(value - expected) <= tolerance
}

typealias Trade = Components.Schemas.Trade

extension TestApp {
    /// Creates a trade; fails the test unless it is 201. The response, for checks on the wire format.
    func createdTrade(_ body: [String: Any], token: String) async throws -> TestResponse {
        let response = try await json(.POST, "/v1/journal/trades", token: token, body)
        guard response.status == 201 else { throw TestFailure("create → \(response.status) \(response.body)") }
        return response
    }

    /// Creates a trade; fails the test unless it is 201.
    func createTrade(_ body: [String: Any], token: String) async throws -> Trade {
        try await createdTrade(body, token: token).decode()
    }

    /// Closes a trade; fails the test unless it is 200. The response, for checks on the wire format.
    func closedTrade(_ id: String, _ body: [String: Any], token: String) async throws -> TestResponse {
        let response = try await json(.POST, "/v1/journal/trades/\(id)/close", token: token, body)
        guard response.status == 200 else { throw TestFailure("close → \(response.status) \(response.body)") }
        return response
    }

    func closeTrade(_ id: String, _ body: [String: Any], token: String) async throws -> Trade {
        try await closedTrade(id, body, token: token).decode()
    }
}

@Suite("Journal: trades, their lifecycle and statistics")
struct JournalTests {
    static var eurusdLong: [String: Any] {
        [
        "symbol": "EURUSD", "direction": "long", "entry_price": 1.1000, "stop_price": 1.0980, "targets": [1.1050, 1.1100],
        "size": 10000, "entry_time": "2025-06-02T08:15:00Z", "tags": ["A+", "london"], "setup_type": "order_block",
        "killzone": "London open", "timeframe": "15m", "notes": "clean retest of the 15m order block",
        "screenshots": ["https://charts.example.com/s/abc123.png"],
        ]
    }

    @Test("create, read, close with PnL and R computed exactly (numeric), delete; then 404 everywhere")
    func lifecycle() async throws {
        try await TestApp.run { app in
            let (token, session, _) = try await app.signup()
            let created = try await app.json(.POST, "/v1/journal/trades", token: token, Self.eurusdLong)
            #expect(created.status == 201, "\(created.body)")
            #expect(created.header("etag") == "\"1\"")
            let trade = try created.decode(Trade.self)
            let id = trade.id
            // Optional members are absent (not null) until set.
            #expect(try trade.outcome == .open && created.member("/pnl") == nil && created.member("/r_multiple") == nil)
            #expect(trade.entryPrice == 1.1 && trade.stopPrice == 1.098)
            #expect(trade.targets == [1.105, 1.11] && trade.size == 10000 && trade.fees == 0)
            #expect(try created.member("/entry_time") as? String == "2025-06-02T08:15:00.000Z")
            #expect(trade.tags == ["A+", "london"] && trade.killzone == "London open")
            #expect(trade.userId == session.user.id)
            #expect(trade.version == 1)

            let read = try await app.json(.GET, "/v1/journal/trades/\(id)", token: token)
            #expect(read.status == 200 && read.header("etag") == "\"1\"")
            #expect(try read.decode(Trade.self).notes == "clean retest of the 15m order block")

            // Long 1.1000 → 1.1050, 10 000 units, 2 in fees: pnl = 0.005 × 10 000 − 2 = 48; R = 0.005 / 0.002 = 2.5.
            let closedResponse = try await app.closedTrade(
                id, ["exit_price": 1.1050, "exit_time": "2025-06-02T11:40:00Z", "fees": 2], token: token)
            let closed = try closedResponse.decode(Trade.self)
            #expect(closed.pnl == 48)  // exactly: floating point would give 47.99999999999893
            #expect(closed.rMultiple == 2.5)
            #expect(closed.outcome == .win && closed.fees == 2 && closed.version == 2)
            #expect(try closedResponse.member("/exit_time") as? String == "2025-06-02T11:40:00.000Z")

            // Short 1.2500 → 1.2600 (stop 1.2550), 1 000 units, 1.5 fees: pnl = −0.01 × 1 000 − 1.5 = −11.5; R = −0.01 / 0.005 = −2.
            let short = try await app.createTrade(
                ["symbol": "EURUSD", "direction": "short", "entry_price": 1.25, "stop_price": 1.255, "size": 1000,
                 "entry_time": "2025-06-03T13:00:00.250Z"], token: token)
            let shortClosedResponse = try await app.closedTrade(
                short.id, ["exit_price": 1.26, "exit_time": "2025-06-03T14:00:00Z", "fees": 1.5], token: token)
            let shortClosed = try shortClosedResponse.decode(Trade.self)
            #expect(shortClosed.pnl == -11.5 && shortClosed.rMultiple == -2)
            #expect(shortClosed.outcome == .loss)
            #expect(try shortClosedResponse.member("/entry_time") as? String == "2025-06-03T13:00:00.250Z")

            // Breakeven: (100.5 − 100) × 2 − 1 = 0, no stop so no R; already closed at creation.
            let flatResponse = try await app.createdTrade(
                ["symbol": "XAUUSD", "direction": "long", "entry_price": 100, "size": 2, "fees": 1, "entry_time": "2025-06-04T09:00:00Z",
                 "exit_price": 100.5, "exit_time": "2025-06-04T10:00:00Z"], token: token)
            let flat = try flatResponse.decode(Trade.self)
            #expect(try flat.pnl == 0 && flatResponse.member("/r_multiple") == nil && flat.outcome == .breakeven)

            let list = try await app.json(.GET, "/v1/journal/trades", token: token).decode(Components.Schemas.TradePage.self)
            #expect(list.trades.map(\.id) == [flat.id, short.id, id])

            #expect(try await app.json(.DELETE, "/v1/journal/trades/\(id)", token: token).status == 204)
            #expect(try await app.json(.GET, "/v1/journal/trades/\(id)", token: token).status == 404)
            #expect(try await app.json(.DELETE, "/v1/journal/trades/\(id)", token: token).status == 404)
            #expect(try await app.json(.PATCH, "/v1/journal/trades/\(id)", token: token, ["notes": "x"]).status == 404)
            #expect(try await app.json(.POST, "/v1/journal/trades/\(id)/close", token: token, ["exit_price": 1.2, "exit_time": "2025-06-05T00:00:00Z"]).status == 404)
            let after = try await app.json(.GET, "/v1/journal/trades", token: token).decode(Components.Schemas.TradePage.self).trades
            #expect(after.count == 2 && !after.contains { $0.id == id })
            // The delete is a tombstone for sync, its free text gone; every write bumped the journal counter.
            #expect(try await app.scalar("SELECT count(*)::int FROM trades WHERE deleted_at IS NOT NULL AND notes IS NULL AND tags = '{}'") == 1)
            #expect(try await app.scalar("SELECT version::int FROM sync_counters WHERE stream = 'journal'") == 6)
            #expect(try await app.scalar("SELECT max(sync_version)::int FROM trades") == 6)
        }
    }

    @Test("a client-minted id makes create idempotent: same body → 200 with the trade, other body → 409")
    func idempotentCreate() async throws {
        try await TestApp.run { app in
            let (token, _, _) = try await app.signup()
            let id = clientTradeID()
            var body = Self.eurusdLong
            body["id"] = id
            let first = try await app.json(.POST, "/v1/journal/trades", token: token, body)
            #expect(try first.status == 201 && first.decode(Trade.self).id == id)
            let again = try await app.json(.POST, "/v1/journal/trades", token: token, body)
            #expect(again.status == 200, "\(again.body)")
            let same = try again.decode(Trade.self)
            #expect(same.id == id && same.version == 1)
            // Normalisation does not make a retry look different: `eur/usd` is EURUSD, tags are trimmed.
            var spelled = body
            spelled["symbol"] = "eur/usd"
            spelled["tags"] = [" A+", "london "]
            #expect(try await app.json(.POST, "/v1/journal/trades", token: token, spelled).status == 200)

            var other = body
            other["entry_price"] = 1.1001
            let conflict = try await app.json(.POST, "/v1/journal/trades", token: token, other)
            #expect(conflict.status == 409 && conflict.problemCode == "conflict")

            // Edited since, the original create is still recognised as the same create.
            #expect(try await app.json(.PATCH, "/v1/journal/trades/\(id)", token: token, ["notes": "edited"]).status == 200)
            let retried = try await app.json(.POST, "/v1/journal/trades", token: token, body)
            #expect(try retried.status == 200 && retried.decode(Trade.self).notes == "edited")

            #expect(try await app.json(.DELETE, "/v1/journal/trades/\(id)", token: token).status == 204)
            let afterDelete = try await app.json(.POST, "/v1/journal/trades", token: token, body)
            #expect(afterDelete.status == 409 && afterDelete.problemCode == "conflict")

            var v4 = body
            v4["id"] = UUID().uuidString.lowercased()
            let notV7 = try await app.json(.POST, "/v1/journal/trades", token: token, v4)
            #expect(notV7.status == 422 && notV7.body.contains("/id"))
            #expect(try await app.scalar("SELECT count(*)::int FROM trades") == 1)
        }
    }

    @Test("If-Match: a stale ETag is 412 and changes nothing; a current one or none applies; a no-op PATCH keeps the version")
    func optimisticConcurrency() async throws {
        try await TestApp.run { app in
            let (token, _, _) = try await app.signup()
            let id = try await app.createTrade(Self.eurusdLong, token: token).id
            let path = "/v1/journal/trades/\(id)"
            let first = try await app.json(.PATCH, path, token: token, ["notes": "one"], headers: [("if-match", "\"1\"")])
            #expect(first.status == 200 && first.header("etag") == "\"2\"")
            let stale = try await app.json(.PATCH, path, token: token, ["notes": "stale"], headers: [("if-match", "\"1\"")])
            #expect(stale.status == 412 && stale.problemCode == "precondition_failed")
            #expect(try stale.json()["current_etag"] as? String == "\"2\"")
            let staleClose = try await app.json(
                .POST, path + "/close", token: token, ["exit_price": 1.104, "exit_time": "2025-06-02T12:00:00Z"],
                headers: [("if-match", "\"1\"")])
            #expect(staleClose.status == 412)
            let read = try await app.json(.GET, path, token: token).decode(Trade.self)
            #expect(read.notes == "one" && read.outcome == .open)
            let unconditional = try await app.json(.PATCH, path, token: token, ["notes": "two"])
            #expect(unconditional.status == 200 && unconditional.header("etag") == "\"3\"")
            let noop = try await app.json(.PATCH, path, token: token, ["notes": "two"], headers: [("if-match", "W/\"3\"")])
            #expect(noop.status == 200 && noop.header("etag") == "\"3\"")
        }
    }

    @Test("PATCH merges, validates the whole result and recomputes PnL and R; read-only and unknown members are refused")
    func patch() async throws {
        try await TestApp.run { app in
            let (token, _, _) = try await app.signup()
            let id = try await app.createTrade(Self.eurusdLong, token: token).id
            let path = "/v1/journal/trades/\(id)"
            _ = try await app.closeTrade(id, ["exit_price": 1.1050, "exit_time": "2025-06-02T11:40:00Z", "fees": 2], token: token)

            // Correct the exit: (1.1030 − 1.1000) × 10 000 − 2 = 28, R = 1.5.
            let corrected = try await app.request(
                .PATCH, path, headers: [("authorization", "Bearer \(token)"), ("content-type", "application/merge-patch+json")],
                body: #"{"exit_price": 1.103, "tags": ["A+"], "notes": null}"#)
            #expect(corrected.status == 200, "\(corrected.body)")
            let c = try corrected.decode(Trade.self)
            #expect(c.pnl == 28 && c.rMultiple == 1.5 && c.outcome == .win)
            #expect(try c.tags == ["A+"] && corrected.member("/notes") == nil && c.killzone == "London open")

            // Removing the stop removes R; removing the exit reopens the trade (the members absent, not null).
            let noStop = try await app.json(.PATCH, path, token: token, ["stop_price": NSNull()])
            #expect(try noStop.member("/r_multiple") == nil && noStop.decode(Trade.self).pnl == 28)
            let reopenedResponse = try await app.json(.PATCH, path, token: token, ["exit_price": NSNull(), "exit_time": NSNull()])
            let reopened = try reopenedResponse.decode(Trade.self)
            #expect(try reopened.outcome == .open && reopenedResponse.member("/pnl") == nil && reopenedResponse.member("/exit_time") == nil)
            let version = reopened.version

            let bad: [([String: Any], String)] = [
                (["pnl": 1000], "/pnl"), (["outcome": "win"], "/outcome"), (["id": clientTradeID()], "/id"),
                (["leverage": 50], "/leverage"), (["entry_price": "cheap"], "/entry_price"), (["entry_price": -1], "/entry_price"),
                (["stop_price": 1.2], "/stop_price"), (["exit_price": 1.2], "/exit_time"),
                (["exit_price": 1.2, "exit_time": "2025-06-01T00:00:00Z"], "/exit_time"), (["entry_time": "tuesday"], "/entry_time"),
                (["symbol": NSNull()], "symbol"), (["direction": "sideways"], "/direction"), (["tags": ["x", "x"]], "/tags/1"),
                (["screenshots": ["http://insecure.example.com/a.png"]], "/screenshots/0"), (["timeframe": "2h"], "/timeframe"),
            ]
            for (body, field) in bad {
                let response = try await app.json(.PATCH, path, token: token, body)
                #expect(response.status == 422, "\(body) → \(response.status) \(response.body)")
                #expect(response.body.contains(field), "\(body) → \(response.body)")
            }
            let now = try await app.json(.GET, path, token: token).decode(Trade.self)
            #expect(now.version == version && now.entryPrice == 1.1)
        }
    }

    @Test("close: exit before entry, in the future or non-positive is 422; the same close again is 200, another is 409")
    func closeRules() async throws {
        try await TestApp.run { app in
            let (token, _, _) = try await app.signup()
            let id = try await app.createTrade(Self.eurusdLong, token: token).id
            let path = "/v1/journal/trades/\(id)/close"
            let future = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3600))
            let bad: [([String: Any], Int, String)] = [
                (["exit_price": 1.105, "exit_time": "2025-06-02T08:14:59Z"], 422, "/exit_time"),
                (["exit_price": 1.105, "exit_time": future], 422, "/exit_time"),
                (["exit_price": 0, "exit_time": "2025-06-02T09:00:00Z"], 422, "/exit_price"),
                (["exit_price": -1.1, "exit_time": "2025-06-02T09:00:00Z"], 422, "/exit_price"),
                (["exit_price": 1.105, "exit_time": "2025-06-02T09:00:00Z", "fees": -2], 422, "/fees"),
                (["exit_price": 1.105], 422, "/exit_time"),
                (["exit_price": "1.105", "exit_time": "2025-06-02T09:00:00Z"], 422, "/exit_price"),
                (["exit_price": 1.105, "exit_time": "2025-06-02T09:00:00Z", "slippage": 1], 422, "/slippage"),
            ]
            for (body, status, field) in bad {
                let response = try await app.json(.POST, path, token: token, body)
                #expect(response.status == status && response.body.contains(field), "\(body) → \(response.status) \(response.body)")
            }
            #expect(try await app.json(.GET, "/v1/journal/trades/\(id)", token: token).decode(Trade.self).version == 1)
            let good: [String: Any] = ["exit_price": 1.105, "exit_time": "2025-06-02T09:00:00Z"]
            let closed = try await app.closeTrade(id, good, token: token)
            let again = try await app.json(.POST, path, token: token, good)
            #expect(try again.status == 200 && again.decode(Trade.self).version == closed.version)
            let other = try await app.json(.POST, path, token: token, ["exit_price": 1.106, "exit_time": "2025-06-02T09:00:00Z"])
            #expect(other.status == 409 && other.problemCode == "already_closed")
        }
    }

    @Test("list filters (symbol, outcome, since/until, tag) and keyset pages of every size, without duplicates or misses")
    func listAndPages() async throws {
        try await TestApp.run(configure: { $0.adminToken = "op" }) { app in
            let (token, _, email) = try await app.signup()
            try await app.changePlan(email, to: "team")  // the free plan's 60 requests a minute are too few for this walk
            // Nine trades; two share an entry time (the id breaks the tie).
            struct Listed {
                var id = "", symbol: String, entry: String, exit: Double?, tags: [String], outcome = ""
                var micros: Int64 { RFC3339.micros(entry)! }
            }
            var trades: [Listed] = [
                .init(symbol: "EURUSD", entry: "2025-05-01T08:00:00Z", exit: 1.11, tags: ["a"]),
                .init(symbol: "GBPUSD", entry: "2025-05-02T08:00:00Z", exit: 1.09, tags: ["b"]),
                .init(symbol: "EURUSD", entry: "2025-05-03T08:00:00Z", exit: nil, tags: ["a", "b"]),
                .init(symbol: "XAUUSD", entry: "2025-05-04T08:00:00Z", exit: 1.10, tags: []),
                .init(symbol: "EURUSD", entry: "2025-05-05T08:00:00Z", exit: 1.12, tags: ["a"]),
                .init(symbol: "EURUSD", entry: "2025-05-05T08:00:00Z", exit: nil, tags: []),
                .init(symbol: "GBPUSD", entry: "2025-05-06T08:00:00.5Z", exit: 1.08, tags: ["c"]),
                .init(symbol: "EURUSD", entry: "2025-05-07T08:00:00Z", exit: nil, tags: ["a"]),
                .init(symbol: "BTCUSDT", entry: "2025-05-08T08:00:00Z", exit: 1.13, tags: ["b"]),
            ]
            for i in trades.indices {
                var body: [String: Any] = [
                    "symbol": trades[i].symbol, "direction": "long", "entry_price": 1.10, "size": 1, "entry_time": trades[i].entry,
                    "tags": trades[i].tags,
                ]
                if let exit = trades[i].exit {
                    body["exit_price"] = exit
                    body["exit_time"] = "2025-05-09T00:00:00Z"
                }
                let created = try await app.createTrade(body, token: token)
                trades[i].id = created.id
                trades[i].outcome = created.outcome.rawValue
            }
            #expect(Set(trades.map(\.outcome)) == ["open", "win", "loss", "breakeven"])
            let order = trades.sorted { a, b in a.micros != b.micros ? a.micros > b.micros : a.id > b.id }
            for size in 1...(trades.count + 1) {
                let ids = try await app.allPages("/v1/journal/trades", token: token, limit: size, of: Components.Schemas.TradePage.self)
                #expect(ids == order.map(\.id), "size \(size)")
            }
            let may5 = RFC3339.micros("2025-05-05T08:00:00Z")!, may2 = RFC3339.micros("2025-05-02T00:00:00Z")!
            let cases: [(String, (Listed) -> Bool)] = [
                ("symbol=EURUSD", { $0.symbol == "EURUSD" }), ("outcome=open", { $0.outcome == "open" }),
                ("outcome=win", { $0.outcome == "win" }), ("outcome=loss", { $0.outcome == "loss" }),
                ("outcome=breakeven", { $0.outcome == "breakeven" }), ("tag=a", { $0.tags.contains("a") }),
                ("since=2025-05-05T08:00:00Z", { $0.micros >= may5 }), ("until=2025-05-05T08:00:00Z", { $0.micros < may5 }),
                ("symbol=EURUSD&tag=a&since=2025-05-02T00:00:00Z", { $0.symbol == "EURUSD" && $0.tags.contains("a") && $0.micros >= may2 }),
            ]
            for (query, matches) in cases {
                for size in [1, 2, 50] {
                    let ids = try await app.allPages("/v1/journal/trades?\(query)", token: token, limit: size, of: Components.Schemas.TradePage.self)
                    #expect(ids == order.filter(matches).map(\.id), "\(query) size \(size)")
                }
            }
            let page = try await app.json(.GET, "/v1/journal/trades?limit=2", token: token).decode(Components.Schemas.TradePage.self)
            let cursor = try #require(page.nextCursor)
            var tampered = Array(cursor)
            tampered[5] = tampered[5] == "x" ? "y" : "x"
            #expect(try await app.json(.GET, "/v1/journal/trades?limit=2&cursor=\(String(tampered))", token: token).problemCode == "invalid_cursor")
            #expect(try await app.json(.GET, "/v1/journal/trades?limit=2&symbol=EURUSD&cursor=\(cursor)", token: token).problemCode == "invalid_cursor")
            for bad in ["limit=0", "limit=501", "outcome=won", "since=soon", "tag="] {
                #expect(try await app.json(.GET, "/v1/journal/trades?\(bad)", token: token).status == 400, "\(bad)")
            }
        }
    }

    @Test("tenant B cannot read, change, close or delete A's trades, nor see them in lists or statistics")
    func isolation() async throws {
        try await TestApp.run { app in
            let (tokenA, sessionA, _) = try await app.signup()
            let (tokenB, _, _) = try await app.signup()
            let id = try await app.createTrade(Self.eurusdLong, token: tokenA).id
            _ = try await app.closeTrade(id, ["exit_price": 1.105, "exit_time": "2025-06-02T09:00:00Z"], token: tokenA)
            let path = "/v1/journal/trades/\(id)"
            var responses = [try await app.json(.GET, path, token: tokenB)]
            responses.append(try await app.json(.PATCH, path, token: tokenB, ["notes": "mine"]))
            responses.append(try await app.json(.DELETE, path, token: tokenB))
            responses.append(try await app.json(.POST, path + "/close", token: tokenB, ["exit_price": 1.2, "exit_time": "2025-06-02T10:00:00Z"]))
            for response in responses {
                #expect(response.status == 404 && response.problemCode == "not_found", "\(response.body)")
            }
            #expect(try await app.json(.GET, "/v1/journal/trades", token: tokenB).decode(Components.Schemas.TradePage.self).trades.isEmpty)
            let statsB = try await app.json(.GET, "/v1/journal/stats", token: tokenB).decode(Components.Schemas.JournalStats.self)
            #expect(statsB.overall.count == 0 && statsB.bySymbol.isEmpty)
            // Ids are per tenant: B may use the same id for its own trade; A's stays as it was.
            var mine = Self.eurusdLong
            mine["id"] = id
            #expect(try await app.json(.POST, "/v1/journal/trades", token: tokenB, mine).status == 201)
            let still = try await app.json(.GET, path, token: tokenA).decode(Trade.self)
            #expect(still.outcome == .win && still.version == 2)
            // A signal of tenant B's is not one of A's.
            let rowB = SignalRow(candleTime: SignalRow.time(ago: 3600))
            try await app.insertSignals([rowB], tenant: try await app.json(.GET, "/v1/me", token: tokenB).decode(Components.Schemas.Me.self).tenantID)
            var linked = Self.eurusdLong
            linked["signal_id"] = rowB.id.uuidString.lowercased()
            let foreign = try await app.json(.POST, "/v1/journal/trades", token: tokenA, linked)
            #expect(foreign.status == 422 && foreign.body.contains("/signal_id"))
            _ = sessionA
            #expect(try await app.json(.GET, "/v1/journal/trades").status == 401)
        }
    }

    @Test("a trade linked to the tenant's signal takes its setup type, killzone and timeframe unless it gives its own")
    func signalLink() async throws {
        try await TestApp.run { app in
            let (token, session, _) = try await app.signup()
            var row = SignalRow(candleTime: SignalRow.time(ago: 3600))
            row.setupType = "order_block"
            row.killzone = "New York open"
            row.timeframe = "1h"
            try await app.insertSignals([row], tenant: session.tenantID)
            let signal = row.id.uuidString.lowercased()
            let linked = try await app.createTrade(
                ["symbol": "EURUSD", "direction": "long", "entry_price": 1.085, "entry_time": "2025-06-02T08:15:00Z", "signal_id": signal],
                token: token)
            #expect(linked.signalId == signal && linked.setupType == "order_block")
            #expect(linked.killzone == "New York open" && linked.timeframe == ._1h)
            let own = try await app.createTrade(
                ["symbol": "EURUSD", "direction": "long", "entry_price": 1.085, "entry_time": "2025-06-02T08:15:00Z", "signal_id": signal,
                 "killzone": "London close"], token: token)
            #expect(own.killzone == "London close" && own.setupType == "order_block")
            let wrongSymbol = try await app.json(
                .POST, "/v1/journal/trades", token: token,
                ["symbol": "GBPUSD", "direction": "long", "entry_price": 1.3, "entry_time": "2025-06-02T08:15:00Z", "signal_id": signal])
            #expect(wrongSymbol.status == 422 && wrongSymbol.body.contains("/signal_id"))
            let unknown = try await app.json(
                .POST, "/v1/journal/trades", token: token,
                ["symbol": "EURUSD", "direction": "long", "entry_price": 1.3, "entry_time": "2025-06-02T08:15:00Z", "signal_id": UUID().uuidString])
            #expect(unknown.status == 422 && unknown.body.contains("/signal_id"))
        }
    }

    @Test("statistics over closed trades match hand-computed figures, overall and by symbol, killzone and setup type")
    func stats() async throws {
        try await TestApp.run { app in
            let (token, _, _) = try await app.signup()
            func trade(_ symbol: String, _ direction: String, entry: Double, stop: Double?, exit: Double?, size: Double, fees: Double,
                       killzone: String?, setup: String?, exitTime: String = "2025-06-10T12:00:00Z") async throws -> String {
                var body: [String: Any] = [
                    "symbol": symbol, "direction": direction, "entry_price": entry, "size": size, "fees": fees,
                    "entry_time": "2025-06-01T08:00:00Z",
                ]
                if let stop { body["stop_price"] = stop }
                if let exit { body["exit_price"] = exit; body["exit_time"] = exitTime }
                if let killzone { body["killzone"] = killzone }
                if let setup { body["setup_type"] = setup }
                return try await app.createTrade(body, token: token).id
            }
            // T1 win: (1.105 − 1.1) × 10 000 − 2 = 48, R 2.5        T2 loss: −0.01 × 1 000 − 1.5 = −11.5, R −2
            // T3 loss: −0.0025 × 2 000 = −5, R −0.5                  T4 win: 30 × 1 = 30, R 3
            // T5 breakeven: 0.5 × 2 − 1 = 0, R 0.5 / 10 = 0.05       (an open trade and a deleted one do not count)
            _ = try await trade("EURUSD", "long", entry: 1.1, stop: 1.098, exit: 1.105, size: 10000, fees: 2, killzone: "London open", setup: "order_block", exitTime: "2025-06-02T12:00:00Z")
            _ = try await trade("EURUSD", "short", entry: 1.25, stop: 1.255, exit: 1.26, size: 1000, fees: 1.5, killzone: "New York open", setup: "fair_value_gap", exitTime: "2025-06-03T12:00:00Z")
            _ = try await trade("GBPUSD", "long", entry: 1.3, stop: 1.295, exit: 1.2975, size: 2000, fees: 0, killzone: "London open", setup: "order_block")
            _ = try await trade("XAUUSD", "long", entry: 2000, stop: 1990, exit: 2030, size: 1, fees: 0, killzone: nil, setup: "breaker")
            _ = try await trade("XAUUSD", "short", entry: 2000, stop: 2010, exit: 1999.5, size: 2, fees: 1, killzone: nil, setup: nil)
            _ = try await trade("EURUSD", "long", entry: 1.1, stop: 1.09, exit: nil, size: 1, fees: 0, killzone: "London open", setup: "order_block")
            let deleted = try await trade("EURUSD", "long", entry: 1.1, stop: 1.09, exit: 1.2, size: 100, fees: 0, killzone: "London open", setup: "order_block")
            #expect(try await app.json(.DELETE, "/v1/journal/trades/\(deleted)", token: token).status == 204)

            let response = try await app.json(.GET, "/v1/journal/stats", token: token)
            #expect(response.status == 200, "\(response.body)")
            let body = try response.decode(Components.Schemas.JournalStats.self)
            struct Expected {
                var count, wins, losses, breakeven, rCount: Int
                var winRate, averageR, expectancy: Double?
                var profitFactor: Double?
                var total: Double
            }
            /// `group` is the statistics at `pointer` of `response` (where a figure without a value must be absent).
            func check(_ group: Components.Schemas.TradeStats, at pointer: String, of response: TestResponse, _ e: Expected, _ label: String) throws {
                #expect(group.count == e.count && group.wins == e.wins, "\(label)")
                #expect(group.losses == e.losses && group.breakeven == e.breakeven, "\(label)")
                #expect(group.rCount == e.rCount, "\(label)")
                let figures = [("win_rate", e.winRate, group.winRate), ("average_r", e.averageR, group.averageR),
                               ("expectancy_r", e.expectancy, group.expectancyR), ("profit_factor", e.profitFactor, group.profitFactor)]
                for (key, value, actual) in figures {
                    if let value { #expect(approx(actual, value), "\(label) \(key): \(String(describing: actual)) ≠ \(value)") }
                    else { #expect(try response.member("\(pointer)/\(key)") == nil, "\(label) \(key) should be absent") }
                }
                #expect(approx(group.totalPnl, e.total), "\(label) total_pnl")
            }
            // Overall: 2 wins, 2 losses, 1 breakeven; R over 5: (2.5 − 2 − 0.5 + 3 + 0.05) / 5 = 0.61;
            // expectancy 2/5 × 2.75 + 2/5 × (−1.25) = 0.6; profit factor 78 / 16.5; total 61.5.
            try check(body.overall, at: "/overall", of: response, .init(count: 5, wins: 2, losses: 2, breakeven: 1, rCount: 5, winRate: 0.4, averageR: 0.61, expectancy: 0.6, profitFactor: 78 / 16.5, total: 61.5), "overall")
            let bySymbol = body.bySymbol
            #expect(bySymbol.map(\.value1.key) == ["EURUSD", "GBPUSD", "XAUUSD"])
            try check(bySymbol[0].value2, at: "/by_symbol/0", of: response, .init(count: 2, wins: 1, losses: 1, breakeven: 0, rCount: 2, winRate: 0.5, averageR: 0.25, expectancy: 0.25, profitFactor: 48 / 11.5, total: 36.5), "EURUSD")
            try check(bySymbol[1].value2, at: "/by_symbol/1", of: response, .init(count: 1, wins: 0, losses: 1, breakeven: 0, rCount: 1, winRate: 0, averageR: -0.5, expectancy: -0.5, profitFactor: 0, total: -5), "GBPUSD")
            try check(bySymbol[2].value2, at: "/by_symbol/2", of: response, .init(count: 2, wins: 1, losses: 0, breakeven: 1, rCount: 2, winRate: 0.5, averageR: 1.525, expectancy: 1.5, profitFactor: nil, total: 30), "XAUUSD")
            let byKillzone = body.byKillzone
            #expect(byKillzone.map(\.value1.key) == ["London open", "New York open", nil])
            try check(byKillzone[0].value2, at: "/by_killzone/0", of: response, .init(count: 2, wins: 1, losses: 1, breakeven: 0, rCount: 2, winRate: 0.5, averageR: 1, expectancy: 1, profitFactor: 9.6, total: 43), "London open")
            try check(byKillzone[1].value2, at: "/by_killzone/1", of: response, .init(count: 1, wins: 0, losses: 1, breakeven: 0, rCount: 1, winRate: 0, averageR: -2, expectancy: -2, profitFactor: 0, total: -11.5), "New York open")
            try check(byKillzone[2].value2, at: "/by_killzone/2", of: response, .init(count: 2, wins: 1, losses: 0, breakeven: 1, rCount: 2, winRate: 0.5, averageR: 1.525, expectancy: 1.5, profitFactor: nil, total: 30), "no killzone")
            let bySetup = body.bySetupType
            #expect(bySetup.map(\.value1.key) == ["breaker", "fair_value_gap", "order_block", nil])
            try check(bySetup[0].value2, at: "/by_setup_type/0", of: response, .init(count: 1, wins: 1, losses: 0, breakeven: 0, rCount: 1, winRate: 1, averageR: 3, expectancy: 3, profitFactor: nil, total: 30), "breaker")
            try check(bySetup[2].value2, at: "/by_setup_type/2", of: response, .init(count: 2, wins: 1, losses: 1, breakeven: 0, rCount: 2, winRate: 0.5, averageR: 1, expectancy: 1, profitFactor: 9.6, total: 43), "order_block")
            try check(bySetup[3].value2, at: "/by_setup_type/3", of: response, .init(count: 1, wins: 0, losses: 0, breakeven: 1, rCount: 1, winRate: 0, averageR: 0.05, expectancy: 0, profitFactor: nil, total: 0), "no setup type")

            // Filters: one symbol; a window on exit time holding T1 and T2 only.
            let eur = try await app.json(.GET, "/v1/journal/stats?symbol=eurusd", token: token)
            try check(eur.decode(Components.Schemas.JournalStats.self).overall, at: "/overall", of: eur, .init(count: 2, wins: 1, losses: 1, breakeven: 0, rCount: 2, winRate: 0.5, averageR: 0.25, expectancy: 0.25, profitFactor: 48 / 11.5, total: 36.5), "symbol filter")
            let window = try await app.json(.GET, "/v1/journal/stats?since=2025-06-02T00:00:00Z&until=2025-06-04T00:00:00Z", token: token)
            try check(window.decode(Components.Schemas.JournalStats.self).overall, at: "/overall", of: window, .init(count: 2, wins: 1, losses: 1, breakeven: 0, rCount: 2, winRate: 0.5, averageR: 0.25, expectancy: 0.25, profitFactor: 48 / 11.5, total: 36.5), "window")
            #expect(try await app.json(.GET, "/v1/journal/stats?since=later", token: token).status == 400)
        }
    }

    @Test("bad create bodies are a 4xx problem naming the field, and store nothing")
    func badInput() async throws {
        try await TestApp.run { app in
            let (token, session, _) = try await app.signup()
            let row = SignalRow(candleTime: SignalRow.time(ago: 3600))
            try await app.insertSignals([row], tenant: session.tenantID)
            func with(_ changes: [String: Any?]) -> [String: Any] {
                var body = Self.eurusdLong
                for (key, value) in changes { body[key] = value }
                return body
            }
            let future = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86400))
            let cases: [([String: Any], Int, String)] = [
                (with(["entry_price": "1.1"]), 422, "/entry_price"), (with(["size": [1]]), 422, "/size"),
                (with(["tags": "a"]), 422, "/tags"), (with(["direction": "up"]), 422, "/direction"),
                (with(["entry_time": "yesterday"]), 422, "/entry_time"), (with(["timeframe": "2h"]), 422, "/timeframe"),
                (with(["symbol": nil]), 422, "/symbol"), (with(["leverage": 100]), 422, "/leverage"),
                (with(["pnl": 5]), 422, "/pnl"),
                (with(["entry_price": -1.1]), 422, "/entry_price"), (with(["entry_price": 0]), 422, "/entry_price"),
                (with(["entry_price": 1e300]), 422, "/entry_price"), (with(["size": 0]), 422, "/size"),
                (with(["fees": -0.01]), 422, "/fees"), (with(["stop_price": 1.11]), 422, "/stop_price"),
                (with(["stop_price": -1]), 422, "/stop_price"), (with(["targets": [1.09]]), 422, "/targets/0"),
                (with(["targets": Array(repeating: 1.2, count: 11)]), 422, "/targets"),
                (with(["exit_price": 1.2, "exit_time": "2025-06-01T00:00:00Z"]), 422, "/exit_time"),
                (with(["exit_price": 1.2, "exit_time": future]), 422, "/exit_time"), (with(["exit_price": 1.2]), 422, "/exit"),
                (with(["exit_time": "2025-06-03T00:00:00Z"]), 422, "/exit"), (with(["exit_price": -1.2, "exit_time": "2025-06-03T00:00:00Z"]), 422, "/exit_price"),
                (with(["screenshots": ["http://example.com/a.png"]]), 422, "/screenshots/0"),
                (with(["screenshots": ["javascript:alert(1)"]]), 422, "/screenshots/0"),
                (with(["screenshots": ["https://user:pw@example.com/a.png"]]), 422, "/screenshots/0"),
                (with(["screenshots": ["https:///nohost"]]), 422, "/screenshots/0"),
                (with(["screenshots": ["https://example.com/a b.png"]]), 422, "/screenshots/0"),
                (with(["screenshots": (0..<11).map { "https://example.com/\($0).png" }]), 422, "/screenshots"),
                (with(["tags": (0..<21).map { "t\($0)" }]), 422, "/tags"), (with(["tags": [String(repeating: "t", count: 41)]]), 422, "/tags/0"),
                (with(["tags": [""]]), 422, "/tags/0"), (with(["tags": ["a", "b", "a"]]), 422, "/tags/2"),
                (with(["symbol": "EU"]), 422, "/symbol"), (with(["symbol": "EUR\u{0}USD"]), 422, "/symbol"),
                (with(["symbol": "'; DROP TABLE trades;--"]), 422, "/symbol"), (with(["notes": "a\u{0}b"]), 422, "/notes"),
                (with(["notes": String(repeating: "n", count: 10_001)]), 422, "/notes"), (with(["killzone": ""]), 422, "/killzone"),
                (with(["setup_type": String(repeating: "s", count: 51)]), 422, "/setup_type"),
                (with(["signal_id": UUID().uuidString]), 422, "/signal_id"), (with(["signal_id": "nope"]), 422, "/signal_id"),
                (with(["signal_id": row.id.uuidString, "symbol": "GBPUSD"]), 422, "/signal_id"),
                (with(["id": "nope"]), 422, "/id"), (with(["id": UUID().uuidString]), 422, "/id"),
            ]
            for (body, status, field) in cases {
                let response = try await app.json(.POST, "/v1/journal/trades", token: token, body)
                #expect(response.status == status, "\(field) → \(response.status) \(response.body)")
                #expect(response.header("content-type") == "application/problem+json", "\(field)")
                #expect(response.body.contains(field), "\(field) → \(response.body)")
            }
            let raw = try await app.request(
                .POST, "/v1/journal/trades", headers: [("authorization", "Bearer \(token)"), ("content-type", "application/json")],
                body: #"{"symbol": "EURUSD", "direction": "long", "entry_price": 1.1, "#)
            #expect(raw.status == 400 && raw.problemCode == "malformed_json")
            #expect(try await app.scalar("SELECT count(*)::int FROM trades") == 0)
            #expect(try await app.scalar("SELECT count(*)::int FROM sync_counters WHERE stream = 'journal'") == 0)
        }
    }
}
