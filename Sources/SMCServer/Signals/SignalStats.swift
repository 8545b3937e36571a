import Foundation

/// The sums SQL takes over a set of resolved signals' R (before or after costs): enough for every ratio.
struct RSums: Sendable, Hashable {
    var resolved = 0
    /// Signals with R above 0, and the R they won.
    var wins = 0
    var won = 0.0
    /// The R the others lost (a positive number).
    var lost = 0.0

    var total: Double { won - lost }
    var hitRate: Double { resolved > 0 ? Double(wins) / Double(resolved) : 0 }
    var average: Double { resolved > 0 ? total / Double(resolved) : 0 }
    /// Won / lost; nil when nothing was lost.
    var profitFactor: Double? { lost > 0 ? won / lost : nil }
    /// Mean win × hit rate − mean loss × (1 − hit rate): the mean R, as `BacktestStatistics` states it.
    var expectancy: Double {
        let losses = resolved - wins
        let meanWin = wins > 0 ? won / Double(wins) : 0
        let meanLoss = losses > 0 ? lost / Double(losses) : 0
        return meanWin * hitRate - meanLoss * (1 - hitRate)
    }
}

/// The track-record figures of one side (before or after costs).
struct StatsFigures: Sendable, Hashable {
    var sums: RSums
    var maxDrawdownR: Double
    var longestLosingStreak: Int
}

/// One group of a breakdown (a setup type, a symbol, a month …).
struct StatsGroupRecord: Sendable, Hashable {
    var key: String
    var count: Int
    var gross: RSums
    var net: RSums
}

/// One UTC day of the equity curve.
struct EquityPointRecord: Sendable, Hashable {
    var date: String
    var resolved: Int
    var r: Double
    var netR: Double
    var cumulativeR: Double
    var cumulativeNetR: Double
}

/// `GET /v1/signals/stats`: every figure is summed in SQL (`SignalStore.stats`); only ratios are taken here.
struct SignalStatsRecord: Sendable, Hashable {
    /// The dimensions of the breakdown, in the order the answer lists them.
    static let dimensions = ["setup_type", "symbol", "timeframe", "killzone", "level", "direction", "month"]

    var historyDays = 0
    var count = 0
    var open = 0
    var targets = 0
    var stops = 0
    var expired = 0
    var gross = StatsFigures(sums: RSums(), maxDrawdownR: 0, longestLosingStreak: 0)
    var net = StatsFigures(sums: RSums(), maxDrawdownR: 0, longestLosingStreak: 0)
    var equityCurve: [EquityPointRecord] = []
    /// By dimension, groups in key order.
    var breakdown: [String: [StatsGroupRecord]] = [:]

    var resolved: Int { targets + stops + expired }
}
