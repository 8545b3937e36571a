import Foundation
import NIOCore
import PostgresNIO
import SMCAPI
import SMCTestSupport
import Testing

@testable import SMCServer

@Suite("HTTP: operations endpoints and problem responses")
struct HTTPTests {
    @Test("GET /health answers 200 with the version, without touching the database")
    func health() async throws {
        try await TestApp.run { app in
            let response = try await app.request(.GET, "/health")
            #expect(response.status == 200)
            let body = try response.decode(Components.Schemas.Health.self)
            #expect(body.status == .ok)
            #expect(body.version == SMCServerInfo.version)
        }
    }

    @Test("GET /ready answers 200 with the migration state when the database is reachable and current")
    func ready() async throws {
        try await TestApp.run { app in
            let response = try await app.request(.GET, "/ready")
            #expect(response.status == 200)
            let body = try response.decode(Components.Schemas.Readiness.self)
            #expect(body.status == .ready)
            #expect(body.migrations.latest == TestDatabase.latestMigration)
        }
    }

    @Test("GET /ready answers 503 database_unreachable when PostgreSQL refuses connections")
    func readyWhenDatabaseGone() async throws {
        let settings = try await TestDatabase.makeMigrated()
        try await TestApp.run(database: settings) { app in
            let admin = DatabaseSettings(
                endpoint: settings.endpoint, username: settings.username, password: nil, database: "postgres", tls: .disable)
            try await PostgresClient.withRunning(admin, logger: TestDatabase.logger, maxConnections: 1) { client in
                try await client.query(
                    PostgresQuery(unsafeSQL: "ALTER DATABASE \(settings.database) ALLOW_CONNECTIONS false"), logger: TestDatabase.logger)
                try await client.query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \(settings.database)",
                    logger: TestDatabase.logger)
            }
            let response = try await app.request(.GET, "/ready")
            #expect(response.status == 503)
            #expect(response.header("content-type") == "application/problem+json")
            #expect(try response.json()["code"] as? String == "database_unreachable")
            // Liveness does not depend on the database.
            #expect(try await app.request(.GET, "/health").status == 200)
        }
    }

    @Test("the server refuses to start with pending migrations unless told to migrate")
    func pendingMigrationsRefuseStart() async throws {
        let empty = try await TestDatabase.makeEmpty()
        await #expect {
            try await TestApp.run(database: empty) { _ in }
        } throws: { error in
            "\(error)".contains("pending") && "\(error)".contains("0001_tenancy")
        }
        // With --migrate it applies them and serves.
        let status = try await TestApp.run(database: empty, configure: { $0.migrateOnStart = true }) { app in
            try await app.request(.GET, "/ready").status
        }
        #expect(status == 200)
    }

    @Test("x-request-id is echoed when sane and minted otherwise, on success and on error")
    func requestID() async throws {
        try await TestApp.run { app in
            let echoed = try await app.request(.GET, "/health", headers: [("x-request-id", "trace-abc.123")])
            #expect(echoed.header("x-request-id") == "trace-abc.123")
            let minted = try await app.request(.GET, "/health", headers: [("x-request-id", "bad id with spaces")])
            let id = try #require(minted.header("x-request-id"))
            #expect(id != "bad id with spaces" && UUID(uuidString: id) != nil)
            let missing = try await app.request(.GET, "/nope")
            let problemID = try #require(missing.header("x-request-id"))
            #expect(try missing.json()["request_id"] as? String == problemID)
        }
    }

    @Test("unknown routes answer 404 problem+json with a stable code")
    func unknownRoute() async throws {
        try await TestApp.run { app in
            let response = try await app.request(.POST, "/v1/nothing", headers: [("content-type", "application/json")], body: "{")
            #expect(response.status == 404)
            #expect(response.header("content-type") == "application/problem+json")
            let body = try response.json()
            #expect(body["code"] as? String == "not_found")
            #expect(body["status"] as? Int == 404)
            #expect(body["type"] as? String == "https://smc.dev/problems/not_found")
            #expect(body["instance"] as? String == "/v1/nothing")
        }
    }

    @Test("a known path with the wrong method answers 405 with Allow")
    func wrongMethod() async throws {
        try await TestApp.run { app in
            let response = try await app.request(.DELETE, "/health")
            #expect(response.status == 405)
            #expect(response.header("allow") == "GET, HEAD")
            #expect(try response.json()["code"] as? String == "method_not_allowed")
        }
    }

    @Test("oversized bodies answer 413, whether announced by Content-Length or streamed")
    func oversized() async throws {
        try await TestApp.run(configure: { $0.maxBodyBytes = 2048 }) { app in
            let big = String(repeating: "x", count: 4096)
            let response = try await app.request(.POST, "/health", headers: [("content-type", "application/json")], body: big)
            #expect(response.status == 413)
            let body = try response.json()
            #expect(body["code"] as? String == "payload_too_large")
            #expect(body["limit_bytes"] as? Int == 2048)
            let chunked = try await app.request(
                .POST, "/v1/nothing", headers: [("content-type", "application/json")], body: big, chunked: true)
            #expect(chunked.status == 413)
        }
    }

    @Test("/metrics exposes request counts and latency histograms by route and status")
    func metrics() async throws {
        try await TestApp.run { app in
            _ = try await app.request(.GET, "/health")
            _ = try await app.request(.GET, "/health")
            _ = try await app.request(.GET, "/does-not-exist")
            let response = try await app.request(.GET, "/metrics")
            #expect(response.status == 200)
            #expect(response.header("content-type")?.hasPrefix("text/plain") == true)
            let text = response.body
            #expect(text.contains(#"smc_http_requests_total{method="GET",route="/health",status="200"} 2"#))
            #expect(text.contains(#"smc_http_requests_total{method="GET",route="unmatched",status="404"} 1"#))
            #expect(text.contains(#"smc_http_request_duration_seconds_bucket{method="GET",route="/health",status="200",le="+Inf"} 2"#))
        }
    }

    @Test("many concurrent requests are all answered")
    func concurrency() async throws {
        try await TestApp.run { app in
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<100 {
                    // A generous deadline: the point is that every request is answered, and the whole suite shares the
                    // machine's two cores while this runs.
                    group.addTask { try await app.request(.GET, i % 2 == 0 ? "/health" : "/ready", timeout: .seconds(120)).status }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.count == 100 && statuses.allSatisfy { $0 == 200 })
        }
    }
}

