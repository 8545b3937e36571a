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
            try await AccountsService.tenant(email: email, connection, logger: logger)
        }
        guard let tenant else { throw Problem.notFound("no account with the email \(email)") }
        let all = try await plans.all()
        guard let plan = all.first(where: { $0.id == planID }) else {
            throw Problem.validation([.init(field: "/plan", message: "unknown plan; one of \(all.map(\.id).joined(separator: ", "))")])
        }
        return try await database.withTenant(tenant) { connection in
            let previous = try await plans.setPlan(tenant, to: plan, connection)
            var applied: [String] = []
            let signedOut = try await AccountsService.signOutBeyond(tenant, limit: plan.maxDevices, connection, logger: logger)
            if !signedOut.isEmpty {
                applied.append("signed out \(signedOut.count) device(s) over the limit of \(plan.maxDevices): \(signedOut.joined(separator: ", "))")
            }
            let revokedKeys = try await APIKeysService.revokeBeyond(tenant, limit: plan.maxAPIKeys, connection, logger: logger)
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
    /// Changes a symbol's tick and costs (validated; 404 `unknown_symbol` for a symbol not in the registry).
    func setSymbol(_ symbol: String, _ change: SymbolChange) async throws -> SymbolSpec {
        var problems = FieldErrors()
        for problem in change.problems() { problems.check(false, problem.field, problem.message) }
        try problems.throwIfAny()
        return try await database.withShared { connection in
            let spec = try await MarketQueries.require(symbol, connection, logger: database.logger)
            guard let updated = try await SymbolRegistry.update(spec.symbol, change, connection, logger: database.logger) else {
                throw Problem(.unknownSymbol, detail: "\(spec.symbol) is not a symbol this server serves; GET /v1/symbols lists them")
            }
            return updated
        }
    }

    func createFeederKey(name: String) async throws -> String { try await FeederKeys(database: database).create(name: name) }

    /// Every feeder key, newest first, with its last characters (never the key).
    func feederKeys() async throws -> [FeederKey] { try await FeederKeys(database: database).all() }

    /// Revokes the feeder key with this id, or the key in use with this name; the feeder is refused from its next batch.
    func revokeFeederKey(_ idOrName: String) async throws -> FeederKey { try await FeederKeys(database: database).revoke(idOrName) }

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
