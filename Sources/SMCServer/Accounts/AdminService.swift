import Crypto
import Foundation
import Logging
import PostgresNIO
import SMCSync

/// Operator actions: changing a tenant's plan and issuing market-data feeder keys.
struct AdminService: Sendable {
    let database: Database
    let plans: PlansService
    var logger: Logger { database.logger }

    struct PlanChange: Sendable {
        var tenantID: UUID
        var previousPlan: String
        var subscription: SubscriptionRecord
        /// What the change disabled, in words (empty for an upgrade).
        var applied: [String]
    }

    /// Moves the tenant of `email` to `planID`. A downgrade keeps all data but disables what is over the
    /// new limits: the least recently used devices are signed out, the newest API keys revoked, the newest webhook
    /// endpoints disabled and queued Telegram messages cancelled when the plan has no Telegram; watchlist entries over
    /// the limits stay stored and are reported (the pipeline analyses only those within them). An upgrade enables the
    /// endpoints a downgrade disabled again, as far as the new limit allows.
    func setPlan(email rawEmail: String, planID: String) async throws -> PlanChange {
        let email = rawEmail.trimmingWhitespace().lowercased()
        let tenant = try await database.withShared(readOnly: true) { connection in
            try await connection.query("SELECT tenant_id FROM login_emails WHERE email = \(email)", logger: logger)
                .collect().first?.decode(UUID.self)
        }
        guard let tenant else { throw Problem.notFound("no account with the email \(email)") }
        let all = try await plans.all()
        guard let plan = all.first(where: { $0.id == planID }) else {
            throw Problem.validation([.init(field: "/plan", message: "unknown plan; one of \(all.map(\.id).joined(separator: ", "))")])
        }
        return try await database.withTenant(tenant) { connection in
            let previous = try await connection.query(
                "SELECT plan_id FROM tenants WHERE tenant_id = \(tenant) FOR UPDATE", logger: logger
            ).collect().first!.decode(String.self)
            try await connection.query(
                "UPDATE tenants SET plan_id = \(plan.id), plan_changed_at = now(), updated_at = now() WHERE tenant_id = \(tenant)",
                logger: logger)
            var applied: [String] = []
            let signedOut = try await connection.query(
                """
                UPDATE devices SET revoked_at = now()
                WHERE tenant_id = \(tenant) AND device_id IN (
                    SELECT device_id FROM devices
                    WHERE tenant_id = \(tenant) AND revoked_at IS NULL AND expires_at > now()
                    ORDER BY last_seen_at DESC OFFSET \(plan.maxDevices))
                RETURNING name
                """, logger: logger
            ).collect().map { try $0.decode(String.self) }
            if !signedOut.isEmpty {
                applied.append("signed out \(signedOut.count) device(s) over the limit of \(plan.maxDevices): \(signedOut.joined(separator: ", "))")
            }
            let revokedKeys = try await connection.query(
                """
                UPDATE api_keys SET revoked_at = now()
                WHERE tenant_id = \(tenant) AND key_id IN (
                    SELECT key_id FROM api_keys WHERE tenant_id = \(tenant) AND revoked_at IS NULL
                    ORDER BY created_at OFFSET \(plan.maxAPIKeys))
                RETURNING name
                """, logger: logger
            ).collect().map { try $0.decode(String.self) }
            if !revokedKeys.isEmpty {
                applied.append("revoked \(revokedKeys.count) API key(s) over the limit of \(plan.maxAPIKeys): \(revokedKeys.joined(separator: ", "))")
            }
            let channels = try await AlertChannelsService.applyPlan(plan, tenant: tenant, connection, logger: logger)
            applied += channels
            let usage = try await plans.usage(tenant: tenant, connection)
            let over = PlansService.overLimit(plan: plan, usage: usage)
            applied += over.map { "\($0.limit): \($0.used) used, \($0.allowed) allowed; \($0.effect)" }
            logger.notice(
                "plan changed", metadata: ["tenant_id": "\(tenant)", "from": "\(previous)", "to": "\(plan.id)", "applied": "\(applied)"])
            return PlanChange(
                tenantID: tenant, previousPlan: previous, subscription: SubscriptionRecord(plan: plan, usage: usage, overLimit: over),
                applied: applied)
        }
    }

    /// Issues a market-data feeder key; the key is returned once and only its hash is kept.
    func createFeederKey(name rawName: String) async throws -> String {
        var errors: [Problem.FieldError] = []
        let name = AccountRules.name(rawName, field: "name", max: 100, into: &errors) ?? ""
        guard errors.isEmpty else { throw Problem.validation(errors) }
        let secret = BearerSecret.generate(.feeder, tenant: UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
        do {
            // Feeder keys are operator-owned: written with the connecting (owner) role, not smc_app.
            try await database.client.query(
                """
                INSERT INTO feeder_keys (key_id, name, key_hash, hint)
                VALUES (\(UUIDv7.generate()), \(name), \(secret.hashBytes), \(Redaction.hint(secret.text)))
                """,
                logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw Problem(.nameTaken, detail: "a feeder key named \(name) already exists")
        }
        return secret.text
    }

    struct FeederKey: Sendable {
        var id: UUID
        var name: String
        var hint: String?
        var createdAt: Date
        var revokedAt: Date?

        /// From `key_id, name, hint, created_at, revoked_at`.
        init(row: PostgresRow) throws {
            (id, name, hint, createdAt, revokedAt) = try row.decode((UUID, String, String?, Date, Date?).self)
        }
    }

    /// Every feeder key, newest first, with its last characters (never the key).
    func feederKeys() async throws -> [FeederKey] {
        try await database.client.query(
            "SELECT key_id, name, hint, created_at, revoked_at FROM feeder_keys ORDER BY created_at DESC, key_id DESC", logger: logger
        ).collect().map(FeederKey.init(row:))
    }

    /// Revokes the feeder key with this id, or the key in use with this name; the feeder is refused from its next batch.
    func revokeFeederKey(_ idOrName: String) async throws -> FeederKey {
        let id = UUID(uuidString: idOrName.trimmingWhitespace())
        let rows = try await database.client.query(
            """
            UPDATE feeder_keys SET revoked_at = coalesce(revoked_at, now())
            WHERE key_id = (SELECT key_id FROM feeder_keys
                            WHERE key_id = \(id) OR (\(id)::uuid IS NULL AND name = \(idOrName) AND revoked_at IS NULL) LIMIT 1)
            RETURNING key_id, name, hint, created_at, revoked_at
            """, logger: logger
        ).collect()
        guard let row = rows.first else { throw Problem.notFound("no feeder key with the id or name \(idOrName)") }
        return try FeederKey(row: row)
    }

    /// Constant-time comparison of the presented operator token with the configured one.
    static func authorize(presented: String?, configured: String?) throws {
        guard let configured else { throw Problem.notFound("the admin API is not enabled (set SMC_ADMIN_TOKEN)") }
        guard let presented, presented.count > 7, presented.prefix(7).lowercased() == "bearer " else {
            throw Problem.unauthenticated("send Authorization: Bearer <SMC_ADMIN_TOKEN>")
        }
        let a = SHA256.hash(data: Data(presented.dropFirst(7).utf8))
        let b = SHA256.hash(data: Data(configured.utf8))
        guard a == b else { throw Problem(.unauthenticated, detail: "wrong admin token") }
    }
}
