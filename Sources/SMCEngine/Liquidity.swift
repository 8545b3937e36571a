/// Liquidity pools: clusters of swing highs (or lows) within a small price range (reference `smc.liquidity`).
public struct Liquidity: Sendable, Hashable, ReferenceTableConvertible {
    /// 1 a pool of swing highs, -1 of swing lows, NaN none; on the row of the pool's first swing.
    public var direction: [Double]
    /// Mean level of the pooled swings (float32, like the reference).
    public var level: [Double]
    /// Index of the last swing in the pool.
    public var end: [Double]
    /// First candle that ran through the pool; 0 when none did (the reference's convention).
    public var swept: [Double]

    public var count: Int { direction.count }

    public var referenceTable: ReferenceTable {
        ReferenceTable(columns: [
            .init(name: "Liquidity", kind: .float32, values: direction),
            .init(name: "Level", kind: .float32, values: level),
            .init(name: "End", kind: .float32, values: end),
            .init(name: "Swept", kind: .float32, values: swept),
        ])
    }
}

extension SMC {
    /// Liquidity.
    ///
    /// The range is `rangePercent` of the whole series' span (highest high − lowest low). Swing highs are taken
    /// in order; each one not yet used opens a pool and gathers the later unused swing highs whose level lies
    /// within ± range of its own, up to (not including) the candle that sweeps it: the first candle after it
    /// whose high reaches its level + range. A pool needs at least two swings. Lows mirror this.
    ///
    /// Reference quirks kept: the range depends on the whole series (so results change as data is appended);
    /// an unswept pool has `Swept` 0; all columns are float32.
    ///
    /// Cost: O(m log m) for m swings when levels are the swing candles' own highs/lows (as `swingHighsLows`
    /// produces); a pool search visits a swing above the range only if a level exceeds its candle's price.
    public static func liquidity(_ candles: CandleSeries, swings: SwingHighsLows,
                                 rangePercent: Double = 0.01) -> Liquidity {
        liquidity(candles, swings: swings, range: liquidityRange(candles, rangePercent: rangePercent))
    }

    /// `liquidity` with the range given in price units instead of derived from the whole series: the rule that
    /// `LiquidityStream` follows.
    static func liquidity(_ candles: CandleSeries, swings: SwingHighsLows, range: Double) -> Liquidity {
        let n = candles.count
        precondition(swings.count == n, "swings must come from the same candles")
        var result = Liquidity(direction: .init(repeating: .nan, count: n), level: .init(repeating: .nan, count: n),
                               end: .init(repeating: .nan, count: n), swept: .init(repeating: .nan, count: n))
        guard n > 0 else { return result }
        pools(kind: 1, candles: candles, swings: swings, range: range, into: &result)
        pools(kind: -1, candles: candles, swings: swings, range: range, into: &result)
        return result
    }

    /// The price distance within which `liquidity` pools swings: `rangePercent` of the series' whole span
    /// (highest high − lowest low). Give it to `LiquidityStream` to replay a batch result exactly. 0 when empty.
    public static func liquidityRange(_ candles: CandleSeries, rangePercent: Double = 0.01) -> Double {
        guard !candles.isEmpty else { return 0 }
        var highest = -Double.infinity
        var lowest = Double.infinity
        for i in 0..<candles.count {
            highest = Swift.max(highest, candles.high[i])
            lowest = Swift.min(lowest, candles.low[i])
        }
        return (highest - lowest) * rangePercent
    }

