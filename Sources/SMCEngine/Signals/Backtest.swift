import Foundation  // String(format:)

/// Trading costs per trade (round trip): the spread paid on entry and exit together and the commission, in price
/// units, and a commission rate charged on the notional (a fraction of the entry price, as crypto exchanges do).
/// They are converted to R per trade (cost / the trade's risk) and subtracted. The server's symbol registry holds
/// the same three figures per symbol, and both use `costR`.
public struct BacktestCosts: Sendable, Hashable, Codable {
    public var spread = 0.0
    public var commission = 0.0
    public var commissionRate = 0.0

    public init(spread: Double = 0, commission: Double = 0, commissionRate: Double = 0) {
        self.spread = spread
        self.commission = commission
        self.commissionRate = commissionRate
    }

    /// The cost of one round trip in R, for a setup entering at `entry` and risking `risk` (> 0) price units.
    public func costR(entry: Double, risk: Double) -> Double {
        (spread + commission + commissionRate * abs(entry)) / Swift.max(abs(risk), 1e-12)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case spread, commission
        case commissionRate = "commission_rate"
    }

    public init(from decoder: any Decoder) throws {
        try StrictKeys.check(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        spread = try c.decodeIfPresent(Double.self, forKey: .spread) ?? 0
        commission = try c.decodeIfPresent(Double.self, forKey: .commission) ?? 0
        commissionRate = try c.decodeIfPresent(Double.self, forKey: .commissionRate) ?? 0
        guard spread.isFinite, spread >= 0, commission.isFinite, commission >= 0 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "spread and commission must be 0 or more"))
        }
        guard commissionRate.isFinite, commissionRate >= 0, commissionRate < 0.1 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [CodingKeys.commissionRate],
                                                    debugDescription: "commission_rate must be at least 0 and below 0.1"))
        }
    }
}

/// What `smc-client backtest --config FILE` reads: either a bare strategy document (the REST `strategy`
/// settings), or `{"strategy": {…}, "killzones": {…}, "costs": {"spread": 0.0001, "commission": 0.00005}}`
/// with every part optional.
public struct BacktestConfiguration: Sendable, Hashable, Decodable {
    public var strategy = StrategySettings()
    public var killzones = KillzoneSettings()
    public var costs = BacktestCosts()

    public init(strategy: StrategySettings = .init(), killzones: KillzoneSettings = .init(), costs: BacktestCosts = .init()) {
        self.strategy = strategy
        self.killzones = killzones
        self.costs = costs
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case strategy, killzones, costs }

    public init(from decoder: any Decoder) throws {
        let keys = try decoder.container(keyedBy: StrictKeys.AnyKey.self).allKeys.map(\.stringValue)
        let wrapped = keys.contains { CodingKeys(rawValue: $0) != nil }
        if !wrapped {
            strategy = try StrategySettings(from: decoder)
            return
        }
        try StrictKeys.check(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        strategy = try c.decodeIfPresent(StrategySettings.self, forKey: .strategy) ?? .init()
        killzones = try c.decodeIfPresent(KillzoneSettings.self, forKey: .killzones) ?? .init()
        costs = try c.decodeIfPresent(BacktestCosts.self, forKey: .costs) ?? .init()
    }

    /// Parses a config file's bytes; errors name the field.
    public init(json: Data) throws(SMCParameterError) {
        do {
            self = try JSONDecoder().decode(Self.self, from: json)
        } catch let error as DecodingError {
            throw SMCParameterError(code: "invalid_config", message: Self.describe(error))
        } catch {
            throw SMCParameterError(code: "invalid_config", message: "\(error)")
        }
        if let problem = strategy.problems().first {
            throw SMCParameterError(code: "invalid_config", message: "strategy\(problem.field): \(problem.message)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.isEmpty ? "the document" : "/" + keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: "/")
        }
        switch error {
        case .typeMismatch(let type, let context): return "\(path(context.codingPath)): expected \(type)"
        case .valueNotFound(_, let context): return "\(path(context.codingPath)): missing value"
        case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])): missing"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty && context.debugDescription.contains("JSON")
                ? "not valid JSON" : "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

/// A signal and how it ended.
public struct BacktestTrade: Sendable, Hashable, Codable {
    public var signal: Signal
    public var outcome: SignalOutcome
    /// R after costs.
    public var netR: Double
}

/// Statistics of a backtest, with fixed-risk sizing (every trade risks 1 R), so sums of R are the equity curve.
public struct BacktestStatistics: Sendable, Hashable, Encodable {
    public var trades = 0
    public var wins = 0
    public var losses = 0
    public var expired = 0
    /// Signals still open when the data ended (not counted in the figures).
    public var open = 0
    public var winRate = 0.0
    public var averageR = 0.0
    /// Mean win × win rate − mean loss × loss rate, in R (equal to the mean net R).
    public var expectancy = 0.0
    /// Gross won R / gross lost R; infinite with no losing trade.
    public var profitFactor = 0.0
    public var totalR = 0.0
    /// Largest fall of the cumulative R from a previous peak.
    public var maxDrawdownR = 0.0
    /// The most consecutive trades with R at or below 0.
    public var longestLosingStreak = 0

    public init(_ trades: [BacktestTrade], open: Int) {
        self.open = open
        self.trades = trades.count
        guard !trades.isEmpty else { return }
        var won = 0.0, lost = 0.0, equity = 0.0, peak = 0.0, streak = 0
        for t in trades {
            if t.outcome.kind == .expired { expired += 1 }
            if t.netR > 0 {
                wins += 1
                won += t.netR
                streak = 0
            } else {
                losses += 1
                lost -= t.netR
                streak += 1
                longestLosingStreak = Swift.max(longestLosingStreak, streak)
            }
            equity += t.netR
            peak = Swift.max(peak, equity)
            maxDrawdownR = Swift.max(maxDrawdownR, peak - equity)
        }
        let n = Double(trades.count)
        winRate = Double(wins) / n
        totalR = equity
        averageR = equity / n
        let meanWin = wins > 0 ? won / Double(wins) : 0
        let meanLoss = losses > 0 ? lost / Double(losses) : 0
        expectancy = meanWin * winRate - meanLoss * (1 - winRate)
        profitFactor = lost > 0 ? won / lost : (won > 0 ? .infinity : 0)
    }

    enum CodingKeys: String, CodingKey {
        case trades, wins, losses, expired, open, winRate, averageR, expectancy, profitFactor, totalR, maxDrawdownR
        case longestLosingStreak
    }

    /// As the synthesized form, except that an infinite profit factor (no losing trade) is `null`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(trades, forKey: .trades)
        try c.encode(wins, forKey: .wins)
        try c.encode(losses, forKey: .losses)
        try c.encode(expired, forKey: .expired)
        try c.encode(open, forKey: .open)
        try c.encode(winRate, forKey: .winRate)
        try c.encode(averageR, forKey: .averageR)
        try c.encode(expectancy, forKey: .expectancy)
        try c.encode(profitFactor.isFinite ? profitFactor : nil, forKey: .profitFactor)
        try c.encode(totalR, forKey: .totalR)
        try c.encode(maxDrawdownR, forKey: .maxDrawdownR)
        try c.encode(longestLosingStreak, forKey: .longestLosingStreak)
    }
}

/// Replays candles through a `SignalEngine` in streaming mode (one closed candle at a time, as the server does)
/// and collects the signals with their outcomes.
public struct Backtest: Sendable {
    public var trades: [BacktestTrade] = []
    /// Signals whose outcome the data did not reach.
    public var openSignals: [Signal] = []
    public var statistics: BacktestStatistics
    public var candles: Int
    public var timeframe: SignalTimeframe
    /// The learned member's model at the end of the replay (nil if it never had enough labelled setups).
    public var model: LogisticModel?

