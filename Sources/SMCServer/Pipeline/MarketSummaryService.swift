import Foundation
import Logging
import PostgresNIO
import SMCEngine
import Synchronization

/// A symbol's market summary, computed (not yet rounded): per timeframe the bias under the caller's weights, the
/// active zones, the last break, the nearest liquidity and the dealing range; the confluence, regime and killzones.
struct MarketSummaryRecord: Sendable {
    enum Source: String, Sendable {
        /// The pipeline's stored analysis of the stream.
        case stored
        /// A fresh analysis of the latest `MarketSummaryService.window` candles (no stored analysis).
        case recentWindow = "recent_window"
    }

    struct Frame: Sendable {
        var timeframe: SignalTimeframe
        var candles: Int
        var lastCandleTime: Int64?
        var bias: Bias?
        var components: BiasComponents?
        var regime: MarketRegime?
        var lastBreak: StructureBreak?
        /// Nearest first, at most `MarketSummaryService.zonesShown`.
        var zones: [(zone: Zone, ageCandles: Int, ageSeconds: Int64, distance: Double)]
        var zonesTotal: Int
        var liquidityAbove: Double?
        var liquidityBelow: Double?
        var dealingRange: DealingRange?
    }

    var symbol: String
    var timeframe: SignalTimeframe
    var source: Source
    var parameters: DetectorParameters
    var format: PriceFormat
    var candles: Int
    var processedUntil: Int64
    var lastCandle: Candle
    var now: Date
    var killzoneMode: KillzoneSettings.Mode
    var killzoneNow: String?
    var killzoneLastCandle: String?
    /// For a long (−1…1); a short's is its negative.
    var confluence: Double
    var weights: SignalWeights
    var frames: [Frame]
}

/// `GET /v1/market/{symbol}/summary`: where a market stands now, read from the pipeline's stored analysis
/// (`Pipeline.storedAnalysis`) under the caller's strategy detector parameters, else the default strategy's; when
/// neither exists, a fresh `MarketAnalyzer` over the latest `window` closed candles (kept in memory per stream and
/// last candle). Weights, levels and killzones are the caller's (`SettingsService.stored`).
struct MarketSummaryService: Sendable {
    let database: Database
    let pipeline: Pipeline
    let plans: PlansService
    let rateLimiter: RateLimiter
    let windows: RecentWindows

    /// Candles a recent-window analysis runs over.
    static let window = 2000
    /// Zones listed per timeframe (nearest first).
    static let zonesShown = 10

    var logger: Logger { database.logger }

    func summary(_ reader: SignalReader, symbol: String, timeframe: SignalTimeframe, now: Date = Date()) async throws
        -> MarketSummaryRecord
    {
        try await database.withTenant(reader.tenantID, readOnly: true) { connection in
            try await rateLimiter.charge(reader, plans: plans, connection)
            let spec = try await MarketQueries.require(symbol, connection, logger: logger)
            let (strategy, killzones) = try await settings(reader, connection)
            let own = DetectorParameters(timeframe: timeframe, strategy: strategy)
            let fallback = DetectorParameters(timeframe: timeframe, strategy: StrategySettings())

            var source = MarketSummaryRecord.Source.stored
            var analyzer: MarketAnalyzer
            var processedUntil: Int64?
            if let stored = try await pipeline.storedAnalysis(
                symbol: symbol, timeframe: timeframe.label, params: [own.key, fallback.key], connection),
                stored.analyzer.view().timeframes.first?.state != nil
            {
                analyzer = stored.analyzer
                processedUntil = stored.processedUntil
            } else {
                // Nobody watches the stream (or its state predates the view): the latest closed candles only.
                source = .recentWindow
                let latestOpen = Date(timeIntervalSince1970: (now.timeIntervalSince1970 - Double(timeframe.seconds)).rounded(.down))
                guard let last = try await MarketDataService.lastOpen(
                    symbol: symbol, timeframe: timeframe.label, openingBy: latestOpen, connection, logger: logger)
                else {
                    throw Problem(.noCandles, detail: "\(symbol) has no closed \(timeframe.label) candles yet")
                }
                let key = RecentWindows.Key(symbol: symbol, timeframe: timeframe.label, params: own.key, lastOpen: last)
                if let cached = windows.analyzer(key) {
                    analyzer = cached
                } else {
                    let candles = try await MarketDataService.latest(
                        symbol: symbol, timeframe: timeframe.label, openingBy: Date(timeIntervalSince1970: TimeInterval(last)),
                        limit: Self.window, connection, logger: logger)
                    analyzer = MarketAnalyzer(own)
                    for candle in candles { _ = analyzer.update(candle) }
                    windows.store(key, analyzer)
                }
                processedUntil = last
            }
            return try Self.record(
                analyzer.view(), symbol: symbol, source: source, processedUntil: processedUntil,
                format: PriceFormat(decimals: spec.priceDecimals), strategy: strategy, killzones: killzones, now: now)
        }
    }

