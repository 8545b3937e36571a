import Foundation
import NIOCore
import PostgresNIO
import SMCAPI
import SMCTestSupport
import Testing

@testable import SMCServer

@Suite("Plans, subscriptions, operator plan changes, rate limits")
struct PlansTests {
    @Test("GET /v1/plans lists free, pro and team with every limit, cheapest first")
    func plans() async throws {
        try await TestApp.run { app in
            let response = try await app.json(.GET, "/v1/plans")
            #expect(response.status == 200)
            let plans = try response.decode(Components.Schemas.PlanList.self).plans
            #expect(plans.map(\.id) == ["free", "pro", "team"])
            // Every limit is a required member of PlanLimits, so the decode above checks each is there; named here too.
            for key in ["symbols", "timeframes_per_symbol", "webhooks", "telegram", "alerts_per_day", "history_days", "devices",
                "api_requests_per_minute", "api_keys"]
            {
                #expect(try response.member("/plans/0/limits/\(key)") != nil, "\(key)")
            }
            #expect(plans[0].limits.telegram == false)
        }
    }

    @Test("the admin API upgrades and downgrades; a downgrade signs out devices over the limit and says so")
    func adminPlanChange() async throws {
        try await TestApp.run(configure: { $0.adminToken = "operator-secret" }) { app in
            let (first, _, email) = try await app.signup()
            let admin = [("authorization", "Bearer operator-secret")]
            let up = try await app.json(.POST, "/v1/admin/plan-changes", ["email": email, "plan": "pro"], headers: admin)
            #expect(up.status == 200)
            let upgrade = try up.decode(Components.Schemas.PlanChange.self)
            #expect(upgrade.previousPlan == "free")
            #expect(upgrade.applied.isEmpty)
            var tokens = [first]
            for i in 0..<4 {
                let login = try await app.json(
                    .POST, "/v1/auth/login", ["email": email, "password": "correct horse battery", "device_name": "d\(i)"])
                #expect(login.status == 201)
                tokens.append(try login.decode(Components.Schemas.Session.self).token)
            }
            let sub = try await app.json(.GET, "/v1/subscription", token: tokens[4])
            let subscription = try sub.decode(Components.Schemas.Subscription.self)
            #expect(subscription.plan.id == "pro")
            #expect(subscription.usage.additionalProperties["devices"] == 5)

            // Use the newest device so that it is the most recently seen.
            try await Task.sleep(for: .milliseconds(50))
            let down = try await app.json(.POST, "/v1/admin/plan-changes", ["email": email, "plan": "free"], headers: admin)
            #expect(down.status == 200)
            let applied = try down.decode(Components.Schemas.PlanChange.self).applied
            #expect(applied.contains { $0.contains("signed out 3 device(s) over the limit of 2") }, "\(applied)")
            let alive = try await withThrowingTaskGroup(of: Int.self) { group in
                for token in tokens { group.addTask { try await app.json(.GET, "/v1/me", token: token).status } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(alive.filter { $0 == 200 }.count == 2)
            #expect(alive.filter { $0 == 401 }.count == 3)
        }
    }

    @Test("the admin API is off without SMC_ADMIN_TOKEN, refuses a wrong token, and validates the plan")
    func adminGuards() async throws {
        try await TestApp.run { app in
            let off = try await app.json(.POST, "/v1/admin/plan-changes", ["email": "x@example.com", "plan": "pro"], headers: [("authorization", "Bearer x")])
            #expect(off.status == 404)
        }
        try await TestApp.run(configure: { $0.adminToken = "operator-secret" }) { app in
            let (_, _, email) = try await app.signup()
            let wrong = try await app.json(.POST, "/v1/admin/plan-changes", ["email": email, "plan": "pro"], headers: [("authorization", "Bearer guess")])
            #expect(wrong.status == 401)
            let userToken = try await app.json(.POST, "/v1/admin/plan-changes", ["email": email, "plan": "pro"])
            #expect(userToken.status == 401)
            let admin = [("authorization", "Bearer operator-secret")]
            let unknownPlan = try await app.json(.POST, "/v1/admin/plan-changes", ["email": email, "plan": "platinum"], headers: admin)
            #expect(unknownPlan.status == 422 && unknownPlan.problemCode == "validation_failed")
            let unknownEmail = try await app.json(.POST, "/v1/admin/plan-changes", ["email": "nobody@example.com", "plan": "pro"], headers: admin)
            #expect(unknownEmail.status == 404)
        }
    }

    @Test("the plan's API request budget answers 429 rate_limited with Retry-After once spent")
    func rateLimit() async throws {
        try await TestApp.run { app in
            let (token, _, _) = try await app.signup()
            // Free: 60 a minute. Spend them (a window boundary mid-way can only make more succeed, and on a loaded machine
            // 61 requests may straddle more than one, so go on for a few windows' worth; a limiter that never limits fails).
            var limited: TestResponse?
            for _ in 0..<5 where limited == nil {
                for _ in 0..<61 {
                    let response = try await app.json(.GET, "/v1/me", token: token)
                    if response.status == 429 {
                        limited = response
                        break
                    }
                    #expect(response.status == 200)
                }
            }
            let response = try #require(limited)
            #expect(response.problemCode == "rate_limited")
            let retry = try #require(Int(response.header("retry-after") ?? ""))
            #expect((1...60).contains(retry))
            #expect(try response.json()["limit_value"] as? Int == 60)
        }
    }

    @Test("rate limiter: counts per tenant and per minute window")
    func rateLimiterUnit() throws {
        let limiter = RateLimiter()
        let a = UUID(), b = UUID()
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)  // a minute boundary
        for _ in 0..<3 { try limiter.admit(tenant: a, limit: 3, now: t0) }
        #expect(throws: Problem.self) { try limiter.admit(tenant: a, limit: 3, now: t0.addingTimeInterval(59)) }
        try limiter.admit(tenant: b, limit: 3, now: t0)
        try limiter.admit(tenant: a, limit: 3, now: t0.addingTimeInterval(60))
    }
}

@Suite("smc-server admin commands", .serialized)
struct AdminCommandTests {
    @Test("admin set-plan changes the plan and reports it; admin create-feeder-key prints a key stored only as a hash")
    func commands() async throws {
        let settings = try await TestDatabase.makeMigrated()
        let url = TestDatabase.url(for: settings)
        let email = try await TestApp.run(database: settings) { app in try await app.signup().email }

        let setPlan = try ServerProcess(["admin", "set-plan", email, "team"], environment: ["DATABASE_URL": url, "SMC_LOG_LEVEL": "error"])
        #expect(await setPlan.exitStatus(within: .seconds(30)) == 0, "\(setPlan.log)")
        #expect(setPlan.log.contains("\(email): free → team"))
        let unknown = try ServerProcess(["admin", "set-plan", "nobody@example.com", "team"], environment: ["DATABASE_URL": url, "SMC_LOG_LEVEL": "error"])
        #expect(await unknown.exitStatus(within: .seconds(30)) == 2)
        #expect(unknown.log.contains("no account"))

        let create = try ServerProcess(["admin", "create-feeder-key", "binance-feeder"], environment: ["DATABASE_URL": url, "SMC_LOG_LEVEL": "error"])
        #expect(await create.exitStatus(within: .seconds(30)) == 0, "\(create.log)")
        let key = try #require(create.log.split(separator: "\n").first { $0.hasPrefix("smcf_") }.map(String.init))
        try await PostgresClient.withRunning(settings, logger: TestDatabase.logger) { client in
            let plan = try await client.query(
                "SELECT t.plan_id FROM tenants t JOIN login_emails l USING (tenant_id) WHERE l.email = \(email)", logger: TestDatabase.logger
            ).collect().first?.decode(String.self)
            #expect(plan == "team")
            let stored = try await client.query("SELECT key_hash FROM feeder_keys WHERE name = 'binance-feeder'", logger: TestDatabase.logger)
                .collect().first?.decode(ByteBuffer.self)
            #expect(stored == BearerSecret(kind: .feeder, tenantID: UUID(), text: key).hashBytes)
        }
    }

