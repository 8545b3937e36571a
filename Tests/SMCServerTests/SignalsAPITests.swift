import Foundation
import PostgresNIO
import SMCAPI
import SMCTestSupport
import Testing

@testable import SMCServer

func iso(_ seconds: Int64) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
}

typealias SignalPage = Components.Schemas.SignalPage
typealias SignalDetail = Components.Schemas.SignalDetail

@Suite("Signals: reading the tenant's signals and annotating them")
struct SignalsAPITests {
    /// Twelve signals over the last days: two symbols, two timeframes, both directions, every outcome, and two
    /// sharing a candle time (the id breaks the tie).
    static func sampleRows() -> [SignalRow] {
        let base = SignalRow.time(ago: 3 * 86400, timeframe: 3600)
        var rows: [SignalRow] = []
        let outcomes: [(String?, Double?, Double?)] = [(nil, nil, nil), ("target", 3.1, 1.0910), ("stop", -1, 1.0830), ("expired", 0.2, 1.0854)]
        for i in 0..<12 {
            var row = SignalRow(candleTime: base + Int64(i) * 3600)
            row.symbol = i % 3 == 0 ? "GBPUSD" : "EURUSD"
            row.timeframe = i % 2 == 0 ? "15m" : "1h"
            row.direction = i % 4 < 2 ? 1 : -1
            if row.direction < 0 { (row.entry, row.stop, row.targets) = (1.0850, 1.0870, [1.0790, 1.0750]) }
            row.confidence = 40 + Double(i) * 5
            row.level = row.confidence >= 75 ? "HIGH" : row.confidence >= 55 ? "MEDIUM" : "LOW"
            (row.outcome, row.outcomeR, row.exitPrice) = outcomes[i % 4]
            row.setupType = i % 2 == 0 ? "order_block" : "fair_value_gap"
            row.killzone = i % 5 == 0 ? nil : "New York open"
            rows.append(row)
        }
        rows[7].candleTime = rows[6].candleTime  // a tie on time
        return rows
    }

    @Test("the list is newest first, and each filter (alone and combined) returns exactly the matching signals")
    func filters() async throws {
        try await TestApp.run { app in
            let (token, session, _) = try await app.signup()
            let rows = Self.sampleRows()
            try await app.insertSignals(rows, tenant: session.tenantID)

            let all = try await app.json(.GET, "/v1/signals?limit=500", token: token)
            #expect(all.status == 200, "\(all.body)")
            let listed = try all.decode(SignalPage.self)
            #expect(listed.signals.map(\.id) == newestFirst(rows))
            #expect(try listed.hasMore == false && all.member("/next_cursor") == nil)

            let t6 = rows[6].candleTime, t9 = rows[9].candleTime
            let cases: [(String, (SignalRow) -> Bool)] = [
                ("symbol=GBPUSD", { $0.symbol == "GBPUSD" }),
                ("symbol=gbp/usd", { $0.symbol == "GBPUSD" }),
                ("timeframe=1h", { $0.timeframe == "1h" }),
                ("direction=long", { $0.direction == 1 }),
                ("direction=short", { $0.direction == -1 }),
                ("min_confidence=75", { $0.confidence >= 75 }),
                ("outcome=open", { $0.outcome == nil }),
                ("outcome=target", { $0.outcome == "target" }),
                ("outcome=stop", { $0.outcome == "stop" }),
                ("outcome=expired", { $0.outcome == "expired" }),
                ("since=\(iso(t6))", { $0.candleTime >= t6 }),
                ("until=\(iso(t6))", { $0.candleTime < t6 }),
                ("since=\(iso(t6))&until=\(iso(t9))", { $0.candleTime >= t6 && $0.candleTime < t9 }),
                ("since=\(iso(t6).replacingOccurrences(of: "Z", with: "+00:00"))", { $0.candleTime >= t6 }),
                ("symbol=EURUSD&direction=short&timeframe=1h", { $0.symbol == "EURUSD" && $0.direction == -1 && $0.timeframe == "1h" }),
                ("symbol=USDJPY", { _ in false }),
            ]
            for (query, matches) in cases {
                let response = try await app.json(.GET, "/v1/signals?\(query.replacingOccurrences(of: "+", with: "%2B"))", token: token)
                #expect(response.status == 200, "\(query) → \(response.body)")
                let ids = try response.decode(SignalPage.self).signals.map(\.id)
                #expect(ids == newestFirst(rows.filter(matches)), "\(query)")
            }
        }
    }

