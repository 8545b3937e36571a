import Foundation
import Logging
import NIOCore
import PostgresNIO
import SMCAPI
import SMCTestSupport
import Testing

@testable import SMCServer

@Suite("Accounts: sign-up, sign-in, devices, the account")
struct AccountsTests {
    @Test("sign-up answers 201 with user, tenant (free plan) and a device token; the stored hash is argon2id")
    func signup() async throws {
        try await TestApp.run { app in
            let response = try await app.json(
                .POST, "/v1/auth/signup", ["email": "  Alice@Example.COM ", "password": "correct horse battery", "name": "Alice"])
            #expect(response.status == 201)
            let body = try response.decode(Components.Schemas.Session.self)
            let token = body.token
            #expect(token.hasPrefix("smcd_") && token.count == 69)
            let user = body.user
            #expect(user.email == "alice@example.com")
            #expect(user.role == .owner)
            #expect(body.tenant.plan == "free")
            #expect(body.device.current == true)

            try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger) { client in
                let row = try await client.query("SELECT password_hash FROM users WHERE email = 'alice@example.com'", logger: TestDatabase.logger)
                    .collect().first
                let hash = try #require(try row?.decode(String.self))
                #expect(hash.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
                // Tokens are stored only as SHA-256.
                let stored = try await client.query("SELECT token_hash FROM devices", logger: TestDatabase.logger).collect()
                #expect(stored.count == 1)
                #expect(try stored[0].decode(ByteBuffer.self) == BearerSecret(kind: .device, tenantID: UUID(), text: token).hashBytes)
            }

            let me = try await app.json(.GET, "/v1/me", token: token)
            #expect(me.status == 200)
            #expect(try me.decode(Components.Schemas.Me.self).user.name == "Alice")
            // The same email again, in any case or spacing, is taken.
            let again = try await app.json(.POST, "/v1/auth/signup", ["email": "alice@example.com ", "password": "another good phrase"])
            #expect(again.status == 409 && again.problemCode == "email_taken")
        }
    }

    @Test("log in from two devices, revoke one: its token stops working at once, the other keeps working")
    func devices() async throws {
        try await TestApp.run(configure: { $0.logLevel = .warning }) { app in
            let (signupToken, _, email) = try await app.signup()
            // Free plan: 2 devices. Sign the sign-up device out first.
            #expect(try await app.json(.POST, "/v1/auth/logout", token: signupToken).status == 204)
            #expect(try await app.json(.GET, "/v1/me", token: signupToken).problemCode == "token_revoked")

            let laptop = try await app.json(
                .POST, "/v1/auth/login", ["email": email, "password": "correct horse battery", "device_name": "laptop"])
            let phone = try await app.json(
                .POST, "/v1/auth/login", ["email": email, "password": "correct horse battery", "device_name": "phone"])
            #expect(laptop.status == 201 && phone.status == 201)
            let laptopToken = try laptop.decode(Components.Schemas.Session.self).token
            let phoneSession = try phone.decode(Components.Schemas.Session.self)
            let phoneToken = phoneSession.token
            let phoneID = phoneSession.device.id

            let list = try await app.json(.GET, "/v1/devices", token: laptopToken)
            let devices = try list.decode(Components.Schemas.DeviceList.self).devices
            #expect(devices.map(\.name) == ["phone", "laptop"])
            #expect(devices.map(\.current) == [false, true])

            #expect(try await app.json(.DELETE, "/v1/devices/\(phoneID)", token: laptopToken).status == 204)
            let revoked = try await app.json(.GET, "/v1/me", token: phoneToken)
            #expect(revoked.status == 401 && revoked.problemCode == "token_revoked")
            #expect(try await app.json(.GET, "/v1/me", token: laptopToken).status == 200)
            // Revoking it again, or a device that does not exist, is 404.
            #expect(try await app.json(.DELETE, "/v1/devices/\(phoneID)", token: laptopToken).status == 404)
            #expect(try await app.json(.DELETE, "/v1/devices/\(UUID())", token: laptopToken).status == 404)
            #expect(try await app.json(.DELETE, "/v1/devices/not-a-uuid", token: laptopToken).status == 404)
        }
    }

    @Test("the plan's device limit is enforced with a plan_limit_exceeded problem naming limit, value and upgrade")
    func deviceLimit() async throws {
        try await TestApp.run { app in
            let (_, _, email) = try await app.signup()
            let login: @Sendable (String) async throws -> TestResponse = { name in
                try await app.json(.POST, "/v1/auth/login", ["email": email, "password": "correct horse battery", "device_name": name])
            }
            #expect(try await login("second").status == 201)
            let third = try await login("third")
            #expect(third.status == 403)
            let body = try third.json()
            #expect(body["code"] as? String == "plan_limit_exceeded")
            #expect(body["limit"] as? String == "devices")
            #expect(body["limit_value"] as? Int == 2)
            #expect(body["plan"] as? String == "free")
            #expect(body["upgrade_to"] as? String == "pro")
        }
    }

    @Test("unknown email and wrong password get the same answer, after the same work")
    func noEnumeration() async throws {
        let hasher = PasswordHasher()
        try await TestApp.run(hasher: hasher) { app in
            let (_, _, email) = try await app.signup()
            func attempt(_ email: String) async throws -> (TestResponse, Duration, Int) {
                let before = hasher.verifications
                let start = ContinuousClock.now
                let response = try await app.json(
                    .POST, "/v1/auth/login", ["email": email, "password": "wrong password here", "device_name": "x"])
                return (response, ContinuousClock.now - start, hasher.verifications - before)
            }
            var wrongTimes: [Duration] = [], unknownTimes: [Duration] = []
            for round in 0..<3 {
                let (wrong, wrongTime, wrongWork) = try await attempt(email)
                let (unknown, unknownTime, unknownWork) = try await attempt("nobody-\(round)@example.com")
                #expect(wrong.status == 401 && unknown.status == 401)
                let strip: (TestResponse) throws -> [String: String] = { response in
                    try response.json().filter { $0.key != "request_id" }.mapValues { "\($0)" }
                }
                #expect(try strip(wrong) == strip(unknown))
                // The same work on both paths: exactly one argon2 verification each.
                #expect(wrongWork == 1 && unknownWork == 1)
                wrongTimes.append(wrongTime)
                unknownTimes.append(unknownTime)
            }
            // A loose sanity bound on time (the machine may be busy): no path is an order of magnitude faster.
            let wrongMedian = wrongTimes.sorted()[1], unknownMedian = unknownTimes.sorted()[1]
            #expect(unknownMedian > wrongMedian / 8 && wrongMedian > unknownMedian / 8, "wrong \(wrongMedian), unknown \(unknownMedian)")
        }
    }

    @Test("repeated failures lock the account with exponential back-off: 429 with Retry-After, even for the right password")
    func throttling() async throws {
        // A 4 s first lock, so that a busy machine cannot let it expire before the next request is checked.
        try await TestApp.run(configure: { $0.loginFirstLock = .seconds(4) }) { app in
            let (_, _, email) = try await app.signup()
            for _ in 0..<5 {
                let response = try await app.json(.POST, "/v1/auth/login", ["email": email, "password": "not the password", "device_name": "x"])
                #expect(response.status == 401)
            }
            let sixth = try await app.json(.POST, "/v1/auth/login", ["email": email, "password": "not the password", "device_name": "x"])
            #expect(sixth.status == 401)  // the sixth failure starts the back-off
            let locked = try await app.json(
                .POST, "/v1/auth/login", ["email": email, "password": "correct horse battery", "device_name": "x"])
            #expect(locked.status == 429)
            #expect(locked.problemCode == "too_many_attempts")
            let wait = Int(locked.header("retry-after") ?? "") ?? 0
            #expect((1...4).contains(wait))
            try await Task.sleep(for: .seconds(Double(wait) + 0.3))
            let after = try await app.json(.POST, "/v1/auth/login", ["email": email, "password": "correct horse battery", "device_name": "x"])
            #expect(after.status == 201)
        }
    }

    @Test("changing the password signs out every other device; the old password stops working")
    func passwordChange() async throws {
        try await TestApp.run { app in
            let (first, _, email) = try await app.signup()
            let second = try await app.json(.POST, "/v1/auth/login", ["email": email, "password": "correct horse battery", "device_name": "b"])
                .decode(Components.Schemas.Session.self).token
            let wrong = try await app.json(
                .POST, "/v1/auth/password", token: first, ["current_password": "nope nope nope", "new_password": "a brand new phrase"])
            #expect(wrong.status == 403 && wrong.problemCode == "wrong_password")
            let weak = try await app.json(
                .POST, "/v1/auth/password", token: first, ["current_password": "correct horse battery", "new_password": "password123"])
            #expect(weak.status == 422 && weak.problemCode == "validation_failed")
            let changed = try await app.json(
                .POST, "/v1/auth/password", token: first, ["current_password": "correct horse battery", "new_password": "a brand new phrase"])
            #expect(changed.status == 204)
            #expect(try await app.json(.GET, "/v1/me", token: first).status == 200)
            #expect(try await app.json(.GET, "/v1/me", token: second).problemCode == "token_revoked")
            let old = try await app.json(.POST, "/v1/auth/login", ["email": email, "password": "correct horse battery", "device_name": "c"])
            #expect(old.status == 401)
        }
    }

    @Test("PATCH /v1/me changes name and email; DELETE /v1/me needs the password, then removes the tenant and all its data")
    func meLifecycle() async throws {
        try await TestApp.run { app in
            let (token, session, _) = try await app.signup()
            let tenant = session.tenant.id
            let newEmail = "renamed-\(UUID().uuidString.prefix(6).lowercased())@example.com"
            let patched = try await app.json(.PATCH, "/v1/me", token: token, ["name": "Renamed", "email": newEmail.uppercased()])
            #expect(patched.status == 200)
            #expect(try patched.decode(Components.Schemas.Me.self).user.email == newEmail)
            let login = try await app.json(.POST, "/v1/auth/login", ["email": newEmail, "password": "correct horse battery", "device_name": "d"])
            #expect(login.status == 201)

            // A bearer token alone does not delete an account: the password must confirm it.
            let bare = try await app.request(.DELETE, "/v1/me", headers: [("authorization", "Bearer \(token)")])
            #expect(bare.status == 403 && bare.problemCode == "reauthentication_required", "\(bare.status) \(bare.body)")
            let wrong = try await app.json(.DELETE, "/v1/me", token: token, ["password": "not the password"])
            #expect(try wrong.status == 403 && (try wrong.json()["code"] as? String) == "reauthentication_required", "\(wrong.body)")
            #expect(try await app.json(.GET, "/v1/me", token: token).status == 200, "still there after the refusals")
            #expect(try await app.json(.DELETE, "/v1/me", token: token, ["password": "correct horse battery"]).status == 204)
            #expect(try await app.json(.GET, "/v1/me", token: token).status == 401)
            let gone = try await app.json(.POST, "/v1/auth/login", ["email": newEmail, "password": "correct horse battery", "device_name": "e"])
            #expect(gone.status == 401)
            try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger) { client in
                // As the table owner (no RLS in the way): nothing of the tenant is left.
                for table in ["tenants", "users", "devices", "login_emails"] {
                    let count = try await client.query(
                        PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(table) WHERE tenant_id = '\(tenant)'"),
                        logger: TestDatabase.logger
                    ).collect().first!.decode(Int.self)
                    #expect(count == 0, "\(table)")
                }
            }
        }
    }

    @Test("missing, malformed, forged and expired tokens are 401 with distinct codes")
    func badTokens() async throws {
        try await TestApp.run(configure: { $0.sessionTTL = .seconds(1) }) { app in
            #expect(try await app.json(.GET, "/v1/me").problemCode == "unauthenticated")
            #expect(try await app.json(.GET, "/v1/me", token: "nonsense").problemCode == "unauthenticated")
            let forged = BearerSecret.generate(.device, tenant: UUID()).text
            #expect(try await app.json(.GET, "/v1/me", token: forged).problemCode == "unauthenticated")
            let missing = try await app.json(.GET, "/v1/me")
            #expect(missing.header("www-authenticate")?.hasPrefix("Bearer") == true)
            let (token, _, _) = try await app.signup()
            try await Task.sleep(for: .seconds(1.5))
            #expect(try await app.json(.GET, "/v1/me", token: token).problemCode == "token_expired")
        }
    }
}

