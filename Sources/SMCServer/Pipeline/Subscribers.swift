import Foundation
import Logging
import PostgresNIO
import SMCEngine

/// A tenant watching a stream, with the settings its evaluator runs on.
struct Subscriber: Sendable {
    var tenant: UUID
    var strategy: StrategySettings
    var killzones: KillzoneSettings
    /// `s<strategy version>-k<killzones version>` (0 = defaults): a change rebuilds the evaluator's settings.
    var settingsVersion: String
    var params: DetectorParameters
    /// When the watchlist last changed: a new evaluator evaluates candles received from then on.
    var subscribedAt: Date
}

enum Subscribers {
    /// The tenants whose owner's watchlist has an active entry for (symbol, timeframe), with their strategy and
    /// killzones documents (defaults where none is stored). Entries over the plan's limits are stored inactive by the
    /// settings service and are not analysed.
    static func load(symbol: String, timeframe: SignalTimeframe, _ connection: PostgresConnection, logger: Logger)
        async throws -> [Subscriber]
    {
        let rows = try await SettingsService.watchers(symbol: symbol, timeframe: timeframe.label, connection, logger: logger)
        var out: [Subscriber] = []
        let decoder = JSONDecoder()
        for (tenant, since, strategyText, strategyVersion, zonesText, zonesVersion) in rows {
            do {
                let strategy = try strategyText.map { try decoder.decode(StrategySettings.self, from: Data($0.utf8)) } ?? .init()
                let zones = try zonesText.map { try decoder.decode(KillzoneSettings.self, from: Data($0.utf8)) } ?? .init()
                out.append(Subscriber(
                    tenant: tenant, strategy: strategy, killzones: zones,
                    settingsVersion: "s\(strategyVersion ?? 0)-k\(zonesVersion ?? 0)",
                    params: DetectorParameters(timeframe: timeframe, strategy: strategy), subscribedAt: since))
            } catch {
                logger.warning("stored settings unreadable by the engine", metadata: ["tenant": "\(tenant)", "error": "\(error)"])
            }
        }
        return out
    }
}