    @Test("pages of every size from 1 to n+1 list every signal exactly once, in order; filters hold across pages")
    func pagination() async throws {
        try await TestApp.run(configure: { $0.adminToken = "op" }) { app in
            let (token, session, email) = try await app.signup()
            try await app.changePlan(email, to: "team")  // the free plan's 60 requests a minute are too few for this walk
            let rows = Self.sampleRows()
            try await app.insertSignals(rows, tenant: session.tenantID)
            for size in 1...(rows.count + 1) {
                let ids = try await app.allPages("/v1/signals", token: token, limit: size, of: Components.Schemas.SignalPage.self)
                #expect(ids == newestFirst(rows), "page size \(size)")
            }
            for size in [1, 2, 5] {
                let ids = try await app.allPages("/v1/signals?direction=long&outcome=open", token: token, limit: size, of: Components.Schemas.SignalPage.self)
                #expect(ids == newestFirst(rows.filter { $0.direction == 1 && $0.outcome == nil }), "page size \(size)")
            }
            let first = try await app.json(.GET, "/v1/signals?limit=3", token: token).decode(SignalPage.self)
            #expect(first.hasMore == true)
            let cursor = try #require(first.nextCursor)
            #expect(try await app.json(.GET, "/v1/signals?limit=3&cursor=\(cursor)", token: token).status == 200)
        }
    }

    @Test("a tampered, foreign or malformed cursor is 400 invalid_cursor; bad query values are 400 naming the parameter")
    func badQueries() async throws {
        try await TestApp.run { app in
            let (token, session, _) = try await app.signup()
            try await app.insertSignals(Self.sampleRows(), tenant: session.tenantID)
            let cursor = try #require(try await app.json(.GET, "/v1/signals?limit=2", token: token).decode(SignalPage.self).nextCursor)
            var tampered = Array(cursor)
            for i in [0, tampered.count / 2, tampered.count - 1] {
                var copy = tampered
                copy[i] = copy[i] == "A" ? "B" : "A"
                let response = try await app.json(.GET, "/v1/signals?limit=2&cursor=\(String(copy))", token: token)
                #expect(response.status == 400 && response.problemCode == "invalid_cursor", "\(response.body)")
            }
            tampered.removeLast()
            for bad in [String(tampered), "abc", "", String(repeating: "A", count: 300)] {
                let response = try await app.json(.GET, "/v1/signals?limit=2&cursor=\(bad)", token: token)
                #expect(response.status == 400 && response.problemCode == "invalid_cursor", "\(bad) → \(response.body)")
            }
            // A cursor belongs to its filters (the page size may change).
            for other in ["limit=2&symbol=EURUSD", "limit=2&direction=long", "limit=2&min_confidence=0"] {
                let response = try await app.json(.GET, "/v1/signals?\(other)&cursor=\(cursor)", token: token)
                #expect(response.status == 400 && response.problemCode == "invalid_cursor", "\(other)")
            }
            let resized = try await app.json(.GET, "/v1/signals?limit=5&cursor=\(cursor)", token: token)
            #expect(try resized.status == 200 && resized.decode(SignalPage.self).signals.count == 5)
            // Nor does a signals cursor work on the journal.
            let journal = try await app.json(.GET, "/v1/journal/trades?limit=2&cursor=\(cursor)", token: token)
            #expect(journal.status == 400 && journal.problemCode == "invalid_cursor")

            let cases: [(String, String)] = [
                ("limit=0", "limit"), ("limit=501", "limit"), ("limit=x", "limit"), ("min_confidence=101", "min_confidence"),
                ("min_confidence=abc", "min_confidence"), ("since=yesterday", "since"), ("until=2025-13-01T00:00:00Z", "until"),
                ("since=2025-02-30T00:00:00Z", "since"), ("direction=up", "direction"), ("timeframe=2h", "timeframe"),
                ("outcome=won", "outcome"), ("symbol=%00", "symbol"), ("symbol=AB", "symbol"),
            ]
            for (query, field) in cases {
                let response = try await app.json(.GET, "/v1/signals?\(query)", token: token)
                #expect(response.status == 400, "\(query) → \(response.status) \(response.body)")
                #expect(response.header("content-type") == "application/problem+json")
                #expect(response.body.contains(field), "\(query) → \(response.body)")
            }
        }
    }

