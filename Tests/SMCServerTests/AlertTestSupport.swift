import Foundation
import PostgresNIO
import SMCAPI
import SMCTestSupport
import Synchronization
import Testing

@testable import SMCServer

/// A loopback webhook receiver that records what it gets and answers as told (per path).
final class Receiver: Sendable {
    private let log = Mutex<[StubRequest]>([])
    private let answer: @Sendable (StubRequest, _ seenOnPath: Int) async -> StubResponse

    init(answer: @escaping @Sendable (StubRequest, _ seenOnPath: Int) async -> StubResponse = { _, _ in StubResponse(status: 200) }) {
        self.answer = answer
    }

    var requests: [StubRequest] { log.withLock { $0 } }
    func requests(path: String) -> [StubRequest] { requests.filter { $0.path == path } }

    func handle(_ request: StubRequest) async -> StubResponse {
        let seen = log.withLock { log in
            log.append(request)
            return log.filter { $0.path == request.path }.count
        }
        return await answer(request, seen)
    }

    /// Runs a stub server with this receiver for the duration of `body`.
    func run<R: Sendable>(_ body: @Sendable (_ baseURL: String) async throws -> R) async throws -> R {
        try await StubHTTPServer.run(handler: { await self.handle($0) }, body)
    }
}

enum AlertTest {
    /// Test settings: workers on, short windows, private targets allowed.
    static func configure(_ c: inout AppConfiguration) {
        c.allowPrivateTargets = true
        c.alerts.workers = 1
        c.alerts.poll = .milliseconds(50)
        // The production timeout: a shorter one makes a starved machine's slow (in-process) receiver look like a failed
        // attempt, and the retry that follows is a duplicate that at-least-once allows but "exactly once" tests do not.
        c.alerts.webhookTimeout = .seconds(15)
        c.alerts.retrySchedule = [0, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3].map { .milliseconds(Int64($0 * 1000)) }
    }

    /// For tests that replay years-old candles to check delivery itself: every signal counts as live. (Production alerts
    /// only what is committed within `SMC_ALERT_LIVE_CANDLES` of its candle; `AlertTrustTests` checks that rule.)
    static func replayAsLive(_ c: inout AppConfiguration) {
        c.alerts.liveWindow = LiveWindow(candles: 100_000_000, minSeconds: 0)
    }

    /// The user's deliveries (newest first), up to 500.
    static func deliveries(_ app: TestApp, _ token: String, query: String = "") async throws -> [Components.Schemas.Delivery] {
        try await app.json(.GET, "/v1/alerts/deliveries?limit=500" + query, token: token).decode(Components.Schemas.DeliveryPage.self).deliveries
    }

    static func createWebhook(_ app: TestApp, _ token: String, url: String,
                              events: [String] = ["signal.created", "signal.outcome", "alert.test"]) async throws -> (id: String, secret: String)
    {
        let response = try await app.json(.POST, "/v1/alerts/webhooks", token: token, ["url": url, "event_types": events])
        guard response.status == 201 else { throw TestFailure("create webhook: \(response.status) \(response.body)") }
        let created = try response.decode(Components.Schemas.WebhookCreated.self)
        return (created.webhook.id, created.secret)
    }

