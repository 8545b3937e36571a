import Foundation
import Logging
import PostgresNIO
import SMCSync

struct APIKeyRecord: Sendable {
    var id: UUID
    var name: String
    var scopes: [String]
    var hint: String
    var createdAt: Date
    var lastUsedAt: Date?
}

/// Who a machine key acts for.
struct APIKeyPrincipal: Sendable, Equatable {
    var tenantID: UUID
    var userID: UUID
    var keyID: UUID
}

/// Machine credentials, separate from device tokens: scoped, revocable, stored only as SHA-256.
struct APIKeysService: Sendable {
    let database: Database
    let plans: PlansService
    var logger: Logger { database.logger }

    static let scopes: Set<String> = ["tradingview_hook", "signals_read"]

    func create(_ principal: Principal, name rawName: String, scopes: [String]) async throws -> (String, APIKeyRecord) {
        var errors: [Problem.FieldError] = []
        let name = AccountRules.name(rawName, field: "/name", max: 100, into: &errors) ?? ""
        if scopes.isEmpty { errors.append(.init(field: "/scopes", message: "needs at least one scope")) }
        if let unknown = scopes.first(where: { !Self.scopes.contains($0) }) {
            errors.append(.init(field: "/scopes", message: "\(unknown) is not a scope (\(Self.scopes.sorted().joined(separator: ", ")))"))
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        let uniqueScopes = Array(Set(scopes)).sorted()
        return try await database.withTenant(principal.tenantID) { connection in
            let plan = try await plans.plan(forTenant: principal.tenantID, connection)
            // Serialise concurrent creations for this tenant so that the count below is exact.
            try await plans.lockTenant(principal.tenantID, connection)
            let active = try await Self.activeKeys(principal.tenantID, connection, logger: logger)
            if active >= plan.maxAPIKeys {
                throw try await plans.limitExceeded(
                    "api_keys", allowed: plan.maxAPIKeys, plan: plan, connection,
                    detail: "the \(plan.name) plan allows \(plan.maxAPIKeys) API keys; revoke one or upgrade")
            }
            let secret = BearerSecret.generate(.apiKey, tenant: principal.tenantID)
            let id = UUIDv7.generate()
            let created = try await connection.query(
                """
                INSERT INTO api_keys (tenant_id, key_id, user_id, name, scopes, key_hash, key_hint)
                VALUES (\(principal.tenantID), \(id), \(principal.userID), \(name), \(uniqueScopes), \(secret.hashBytes), \(secret.hint))
                RETURNING created_at
                """, logger: logger
            ).collect().first!.decode(Date.self)
            return (secret.text, APIKeyRecord(id: id, name: name, scopes: uniqueScopes, hint: secret.hint, createdAt: created))
        }
    }

    func list(_ principal: Principal) async throws -> [APIKeyRecord] {
        try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            var keys: [APIKeyRecord] = []
            let rows = try await connection.query(
                """
                SELECT key_id, name, scopes, key_hint, created_at, last_used_at FROM api_keys
                WHERE tenant_id = \(principal.tenantID) AND revoked_at IS NULL ORDER BY created_at DESC
                """, logger: logger)
            for try await (id, name, scopes, hint, created, used) in rows.decode((UUID, String, [String], String, Date, Date?).self) {
                keys.append(APIKeyRecord(id: id, name: name, scopes: scopes, hint: hint, createdAt: created, lastUsedAt: used))
            }
            return keys
        }
    }

    func revoke(_ principal: Principal, key: UUID) async throws {
        let revoked = try await database.withTenant(principal.tenantID) { connection in
            try await connection.query(
                """
                UPDATE api_keys SET revoked_at = now()
                WHERE tenant_id = \(principal.tenantID) AND key_id = \(key) AND revoked_at IS NULL RETURNING 1
                """, logger: logger
            ).collect().count
        }
        guard revoked == 1 else { throw Problem.notFound("no such API key") }
    }

    /// Resolves a presented machine key that must carry `scope` (for the hooks and read APIs that take them).
    func authenticate(_ text: String, scope: String) async throws -> APIKeyPrincipal {
        guard let secret = BearerSecret.parse(text.trimmingWhitespace(), expecting: .apiKey) else {
            throw Problem.unauthenticated("the API key is not valid")
        }
        let tenant = secret.tenantID
        return try await database.withTenant(tenant) { connection in
            let row = try await connection.query(
                """
                UPDATE api_keys SET last_used_at = now()
                WHERE tenant_id = \(tenant) AND key_hash = \(secret.hashBytes) AND revoked_at IS NULL
                RETURNING key_id, user_id, scopes
                """, logger: logger
            ).collect().first
            guard let row else { throw Problem.unauthenticated("the API key is not valid or was revoked") }
            let (key, user, scopes) = try row.decode((UUID, UUID, [String]).self)
            guard scopes.contains(scope) else {
                throw Problem(.insufficientScope, detail: "this API key lacks the \(scope) scope")
            }
            return APIKeyPrincipal(tenantID: tenant, userID: user, keyID: key)
        }
    }
}

extension APIKeysService {
    /// The tenant's keys not revoked (what the plan's `max_api_keys` counts).
    static func activeKeys(_ tenant: UUID, _ connection: PostgresConnection, logger: Logger) async throws -> Int {
        try await connection.query(
            "SELECT count(*)::int FROM api_keys WHERE tenant_id = \(tenant) AND revoked_at IS NULL", logger: logger
        ).collect().first!.decode(Int.self)
    }

    /// Revokes the newest keys beyond `limit` (a downgrade); returns their names.
    static func revokeBeyond(_ tenant: UUID, limit: Int, _ connection: PostgresConnection, logger: Logger) async throws -> [String] {
        try await connection.query(
            """
            UPDATE api_keys SET revoked_at = now()
            WHERE tenant_id = \(tenant) AND key_id IN (
                SELECT key_id FROM api_keys WHERE tenant_id = \(tenant) AND revoked_at IS NULL
                ORDER BY created_at OFFSET \(limit))
            RETURNING name
            """, logger: logger
        ).collect().map { try $0.decode(String.self) }
    }
}
