import Foundation
import NIOCore
import PostgresNIO
import SMCEngine
import SMCAPI
import SMCTestSupport
import Testing

@testable import SMCServer

/// What a user must be able to trust about alerts: history is not news, a downgrade stops paid channels, and a dead
/// endpoint is named for what it is.
@Suite("Alerts: live only, plan limits, transport failures", .serialized)
struct AlertTrustTests {
    @Test("a backfill fed after subscribing is stored and synced but not alerted (suppressed as historical); a live candle's signal is")
    func backfillIsNotAlerted() async throws {
        let series = try CandleFeed.eurusd15m[0..<3000]
        try await TestApp.run(configure: { AlertTest.configure(&$0); $0.pipelineWorkers = 1 }) { app in
            let receiver = Receiver()
            try await receiver.run { base in
                let a = try await app.account(plan: "pro")
                let prefs = try await app.json(.PATCH, "/v1/settings/alerts", token: a.token, ["min_confidence": 0], headers: [("if-match", "*")])
                #expect(prefs.status == 200, "\(prefs.body)")
                try await app.watchEURUSD(token: a.token)
                _ = try await AlertTest.createWebhook(app, a.token, url: base + "/h")
                try await app.feed(series, key: try await app.feederKey())
                try await app.waitForPipeline(lastOpen: series.time.last!, streams: 1)
                try await Poll.until("fan-out") { try await AlertTest.idle(app.database) }

                let stored = try await TestDatabase.query(
                    app.database, "SELECT count(*)::int, count(outcome)::int FROM signals WHERE tenant_id = \(a.tenant)"
                ).first!.decode((Int, Int).self)
                #expect(stored.0 >= 3, "the backfill made too few signals to show anything: \(stored.0)")
                #expect(stored.1 >= 1, "no outcome among \(stored.0) signals")
                let listed = try await app.json(.GET, "/v1/signals?limit=500", token: a.token).decode(Components.Schemas.SignalPage.self).signals
                #expect(listed.count == stored.0, "stored signals are listed")

                let rows = try await TestDatabase.query(
                    app.database, "SELECT event_type, status, coalesce(reason, '') FROM alert_deliveries WHERE tenant_id = \(a.tenant)"
                ).map { try $0.decode((String, String, String).self) }
                #expect(rows.count == stored.0 + stored.1, "one delivery row per event: \(rows.count)")
                #expect(rows.allSatisfy { $0.1 == "suppressed" && $0.2 == "historical" }, "\(Set(rows.map { "\($0.1)/\($0.2)" }))")
                #expect(Set(rows.map(\.0)) == ["signal.created", "signal.outcome"])
                #expect(receiver.requests.isEmpty, "\(receiver.requests.count) webhooks for history")
                let suppressed = try await AlertTest.deliveries(app, a.token, query: "&status=suppressed")
                #expect(suppressed.count == rows.count && suppressed.allSatisfy { $0.reason == "historical" })

                // A signal on a candle that just closed is news.
                let live = try await AlertTest.insertSignal(app, tenant: a.tenant, candle: Date().addingTimeInterval(-900))
                try await Poll.until("the live signal delivered") { receiver.requests.count == 1 }
                let event = try AlertEvent.decode(receiver.requests[0].body)
                #expect(event.data.signalId == live.uuidString.lowercased())
            }
        }
    }

    @Test("the live window: 2 candles of the stream, at least SMC_ALERT_LIVE_MIN_SECONDS; outcomes judged by their deciding candle")
    func liveWindowRule() {
        let window = LiveWindow(candles: 2, minSeconds: 300)
        let close = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(window.limit(timeframeSeconds: 900) == 1800)
        #expect(window.limit(timeframeSeconds: 60) == 300, "a 1m stream still gets five minutes")
        #expect(!window.isHistorical(candleClose: close, committed: close.addingTimeInterval(1800), timeframeSeconds: 900))
        #expect(window.isHistorical(candleClose: close, committed: close.addingTimeInterval(1801), timeframeSeconds: 900))
        #expect(!window.isHistorical(candleClose: close, committed: close.addingTimeInterval(299), timeframeSeconds: 60))
        #expect(window.isHistorical(candleClose: close, committed: close.addingTimeInterval(301), timeframeSeconds: 60))
        #expect(!window.isHistorical(candleClose: close, committed: close.addingTimeInterval(-5), timeframeSeconds: 60))
    }

