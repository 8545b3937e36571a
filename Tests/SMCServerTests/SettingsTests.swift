import Foundation
import PostgresNIO
import SMCAPI
import SMCTestSupport
import Testing

@testable import SMCServer

@Suite("Settings: versioned per-user documents")
struct SettingsTests {
    @Test("each document starts at its defaults with ETag \"0\"; killzones default to the ICT set in New York time")
    func defaults() async throws {
        try await TestApp.run { app in
            let (token, _, _) = try await app.signup()
            for kind in ["watchlist", "killzones", "strategy", "alerts"] {
                let response = try await app.json(.GET, "/v1/settings/\(kind)", token: token)
                #expect(response.status == 200, "\(kind)")
                #expect(response.header("etag") == "\"0\"", "\(kind)")
            }
            let zones = try await app.json(.GET, "/v1/settings/killzones", token: token).decode(Components.Schemas.Killzones.self).zones
            #expect(zones.map(\.name) == ["Asian", "London open", "New York open", "London close"])
            #expect(zones.allSatisfy { $0.timeZone == "America/New_York" })
            #expect(zones.map { "\($0.start)-\($0.end)" } == ["20:00-00:00", "02:00-05:00", "07:00-10:00", "10:00-12:00"])
            let strategy = try await app.json(.GET, "/v1/settings/strategy", token: token).decode(Components.Schemas.Strategy.self)
            // SignalWeights and ConfidenceLevels allow no other members, so these are the whole objects.
            #expect(strategy.signalWeights == .init(structure: 0.35, orderBlocks: 0.30, fairValueGaps: 0.20, momentum: 0.10, volume: 0.05))
            #expect(strategy.confidenceLevels == .init(high: 75, medium: 55, low: 40))
        }
    }

    @Test("writes need If-Match: missing is 428, stale is 412, current or * succeeds and bumps the ETag")
    func optimisticConcurrency() async throws {
        try await TestApp.run { app in
            let (token, _, _) = try await app.signup()
            let doc: [String: Any] = ["entries": [["symbol": "EURUSD", "timeframes": ["15m"]]]]
            let missing = try await app.json(.PUT, "/v1/settings/watchlist", token: token, doc)
            #expect(missing.status == 428 && missing.problemCode == "precondition_required")
            let first = try await app.json(.PUT, "/v1/settings/watchlist", token: token, doc, headers: [("if-match", "\"0\"")])
            #expect(first.status == 200 && first.header("etag") == "\"1\"")
            let stale = try await app.json(.PUT, "/v1/settings/watchlist", token: token, doc, headers: [("if-match", "\"0\"")])
            #expect(stale.status == 412 && stale.problemCode == "precondition_failed")
            #expect(try stale.json()["current_etag"] as? String == "\"1\"")
            let weak = try await app.json(.PUT, "/v1/settings/watchlist", token: token, doc, headers: [("if-match", "W/\"1\"")])
            #expect(weak.status == 200 && weak.header("etag") == "\"2\"")
            let star = try await app.json(.PUT, "/v1/settings/watchlist", token: token, doc, headers: [("if-match", "*")])
            #expect(star.status == 200 && star.header("etag") == "\"3\"")
        }
    }

    @Test("two devices editing from the same version: the first write wins, the second gets 412, nothing is lost silently")
    func twoDevices() async throws {
        try await TestApp.run { app in
            let (first, _, email) = try await app.signup()
            let second = try await app.json(.POST, "/v1/auth/login", ["email": email, "password": "correct horse battery", "device_name": "b"])
                .decode(Components.Schemas.Session.self).token
            let etag = try #require(try await app.json(.GET, "/v1/settings/strategy", token: first).header("etag"))
            let a = try await app.json(.PATCH, "/v1/settings/strategy", token: first, ["swing_length": 10], headers: [("if-match", etag)])
            let b = try await app.json(.PATCH, "/v1/settings/strategy", token: second, ["min_reward_risk": 3], headers: [("if-match", etag)])
            #expect(a.status == 200 && b.status == 412)
            let now = try await app.json(.GET, "/v1/settings/strategy", token: second).decode(Components.Schemas.Strategy.self)
            #expect(now.swingLength == 10)
            #expect(now.minRewardRisk == 1.5)
        }
    }

