import Foundation
import PostgresNIO
import SMCAPI
import SMCTestSupport
import Testing

@testable import SMCServer

/// The alerts REST API over HTTP with a real PostgreSQL (delivery workers off unless a test turns them on).
@Suite("Alerts: REST API")
struct AlertsAPITests {
    @Test("webhook CRUD: the secret only on create and rotate, tenant isolation, validation and plan limits, problem+json")
    func webhookCRUD() async throws {
        try await TestApp.run(configure: { $0.allowPrivateTargets = true }) { app in
            // The free plan has no webhooks.
            let (freeToken, _, _) = try await app.signup()
            let free = try await app.json(.POST, "/v1/alerts/webhooks", token: freeToken, ["url": "https://93.184.216.34/h", "event_types": ["signal.created"]])
            #expect(free.status == 403 && free.problemCode == "plan_limit_exceeded")
            #expect((try free.json()["limit"] as? String) == "webhooks")

            let a = try await app.account(plan: "pro")
            let created = try await app.json(.POST, "/v1/alerts/webhooks", token: a.token,
                                              ["url": "http://127.0.0.1:9/hook", "event_types": ["signal.outcome", "signal.created"], "description": "desk"])
            #expect(created.status == 201, "\(created.body)")
            let body = try created.decode(Components.Schemas.WebhookCreated.self)
            let secret = body.secret
            #expect(secret.hasPrefix("whsec_") && (Data(base64Encoded: String(secret.dropFirst(6)))?.count ?? 0) == 32)
            let hook = body.webhook
            let id = hook.id
            #expect(hook.eventTypes == [.signal_created, .signal_outcome] && hook.enabled == true)

            let got = try await app.json(.GET, "/v1/alerts/webhooks/\(id)", token: a.token)
            #expect(try got.status == 200 && !got.body.contains("whsec_") && got.decode(Components.Schemas.WebhookEndpoint.self).description == "desk")
            let list = try await app.json(.GET, "/v1/alerts/webhooks", token: a.token)
            #expect(try list.decode(Components.Schemas.WebhookList.self).webhooks.count == 1 && !list.body.contains("whsec_"))

            // Another tenant sees nothing of it.
            let b = try await app.account(plan: "pro")
            #expect(try await app.json(.GET, "/v1/alerts/webhooks/\(id)", token: b.token).status == 404)
            #expect(try await app.json(.DELETE, "/v1/alerts/webhooks/\(id)", token: b.token).status == 404)
            #expect(try await app.json(.GET, "/v1/alerts/webhooks", token: b.token).decode(Components.Schemas.WebhookList.self).webhooks.count == 0)

            // PATCH: disable (with a reason), enable again, change the URL and event types.
            let off = try await app.json(.PATCH, "/v1/alerts/webhooks/\(id)", token: a.token, ["enabled": false])
            #expect(off.status == 200)
            let offBody = try off.decode(Components.Schemas.WebhookEndpoint.self)
            #expect(offBody.enabled == false)
            #expect(offBody.disabledReason == "disabled by its owner")
            let on = try await app.json(.PATCH, "/v1/alerts/webhooks/\(id)", token: a.token,
                                        ["enabled": true, "url": "http://127.0.0.1:10/other", "event_types": ["alert.test"]])
            let onBody = try on.decode(Components.Schemas.WebhookEndpoint.self)
            #expect(try on.status == 200 && onBody.enabled == true && on.member("/disabled_reason") == nil)
            #expect(onBody.url == "http://127.0.0.1:10/other" && onBody.eventTypes == [.alert_test])

            // Rotation: a new secret, shown once; the previous one kept for the overlap.
            let rotated = try await app.json(.POST, "/v1/alerts/webhooks/\(id)/rotate-secret", token: a.token, ["overlap_seconds": 3600])
            #expect(rotated.status == 200)
            let rotatedBody = try rotated.decode(Components.Schemas.SecretRotated.self)
            #expect(rotatedBody.secret.hasPrefix("whsec_") && rotatedBody.secret != secret)
            #expect(rotatedBody.webhook.previousSecretExpiresAt != nil)
            let rows = try await TestDatabase.query(app.database, "SELECT secret, previous_secret FROM webhook_endpoints WHERE tenant_id = \(a.tenant)")
            let (stored, previous) = try rows[0].decode((String, String?).self)
            #expect(stored == rotatedBody.secret && previous == secret)
            #expect(try await app.json(.POST, "/v1/alerts/webhooks/\(id)/rotate-secret", token: a.token, ["overlap_seconds": -1]).status == 422)

            // Bad input: 422 with the field, 400 for malformed JSON, 404 for a malformed id — never a 500.
            let badType = try await app.json(.POST, "/v1/alerts/webhooks", token: a.token, ["url": "http://127.0.0.1:9/x", "event_types": ["signal.nope"]])
            #expect(badType.status == 400 || badType.status == 422, "\(badType.body)")
            let empty = try await app.json(.POST, "/v1/alerts/webhooks", token: a.token, ["url": "http://127.0.0.1:9/x", "event_types": [String]()])
            #expect(empty.status == 422 && empty.body.contains("/event_types"))
            let notURL = try await app.json(.POST, "/v1/alerts/webhooks", token: a.token, ["url": "no url", "event_types": ["alert.test"]])
            #expect(notURL.status == 422 && notURL.problemCode == "target_not_allowed")
            let malformed = try await app.request(.POST, "/v1/alerts/webhooks", headers: [("authorization", "Bearer \(a.token)"), ("content-type", "application/json")], body: "{")
            #expect(malformed.status == 400 && malformed.header("content-type") == "application/problem+json")
            #expect(try await app.json(.GET, "/v1/alerts/webhooks/not-a-uuid", token: a.token).status == 404)
            #expect(try await app.json(.GET, "/v1/alerts/webhooks").status == 401)

            // The plan's count: pro allows 5.
            for i in 0..<4 { _ = try await AlertTest.createWebhook(app, a.token, url: "http://127.0.0.1:9/\(i)") }
            let sixth = try await app.json(.POST, "/v1/alerts/webhooks", token: a.token, ["url": "http://127.0.0.1:9/6", "event_types": ["alert.test"]])
            #expect(try sixth.status == 403 && sixth.problemCode == "plan_limit_exceeded" && (try sixth.json()["upgrade_to"] as? String) == "team")

            #expect(try await app.json(.DELETE, "/v1/alerts/webhooks/\(id)", token: a.token).status == 204)
            #expect(try await app.json(.GET, "/v1/alerts/webhooks/\(id)", token: a.token).status == 404)
        }
    }