    @Test("the detail carries votes, the zone (RFC 3339 times), biases, the setup, the outcome and the annotation")
    func detail() async throws {
        try await TestApp.run { app in
            let (token, session, _) = try await app.signup()
            var row = SignalRow(candleTime: SignalRow.time(ago: 86400))
            row.setupType = "order_block"
            (row.outcome, row.outcomeR, row.exitPrice) = ("target", 3.0, 1.0910)
            var open = SignalRow(candleTime: SignalRow.time(ago: 3600))
            open.killzone = nil
            open.regime = nil
            try await app.insertSignals([row, open], tenant: session.tenantID)

            let response = try await app.json(.GET, "/v1/signals/\(row.id.uuidString.lowercased())", token: token)
            #expect(response.status == 200, "\(response.body)")
            let detail = try response.decode(SignalDetail.self)
            let body = detail.value1
            #expect(body.id == row.id.uuidString.lowercased())
            #expect(body.symbol == "EURUSD" && body.timeframe == "15m")
            #expect(body.direction == .long && body.setupType == .orderBlock)
            // Rounded as a person reads them: confidence to 0.1, confluence and R to 0.01, prices to the tick.
            #expect(body.confidence == 57.1 && body.level == .medium)
            // Times on the wire: RFC 3339 UTC with milliseconds.
            #expect(try response.member("/candle_time") as? String == iso(row.candleTime).replacingOccurrences(of: "Z", with: ".000Z"))
            #expect(try response.member("/close_time") as? String == iso(row.closeTime).replacingOccurrences(of: "Z", with: ".000Z"))
            #expect(body.entry == 1.0850 && body.stop == 1.0830)
            #expect(body.targets == [1.0910, 1.0950])
            #expect(abs(body.rewardRisk - 3.0) < 1e-9)
            #expect(body.regime == "trending_up" && body.killzone == "London open")
            #expect(body.confluence == 0.07)
            let outcome = try #require(body.outcome)
            #expect(outcome.kind == .target && outcome.r == 3.0 && outcome.exitPrice == 1.0910)
            #expect(try response.member("/outcome/time") as? String == iso(row.outcomeTime).replacingOccurrences(of: "Z", with: ".000Z"))
            #expect(try response.member("/annotation") == nil)
            let votes = detail.value2.votes
            #expect(votes.map(\.member) == ["smc", "technical", "learned", "external"])
            #expect(votes[0].vote == 0.33 && votes[2].abstained == true)
            #expect(votes[3].reason == "no recent external alert")
            let zone = try #require(detail.value2.zone)
            #expect(zone.kind == .orderBlock && zone.direction == .long)
            #expect(zone.top == row.zoneTop && zone.bottom == row.zoneBottom)
            #expect(try response.member("/zone/time") as? String == iso(row.zoneTime).replacingOccurrences(of: "Z", with: ".000Z"))
            #expect(try response.member("/zone/formed_time") as? String == iso(row.zoneFormedTime).replacingOccurrences(of: "Z", with: ".000Z"))
            #expect(zone.formedIndex == 337)
            let biases = detail.value2.biases
            #expect(biases.map(\.timeframe) == ["15m", "1h", "4h"])
            #expect(biases[2].score == -80 && biases[2].level == .high)

            // Undecided, outside every killzone, no regime yet: those members are absent; the list has no detail members.
            let openResponse = try await app.json(.GET, "/v1/signals/\(open.id.uuidString.lowercased())", token: token)
            _ = try openResponse.decode(SignalDetail.self)
            #expect(try openResponse.member("/outcome") == nil && openResponse.member("/killzone") == nil && openResponse.member("/regime") == nil)
            let listResponse = try await app.json(.GET, "/v1/signals", token: token)
            let listed = try listResponse.decode(SignalPage.self).signals
            #expect(try listed.count == 2 && listed.indices.allSatisfy { i in
                try ["votes", "zone", "biases"].allSatisfy { try listResponse.member("/signals/\(i)/\($0)") == nil }
            })
        }
    }

    @Test("a real engine signal from the golden fixture reads back whole")
    func engineSignal() async throws {
        try await TestApp.run { app in
            let (token, session, _) = try await app.signup()
            let fixture = TestDatabase.repositoryRoot.appendingPathComponent("Tests/SMCEngineTests/Fixtures/signals-eurusd-15m.jsonl")
            let line = try #require(try String(contentsOf: fixture, encoding: .utf8).split(separator: "\n").first)
            var signal = try #require((try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["signal"] as? [String: Any])
            // Move it into the plan's history window, keeping its shape.
            func int(_ value: Any?) -> Int64 { (value as? NSNumber)?.int64Value ?? 0 }
            let shift = SignalRow.time(ago: 86400) - int(signal["candle_time"])
            signal["candle_time"] = int(signal["candle_time"]) + shift
            signal["close_time"] = int(signal["close_time"]) + shift
            var setup = signal["setup"] as! [String: Any]
            var zone = setup["zone"] as! [String: Any]
            zone["time"] = int(zone["time"]) + shift
            zone["formed_time"] = int(zone["formed_time"]) + shift
            setup["zone"] = zone
            signal["setup"] = setup
            var row = SignalRow(candleTime: int(signal["candle_time"]))
            row.entry = setup["entry"] as! Double
            row.stop = setup["stop"] as! Double
            row.targets = setup["targets"] as! [Double]
            row.detailJSON = String(decoding: try JSONSerialization.data(withJSONObject: signal, options: [.sortedKeys]), as: UTF8.self)
            try await app.insertSignals([row], tenant: session.tenantID)

            let response = try await app.json(.GET, "/v1/signals/\(row.id.uuidString.lowercased())", token: token)
            let body = try response.decode(SignalDetail.self).value2
            let votes = body.votes
            #expect(votes.count == 4 && votes.first?.member == "smc")
            #expect(votes.first?.reason.hasPrefix("fair_value_gap retest") == true)
            let readZone = try #require(body.zone)
            #expect(readZone.kind == .fairValueGap && readZone.top == 0.97208)
            #expect(readZone.formedIndex == 337)
            #expect(try response.member("/zone/time") as? String == iso(int(zone["time"])).replacingOccurrences(of: "Z", with: ".000Z"))
            #expect(body.biases.map(\.timeframe) == ["15m", "1h", "4h", "1d"])
        }
    }

    @Test("tenant B gets 404 on A's signals, cannot annotate them, and does not see them listed")
    func isolation() async throws {
        try await TestApp.run { app in
            let (tokenA, sessionA, _) = try await app.signup()
            let (tokenB, sessionB, _) = try await app.signup()
            let rowA = SignalRow(candleTime: SignalRow.time(ago: 7200))
            let rowB = SignalRow(symbol: "GBPUSD", candleTime: SignalRow.time(ago: 3600))
            try await app.insertSignals([rowA], tenant: sessionA.tenantID)
            try await app.insertSignals([rowB], tenant: sessionB.tenantID)
            let a = rowA.id.uuidString.lowercased()

            #expect(try await app.json(.GET, "/v1/signals/\(a)", token: tokenA).status == 200)
            let read = try await app.json(.GET, "/v1/signals/\(a)", token: tokenB)
            #expect(read.status == 404 && read.problemCode == "not_found")
            let annotate = try await app.json(.POST, "/v1/signals/\(a)/annotations", token: tokenB, ["note": "mine now"])
            #expect(annotate.status == 404 && annotate.problemCode == "not_found")
            let listB = try await app.json(.GET, "/v1/signals", token: tokenB).decode(SignalPage.self).signals
            #expect(listB.map(\.id) == [rowB.id.uuidString.lowercased()])
            for id in [UUID().uuidString, "not-a-uuid"] {
                #expect(try await app.json(.GET, "/v1/signals/\(id)", token: tokenA).status == 404)
            }
            #expect(try await app.sqlInt("SELECT count(*)::int FROM signal_annotations") == 0)
            #expect(try await app.json(.GET, "/v1/signals").status == 401)
        }
    }

    @Test("only signals within the plan's history_days are visible; an upgrade shows more")
    func historyHorizon() async throws {
        try await TestApp.run(configure: { $0.adminToken = "op" }) { app in
            let (token, session, email) = try await app.signup()
            let days: [Double] = [1, 29, 31, 100, 400]
            let rows = days.map { SignalRow(candleTime: SignalRow.time(ago: $0 * 86400)) }
            try await app.insertSignals(rows, tenant: session.tenantID)

            func visible() async throws -> [String] {
                try await app.json(.GET, "/v1/signals", token: token).decode(SignalPage.self).signals.map(\.id)
            }
            #expect(try await visible() == newestFirst(Array(rows[0..<2])))  // free: 30 days
            let old = rows[2].id.uuidString.lowercased()
            #expect(try await app.json(.GET, "/v1/signals/\(old)", token: token).status == 404)
            #expect(try await app.json(.POST, "/v1/signals/\(old)/annotations", token: token, ["taken": true]).status == 404)
            let since = try await app.json(.GET, "/v1/signals?since=\(iso(rows[4].candleTime))", token: token).decode(SignalPage.self)
            #expect(since.signals.count == 2)

            try await app.changePlan(email, to: "pro")
            #expect(try await visible() == newestFirst(Array(rows[0..<4])))  // pro: 365 days
            #expect(try await app.json(.GET, "/v1/signals/\(old)", token: token).status == 200)
        }
    }

    @Test("annotations upsert: fields sent replace, fields left out stay, an empty note removes it; bad input changes nothing")
    func annotations() async throws {
        try await TestApp.run { app in
            let (token, session, _) = try await app.signup()
            let row = SignalRow(candleTime: SignalRow.time(ago: 3600))
            try await app.insertSignals([row], tenant: session.tenantID)
            let id = row.id.uuidString.lowercased()
            let path = "/v1/signals/\(id)/annotations"

            let first = try await app.json(.POST, path, token: token, ["note": "clean retest", "tags": [" A+ ", "london"]])
            #expect(first.status == 200, "\(first.body)")
            let annotated = try first.decode(Components.Schemas.SignalAnnotation.self)
            #expect(annotated.note == "clean retest")
            #expect(annotated.tags == ["A+", "london"] && annotated.taken == false)
            let taken = try await app.json(.POST, path, token: token, ["taken": true]).decode(Components.Schemas.SignalAnnotation.self)
            #expect(taken.note == "clean retest" && taken.tags == ["A+", "london"] && taken.taken == true)

            let detailResponse = try await app.json(.GET, "/v1/signals/\(id)", token: token)
            let annotation = try #require(try detailResponse.decode(SignalDetail.self).value1.annotation)
            #expect(annotation.note == "clean retest" && annotation.taken == true)
            #expect(try detailResponse.member("/annotation/updated_at") is String)
            let listed = try await app.json(.GET, "/v1/signals", token: token).decode(SignalPage.self).signals
            #expect(listed.first?.annotation?.tags == ["A+", "london"])

            let clearedResponse = try await app.json(.POST, path, token: token, ["note": "", "tags": []])
            let cleared = try clearedResponse.decode(Components.Schemas.SignalAnnotation.self)
            #expect(try clearedResponse.member("/note") == nil && cleared.tags == [] && cleared.taken == true)

            let before = try await app.json(.GET, "/v1/signals/\(id)", token: token).decode(SignalDetail.self).value1.annotation
            let bad: [[String: Any]] = [
                ["tags": (0..<21).map { "t\($0)" }], ["tags": [String(repeating: "x", count: 41)]], ["tags": ["  "]],
                ["tags": ["a", "a"]], ["tags": ["bell\u{7}"]], ["note": String(repeating: "n", count: 10_001)], ["note": "nul\u{0}"],
                ["taken": "yes"], ["tags": "a"], ["note": 5], ["colour": "red"], ["tags": [1]],
            ]
            for body in bad {
                let response = try await app.json(.POST, path, token: token, body)
                #expect((400...499).contains(response.status), "\(body) → \(response.status) \(response.body)")
                #expect(response.header("content-type") == "application/problem+json")
            }
            let afterResponse = try await app.json(.GET, "/v1/signals/\(id)", token: token)
            let after = try afterResponse.decode(SignalDetail.self).value1.annotation
            #expect(after?.updatedAt == before?.updatedAt)
            #expect(after?.tags == [] && after?.taken == true)
            // Each annotation write is a journal change for sync.
            #expect(try await app.sqlInt("SELECT version::int FROM sync_counters WHERE stream = 'journal'") == 3)
            #expect(try await app.sqlInt("SELECT sync_version::int FROM signal_annotations") == 3)
        }
    }

    @Test("a machine key with signals_read lists and reads signals; other keys and writes are refused")
    func apiKeyReads() async throws {
        try await TestApp.run(configure: { $0.adminToken = "op" }) { app in
            let (token, session, email) = try await app.signup()
            try await app.changePlan(email, to: "pro")
            let row = SignalRow(candleTime: SignalRow.time(ago: 3600))
            try await app.insertSignals([row], tenant: session.tenantID)
            let reader = try await app.apiKey(token: token, scopes: ["signals_read"], name: "dashboard")
            let hook = try await app.apiKey(token: token, scopes: ["tradingview_hook"], name: "tv")

            let list = try await app.json(.GET, "/v1/signals", token: reader)
            #expect(list.status == 200)
            #expect(try list.decode(SignalPage.self).signals.count == 1)
            #expect(try await app.json(.GET, "/v1/signals/\(row.id.uuidString.lowercased())", token: reader).status == 200)
            let wrongScope = try await app.json(.GET, "/v1/signals", token: hook)
            #expect(wrongScope.status == 403 && wrongScope.problemCode == "insufficient_scope")
            #expect(try await app.json(.POST, "/v1/signals/\(row.id.uuidString.lowercased())/annotations", token: reader, ["taken": true]).status == 401)
            #expect(try await app.json(.GET, "/v1/journal/trades", token: reader).status == 401)
            #expect(try await app.json(.GET, "/v1/signals", token: "smck_" + String(repeating: "A", count: 64)).status == 401)
        }
    }
}