    /// The caller's strategy and killzones (the defaults where none is stored, or the stored one is unreadable).
    private func settings(_ reader: SignalReader, _ connection: PostgresConnection) async throws
        -> (StrategySettings, KillzoneSettings)
    {
        let decoder = JSONDecoder(), encoder = JSONEncoder()
        let strategy = try await SettingsService.stored(Strategy.self, tenants: [reader.tenantID], connection, logger: logger)[reader.userID]
        let zones = try await SettingsService.stored(Killzones.self, tenants: [reader.tenantID], connection, logger: logger)[reader.userID]
        // The REST documents are the engine's settings in JSON (as the pipeline's `Subscribers` read them).
        let s = strategy.flatMap { try? decoder.decode(StrategySettings.self, from: encoder.encode($0)) } ?? StrategySettings()
        let k = zones.flatMap { try? decoder.decode(KillzoneSettings.self, from: encoder.encode($0)) } ?? KillzoneSettings()
        return (s, k)
    }

    /// The summary of a view under these settings (pure).
    static func record(_ view: MarketView, symbol: String, source: MarketSummaryRecord.Source, processedUntil: Int64?,
                       format: PriceFormat, strategy: StrategySettings, killzones: KillzoneSettings, now: Date) throws
        -> MarketSummaryRecord
    {
        guard let last = view.lastCandle else {
            throw Problem(.noCandles, detail: "\(symbol) has no closed \(view.parameters.timeframe.label) candles analysed yet")
        }
        let close = last.close
        var frames: [MarketSummaryRecord.Frame] = []
        for tf in view.timeframes {
            let bias = tf.state.map { Bias(timeframe: tf.timeframe, components: $0.components, settings: strategy) }
            let lastTime = tf.lastCandleTime ?? last.time
            let zones = tf.zones(nearest: close)
            let liquidity = tf.liquidity(around: close)
            frames.append(MarketSummaryRecord.Frame(
                timeframe: tf.timeframe, candles: tf.candles, lastCandleTime: tf.lastCandleTime, bias: bias,
                components: tf.state?.components, regime: tf.state?.regime, lastBreak: tf.breaks.last,
                zones: zones.prefix(zonesShown).map {
                    ($0, tf.age(of: $0), Swift.max(0, lastTime - $0.formedTime), $0.distance(to: close))
                },
                zonesTotal: zones.count, liquidityAbove: liquidity.above, liquidityBelow: liquidity.below,
                dealingRange: tf.dealingRange(price: close)))
        }
        let calendar = try? KillzoneCalendar(killzones.zones)
        return MarketSummaryRecord(
            symbol: symbol, timeframe: view.parameters.timeframe, source: source, parameters: view.parameters,
            format: format, candles: view.candles, processedUntil: processedUntil ?? last.time, lastCandle: last, now: now,
            killzoneMode: killzones.mode, killzoneNow: calendar?.first(at: Int64(now.timeIntervalSince1970.rounded(.down))),
            killzoneLastCandle: calendar?.first(at: last.time),
            confluence: strategy.confluence(frames.dropFirst().compactMap(\.bias), direction: 1),
            weights: strategy.signalWeights, frames: frames)
    }
}

/// Recent-window analyzers by (symbol, timeframe, detector parameters, last candle): a newer candle makes a new key,
/// and the stream's older entry goes. At most `capacity` streams are kept.
final class RecentWindows: Sendable {
    struct Key: Hashable, Sendable {
        var symbol: String
        var timeframe: String
        var params: String
        var lastOpen: Int64
    }

    static let capacity = 64
    private let entries = Mutex<[Key: MarketAnalyzer]>([:])

    init() {}

    func analyzer(_ key: Key) -> MarketAnalyzer? { entries.withLock { $0[key] } }

    func store(_ key: Key, _ analyzer: MarketAnalyzer) {
        entries.withLock { entries in
            entries = entries.filter { !($0.key.symbol == key.symbol && $0.key.timeframe == key.timeframe && $0.key.params == key.params) }
            if entries.count >= Self.capacity, let any = entries.keys.first { entries[any] = nil }
            entries[key] = analyzer
        }
    }
}