    @Test("PATCH merges (RFC 7386) and validates the result whole; an invalid result stores nothing")
    func mergePatch() async throws {
        try await TestApp.run { app in
            let (token, _, _) = try await app.signup()
            let patched = try await app.request(
                .PATCH, "/v1/settings/strategy",
                headers: [("authorization", "Bearer \(token)"), ("content-type", "application/merge-patch+json"), ("if-match", "\"0\"")],
                body: #"{"swing_length": 12, "ensemble": {"members": {"learned": {"enabled": false}}}}"#)
            #expect(patched.status == 200, "\(patched.body)")
            let body = try patched.decode(Components.Schemas.Strategy.self)
            #expect(body.swingLength == 12)
            let members = body.ensemble.members
            #expect(members.learned.enabled == false)
            #expect(members.learned.weight == 1)
            #expect(members.smc.enabled == true)

            let bad = try await app.json(
                .PATCH, "/v1/settings/strategy", token: token, ["signal_weights": ["structure": 0.9]], headers: [("if-match", "\"1\"")])
            #expect(bad.status == 422 && bad.problemCode == "validation_failed")
            #expect(bad.body.contains("/signal_weights"))
            let removeRequired = try await app.json(
                .PATCH, "/v1/settings/strategy", token: token, ["swing_length": NSNull()], headers: [("if-match", "\"1\"")])
            #expect(removeRequired.status == 422, "\(removeRequired.body)")
            #expect(try await app.json(.GET, "/v1/settings/strategy", token: token).header("etag") == "\"1\"")
        }
    }

    @Test("watchlist: symbols normalised and checked against the registry, timeframes ordered, duplicates refused")
    func watchlistRules() async throws {
        try await TestApp.run { app in
            let (token, _, _) = try await app.signup()
            let ok = try await app.json(
                .PUT, "/v1/settings/watchlist", token: token,
                ["entries": [["symbol": "eur/usd", "timeframes": ["1h", "15m"]], ["symbol": " btc-usdt ", "timeframes": ["4h"]]]],
                headers: [("if-match", "*")])
            #expect(ok.status == 200, "\(ok.body)")
            let entries = try ok.decode(Components.Schemas.Watchlist.self).entries
            #expect(entries.map(\.symbol) == ["EURUSD", "BTCUSDT"])
            #expect(entries[0].timeframes == [._15m, ._1h])
            #expect(entries.allSatisfy { $0.active == true })

            let cases: [([String: Any], Int, String)] = [
                (["entries": [["symbol": "NOTREAL", "timeframes": ["1h"]]]], 422, "validation_failed"),
                (["entries": [["symbol": "EURUSD", "timeframes": ["1h"]], ["symbol": "EUR/USD", "timeframes": ["4h"]]]], 422, "validation_failed"),
                (["entries": [["symbol": "EURUSD", "timeframes": []]]], 422, "validation_failed"),
                (["entries": [["symbol": "EURUSD", "timeframes": ["1h", "1h"]]]], 422, "validation_failed"),
                (["entries": [["symbol": "EURUSD", "timeframes": ["2h"]]]], 422, "validation_failed"),
                (["entries": [["symbol": "'; DROP TABLE symbols;--", "timeframes": ["1h"]]]], 422, "validation_failed"),
                (["entries": "EURUSD"], 422, "validation_failed"),
            ]
            for (doc, status, code) in cases {
                let response = try await app.json(.PUT, "/v1/settings/watchlist", token: token, doc, headers: [("if-match", "*")])
                #expect(response.status == status && response.problemCode == code, "\(doc) → \(response.body)")
            }
            #expect(try await app.json(.GET, "/v1/settings/watchlist", token: token).header("etag") == "\"1\"")
        }
    }

    @Test("watchlist plan limits: symbols and timeframes per symbol, each with plan_limit_exceeded")
    func watchlistLimits() async throws {
        try await TestApp.run { app in
            let (token, _, _) = try await app.signup()
            let four = ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD"].map { ["symbol": $0, "timeframes": ["1h"]] }
            let tooMany = try await app.json(.PUT, "/v1/settings/watchlist", token: token, ["entries": four], headers: [("if-match", "*")])
            #expect(tooMany.status == 403)
            let body = try tooMany.json()
            #expect(body["code"] as? String == "plan_limit_exceeded" && body["limit"] as? String == "symbols")
            #expect(body["limit_value"] as? Int == 3 && body["plan"] as? String == "free" && body["upgrade_to"] as? String == "pro")
            let wide = try await app.json(
                .PUT, "/v1/settings/watchlist", token: token, ["entries": [["symbol": "EURUSD", "timeframes": ["15m", "1h", "4h"]]]],
                headers: [("if-match", "*")])
            #expect(wide.status == 403)
            #expect(try wide.json()["limit"] as? String == "timeframes_per_symbol")
            #expect(try wide.json()["limit_value"] as? Int == 2)
        }
    }

    @Test("after a downgrade the watchlist is kept, entries over the limits show active: false, and the subscription says so")
    func downgradeKeepsData() async throws {
        try await TestApp.run(configure: { $0.adminToken = "op" }) { app in
            let (token, _, email) = try await app.signup()
            let admin = [("authorization", "Bearer op")]
            #expect(try await app.json(.POST, "/v1/admin/plan-changes", ["email": email, "plan": "pro"], headers: admin).status == 200)
            let five = ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "BTCUSDT"].map { ["symbol": $0, "timeframes": ["15m", "1h", "4h"]] }
            #expect(try await app.json(.PUT, "/v1/settings/watchlist", token: token, ["entries": five], headers: [("if-match", "*")]).status == 200)
            let down = try await app.json(.POST, "/v1/admin/plan-changes", ["email": email, "plan": "free"], headers: admin)
            let applied = try down.decode(Components.Schemas.PlanChange.self).applied
            #expect(applied.contains { $0.hasPrefix("symbols: 5 used, 3 allowed") }, "\(applied)")
            let entries = try await app.json(.GET, "/v1/settings/watchlist", token: token).decode(Components.Schemas.Watchlist.self).entries
            #expect(entries.count == 5)
            #expect(entries.allSatisfy { $0.active == false })  // 3 timeframes each: over the free plan's 2
            let over = try await app.json(.GET, "/v1/subscription", token: token).decode(Components.Schemas.Subscription.self).overLimit
            #expect(Set(over.map(\.limit)) == ["symbols", "timeframes_per_symbol"])
        }
    }