@Suite("Problem classification")
struct ProblemClassificationTests {
    @Test("only a body that is not JSON is malformed_json; a wrong type, a missing field or a bad enum value is 422 naming the field")
    func decodingErrors() throws {
        struct Body: Decodable { var email: String }
        let broken = Data("{".utf8)
        do {
            _ = try JSONDecoder().decode(Body.self, from: broken)
            Issue.record("decoding should fail")
        } catch let error as DecodingError {
            let problem = DecodingProblem.body(error)
            #expect(problem.code == "malformed_json" && problem.detail == "the body is not valid JSON")
        }
        do {
            _ = try JSONDecoder().decode(Body.self, from: Data(#"{"email": 5}"#.utf8))
            Issue.record("decoding should fail")
        } catch let error as DecodingError {
            let problem = DecodingProblem.body(error)
            #expect(problem.code == "validation_failed" && problem.fieldErrors == [.init(field: "/email", message: "must be a string")])
        }
        do {
            _ = try JSONDecoder().decode(Body.self, from: Data("{}".utf8))
            Issue.record("decoding should fail")
        } catch let error as DecodingError {
            #expect(DecodingProblem.body(error).fieldErrors == [.init(field: "/email", message: "is required")])
        }
        let enumError = DecodingError.dataCorrupted(.init(
            codingPath: [AnyKey("entries"), AnyKey(0), AnyKey("timeframes"), AnyKey(0)],
            debugDescription: "Cannot initialize Timeframe from invalid String value 15min"))
        let problem = DecodingProblem.body(enumError)
        #expect(problem.status == .unprocessableContent)
        #expect(problem.fieldErrors == [.init(field: "/entries/0/timeframes/0", message: "15min is not allowed; one of 1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w")])
        let inline = DecodingProblem.body(.dataCorrupted(.init(
            codingPath: [AnyKey("mode")], debugDescription: "Cannot initialize ModePayload from invalid String value x")))
        #expect(inline.fieldErrors.first?.message == "x is not allowed; one of suppress, tag", "never the generated type's name")
    }

    @Test("route table tells a wrong method from an unknown path, with templates")
    func routeTable() {
        let table = RouteTable(routes: [("/v1/things/{id}", "GET"), ("/v1/things/{id}", "PATCH"), ("/health", "GET")])
        #expect(table.methods(forPath: "/v1/things/42") == ["GET", "HEAD", "PATCH"])
        #expect(table.methods(forPath: "/v1/things") == [])
        #expect(table.methods(forPath: "/health/") == ["GET", "HEAD"])
    }
}

private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ string: String) { stringValue = string }
    init(_ int: Int) { stringValue = "\(int)"; intValue = int }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { self.init(intValue) }
}
