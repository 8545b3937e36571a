/// Retracement from the last swing, in percent (reference `smc.retracements`).
public struct Retracements: Sendable, Hashable, ReferenceTableConvertible {
    /// 1 after a swing high (price retracing down), -1 after a swing low, 0 at the start.
    public var direction: [Double]
    /// Current retracement, % of the last swing range, rounded to 0.1.
    public var currentRetracement: [Double]
    /// Deepest retracement since the last swing.
    public var deepestRetracement: [Double]

    public var count: Int { direction.count }

    public var referenceTable: ReferenceTable {
        ReferenceTable(columns: [
            .init(name: "Direction", kind: .integer, values: direction),
            .init(name: "CurrentRetracement%", kind: .float64, values: currentRetracement),
            .init(name: "DeepestRetracement%", kind: .float64, values: deepestRetracement),
        ])
    }
}

extension SMC {
    /// Retracements.
    ///
    /// Reference quirks kept:
    /// - after a swing high the retracement is measured on candles whose *previous* candle was in the "high"
    ///   direction, after a swing low on candles that are themselves in the "low" direction (so a swing low's own
    ///   candle gets a value and a swing high's does not);
    /// - values are rounded to one decimal as Python's `round` does (exact decimal value, ties to even);
    /// - the whole output is shifted one candle later (the last candle's values wrap to the first row), then every
    ///   row up to and including the one after the third direction change is zeroed; with fewer than three
    ///   changes everything but the last row is zeroed.
    public static func retracements(_ candles: CandleSeries, swings: SwingHighsLows) -> Retracements {
        let n = candles.count
        precondition(swings.count == n, "swings must come from the same candles")
        guard n > 0 else { return Retracements(direction: [], currentRetracement: [], deepestRetracement: []) }
        var direction = [Int8](repeating: 0, count: n)
        var current = [Double](repeating: 0, count: n)
        var deepest = [Double](repeating: 0, count: n)
        var top = 0.0
        var bottom = 0.0
        swings.highLow.withUnsafeBufferPointer { kinds in
        swings.level.withUnsafeBufferPointer { levels in
        candles.high.withUnsafeBufferPointer { high in
        candles.low.withUnsafeBufferPointer { low in
        direction.withUnsafeMutableBufferPointer { direction in
        current.withUnsafeMutableBufferPointer { current in
        deepest.withUnsafeMutableBufferPointer { deepest in
            for i in 0..<n {
                let kind = kinds[i]
                if kind == 1 {
                    direction[i] = 1
                    top = levels[i]
                } else if kind == -1 {
                    direction[i] = -1
                    bottom = levels[i]
                } else {
                    direction[i] = i > 0 ? direction[i - 1] : 0
                }
                // At i = 0 the reference reads direction[-1]: the still-zero last element (the only one if n == 1).
                let previous = i > 0 ? direction[i - 1] : direction[n - 1]
                if previous == 1 {
                    let divisor = top - bottom
                    current[i] = pythonRound1(divisor != 0 ? 100 - ((low[i] - bottom) / divisor) * 100 : 0)
                    deepest[i] = Swift.max(i > 0 && direction[i - 1] == 1 ? deepest[i - 1] : 0, current[i])
                }
                if direction[i] == -1 {
                    let divisor = bottom - top
                    current[i] = pythonRound1(divisor != 0 ? 100 - ((high[i] - top) / divisor) * 100 : 0)
                    deepest[i] = Swift.max(i > 0 && direction[i - 1] == -1 ? deepest[i - 1] : 0, current[i])
                }
            }
        }}}}}}}

        // Shift everything one row later, the last row wrapping to the first (numpy.roll).
        var outDirection = [Double](repeating: 0, count: n)
        var outCurrent = [Double](repeating: 0, count: n)
        var outDeepest = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let source = i == 0 ? n - 1 : i - 1
            outDirection[i] = Double(direction[source])
            outCurrent[i] = current[source]
            outDeepest[i] = deepest[source]
        }

        // Zero the warm-up: through the row after the third direction change.
        var changes = 0
        var i = 0
        while i + 1 < n {
            if outDirection[i] != outDirection[i + 1] { changes += 1 }
            outDirection[i] = 0; outCurrent[i] = 0; outDeepest[i] = 0
            if changes == 3 {
                outDirection[i + 1] = 0; outCurrent[i + 1] = 0; outDeepest[i + 1] = 0
                break
            }
            i += 1
        }
        return Retracements(direction: outDirection, currentRetracement: outCurrent, deepestRetracement: outDeepest)
    }
}

/// Python's `round(x, 1)`: the exact binary value of `x` rounded to one decimal, ties to even, then the nearest
/// double. `x * 10` is not exact, so its rounding error is recovered and the tie test is made on the exact value:
/// `10x = 8x + 2x` where both terms are exact, so the error of their sum (Knuth's two-sum) is the error of the
/// product — no fused multiply-add needed (which would be a slow library call on baseline x86-64).
func pythonRound1(_ x: Double) -> Double {
    guard x.isFinite else { return x }
    let magnitude = Swift.abs(x)
    let a = magnitude * 8
    let b = magnitude * 2
    let product = a + b
    let bVirtual = product - a
    let error = (a - (product - bVirtual)) + (b - bVirtual)  // magnitude * 10 == product + error, exactly
    let whole = product.rounded(.down)
    let fraction = product - whole  // exact for product >= 0
    let diff = (fraction - 0.5) + error  // its sign is the sign of the exact difference
    var k = whole
    // Doubles from 2^53 on are all even integers.
    if diff > 0 || (diff == 0 && whole < 9_007_199_254_740_992 && Int64(whole) & 1 == 1) { k += 1 }
    let rounded = k / 10
    return x < 0 ? -rounded : rounded
}