    @Test("killzones: IANA zones, HH:MM, start ≠ end, unique names; windows across midnight are fine")
    func killzoneRules() async throws {
        try await TestApp.run { app in
            let (token, _, _) = try await app.signup()
            func put(_ zones: [[String: Any]], mode: String = "suppress") async throws -> TestResponse {
                try await app.json(.PUT, "/v1/settings/killzones", token: token, ["mode": mode, "zones": zones], headers: [("if-match", "*")])
            }
            let ok = try await put([["name": "Sydney", "start": "22:00", "end": "02:00", "time_zone": "Australia/Sydney"]])
            #expect(ok.status == 200, "\(ok.body)")
            #expect(try ok.decode(Components.Schemas.Killzones.self).mode == .suppress)
            let bad: [[String: Any]] = [
                ["name": "x", "start": "08:00", "end": "08:00", "time_zone": "Europe/London"],
                ["name": "x", "start": "8:00", "end": "09:00", "time_zone": "Europe/London"],
                ["name": "x", "start": "24:00", "end": "09:00", "time_zone": "Europe/London"],
                ["name": "x", "start": "08:00", "end": "09:00", "time_zone": "Mars/Olympus_Mons"],
                ["name": "", "start": "08:00", "end": "09:00", "time_zone": "Europe/London"],
            ]
            for zone in bad {
                let response = try await put([zone])
                #expect(response.status == 422 && response.problemCode == "validation_failed", "\(zone) → \(response.body)")
            }
            let duplicate = try await put([
                ["name": "A", "start": "01:00", "end": "02:00", "time_zone": "UTC"], ["name": "a", "start": "03:00", "end": "04:00", "time_zone": "UTC"],
            ])
            #expect(duplicate.status == 422)
            let badMode = try await put([], mode: "sometimes")
            #expect(badMode.status == 422 && badMode.body.contains("one of suppress, tag") && !badMode.body.contains("Payload"), "\(badMode.body)")
        }
    }