    @Test("an old signal's late outcome and an old signal are suppressed as historical; a fresh one on the same tenant is delivered")
    func historicalEventsSuppressed() async throws {
        try await TestApp.run(configure: AlertTest.configure) { app in
            let receiver = Receiver()
            try await receiver.run { base in
                let a = try await app.account(plan: "pro")
                _ = try await AlertTest.createWebhook(app, a.token, url: base + "/h")
                let old = Date().addingTimeInterval(-86_400 * 400)
                try await AlertTest.insertSignal(app, tenant: a.tenant, candle: old, outcome: true)
                // 20 minutes late on a 15m stream (1 candle + 5 min) is still live; an hour is not.
                let late = try await AlertTest.insertSignal(app, tenant: a.tenant, candle: Date().addingTimeInterval(-900 - 1200))
                try await AlertTest.insertSignal(app, tenant: a.tenant, candle: Date().addingTimeInterval(-900 - 3600))
                try await Poll.until("fan-out and delivery") { try await AlertTest.idle(app.database) }
                let rows = try await TestDatabase.query(
                    app.database, "SELECT event_type, status, coalesce(reason, ''), signal_id FROM alert_deliveries WHERE tenant_id = \(a.tenant)"
                ).map { try $0.decode((String, String, String, UUID?).self) }
                #expect(rows.filter { $0.1 == "suppressed" && $0.2 == "historical" }.count == 3, "\(rows)")
                #expect(rows.filter { $0.1 == "delivered" }.map(\.3) == [late], "\(rows)")
                #expect(receiver.requests.count == 1)
                let counted = try await TestDatabase.query(
                    app.database,
                    """
                    SELECT count(DISTINCT event_id)::int FROM alert_deliveries WHERE tenant_id = \(a.tenant) AND status <> 'suppressed'
                    """
                ).first!.decode(Int.self)
                #expect(counted == 1, "history does not use up the daily cap")
            }
        }
    }