    public init(candles: CandleSeries, timeframe: SignalTimeframe, configuration: BacktestConfiguration)
        throws(SMCParameterError)
    {
        var engine = try SignalEngine(timeframe: timeframe, settings: configuration.strategy,
                                      killzones: configuration.killzones)
        var open: [String: Signal] = [:]
        var order: [String] = []
        var trades: [BacktestTrade] = []
        for i in 0..<candles.count {
            let step = engine.process(candles[i])
            for outcome in step.outcomes {
                guard let signal = open.removeValue(forKey: outcome.signalID) else { continue }
                let cost = configuration.costs.costR(entry: signal.setup.entry, risk: signal.setup.risk)
                trades.append(BacktestTrade(signal: signal, outcome: outcome, netR: outcome.r - cost))
            }
            for signal in step.signals {
                open[signal.id] = signal
                order.append(signal.id)
            }
        }
        self.trades = trades
        openSignals = order.compactMap { open[$0] }
        statistics = BacktestStatistics(trades, open: openSignals.count)
        self.candles = candles.count
        self.timeframe = timeframe
        model = engine.evaluator.ensemble.model
    }

    /// `{"timeframe", "candles", "statistics", "trades": [{signal, outcome, net_r}], "open_signals"}`, snake_case
    /// keys, sorted, so two runs print the same bytes.
    public func json() throws -> String {
        struct Report: Encodable {
            var timeframe: String
            var candles: Int
            var statistics: BacktestStatistics
            var trades: [BacktestTrade]
            var openSignals: [Signal]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let report = Report(timeframe: timeframe.label, candles: candles, statistics: statistics, trades: trades,
                            openSignals: openSignals)
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }

    /// A table of the trades, then the statistics.
    public func text(decimals: Int = 5) -> String {
        func p(_ x: Double) -> String { String(format: "%.\(decimals)f", x) }
        func r(_ x: Double) -> String { String(format: "%+.2f", x) }
        var rows: [[String]] = []
        for t in trades {
            let s = t.signal
            rows.append([
                CivilTime.minuteText(s.closeTime), s.direction > 0 ? "long" : "short",
                s.setup.zone.kind == .orderBlock ? "OB" : "FVG", String(format: "%.0f", s.confidence),
                s.killzone ?? "-", p(s.setup.entry), p(s.setup.stop), p(s.setup.targets[0]),
                String(format: "%.2f", s.setup.rewardRisk), t.outcome.kind.rawValue, CivilTime.minuteText(t.outcome.resolvedTime),
                r(t.netR),
            ])
        }
        let header = ["signal (close)", "side", "zone", "conf", "killzone", "entry", "stop", "target", "R:R", "outcome",
                      "decided", "R net"]
        var out = Self.table(header: header, rows: rows)
        let s = statistics
        out += "\n\(candles) candles of \(timeframe.label); \(s.trades) closed trades, \(s.open) still open\n"
        out += "win rate       \(String(format: "%.1f", s.winRate * 100)) % (\(s.wins) won, \(s.losses) lost, \(s.expired) expired)\n"
        out += "average R      \(r(s.averageR))\n"
        out += "expectancy     \(r(s.expectancy)) R per trade\n"
        out += "profit factor  \(s.profitFactor.isFinite ? String(format: "%.2f", s.profitFactor) : "∞")\n"
        out += "total          \(r(s.totalR)) R\n"
        out += "max drawdown   \(String(format: "%.2f", s.maxDrawdownR)) R\n"
        out += "longest losing streak  \(s.longestLosingStreak)\n"
        return out
    }

    static func table(header: [String], rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = Swift.max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
        }
        return line(header) + rows.map(line).joined()
    }
}