    @Test("without the operator setting, webhooks to 127.0.0.1, 10.0.0.1, 169.254.169.254, a name resolving to loopback, or plain http are refused")
    func ssrfOnCreate() async throws {
        try await TestApp.run { app in
            let a = try await app.account(plan: "pro")
            for url in ["https://127.0.0.1/hook", "https://10.0.0.1/hook", "https://169.254.169.254/latest/meta-data/", "https://localhost/hook",
                        "https://[::1]/hook", "https://[::ffff:10.0.0.1]/hook", "https://0.0.0.0/hook"] {
                let response = try await app.json(.POST, "/v1/alerts/webhooks", token: a.token, ["url": url, "event_types": ["alert.test"]])
                #expect(response.status == 422 && response.problemCode == "target_not_allowed", "\(url): \(response.status) \(response.body)")
            }
            let http = try await app.json(.POST, "/v1/alerts/webhooks", token: a.token, ["url": "http://93.184.216.34/hook", "event_types": ["alert.test"]])
            #expect(http.status == 422 && http.body.contains("https"))
            // A public address is accepted (nothing is sent on create).
            let ok = try await app.json(.POST, "/v1/alerts/webhooks", token: a.token, ["url": "https://93.184.216.34/hook", "event_types": ["alert.test"]])
            #expect(ok.status == 201, "\(ok.body)")
            // PATCH to an inside address is refused the same way.
            let id = try ok.decode(Components.Schemas.WebhookCreated.self).webhook.id
            let patch = try await app.json(.PATCH, "/v1/alerts/webhooks/\(id)", token: a.token, ["url": "https://127.0.0.1/x"])
            #expect(patch.status == 422 && patch.problemCode == "target_not_allowed")
            #expect(try await TestDatabase.scalar(app.database, "SELECT count(*)::int FROM webhook_endpoints") == 1)
        }
    }