@Suite("Accounts: isolation between tenants")
struct AccountsIsolationTests {
    @Test("tenant B with its own valid token cannot see or revoke tenant A's devices")
    func devices() async throws {
        try await TestApp.run { app in
            let (tokenA, sessionA, _) = try await app.signup()
            let (tokenB, _, _) = try await app.signup()
            let deviceA = sessionA.device.id
            let listB = try await app.json(.GET, "/v1/devices", token: tokenB).decode(Components.Schemas.DeviceList.self).devices
            #expect(listB.count == 1 && listB[0].id != deviceA)
            let revoke = try await app.json(.DELETE, "/v1/devices/\(deviceA)", token: tokenB)
            #expect(revoke.status == 404)
            #expect(try await app.json(.GET, "/v1/me", token: tokenA).status == 200)
            let meB = try await app.json(.GET, "/v1/me", token: tokenB)
            #expect(!meB.body.contains(deviceA))
        }
    }

    @Test("a token whose tenant part is swapped for another tenant's does not authenticate")
    func swappedTenant() async throws {
        try await TestApp.run { app in
            let (tokenA, _, _) = try await app.signup()
            let (_, sessionB, _) = try await app.signup()
            let tenantB = sessionB.tenantID
            // Same secret bytes, other tenant: the lookup runs in B's scope and finds nothing.
            var bytes = Base64URL.decode(String(tokenA.dropFirst(5)))!
            withUnsafeBytes(of: tenantB.uuid) { for i in 0..<16 { bytes[i] = $0[i] } }
            let forged = "smcd_" + Base64URL.encode(bytes)
            #expect(try await app.json(.GET, "/v1/me", token: forged).problemCode == "unauthenticated")
        }
    }
}

