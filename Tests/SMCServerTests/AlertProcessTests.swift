import Foundation
import PostgresNIO
import SMCTestSupport
import Testing

@testable import SMCServer

/// Alert delivery in real `smc-server` processes.
@Suite("Alerts: processes, crashes", .serialized)
struct AlertProcessTests {
    static func start(_ settings: DatabaseSettings) async throws -> (ServerProcess, ServerAt) {
        try await ServerProcess.serve(settings, environment: [
            "SMC_PIPELINE_WORKERS": "0", "SMC_ALERT_WORKERS": "1", "SMC_ALERT_POLL_MS": "50", "SMC_ALLOW_PRIVATE_TARGETS": "true",
            "SMC_WEBHOOK_TIMEOUT_SECONDS": "5", "SMC_ALERT_CONCURRENCY": "8",
        ])
    }

    @Test("kill -9 with 1,000 deliveries pending: after a restart every one arrives, none lost, repeats only with their original webhook-id")
    func killNineLosesNothing() async throws {
        let settings = try await TestDatabase.makeMigrated()
        // A receiver that takes 20 ms per request, so that deliveries are in flight when the server dies.
        let receiver = Receiver { _, _ in
            try? await Task.sleep(for: .milliseconds(20))
            return StubResponse(status: 200)
        }
        try await receiver.run { hookBase in
            var (server, base) = try await Self.start(settings)
            defer { server.signal(SIGKILL) }
            let account = try await base.account(plan: "pro")
            let (token, tenant) = (account.token, account.tenant)
            let created = try await base.json(.POST, "/v1/alerts/webhooks", token: token, ["url": "\(hookBase)/k", "event_types": ["alert.test"]])
            #expect(created.status == 201, "\(created.body)")

            _ = try await TestDatabase.query(settings, """
                INSERT INTO alert_outbox (tenant_id, event_id, event_type, created_at)
                SELECT \(tenant), gen_random_uuid(), 'alert.test', now() + g * interval '1 microsecond' FROM generate_series(1, 1000) g
                """)
            try await Poll.until("the first hundred deliveries") { receiver.requests.count >= 100 }
            server.signal(SIGKILL)
            _ = await server.exitStatus(within: .seconds(10))
            let pending = try await TestDatabase.scalar(settings, """
                SELECT (SELECT count(*)::int FROM alert_outbox) + (SELECT count(*)::int FROM alert_deliveries WHERE status <> 'delivered')
                """)
            #expect(pending >= 500, "only \(pending) left to deliver at the kill")

            (server, base) = try await Self.start(settings)
            try await Poll.until("all 1,000 delivered", timeout: .seconds(180)) {
                try await TestDatabase.scalar(settings, "SELECT count(*)::int FROM alert_deliveries WHERE status = 'delivered'") == 1000
            }
            try await Task.sleep(for: .seconds(1))
            let ids = try await TestDatabase.query(settings, "SELECT delivery_id, payload FROM alert_deliveries")
                .map { try $0.decode((UUID, String).self) }
            #expect(ids.count == 1000)
            let expected = Dictionary(uniqueKeysWithValues: ids.map { (StandardWebhooks.messageID($0.0), $0.1) })
            let got = receiver.requests
            let received = Set(got.compactMap { $0.header("webhook-id") })
            #expect(received == Set(expected.keys), "lost: \(Set(expected.keys).subtracting(received).count)")
            // Repeats (sent before the kill, not yet recorded) carry their original id and body.
            #expect(got.allSatisfy { expected[$0.header("webhook-id") ?? ""] == $0.body })
            let repeats = got.count - received.count
            // At least once: the requests in flight at the kill come again, and on a starved machine a lease (2 × timeout
            // + 10 s) may run out before its attempt is recorded; never more than a few percent.
            #expect(repeats <= 50, "\(repeats) repeats")
            #expect(try await TestDatabase.scalar(settings, "SELECT count(*)::int FROM alert_deliveries WHERE status = 'dead'") == 0)
            server.signal(SIGTERM)
            #expect(await server.exitStatus(within: .seconds(30)) == 0)
        }
    }
}
