import Foundation
import Logging
import PostgresNIO

/// A plan and its limits, as seeded by the migrations.
struct PlanRecord: Sendable, Equatable {
    var id: String
    var name: String
    var rank: Int
    var priceCentsMonth: Int
    var maxSymbols: Int
    var maxTimeframesPerSymbol: Int
    var maxWebhooks: Int
    var telegram: Bool
    var alertsPerDay: Int
    var historyDays: Int
    var maxDevices: Int
    var apiRequestsPerMinute: Int
    var maxAPIKeys: Int

    /// The numeric value of a named limit (the names used in problems and in `usage`).
    func limit(_ name: String) -> Int? {
        switch name {
        case "symbols": return maxSymbols
        case "timeframes_per_symbol": return maxTimeframesPerSymbol
        case "webhooks": return maxWebhooks
        case "telegram": return telegram ? 1 : 0
        case "alerts_per_day": return alertsPerDay
        case "history_days": return historyDays
        case "devices": return maxDevices
        case "api_requests_per_minute": return apiRequestsPerMinute
        case "api_keys": return maxAPIKeys
        default: return nil
        }
    }
}

/// Plans are data; this reads them and builds the `plan_limit_exceeded` problem.
struct PlansService: Sendable {
    let database: Database
    var logger: Logger { database.logger }

    static let columns = """
        plan_id, name, rank, price_cents_month, max_symbols, max_timeframes_per_symbol, max_webhooks, telegram,
        alerts_per_day, history_days, max_devices, api_requests_per_minute, max_api_keys
        """

    static func decode(_ row: PostgresRow) throws -> PlanRecord {
        let (id, name, rank, price, symbols, timeframes, webhooks, telegram, alerts, history, devices, rpm, keys) =
            try row.decode((String, String, Int, Int, Int, Int, Int, Bool, Int, Int, Int, Int, Int).self)
        return PlanRecord(
            id: id, name: name, rank: rank, priceCentsMonth: price, maxSymbols: symbols, maxTimeframesPerSymbol: timeframes,
            maxWebhooks: webhooks, telegram: telegram, alertsPerDay: alerts, historyDays: history, maxDevices: devices,
            apiRequestsPerMinute: rpm, maxAPIKeys: keys)
    }

    func all() async throws -> [PlanRecord] {
        try await database.withShared(readOnly: true) { connection in
            try await all(connection)
        }
    }