    /// A live-looking order-block signal and its `signal.created` outbox event, written as the pipeline writes them;
    /// with `outcome`, also resolved at its first target with a `signal.outcome` event after it.
    @discardableResult
    static func insertSignal(_ app: TestApp, tenant: UUID, confidence: Double = 80, symbol: String = "EURUSD",
                             candle: Date = Date().addingTimeInterval(-900), outcome: Bool = false) async throws -> UUID
    {
        var row = SignalRow(symbol: symbol, setupType: "order_block", confidence: confidence, level: "HIGH",
                            candleTime: Int64(candle.timeIntervalSince1970))
        (row.entry, row.stop, row.targets, row.confluence, row.detailJSON) = (1.085, 1.083, [1.089, 1.092], 0.7, "{}")
        row.createdAt = Int64(Date().timeIntervalSince1970)
        let id = try await app.insertSignals([row], tenant: tenant, events: true)[0]
        if outcome {
            try await app.query("""
                UPDATE signals SET outcome = 'target', outcome_time = \(candle.addingTimeInterval(3600)), outcome_r = 2.0,
                    exit_price = 1.089 WHERE tenant_id = \(tenant) AND signal_id = \(id)
                """)
            try await app.query("""
                INSERT INTO alert_outbox (tenant_id, event_id, event_type, signal_id, created_at)
                VALUES (\(tenant), \(UUID()), 'signal.outcome', \(id), now() + interval '1 millisecond')
                """)
        }
        return id
    }

    /// Nothing queued: no outbox event, no delivery pending or in flight.
    static func idle(_ settings: DatabaseSettings) async throws -> Bool {
        try await TestDatabase.scalar(settings, """
            SELECT (SELECT count(*) FROM alert_outbox) + (SELECT count(*) FROM alert_deliveries WHERE status IN ('pending', 'sending'))
            """) == 0
    }

    /// Verifies received webhooks with the Python `standardwebhooks` package (an independent implementation of the
    /// specification, installed from PyPI on first use): each must verify within the tolerance window, and the same
    /// message with a tampered body, or signed six minutes in the past, must not.
    static func verifyWithPython(_ messages: [(request: StubRequest, secret: String)]) async throws -> [[String: Any]] {
        if try await Subprocess.run(["python3", "-c", "import standardwebhooks"]).status != 0 {
            let install = try await Subprocess.run(["python3", "-m", "pip", "install", "-q", "standardwebhooks"])
            guard install.status == 0 else { throw TestFailure("could not install standardwebhooks from PyPI: \(install.output)") }
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("smc-verify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = messages.map { m -> [String: Any] in
            ["body": m.request.body, "secret": m.secret,
             "headers": Dictionary(m.request.headers.map { ($0.0.lowercased(), $0.1) }, uniquingKeysWith: { a, _ in a })]
        }
        try JSONSerialization.data(withJSONObject: input).write(to: folder.appendingPathComponent("in.json"))
        try verifier.write(to: folder.appendingPathComponent("verify.py"), atomically: true, encoding: .utf8)
        let run = try await Subprocess.run(["python3", folder.appendingPathComponent("verify.py").path, folder.appendingPathComponent("in.json").path])
        guard run.status == 0, let line = run.output.split(separator: "\n").last,
              let out = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [[String: Any]]
        else { throw TestFailure("the Python verifier failed: \(run.output)") }
        return out
    }

    static let verifier = """
        import json, sys
        from datetime import datetime, timedelta, timezone
        from standardwebhooks import Webhook, WebhookVerificationError

        def check(wh, body, headers):
            try:
                return True, wh.verify(body, headers)
            except WebhookVerificationError as e:
                return False, str(e)

        results = []
        for m in json.load(open(sys.argv[1])):
            wh, body, headers = Webhook(m["secret"]), m["body"], m["headers"]
            ok, payload = check(wh, body, headers)
            r = {"id": headers.get("webhook-id"), "ok": ok, "type": payload["type"] if ok else None,
                 "error": None if ok else payload}
            r["tampered_ok"] = check(wh, body.replace("}", " }", 1), headers)[0]
            old = datetime.now(tz=timezone.utc) - timedelta(minutes=6)
            stale = dict(headers)
            stale["webhook-timestamp"] = str(int(old.timestamp()))
            stale["webhook-signature"] = wh.sign(headers["webhook-id"], old, body)
            r["stale_ok"], r["stale_error"] = check(wh, body, stale)
            r["stale_error"] = None if r["stale_ok"] else r["stale_error"]
            other = Webhook("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=")
            r["wrong_secret_ok"] = check(other, body, headers)[0]
            results.append(r)
        print(json.dumps(results))
        """
}
