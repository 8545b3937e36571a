import Foundation
import Logging
import PostgresNIO
import SMCEngine

/// Charts as PNG: reads what a chart shows through the owners (the signal from `SignalStore`, with the plan's
/// history applied; the candles from `MarketDataService`; the decimals from `SymbolRegistry`; the killzones from
/// `SettingsService`), builds its `ChartDescription` (`ChartBuilder`) and renders it (`ChartRenderer`) after the
/// transaction has ended.
struct ChartService: Sendable {
    let database: Database
    let plans: PlansService
    let rateLimiter: RateLimiter
    let links: ChartLinks
    var logger: Logger { database.logger }

    // MARK: descriptions (inside the caller's tenant transaction)

    /// The signal's chart; nil when the tenant has no such signal within `visibleDays`.
    static func signalDescription(tenant: UUID, user: UUID?, id: UUID, visibleDays: Int, theme: ChartDescription.Theme,
                                  _ connection: PostgresConnection, logger: Logger) async throws -> ChartDescription?
    {
        guard let signal = try await SignalStore(logger: logger).detail(tenant, id, visibleDays: visibleDays, connection) else {
            return nil
        }
        let decimals = try await SymbolRegistry.spec(signal.symbol, connection, logger: logger)?.priceDecimals
            ?? PriceFormat.fallback.decimals
        let candles = try await MarketDataService.candles(
            symbol: signal.symbol, timeframe: signal.timeframe, around: signal.candleTime, before: ChartBuilder.before,
            after: ChartBuilder.after(signal), connection, logger: logger)
        let zones = try await killzones(tenant: tenant, user: user, connection, logger: logger)
        return ChartBuilder.signal(signal, candles: candles, priceDecimals: decimals, killzones: zones, theme: theme)
    }

    /// The killzones a tenant's chart shades: the user's own document, else the tenant's first stored one, else the
    /// defaults (the ICT killzones).
    static func killzones(tenant: UUID, user: UUID?, _ connection: PostgresConnection, logger: Logger) async throws -> [Killzone] {
        let stored = try await SettingsService.stored(Killzones.self, tenants: [tenant], connection, logger: logger)
        let document = user.flatMap { stored[$0] }
            ?? stored.sorted { $0.key.uuidString < $1.key.uuidString }.first?.value
            ?? Killzones.defaults
        return document.zones.compactMap {
            try? Killzone(name: $0.name, start: $0.start, end: $0.end, timeZone: $0.timeZone, enabled: $0.enabled ?? true)
        }
    }

    // MARK: the operations

    /// `GET /v1/signals/{id}/chart.png`: 404 for another tenant's signal or one past the plan's history.
    func signalChart(_ reader: SignalReader, id: UUID, theme: ChartDescription.Theme) async throws -> [UInt8] {
        let description = try await database.withTenant(reader.tenantID, readOnly: true) { connection in
            let plan = try await plans.plan(forTenant: reader.tenantID, connection)
            if reader.viaAPIKey { try rateLimiter.admit(tenant: reader.tenantID, limit: plan.apiRequestsPerMinute) }
            return try await Self.signalDescription(
                tenant: reader.tenantID, user: reader.userID, id: id, visibleDays: plan.historyDays, theme: theme, connection,
                logger: logger)
        }
        guard let description else { throw Problem.notFound("no such signal") }
        return try render(description)
    }

    /// `GET /v1/charts/{id}.png?exp&sig`: the signed link stands for the token; the tenant's request budget applies.
    func signedChart(id: UUID, exp: Int64, sig: String, theme: ChartDescription.Theme, now: Date = Date()) async throws -> [UInt8] {
        let tenant: UUID
        switch links.verify(signal: id, exp: exp, sig: sig, now: now) {
        case .success(let t): tenant = t
        case .failure(.expired):
            throw Problem(.invalidSignature, detail: "this chart link expired; ask for a new one (links live 7 days)")
        case .failure(.invalid):
            throw Problem(.invalidSignature, detail: "this chart link's signature does not match (a changed or foreign link)")
        }
        let description = try await database.withTenant(tenant, readOnly: true) { connection in
            let plan = try await plans.plan(forTenant: tenant, connection)
            try rateLimiter.admit(tenant: tenant, limit: plan.apiRequestsPerMinute)
            return try await Self.signalDescription(
                tenant: tenant, user: nil, id: id, visibleDays: plan.historyDays, theme: theme, connection, logger: logger)
        }
        guard let description else { throw Problem.notFound("no such signal (it may have passed the plan's history)") }
        return try render(description)
    }

    /// `GET /v1/market/{symbol}/chart.png`: the stream's last candles up to `until` (shared market data).
    func symbolChart(_ reader: SignalReader, symbol: String, timeframe: String, until: Date?, theme: ChartDescription.Theme)
        async throws -> [UInt8]
    {
        let description = try await database.withTenant(reader.tenantID, readOnly: true) { connection in
            try await rateLimiter.charge(reader, plans: plans, connection)
            let spec = try await MarketQueries.require(symbol, connection, logger: logger)
            let candles = try await MarketDataService.candles(
                symbol: spec.symbol, timeframe: timeframe, around: until ?? Date(), before: ChartBuilder.symbolCandles - 1, after: 0,
                connection, logger: logger)
            let zones = try await Self.killzones(tenant: reader.tenantID, user: reader.userID, connection, logger: logger)
            return ChartBuilder.symbol(spec.symbol, timeframe: timeframe, candles: candles, priceDecimals: spec.priceDecimals,
                                       killzones: zones, theme: theme)
        }
        return try render(description)
    }

    /// A signal alert's chart for the Telegram sender; nil when the signal is gone (pruned, or past the history) or its
    /// stream has no candles stored.
    func alertChart(tenant: UUID, user: UUID, signal: UUID) async throws -> [UInt8]? {
        let description = try await database.withTenant(tenant, readOnly: true) { connection in
            let plan = try await plans.plan(forTenant: tenant, connection)
            return try await Self.signalDescription(
                tenant: tenant, user: user, id: signal, visibleDays: plan.historyDays, theme: .light, connection, logger: logger)
        }
        // No candles stored for the stream: nothing worth a picture (the alert goes as text).
        guard let description, !description.candles.isEmpty else { return nil }
        return try render(description)
    }

    private func render(_ description: ChartDescription) throws -> [UInt8] {
        do {
            return try ChartRenderer.png(description)
        } catch {
            logger.error("chart rendering failed", metadata: ["error": "\(error)"])
            throw Problem.internalError
        }
    }
}
