import Foundation
import SMCSync

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

/// `GET /v1/signals/stats`: every figure is summed in SQL (`SignalStore.stats`); here the sums per combination of
/// dimensions are folded into the totals and the breakdowns, and the ratios taken.
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

    init(historyDays: Int = 0) { self.historyDays = historyDays }

    /// From `SignalStore.stats`' row: the ordered figures, the curve as `[[day, count, r, net r], …]` and the groups
    /// as `[[setup_type, symbol, timeframe, killzone, level, direction, month, count, resolved, gross wins, won, lost,
    /// net wins, won, lost], …]`.
    init(historyDays: Int, drawdown: (gross: Double, net: Double), streaks: (gross: Int, net: Int), targets: Int, stops: Int,
         curveJSON: String, groupsJSON: String) throws
    {
        self.historyDays = historyDays
        let curve = try JSONDecoder().decode([[JSONValue]].self, from: Data(curveJSON.utf8))
        var cumulative = (0.0, 0.0)
        for point in curve where point.count == 4 {
            cumulative.0 += point[2].number
            cumulative.1 += point[3].number
            equityCurve.append(.init(date: point[0].text, resolved: Int(point[1].number), r: point[2].number, netR: point[3].number,
                                     cumulativeR: cumulative.0, cumulativeNetR: cumulative.1))
        }
        var grossAll = RSums(), netAll = RSums()
        var byDimension: [String: [String: StatsGroupRecord]] = [:]
        for g in try JSONDecoder().decode([[JSONValue]].self, from: Data(groupsJSON.utf8)) where g.count == 15 {
            let resolved = Int(g[8].number)
            let gross = RSums(resolved: resolved, wins: Int(g[9].number), won: g[10].number, lost: g[11].number)
            let net = RSums(resolved: resolved, wins: Int(g[12].number), won: g[13].number, lost: g[14].number)
            let n = Int(g[7].number)
            count += n
            grossAll.add(gross)
            netAll.add(net)
            let keys = [g[0].text, g[1].text, g[2].text, g[3].text, g[4].text, g[5].number > 0 ? "long" : "short", g[6].text]
            for (dimension, key) in zip(Self.dimensions, keys) {
                var group = byDimension[dimension]?[key] ?? StatsGroupRecord(key: key, count: 0, gross: RSums(), net: RSums())
                group.count += n
                group.gross.add(gross)
                group.net.add(net)
                byDimension[dimension, default: [:]][key] = group
            }
        }
        breakdown = byDimension.mapValues { $0.values.sorted { $0.key < $1.key } }
        open = count - grossAll.resolved
        self.targets = targets
        self.stops = stops
        expired = grossAll.resolved - targets - stops
        gross = StatsFigures(sums: grossAll, maxDrawdownR: drawdown.gross, longestLosingStreak: streaks.gross)
        net = StatsFigures(sums: netAll, maxDrawdownR: drawdown.net, longestLosingStreak: streaks.net)
    }
}

extension RSums {
    mutating func add(_ other: RSums) {
        resolved += other.resolved
        wins += other.wins
        won += other.won
        lost += other.lost
    }
}

extension JSONValue {
    /// A cell of a JSON array row that SQL built: its number (0 for anything else) or its text.
    fileprivate var number: Double { if case .number(let d) = self { d } else { 0 } }
    fileprivate var text: String { if case .string(let t) = self { t } else { "" } }
}