    private static func pools(kind: Double, candles: CandleSeries, swings: SwingHighsLows, range: Double,
                              into result: inout Liquidity) {
        let n = candles.count
        var positions: [Int] = []
        for i in 0..<n where swings.highLow[i] == kind { positions.append(i) }
        let m = positions.count
        guard m > 0 else { return }
        let levels = positions.map { swings.level[$0] }

        // Sweeping candle of each swing: first later high >= level + range (low <= level - range for lows).
        let sweeps: [Int?]
        if kind == 1 {
            sweeps = FirstCrossing.resolve(values: candles.high, direction: .atOrAbove,
                                           starts: positions.map { $0 + 1 }, thresholds: levels.map { $0 + range })
        } else {
            sweeps = FirstCrossing.resolve(values: candles.low, direction: .atOrBelow,
                                           starts: positions.map { $0 + 1 }, thresholds: levels.map { $0 - range })
        }

        // Lows are searched as negated highs (exact), so one "at least" search serves both.
        let sign = kind
        var tree = MaxTree(values: levels.map { sign * $0 })
        var used = [Bool](repeating: false, count: m)
        var found: [Int] = []
        for k in 0..<m where !used[k] {
            let own = levels[k]
            let signed = sign * own
            let lowBound = signed - range
            let highBound = signed + range
            let sweep = sweeps[k]
            let limit = sweep ?? n
            // Candidates strictly after this swing and strictly before the sweep.
            var windowEnd = m
            if sweep != nil {
                var lo = k + 1, hi = m
                while lo < hi {
                    let mid = (lo + hi) >> 1
                    if positions[mid] < limit { lo = mid + 1 } else { hi = mid }
                }
                windowEnd = lo
            }
            guard windowEnd > k + 1 else { continue }
            found.removeAll(keepingCapacity: true)
            tree.collect(from: k + 1, to: windowEnd, atLeast: lowBound, into: &found)
            var sum = own
            var members = 1
            var last = positions[k]
            for candidate in found {
                let value = sign * levels[candidate]
                guard value <= highBound else { continue }
                used[candidate] = true
                tree.remove(candidate)
                sum += levels[candidate]
                members += 1
                last = positions[candidate]
            }
            guard members > 1 else { continue }
            let row = positions[k]
            result.direction[row] = kind
            result.level[row] = (sum / Double(members)).float32Rounded
            result.end[row] = Double(last)
            result.swept[row] = Double(sweep ?? 0)
        }
    }
}

/// Segment tree of maxima over a fixed list, with removal, that reports every element of an index range whose
/// value is at least a bound, in index order.
private struct MaxTree {
    private var nodes: [Double]
    private let size: Int

    init(values: [Double]) {
        var size = 1
        while size < values.count { size <<= 1 }
        self.size = size
        nodes = [Double](repeating: -.infinity, count: 2 * size)
        for (i, v) in values.enumerated() { nodes[size + i] = v.isNaN ? -.infinity : v }
        if size > 1 {
            for node in stride(from: size - 1, through: 1, by: -1) {
                nodes[node] = Swift.max(nodes[2 * node], nodes[2 * node + 1])
            }
        }
    }

    mutating func remove(_ index: Int) {
        var node = size + index
        nodes[node] = -.infinity
        node >>= 1
        while node >= 1 {
            nodes[node] = Swift.max(nodes[2 * node], nodes[2 * node + 1])
            node >>= 1
        }
    }

    func collect(from lower: Int, to upper: Int, atLeast bound: Double, into out: inout [Int]) {
        visit(node: 1, nodeLower: 0, nodeUpper: size, lower, upper, bound, &out)
    }

    private func visit(node: Int, nodeLower: Int, nodeUpper: Int, _ lower: Int, _ upper: Int, _ bound: Double,
                       _ out: inout [Int]) {
        if nodeUpper <= lower || nodeLower >= upper || !(nodes[node] >= bound) { return }
        if nodeUpper - nodeLower == 1 {
            out.append(nodeLower)
            return
        }
        let middle = (nodeLower + nodeUpper) >> 1
        visit(node: 2 * node, nodeLower: nodeLower, nodeUpper: middle, lower, upper, bound, &out)
        visit(node: 2 * node + 1, nodeLower: middle, nodeUpper: nodeUpper, lower, upper, bound, &out)
    }
}
