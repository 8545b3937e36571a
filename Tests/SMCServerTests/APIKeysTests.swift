import Foundation
import NIOCore
import PostgresNIO
import SMCAPI
import SMCTestSupport
import Testing

@testable import SMCServer

@Suite("API keys: machine credentials")
struct APIKeysTests {
    @Test("create shows the key once, list never does, revoke stops it at once; scopes are checked")
    func lifecycle() async throws {
        try await TestApp.run { app in
            let (token, session, _) = try await app.signup()
            let created = try await app.json(.POST, "/v1/api-keys", token: token, ["name": "TradingView", "scopes": ["tradingview_hook"]])
            #expect(created.status == 201, "\(created.body)")
            let createdKey = try created.decode(Components.Schemas.APIKeyCreated.self)
            let key = createdKey.key
            #expect(key.hasPrefix("smck_"))
            let id = createdKey.apiKey.id
            let list = try await app.json(.GET, "/v1/api-keys", token: token)
            #expect(!list.body.contains(key))
            #expect(try list.decode(Components.Schemas.APIKeyList.self).apiKeys.first?.hint == "smck_…" + key.suffix(4))

            let tenant = session.tenantID
            try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger) { client in
                let service = APIKeysService(database: Database(client: client, logger: TestDatabase.logger), plans: PlansService(database: Database(client: client, logger: TestDatabase.logger)))
                let principal = try await service.authenticate(key, scope: "tradingview_hook")
                #expect(principal.tenantID == tenant)
                await #expect { try await service.authenticate(key, scope: "signals_read") } throws: { ($0 as? Problem)?.code == "insufficient_scope" }
                let stored = try await client.query("SELECT key_hash FROM api_keys", logger: TestDatabase.logger).collect().first?.decode(ByteBuffer.self)
                #expect(stored == BearerSecret(kind: .apiKey, tenantID: tenant, text: key).hashBytes)
                // A device token is not an API key, and an API key is not a device token.
                await #expect(throws: Problem.self) { try await service.authenticate(token, scope: "tradingview_hook") }
            }
            #expect(try await app.json(.GET, "/v1/me", token: key).status == 401)

            #expect(try await app.json(.DELETE, "/v1/api-keys/\(id)", token: token).status == 204)
            try await PostgresClient.withRunning(app.database, logger: TestDatabase.logger) { client in
                let service = APIKeysService(database: Database(client: client, logger: TestDatabase.logger), plans: PlansService(database: Database(client: client, logger: TestDatabase.logger)))
                await #expect { try await service.authenticate(key, scope: "tradingview_hook") } throws: { ($0 as? Problem)?.code == "unauthenticated" }
            }
            #expect(try await app.json(.DELETE, "/v1/api-keys/\(id)", token: token).status == 404)
        }
    }

    @Test("the plan's API key limit answers plan_limit_exceeded; bad input is 4xx and stores nothing")
    func limitsAndInput() async throws {
        try await TestApp.run { app in
            let (token, _, _) = try await app.signup()
            #expect(try await app.json(.POST, "/v1/api-keys", token: token, ["name": "one", "scopes": ["signals_read"]]).status == 201)
            let second = try await app.json(.POST, "/v1/api-keys", token: token, ["name": "two", "scopes": ["signals_read"]])
            #expect(second.status == 403)
            #expect(try second.json()["limit"] as? String == "api_keys" && second.json()["limit_value"] as? Int == 1)
            #expect(try second.json()["upgrade_to"] as? String == "pro")
            for body in [["name": "x", "scopes": []], ["name": "", "scopes": ["signals_read"]], ["name": "x", "scopes": ["root"]], ["name": "x"]] as [[String: Any]] {
                let response = try await app.json(.POST, "/v1/api-keys", token: token, body)
                #expect((400...499).contains(response.status), "\(body) → \(response.body)")
            }
            let keys = try await app.json(.GET, "/v1/api-keys", token: token).decode(Components.Schemas.APIKeyList.self).apiKeys
            #expect(keys.count == 1)
        }
    }

    @Test("tenant B cannot list or revoke tenant A's keys")
    func isolation() async throws {
        try await TestApp.run { app in
            let (tokenA, _, _) = try await app.signup()
            let (tokenB, _, _) = try await app.signup()
            let created = try await app.json(.POST, "/v1/api-keys", token: tokenA, ["name": "A's", "scopes": ["signals_read"]])
            let id = try created.decode(Components.Schemas.APIKeyCreated.self).apiKey.id
            #expect(try await app.json(.GET, "/v1/api-keys", token: tokenB).decode(Components.Schemas.APIKeyList.self).apiKeys.isEmpty)
            #expect(try await app.json(.DELETE, "/v1/api-keys/\(id)", token: tokenB).status == 404)
            #expect(try await app.json(.GET, "/v1/api-keys", token: tokenA).decode(Components.Schemas.APIKeyList.self).apiKeys.count == 1)
        }
    }
}
