import Foundation
import Logging
import NIOCore
import SMCAPI
import SMCTestSupport
import Synchronization
import Testing

@testable import SMCServer

/// No credential reaches a log line (at trace level, the most talkative) or a response other than the one that issues
/// it: every kind we handle, through success and failure paths. Later credentials (mail, billing) join this test.
@Suite("Secrets never reach logs or other responses", .serialized)
struct SecretsInLogsTests {
    @Test("password, device token, API key in a hook path, feeder key, admin token, webhook secret, Telegram bot token, database password")
    func noSecretAnywhere() async throws {
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("smc-secrets-\(UUID().uuidString).log").path
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let fd = open(logPath, O_WRONLY | O_APPEND)
        #expect(fd >= 0)
        defer { close(fd); try? FileManager.default.removeItem(atPath: logPath) }
        let output = LogOutput(fd: fd)
        let logger = {
            var logger = Logger(label: "smc") { label in LoggingSetup.handler(label: label, format: .json, level: .trace, output: output) }
            logger.logLevel = .trace
            return logger
        }()

        let adminToken = "operator-\(UUID().uuidString)-token"
        let botToken = "7\(Int.random(in: 100_000_000...999_999_999)):AA\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))"
        let databasePassword = "db-\(UUID().uuidString.prefix(12))-pw"
        let password = "correct horse \(UUID().uuidString.prefix(8)) battery"
        let newPassword = "another horse \(UUID().uuidString.prefix(8)) staple"

        // A Telegram API that knows the bot, and one answer that fails (the error path logs too).
        @Sendable func telegramAPI(_ request: StubRequest) async -> StubResponse {
            if request.path.hasSuffix("/getMe") {
                return StubResponse(body: #"{"ok":true,"result":{"id":1,"is_bot":true,"username":"smc_test_bot"}}"#)
            }
            if request.path.hasSuffix("/getUpdates") {
                try? await Task.sleep(for: .milliseconds(200))
                return StubResponse(status: 401, body: #"{"ok":false,"error_code":401,"description":"Unauthorized"}"#)
            }
            return StubResponse(body: #"{"ok":true,"result":{}}"#)
        }

        // What each response may contain: only the secret it issues.
        let responses = RecordedResponses()
        @Sendable func record(_ what: String, _ response: TestResponse, issues: String? = nil) {
            responses.list.withLock { $0.append((what, response.body, issues)) }
        }

        try await StubHTTPServer.run(handler: telegramAPI) { telegramURL in
        try await TestApp.run(
            configure: {
                $0.adminToken = adminToken
                $0.telegramBotToken = botToken
                $0.telegramAPIURL = telegramURL
                $0.allowPrivateTargets = true
                $0.alerts.workers = 1
                $0.alerts.poll = .milliseconds(50)
                $0.alerts.telegramPollTimeout = .seconds(1)
                $0.databaseURL = $0.databaseURL!.replacingOccurrences(of: "@localhost", with: ":\(databasePassword)@localhost")
            }, logger: logger
        ) { app in
            let receiver = Receiver()
            try await receiver.run { base in
                // Password and device token: sign up, wrong and right logins, a password change, bad tokens.
                let email = "secrets-\(UUID().uuidString.prefix(8).lowercased())@example.com"
                let signup = try await app.json(.POST, "/v1/auth/signup", ["email": email, "password": password])
                let token = try signup.decode(Components.Schemas.Session.self).token
                record("signup", signup, issues: token)
                record("wrong login", try await app.json(.POST, "/v1/auth/login", ["email": email, "password": password + "x", "device_name": "d"]))
                let login = try await app.json(.POST, "/v1/auth/login", ["email": email, "password": password, "device_name": "second"])
                let second = try login.decode(Components.Schemas.Session.self).token
                record("login", login, issues: second)
                record("me", try await app.json(.GET, "/v1/me", token: token))
                record("bad token", try await app.json(.GET, "/v1/me", token: token + "x"))
                record("change password", try await app.json(
                    .POST, "/v1/auth/password", token: token, ["current_password": password, "new_password": newPassword]))
                record("revoked token", try await app.json(.GET, "/v1/me", token: second))
                record("wrong current password", try await app.json(
                    .POST, "/v1/auth/password", token: token, ["current_password": password, "new_password": password + "!"]))

                // Admin token: right and wrong.
                record("plan change", try await app.json(
                    .POST, "/v1/admin/plan-changes", ["email": email, "plan": "pro"], headers: [("authorization", "Bearer \(adminToken)")]))
                record("wrong admin token", try await app.json(
                    .POST, "/v1/admin/plan-changes", ["email": email, "plan": "pro"], headers: [("authorization", "Bearer \(adminToken)x")]))

                // An API key in a hook path: accepted, a wrong key, the wrong method, an unknown query parameter.
                let created = try await app.json(.POST, "/v1/api-keys", token: token, ["name": "TradingView", "scopes": ["tradingview_hook"]])
                let apiKey = try created.decode(Components.Schemas.APIKeyCreated.self).key
                record("create key", created, issues: apiKey)
                record("hook", try await app.request(
                    .POST, "/v1/hooks/tradingview/\(apiKey)", headers: [("content-type", "text/plain")], body: "BUY EURUSD"))
                record("hook wrong key", try await app.request(
                    .POST, "/v1/hooks/tradingview/\(apiKey.dropLast(2))zz", headers: [("content-type", "text/plain")], body: "BUY EURUSD"))
                record("hook wrong method", try await app.request(.GET, "/v1/hooks/tradingview/\(apiKey)"))
                record("hook bad query", try await app.request(
                    .POST, "/v1/hooks/tradingview/\(apiKey)?key=\(apiKey)", headers: [("content-type", "text/plain")], body: "SELL EURUSD"))
                record("hook bad body", try await app.request(
                    .POST, "/v1/hooks/tradingview/\(apiKey)", headers: [("content-type", "application/json")], body: "{"))

                // Feeder key: a batch accepted, a wrong key, a bad batch.
                let feeder = try await app.feederKey()
                let candle: [String: Any] = [
                    "symbol": "EURUSD", "timeframe": "1h", "open_time": "2025-01-02T03:00:00Z", "open": 1.1, "high": 1.2, "low": 1.0,
                    "close": 1.15, "volume": 10,
                ]
                record("ingest", try await app.json(.POST, "/v1/market/candles", token: feeder, ["candles": [candle]]))
                record("ingest wrong key", try await app.json(.POST, "/v1/market/candles", token: feeder + "x", ["candles": [candle]]))
                record("ingest bad batch", try await app.json(.POST, "/v1/market/candles", token: feeder, ["candles": [["symbol": 1]]]))

                // Webhook secret: issued on create and rotate, used to sign, never shown again.
                let hook = try await app.json(
                    .POST, "/v1/alerts/webhooks", token: token, ["url": base + "/h", "event_types": ["alert.test"]])
                let createdHook = try hook.decode(Components.Schemas.WebhookCreated.self)
                let hookID = createdHook.webhook.id
                let secret = createdHook.secret
                record("create webhook", hook, issues: secret)
                record("list webhooks", try await app.json(.GET, "/v1/alerts/webhooks", token: token))
                record("test webhook", try await app.json(.POST, "/v1/alerts/webhooks/\(hookID)/test", token: token))
                try await Poll.until("the test alert delivered") { receiver.requests.count >= 1 }
                let rotated = try await app.json(.POST, "/v1/alerts/webhooks/\(hookID)/rotate-secret", token: token)
                let newSecret = try rotated.decode(Components.Schemas.SecretRotated.self).secret  // a failure names status and body
                record("rotate", rotated, issues: newSecret)
                record("deliveries", try await app.json(.GET, "/v1/alerts/deliveries", token: token))

                // Telegram bot token: a link asks getMe; the bot's polling meets a 401.
                record("telegram link", try await app.json(.POST, "/v1/alerts/telegram/link", token: token))
                try await Task.sleep(for: .seconds(2))

                // The account goes, with its password.
                record("delete refused", try await app.json(.DELETE, "/v1/me", token: token, ["password": "wrong"]))
                record("delete", try await app.json(.DELETE, "/v1/me", token: token, ["password": newPassword]))

                let secrets: [(String, String)] = [
                    ("password", password), ("new password", newPassword), ("device token", token), ("second device token", second),
                    ("API key", apiKey), ("feeder key", feeder), ("admin token", adminToken), ("webhook secret", secret),
                    ("rotated webhook secret", newSecret), ("Telegram bot token", botToken), ("database password", databasePassword),
                    // The secret part alone, as a log of a URL or a header might cut it out.
                    ("API key body", String(apiKey.dropFirst(5))), ("bot token secret", String(botToken.split(separator: ":")[1])),
                ]
                let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                let lines = log.split(separator: "\n")
                #expect(lines.count > 100, "trace logging wrote only \(lines.count) lines")
                #expect(log.contains("/v1/hooks/tradingview/smck_…"), "the hook path is logged, redacted")
                for (name, value) in secrets {
                    let leaks = lines.filter { $0.contains(value) }
                    #expect(leaks.isEmpty, "\(name) in \(leaks.count) log lines, e.g. \(leaks.first.map { String($0.prefix(400)) } ?? "")")
                    for response in responses.list.withLock({ $0 }) where response.issues != value && !(response.issues ?? "").contains(value) {
                        #expect(!response.body.contains(value), "\(name) in the response to \(response.what): \(response.body.prefix(300))")
                    }
                }
                for request in receiver.requests {
                    #expect(!request.body.contains(secret) && !request.headers.contains { $0.1.contains(secret) }, "the secret was sent")
                }
            }
        }
        }
    }

    @Test("redaction: issued keys keep their kind and last four characters; URLs lose passwords; query credentials go")
    func redactionRules() {
        let key = "smck_" + String(repeating: "A", count: 60) + "Xy3Q"
        #expect(Redaction.redact("/v1/hooks/tradingview/\(key)") == "/v1/hooks/tradingview/smck_…Xy3Q")
        #expect(Redaction.redact("secret whsec_abc+def/ghi=jklmnopqrstuvw= end") == "secret whsec_…uvw= end")
        #expect(Redaction.redact("postgres://smc:hunter2pass@db:5432/smc") == "postgres://smc:***@db:5432/smc")
        #expect(Redaction.redact("GET https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe")
            == "GET https://api.telegram.org/bot123456789:…Dsaw/getMe")
        #expect(Redaction.redact("/x?token=abc123&limit=5&password=p") == "/x?token=[redacted]&limit=5&password=[redacted]")
        #expect(Redaction.redact("Authorization: Bearer some-operator-token") == "Authorization: Bearer …oken")
        #expect(Redaction.redact("2026-12-07T14:54:10.123Z ok") == "2026-12-07T14:54:10.123Z ok")
        #expect(Redaction.redact("plain text, nothing to hide") == "plain text, nothing to hide")
        Redaction.register("a-configured-secret-value")
        #expect(Redaction.redact("x a-configured-secret-value y") == "x [redacted] y")
    }
}

final class RecordedResponses: Sendable {
    let list = Mutex<[(what: String, body: String, issues: String?)]>([])
}