    @Test("a downgrade disables the webhooks over the new limit (newest first) and Telegram, lists them, delivers nothing; an upgrade re-enables them")
    func downgradeStopsPaidChannels() async throws {
        try await TestApp.run(configure: { AlertTest.configure(&$0); $0.adminToken = "operator-secret" }) { app in
            let receiver = Receiver()
            try await receiver.run { base in
                let a = try await app.account(plan: "pro")  // pro: several webhooks and Telegram
                let admin = [("authorization", "Bearer operator-secret")]
                let first = try await AlertTest.createWebhook(app, a.token, url: base + "/first")
                try await Task.sleep(for: .milliseconds(5))
                let second = try await AlertTest.createWebhook(app, a.token, url: base + "/second")
                _ = try await TestDatabase.query(
                    app.database, "INSERT INTO telegram_links (tenant_id, user_id, chat_id) VALUES (\(a.tenant), \(a.user), 4242)")
                // Something queued for Telegram when the plan changes is cancelled, not sent later.
                _ = try await TestDatabase.query(app.database, "UPDATE plans SET max_webhooks = 1 WHERE plan_id = 'free'")

                let down = try await app.json(.POST, "/v1/admin/plan-changes", ["email": a.email, "plan": "free"], headers: admin)
                #expect(down.status == 200, "\(down.body)")
                let applied = try down.decode(Components.Schemas.PlanChange.self).applied
                #expect(applied.contains { $0.contains("disabled 1 webhook endpoint(s) over the limit of 1") && $0.contains("/second") }, "\(applied)")
                let hooks = try await app.json(.GET, "/v1/alerts/webhooks", token: a.token).decode(Components.Schemas.WebhookList.self).webhooks
                let byID = Dictionary(uniqueKeysWithValues: hooks.map { ($0.id, $0) })
                #expect(byID[first.id]?.enabled == true, "the oldest stays")
                #expect(byID[second.id]?.enabled == false)
                #expect((byID[second.id]?.disabledReason ?? "").contains("free plan"))

                let over = try await app.json(.GET, "/v1/subscription", token: a.token).decode(Components.Schemas.Subscription.self).overLimit
                let webhooks = over.first { $0.limit == "webhooks" }
                #expect(webhooks?.used == 2 && webhooks?.allowed == 1, "\(over)")
                #expect(over.contains { $0.limit == "telegram" && $0.allowed == 0 }, "\(over)")

                // Nothing reaches the disabled endpoint or the chat: not a test alert, not a signal, not a re-enable.
                let test = try await app.json(.POST, "/v1/alerts/webhooks/\(second.id)/test", token: a.token)
                #expect(try test.status == 409 && test.problemCode == "endpoint_disabled", "\(test.body)")
                let enable = try await app.json(.PATCH, "/v1/alerts/webhooks/\(second.id)", token: a.token, ["enabled": true])
                #expect(try enable.status == 403 && enable.problemCode == "plan_limit_exceeded", "\(enable.body)")
                try await AlertTest.insertSignal(app, tenant: a.tenant)
                try await Poll.until("fan-out and delivery") { try await AlertTest.idle(app.database) }
                #expect(receiver.requests(path: "/second").isEmpty)
                #expect(receiver.requests(path: "/first").count == 1)
                let telegram = try await TestDatabase.query(
                    app.database, "SELECT count(*)::int FROM alert_deliveries WHERE tenant_id = \(a.tenant) AND channel = 'telegram'"
                ).first!.decode(Int.self)
                #expect(telegram == 0, "no Telegram deliveries on a plan without Telegram")

                // The upgrade gives back what the downgrade took; an endpoint its owner disabled stays off.
                let up = try await app.json(.POST, "/v1/admin/plan-changes", ["email": a.email, "plan": "pro"], headers: admin)
                #expect(up.status == 200)
                #expect(try up.decode(Components.Schemas.PlanChange.self).applied.contains { $0.contains("enabled 1 webhook endpoint(s) again") })
                let after = try await app.json(.GET, "/v1/alerts/webhooks/\(second.id)", token: a.token)
                #expect(try after.decode(Components.Schemas.WebhookEndpoint.self).enabled == true && after.member("/disabled_reason") == nil, "\(after.body)")
                #expect(try await app.json(.GET, "/v1/subscription", token: a.token).decode(Components.Schemas.Subscription.self).overLimit.isEmpty)
                let retest = try await app.json(.POST, "/v1/alerts/webhooks/\(second.id)/test", token: a.token)
                #expect(retest.status == 202 || retest.status == 201 || retest.status == 200, "\(retest.body)")
                try await Poll.until("the test alert delivered") { receiver.requests(path: "/second").count == 1 }
            }
        }
    }

    @Test("a refused connection is recorded at once as connection_refused, not after the timeout")
    func refusedConnectionIsImmediate() async throws {
        try await TestApp.run(configure: AlertTest.configure) { app in
            let a = try await app.account(plan: "pro")
            let hook = try await AlertTest.createWebhook(app, a.token, url: "http://127.0.0.1:1/hook")
            let started = ContinuousClock.now
            let test = try await app.json(.POST, "/v1/alerts/webhooks/\(hook.id)/test", token: a.token)
            let delivery = try test.decode(Components.Schemas.Delivery.self).id
            @Sendable func firstAttempt() async throws -> Components.Schemas.DeliveryAttempt? {
                try await AlertTest.deliveries(app, a.token).first { $0.id == delivery }?.attempts.first
            }
            try await Poll.until("the first attempt recorded", timeout: .seconds(30)) { try await firstAttempt() != nil }
            let attempt = try await firstAttempt()
            let elapsed = ContinuousClock.now - started
            #expect(elapsed < .seconds(10), "took \(elapsed): the 15 s timeout was waited out")
            #expect(attempt?.outcome == .failed)
            let error: String = attempt?.error ?? ""
            #expect(error.hasPrefix("connection_refused"), "\(String(describing: attempt))")
        }
    }

    @Test("transport failures get stable codes: refused, reset, timeout")
    func transportFailureCodes() {
        #expect(TransportFailure(IOError(errnoCode: ECONNREFUSED, reason: "connect"), timeout: .seconds(15)).code == "connection_refused")
        #expect(TransportFailure(IOError(errnoCode: ECONNRESET, reason: "read"), timeout: .seconds(15)).code == "connection_reset")
        let timeout = TransportFailure(DeadlineExceeded(limit: .seconds(15)), timeout: .seconds(15))
        #expect(timeout.code == "timeout" && timeout.description == "timeout: no answer within 15 s")
    }
}