@Suite("Accounts: bad input never stores anything")
struct AccountsInputTests {
    func userCount(_ app: TestApp) async throws -> Int {
        try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger) { client in
            try await client.query("SELECT count(*)::int FROM users", logger: TestDatabase.logger).collect().first!.decode(Int.self)
        }
    }

    @Test("each bad sign-up body gets its 4xx problem and nothing is stored")
    func badSignups() async throws {
        try await TestApp.run { app in
            let cases: [(String, [(String, String)], Int, String)] = [
                ("{", [("content-type", "application/json")], 400, "malformed_json"),
                // JSON, but not what the operation takes: 422 naming the field (malformed_json is for bodies that are not JSON).
                (#"{"email": "a@example.com"}"#, [("content-type", "application/json")], 422, "validation_failed"),
                (#"{"email": 5, "password": "correct horse battery"}"#, [("content-type", "application/json")], 422, "validation_failed"),
                (#"{"email": "a@example.com", "password": "correct horse battery"}"#, [("content-type", "text/plain")], 415, "unsupported_media_type"),
                (#"{"email": "a@example.com", "password": "correct horse battery"}"#, [], 415, "unsupported_media_type"),
                (#"{"email": "not-an-email", "password": "correct horse battery"}"#, [("content-type", "application/json")], 422, "validation_failed"),
                (#"{"email": "a@example.com", "password": "short"}"#, [("content-type", "application/json")], 422, "validation_failed"),
                (#"{"email": "a@example.com", "password": "password123"}"#, [("content-type", "application/json")], 422, "validation_failed"),
                (#"{"email": "a@example.com", "password": "a@example.com"}"#, [("content-type", "application/json")], 422, "validation_failed"),
                (#"{"email": "a'; DROP TABLE users;--@x.com", "password": "correct horse battery"}"#, [("content-type", "application/json")], 422, "validation_failed"),
                (#"{"email": "a\u0000b@example.com", "password": "correct horse battery"}"#, [("content-type", "application/json")], 422, "validation_failed"),
                (#"{"email": "b@example.com", "password": "correct horse battery", "name": "\u0007bell"}"#, [("content-type", "application/json")], 422, "validation_failed"),
                (#"{"email": "b@example.com", "password": "correct horse \u0000 battery"}"#, [("content-type", "application/json")], 422, "validation_failed"),
                (#"{"email": "b@example.com", "password": "correct horse battery", "device_name": ""}"#, [("content-type", "application/json")], 422, "validation_failed"),
            ]
            for (body, headers, status, code) in cases {
                let response = try await app.request(.POST, "/v1/auth/signup", headers: headers, body: body)
                #expect(response.status == status, "\(body) → \(response.body)")
                #expect(response.problemCode == code, "\(body) → \(response.body)")
                #expect(response.header("content-type") == "application/problem+json")
            }
            let huge = String(repeating: "x", count: 10 * 1024 * 1024)
            let tooBig = try await app.request(
                .POST, "/v1/auth/signup", headers: [("content-type", "application/json")],
                body: #"{"email": "c@example.com", "password": ""# + huge + #""}"#)
            #expect(tooBig.status == 413 && tooBig.problemCode == "payload_too_large")
            #expect(try await userCount(app) == 0)
        }
    }

    @Test("invalid UTF-8 in a body is a 400 problem")
    func invalidUTF8() async throws {
        try await TestApp.run { app in
            var request = Data(#"{"email": "x@example.com", "password": "correct "#.utf8)
            request.append(contentsOf: [0xC3, 0x28, 0xFF])
            request.append(contentsOf: Data(#" battery"}"#.utf8))
            let response = try await TestHTTP.request(
                .POST, app.baseURL + "/v1/auth/signup", headers: [("content-type", "application/json")],
                body: String(decoding: request, as: UTF8.self).replacingOccurrences(of: "\u{FFFD}", with: "\u{FFFD}"),
                rawBody: request)
            #expect(response.status == 400 && response.problemCode == "malformed_json", "\(response.body)")
            #expect(try await userCount(app) == 0)
        }
    }

    @Test("strings with markup or SQL are stored verbatim, as data, and returned as JSON strings")
    func markupIsData() async throws {
        try await TestApp.run { app in
            let name = #"<script>alert(1)</script> Robert'); DROP TABLE users;--"#
            let response = try await app.json(
                .POST, "/v1/auth/signup", ["email": "bobby@example.com", "password": "correct horse battery", "name": name])
            #expect(response.status == 201)
            #expect(try response.decode(Components.Schemas.Session.self).user.name == name)
            #expect(try await userCount(app) == 1)
        }
    }
}

@Suite("Accounts: secrets never reach the logs")
struct AccountsLoggingTests {
    @Test("no password, token or hash appears in any log line, even at trace level")
    func noSecretsInLogs() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("smc-secrets-\(UUID().uuidString).log").path
        FileManager.default.createFile(atPath: path, contents: nil)
        let fd = open(path, O_WRONLY | O_APPEND)
        defer { close(fd) }
        let output = LogOutput(fd: fd)
        var logger = Logger(label: "smc") { JSONLogHandler(label: $0, level: .trace, output: output) }
        logger.logLevel = .trace
        let password = "Sup3r-secret pass phrase"
        let (token, loginToken) = try await TestApp.run(logger: logger) { app in
            let (token, _, email) = try await app.signup(password: password)
            _ = try await app.json(.POST, "/v1/auth/login", ["email": email, "password": "wrong-\(password)", "device_name": "x"])
            let login = try await app.json(.POST, "/v1/auth/login", ["email": email, "password": password, "device_name": "y"])
            let loginToken = try login.decode(Components.Schemas.Session.self).token
            _ = try await app.json(.GET, "/v1/me", token: loginToken)
            return (token, loginToken)
        }
        let log = try String(contentsOfFile: path, encoding: .utf8)
        #expect(log.contains(#""msg":"request""#), "the log was captured")
        #expect(!log.contains(password))
        #expect(!log.contains(token))
        #expect(!log.contains(loginToken))
        #expect(!log.contains(String(token.dropFirst(5).prefix(40))))
        #expect(!log.contains("$argon2id$"))
    }
}