    @Test("deliveries: listed newest first with their attempts, filtered, paged by cursor; redeliver keeps the id; 409 while queued")
    func deliveriesAPI() async throws {
        try await TestApp.run(configure: { $0.allowPrivateTargets = true }) { app in
            let a = try await app.account(plan: "pro")
            let hook = try await AlertTest.createWebhook(app, a.token, url: "http://127.0.0.1:9/x")
            var ids: [String] = []
            for _ in 0..<5 {
                let queued = try await app.json(.POST, "/v1/alerts/webhooks/\(hook.id)/test", token: a.token)
                #expect(queued.status == 202, "\(queued.body)")
                let body = try queued.decode(Components.Schemas.Delivery.self)
                #expect(body.status == .pending && body.eventType == "alert.test")
                ids.append(body.id)
            }
            var listed: [String] = []
            var cursor: String?
            repeat {
                let page = try await app.json(.GET, "/v1/alerts/deliveries?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), token: a.token)
                #expect(page.status == 200, "\(page.body)")
                let body = try page.decode(Components.Schemas.DeliveryPage.self)
                listed += body.deliveries.map(\.id)
                cursor = body.nextCursor
            } while cursor != nil
            #expect(listed == ids.reversed())
            #expect(try await app.json(.GET, "/v1/alerts/deliveries?cursor=abc", token: a.token).problemCode == "invalid_cursor")
            #expect(try await app.json(.GET, "/v1/alerts/deliveries?limit=0", token: a.token).status == 400)
            #expect(try await app.json(.GET, "/v1/alerts/deliveries?webhook_id=nope", token: a.token).status == 400)
            let other = try await app.account(plan: "pro")
            #expect(try await app.json(.GET, "/v1/alerts/deliveries", token: other.token).decode(Components.Schemas.DeliveryPage.self).deliveries.count == 0)
            #expect(try await app.json(.POST, "/v1/alerts/deliveries/\(ids[0])/redeliver", token: other.token).status == 404)

            // Still queued: 409. Dead: queued again with the same id (so the same webhook-id).
            let pending = try await app.json(.POST, "/v1/alerts/deliveries/\(ids[0])/redeliver", token: a.token)
            #expect(pending.status == 409 && pending.problemCode == "already_pending")
            _ = try await TestDatabase.query(app.database, """
                UPDATE alert_deliveries SET status = 'dead', reason = 'no attempt succeeded', next_attempt_at = NULL, round_attempts = 8
                WHERE delivery_id = \(UUID(uuidString: ids[0])!)
                """)
            let dead = try await app.json(.GET, "/v1/alerts/deliveries?status=dead", token: a.token).decode(Components.Schemas.DeliveryPage.self)
            #expect(dead.deliveries.map(\.id) == [ids[0]])
            let again = try await app.json(.POST, "/v1/alerts/deliveries/\(ids[0])/redeliver", token: a.token)
            #expect(again.status == 202)
            let againBody = try again.decode(Components.Schemas.Delivery.self)
            #expect(againBody.status == .pending && againBody.id == ids[0])
            #expect(againBody.webhookMessageId == "msg_" + ids[0].replacingOccurrences(of: "-", with: ""))
            #expect(try await TestDatabase.scalar(app.database, "SELECT round_attempts FROM alert_deliveries WHERE delivery_id = \(UUID(uuidString: ids[0])!)") == 0)

            // Deleting the endpoint cancels what it had queued; they stay listed.
            #expect(try await app.json(.DELETE, "/v1/alerts/webhooks/\(hook.id)", token: a.token).status == 204)
            let cancelled = try await app.json(.GET, "/v1/alerts/deliveries?status=cancelled&limit=50", token: a.token)
            #expect(try cancelled.decode(Components.Schemas.DeliveryPage.self).deliveries.count == 5)
        }
    }

    @Test("Telegram over REST: 503 without a bot; the plan must include it; a one-time t.me link valid for an hour; unlink")
    func telegramREST() async throws {
        try await TestApp.run { app in
            let a = try await app.account(plan: "pro")
            let none = try await app.json(.POST, "/v1/alerts/telegram/link", token: a.token)
            #expect(none.status == 503 && none.problemCode == "telegram_not_configured")
            let status = try await app.json(.GET, "/v1/alerts/telegram", token: a.token).decode(Components.Schemas.TelegramStatus.self)
            #expect(status.configured == false && status.linked == false)
        }
        try await TestApp.run(configure: {
            $0.telegramBotToken = "123456:TEST"
            $0.alerts.telegramBotUsername = "smc_test_bot"
        }) { app in
            let (freeToken, _, _) = try await app.signup()
            let free = try await app.json(.POST, "/v1/alerts/telegram/link", token: freeToken)
            #expect(try free.status == 403 && free.problemCode == "plan_limit_exceeded" && (try free.json()["limit"] as? String) == "telegram")
            let a = try await app.account(plan: "pro")
            let link = try await app.json(.POST, "/v1/alerts/telegram/link", token: a.token)
            #expect(link.status == 201, "\(link.body)")
            let body = try link.decode(Components.Schemas.TelegramLink.self)
            let code = body.code
            #expect(body.url == "https://t.me/smc_test_bot?start=\(code)")
            #expect(code.count <= 64 && code.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
            #expect(TelegramLinkCode.tenant(code) == a.tenant)
            let expires = body.expiresAt
            #expect(abs(expires.timeIntervalSinceNow - 3600) < 120)
            #expect(try await TestDatabase.scalar(app.database, "SELECT count(*)::int FROM telegram_link_codes") == 1)
            let unlink = try await app.json(.DELETE, "/v1/alerts/telegram", token: a.token)
            #expect(unlink.status == 404 && unlink.problemCode == "not_found")
            _ = try await TestDatabase.query(app.database, "INSERT INTO telegram_links (tenant_id, user_id, chat_id) VALUES (\(a.tenant), \(a.user), 777)")
            let status = try await app.json(.GET, "/v1/alerts/telegram", token: a.token).decode(Components.Schemas.TelegramStatus.self)
            #expect(status.configured == true && status.linked == true)
            #expect(try await app.json(.DELETE, "/v1/alerts/telegram", token: a.token).status == 204)
            #expect(try await app.json(.GET, "/v1/alerts/telegram", token: a.token).decode(Components.Schemas.TelegramStatus.self).linked == false)
        }
    }
}
