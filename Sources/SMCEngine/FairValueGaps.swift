/// Fair value gaps, one row per candle (reference `smc.fvg`).
///
/// A bullish gap sits on a rising middle candle whose neighbours do not overlap (`high[i-1] < low[i+1]`), a
/// bearish one on a falling middle candle with `low[i-1] > high[i+1]`. The row of the middle candle carries it.
public struct FairValueGaps: Sendable, Hashable, ReferenceTableConvertible {
    /// 1 bullish, -1 bearish, NaN none.
    public var direction: [Double]
    public var top: [Double]
    public var bottom: [Double]
    /// Index of the first candle (from `i + 2` on) that trades back into the gap; `0` when none did yet
    /// (the reference's convention), NaN where there is no gap.
    public var mitigatedIndex: [Double]

    public var count: Int { direction.count }

    public var referenceTable: ReferenceTable {
        ReferenceTable(columns: [
            .init(name: "FVG", kind: .float64, values: direction),
            .init(name: "Top", kind: .float64, values: top),
            .init(name: "Bottom", kind: .float64, values: bottom),
            .init(name: "MitigatedIndex", kind: .float64, values: mitigatedIndex),
        ])
    }
}

extension SMC {
    /// Fair value gaps.
    ///
    /// - Parameter joinConsecutive: merge runs of same-direction gaps into the last one of the run, with the
    ///   highest top and lowest bottom; earlier members of the run become empty rows.
    ///
    /// Reference quirks kept: the first and last candle never carry a gap (a neighbour is missing); an unmitigated
    /// gap has `MitigatedIndex` 0, not NaN; mitigation is looked for from `i + 2`, so the candle right after the
    /// gap never mitigates it.
    public static func fairValueGaps(_ candles: CandleSeries, joinConsecutive: Bool = false) -> FairValueGaps {
        let n = candles.count
        var direction = [Double](repeating: .nan, count: n)
        var top = [Double](repeating: .nan, count: n)
        var bottom = [Double](repeating: .nan, count: n)
        var mitigated = [Double](repeating: .nan, count: n)
        guard n >= 3 else {
            return FairValueGaps(direction: direction, top: top, bottom: bottom, mitigatedIndex: mitigated)
        }
        candles.open.withUnsafeBufferPointer { open in
        candles.high.withUnsafeBufferPointer { high in
        candles.low.withUnsafeBufferPointer { low in
        candles.close.withUnsafeBufferPointer { close in
        direction.withUnsafeMutableBufferPointer { direction in
        top.withUnsafeMutableBufferPointer { top in
        bottom.withUnsafeMutableBufferPointer { bottom in
            for i in 1..<(n - 1) {
                if close[i] > open[i] {
                    if high[i - 1] < low[i + 1] {
                        direction[i] = 1
                        top[i] = low[i + 1]
                        bottom[i] = high[i - 1]
                    }
                } else if close[i] < open[i] {
                    if low[i - 1] > high[i + 1] {
                        direction[i] = -1
                        top[i] = low[i - 1]
                        bottom[i] = high[i + 1]
                    }
                }
            }
        }}}}}}}
        if joinConsecutive {
            // Left to right, so a run keeps widening into its last member.
            for i in 0..<(n - 1) where !direction[i].isNaN && direction[i] == direction[i + 1] {
                top[i + 1] = Swift.max(top[i], top[i + 1])
                bottom[i + 1] = Swift.min(bottom[i], bottom[i + 1])
                direction[i] = .nan
                top[i] = .nan
                bottom[i] = .nan
            }
        }
        // Mitigation: bullish gaps by a low at or below the top, bearish ones by a high at or above the bottom.
        var bullStarts: [Int] = [], bullLevels: [Double] = [], bullRows: [Int] = []
        var bearStarts: [Int] = [], bearLevels: [Double] = [], bearRows: [Int] = []
        for i in 0..<n where !direction[i].isNaN {
            if direction[i] == 1 {
                bullStarts.append(i + 2); bullLevels.append(top[i]); bullRows.append(i)
            } else {
                bearStarts.append(i + 2); bearLevels.append(bottom[i]); bearRows.append(i)
            }
        }
        let bullHits = FirstCrossing.resolve(values: candles.low, direction: .atOrBelow, starts: bullStarts,
                                             thresholds: bullLevels)
        for (k, row) in bullRows.enumerated() { mitigated[row] = Double(bullHits[k] ?? 0) }
        let bearHits = FirstCrossing.resolve(values: candles.high, direction: .atOrAbove, starts: bearStarts,
                                             thresholds: bearLevels)
        for (k, row) in bearRows.enumerated() { mitigated[row] = Double(bearHits[k] ?? 0) }
        return FairValueGaps(direction: direction, top: top, bottom: bottom, mitigatedIndex: mitigated)
    }
}