    @Test("alerts: known event types and values only; unmentioned events keep their defaults")
    func alertRules() async throws {
        try await TestApp.run { app in
            let (token, _, _) = try await app.signup()
            let ok = try await app.json(
                .PATCH, "/v1/settings/alerts", token: token, ["events": ["signal.outcome": "silent"], "min_confidence": 70],
                headers: [("if-match", "*")])
            #expect(ok.status == 200, "\(ok.body)")
            let events = try ok.decode(Components.Schemas.AlertPreferences.self).events.additionalProperties.mapValues(\.rawValue)
            #expect(events == ["signal.created": "on", "signal.outcome": "silent", "alert.test": "on"])
            let unknownEvent = try await app.json(
                .PATCH, "/v1/settings/alerts", token: token, ["events": ["signal.exploded": "on"]], headers: [("if-match", "*")])
            #expect(unknownEvent.status == 422)
            let badValue = try await app.json(
                .PATCH, "/v1/settings/alerts", token: token, ["events": ["signal.created": "loud"]], headers: [("if-match", "*")])
            #expect(badValue.status == 422 || badValue.status == 400)
            let badQuiet = try await app.json(
                .PATCH, "/v1/settings/alerts", token: token,
                ["quiet_hours": ["enabled": true, "start": "22:00", "end": "22:00"]], headers: [("if-match", "*")])
            #expect(badQuiet.status == 422)
            let range = try await app.json(.PATCH, "/v1/settings/alerts", token: token, ["min_confidence": 101], headers: [("if-match", "*")])
            #expect(range.status == 422)
        }
    }

    @Test("strategy ranges are enforced field by field")
    func strategyRanges() async throws {
        try await TestApp.run { app in
            let (token, _, _) = try await app.signup()
            let patches: [[String: Any]] = [
                ["swing_length": 0], ["swing_length": 201], ["liquidity_range_percent": 0.5], ["min_reward_risk": 0.1],
                ["confidence_levels": ["high": 50, "medium": 55, "low": 40]], ["timeframe_weights": ["2h": 1]],
                ["timeframe_weights": ["1h": 11]], ["ensemble": ["decay": 1.5]],
                ["ensemble": ["members": ["smc": ["enabled": false], "technical": ["enabled": false], "learned": ["enabled": false], "external": ["enabled": false]]]],
            ]
            for patch in patches {
                let response = try await app.json(.PATCH, "/v1/settings/strategy", token: token, patch, headers: [("if-match", "*")])
                #expect(response.status == 422, "\(patch) → \(response.body)")
            }
            #expect(try await app.json(.GET, "/v1/settings/strategy", token: token).header("etag") == "\"0\"")
        }
    }

    @Test("isolation: tenant B never sees tenant A's settings, over HTTP or in SQL with B's tenant set")
    func isolation() async throws {
        try await TestApp.run { app in
            let (tokenA, sessionA, _) = try await app.signup()
            let (tokenB, sessionB, _) = try await app.signup()
            let doc: [String: Any] = ["entries": [["symbol": "XAUUSD", "timeframes": ["1h"]]]]
            #expect(try await app.json(.PUT, "/v1/settings/watchlist", token: tokenA, doc, headers: [("if-match", "*")]).status == 200)
            let seenByB = try await app.json(.GET, "/v1/settings/watchlist", token: tokenB)
            #expect(seenByB.header("etag") == "\"0\"" && !seenByB.body.contains("XAUUSD"))
            let tenantA = sessionA.tenantID
            let tenantB = sessionB.tenantID
            try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger) { client in
                let db = Database(client: client, logger: TestDatabase.logger)
                let asB = try await db.withTenant(tenantB) { connection in
                    try await connection.query("SELECT body::text FROM user_settings", logger: TestDatabase.logger).collect().count
                }
                let asA = try await db.withTenant(tenantA) { connection in
                    try await connection.query("SELECT body::text FROM user_settings", logger: TestDatabase.logger).collect().count
                }
                #expect(asB == 0 && asA == 1)
            }
        }
    }
}