    @Test("admin results on stdout, logs on stderr even at trace; feeder keys are listed (last four characters only) and revoked")
    func feederKeyLifecycle() async throws {
        let settings = try await TestDatabase.makeMigrated()
        let env = ["DATABASE_URL": TestDatabase.url(for: settings), "SMC_LOG_LEVEL": "trace"]
        let create = try await Executables.run("smc-server", ["admin", "create-feeder-key", "backfill"], environment: env)
        #expect(create.status == 0, "\(create.stderr)")
        let out = create.stdout.split(separator: "\n").map(String.init)
        #expect(out.count == 2 && out[0].hasPrefix("smcf_"), "stdout is the key and one line about it: \(create.stdout.prefix(500))")
        let key = out.first ?? ""
        #expect(!create.stderr.isEmpty, "trace logs go to stderr")
        #expect(!create.stderr.contains(key), "the key is not in the logs")

        let list = try await Executables.run("smc-server", ["admin", "list-feeder-keys"], environment: env)
        #expect(list.status == 0)
        #expect(list.stdout.contains("backfill") && list.stdout.contains("smcf_…" + key.suffix(4)) && list.stdout.contains("in use"), "\(list.stdout)")
        #expect(!list.stdout.contains(key))

        let candle = #"{"candles": [{"symbol": "EURUSD", "timeframe": "1h", "open_time": "2025-01-02T03:00:00Z", "open": 1.1, "high": 1.2, "low": 1.0, "close": 1.15, "volume": 1}]}"#
        try await TestApp.run(database: settings) { app in
            let before = try await app.request(
                .POST, "/v1/market/candles", headers: [("authorization", "Bearer \(key)"), ("content-type", "application/json")], body: candle)
            #expect(before.status == 200, "\(before.body)")
            let revoke = try await Executables.run("smc-server", ["admin", "revoke-feeder-key", "backfill"], environment: env)
            #expect(revoke.status == 0 && revoke.stdout.contains("revoked feeder key \"backfill\""), "\(revoke.stdout) \(revoke.stderr.suffix(300))")
            let after = try await app.request(
                .POST, "/v1/market/candles", headers: [("authorization", "Bearer \(key)"), ("content-type", "application/json")], body: candle)
            #expect(after.status == 401, "a revoked key is refused: \(after.status)")
        }
        let again = try await Executables.run("smc-server", ["admin", "create-feeder-key", "backfill"], environment: env)
        #expect(again.status == 0, "a revoked key's name can be issued again: \(again.stderr.suffix(300))")
        let unknown = try await Executables.run("smc-server", ["admin", "revoke-feeder-key", "no-such-key"], environment: env)
        #expect(unknown.status == 2 && unknown.stderr.contains("no feeder key"))
        let listed = try await Executables.run("smc-server", ["admin", "list-feeder-keys"], environment: env)
        #expect(listed.stdout.contains("revoked 20") && listed.stdout.contains("in use"), "\(listed.stdout)")
    }
}