    func all(_ connection: PostgresConnection) async throws -> [PlanRecord] {
        try await connection.query(PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM plans ORDER BY rank"), logger: logger)
            .collect().map(Self.decode)
    }

    /// Each tenant's plan, for many tenants at once (worker role); `tenants` nil: every tenant.
    func plans(forTenants tenants: [UUID]?, _ connection: PostgresConnection) async throws -> [UUID: PlanRecord] {
        let plans = Dictionary(uniqueKeysWithValues: try await all(connection).map { ($0.id, $0) })
        var out: [UUID: PlanRecord] = [:]
        for try await (tenant, plan) in try await connection.query(
            "SELECT tenant_id, plan_id FROM tenants WHERE \(tenants)::uuid[] IS NULL OR tenant_id = ANY(\(tenants))", logger: logger
        ).decode((UUID, String).self) {
            out[tenant] = plans[plan]
        }
        return out
    }

    /// The tenant's plan (the transaction must be scoped to that tenant).
    func plan(forTenant tenant: UUID, _ connection: PostgresConnection) async throws -> PlanRecord {
        let rows = try await connection.query(
            "SELECT p.plan_id FROM tenants t JOIN plans p USING (plan_id) WHERE t.tenant_id = \(tenant)", logger: logger
        ).collect()
        guard let id = try rows.first?.decode(String.self) else { throw Problem.unauthenticated("the account no longer exists") }
        return try await all(connection).first { $0.id == id }!
    }

    /// Moves the tenant to `plan` (its row locked for the transaction); returns the plan it was on.
    func setPlan(_ tenant: UUID, to plan: PlanRecord, _ connection: PostgresConnection) async throws -> String {
        let previous = try await connection.query(
            "SELECT plan_id FROM tenants WHERE tenant_id = \(tenant) FOR UPDATE", logger: logger
        ).collect().first!.decode(String.self)
        try await connection.query(
            "UPDATE tenants SET plan_id = \(plan.id), plan_changed_at = now(), updated_at = now() WHERE tenant_id = \(tenant)",
            logger: logger)
        return previous
    }

    /// Locks the tenant's row for the transaction: counted limits (endpoints, devices, keys) are checked under it, so
    /// two requests cannot both take the last place.
    func lockTenant(_ tenant: UUID, _ connection: PostgresConnection) async throws {
        try await connection.query("SELECT 1 FROM tenants WHERE tenant_id = \(tenant) FOR UPDATE", logger: logger)
    }

    /// 403 `plan_limit_exceeded`, naming the limit, its value, the current plan and the cheapest plan that lifts it.
    func limitExceeded(
        _ limit: String, allowed: Int, plan: PlanRecord, _ connection: PostgresConnection, detail: String
    ) async throws -> Problem {
        let upgrade = try await all(connection).first { $0.rank > plan.rank && ($0.limit(limit) ?? 0) > allowed }
        var extensions: [String: ProblemValue] = [
            "limit": .string(limit), "limit_value": .int(allowed), "plan": .string(plan.id),
        ]
        if let upgrade { extensions["upgrade_to"] = .string(upgrade.id) }
        return Problem(.planLimitExceeded,
            detail: detail + (upgrade.map { " (the \($0.name) plan lifts it)" } ?? ""), extensions: extensions)
    }
}

/// A tenant's plan, what it uses of each counted limit, and where it is over (after a downgrade).
struct SubscriptionRecord: Sendable {
    struct Over: Sendable, Equatable {
        var limit: String
        var allowed: Int
        var used: Int
        var effect: String
    }
    var plan: PlanRecord
    var usage: [String: Int]
    var overLimit: [Over]
}

extension PlansService {
    /// What each counted limit is at for `tenant` (scoped transaction).
    func usage(tenant: UUID, _ connection: PostgresConnection) async throws -> [String: Int] {
        let devices = try await AccountsService.activeDevices(tenant, connection, logger: logger)
        let keys = try await APIKeysService.activeKeys(tenant, connection, logger: logger)
        let (symbols, timeframes) = try await SettingsService.watchlistUsage(tenant, connection, logger: logger)
        let webhooks = try await WebhookEndpoints(logger: logger).count(tenant, connection)
        let telegram = try await TelegramLinks(logger: logger).count(tenant, connection)
        return [
            "devices": devices, "api_keys": keys, "symbols": symbols, "timeframes_per_symbol": timeframes, "webhooks": webhooks,
            "telegram": telegram,
        ]
    }

    static let overLimitEffects: [String: String] = [
        "devices": "the least recently used devices beyond the limit are signed out",
        "api_keys": "the newest API keys beyond the limit are revoked",
        "symbols": "watchlist symbols beyond the limit are kept but not analysed",
        "timeframes_per_symbol": "timeframes beyond the limit are kept but not analysed",
        "webhooks": "the newest webhook endpoints beyond the limit are disabled and get no alerts; an upgrade enables them again",
        "telegram": "linked Telegram chats get no alerts; an upgrade resumes them",
    ]

    /// The limits `usage` is over on `plan`. Telegram is a yes/no limit: a plan with it allows every user's chat.
    static func overLimit(plan: PlanRecord, usage: [String: Int]) -> [SubscriptionRecord.Over] {
        usage.keys.sorted().compactMap { name -> SubscriptionRecord.Over? in
            guard let used = usage[name], var allowed = plan.limit(name) else { return nil }
            if name == "telegram" {
                if plan.telegram { return nil }
                allowed = 0
            }
            guard used > allowed else { return nil }
            return .init(limit: name, allowed: allowed, used: used, effect: overLimitEffects[name] ?? "disabled beyond the limit")
        }
    }

    func subscription(_ principal: Principal) async throws -> SubscriptionRecord {
        try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            let plan = try await plan(forTenant: principal.tenantID, connection)
            let usage = try await usage(tenant: principal.tenantID, connection)
            return SubscriptionRecord(plan: plan, usage: usage, overLimit: Self.overLimit(plan: plan, usage: usage))
        }
    }
}
