/// Swing highs and lows, one row per candle (reference `smc.swing_highs_lows`). The other structure detectors
/// (BOS/CHoCH, order blocks, liquidity, retracements) take this as input.
public struct SwingHighsLows: Sendable, Hashable, ReferenceTableConvertible {
    /// 1 swing high, -1 swing low, NaN none.
    public var highLow: [Double]
    /// The high of a swing high, the low of a swing low, NaN otherwise.
    public var level: [Double]

    public init(highLow: [Double], level: [Double]) {
        precondition(highLow.count == level.count)
        self.highLow = highLow
        self.level = level
    }

    public var count: Int { highLow.count }

    public var referenceTable: ReferenceTable {
        ReferenceTable(columns: [
            .init(name: "HighLow", kind: .float64, values: highLow),
            .init(name: "Level", kind: .float64, values: level),
        ])
    }
}

extension SMC {
    /// Swing highs and lows.
    ///
    /// A candle `i` is a candidate swing high when its high equals the highest high of candles
    /// `i - swingLength + 1 ... i + swingLength`, else a candidate swing low when its low equals the lowest low of
    /// that window. Each run of same-kind candidates is then reduced to its most extreme member (the first one on
    /// ties), so highs and lows alternate.
    ///
    /// Reference quirks kept:
    /// - the window is asymmetric (`swingLength - 1` candles before, `swingLength` after), and candles before
    ///   index `2 * swingLength - 1` or within `swingLength` of the end are never candidates (pandas' rolling
    ///   window over a shifted series is incomplete there);
    /// - the first and the last candle are forced to the kind opposite to the first and last real swing, with
    ///   their own low/high as level, so every series that has a swing starts and ends with a (fake) swing.
    public static func swingHighsLows(_ candles: CandleSeries, swingLength: Int = 50) -> SwingHighsLows {
        precondition(swingLength >= 1, "swingLength must be at least 1")
        let n = candles.count
        var highLow = [Double](repeating: .nan, count: n)
        var level = [Double](repeating: .nan, count: n)
        let length = swingLength
        let firstCandidate = 2 * length - 1
        let lastCandidate = n - 1 - length
        guard firstCandidate <= lastCandidate else { return SwingHighsLows(highLow: highLow, level: level) }

        // Sliding window extremes over [i - length + 1, i + length] with monotonic deques (indices); candidates
        // are reduced run by run on the fly.
        var firstSwing = -1
        var lastSwing = -1
        candles.high.withUnsafeBufferPointer { high in
        candles.low.withUnsafeBufferPointer { low in
        highLow.withUnsafeMutableBufferPointer { highLow in
            let maxDeque = UnsafeMutablePointer<Int>.allocate(capacity: n)
            let minDeque = UnsafeMutablePointer<Int>.allocate(capacity: n)
            defer { maxDeque.deallocate(); minDeque.deallocate() }
            var maxHead = 0, maxTail = 0, minHead = 0, minTail = 0
            var nextToAdd = firstCandidate - length + 1
            var runKind = 0  // 1 highs, -1 lows, 0 before the first candidate
            var runBest = -1
            for i in firstCandidate...lastCandidate {
                let windowStart = i - length + 1
                let windowEnd = i + length
                var windowHigh: Double
                var windowLow: Double
                if length <= 12 {
                    // Short windows: a plain scan has no unpredictable branches and beats the deques.
                    windowHigh = high[windowStart]
                    windowLow = low[windowStart]
                    for k in (windowStart + 1)...windowEnd {
                        windowHigh = Swift.max(windowHigh, high[k])
                        windowLow = Swift.min(windowLow, low[k])
                    }
                } else {
                    while nextToAdd <= windowEnd {
                        let h = high[nextToAdd]
                        while maxTail > maxHead, high[maxDeque[maxTail - 1]] <= h { maxTail -= 1 }
                        maxDeque[maxTail] = nextToAdd; maxTail += 1
                        let l = low[nextToAdd]
                        while minTail > minHead, low[minDeque[minTail - 1]] >= l { minTail -= 1 }
                        minDeque[minTail] = nextToAdd; minTail += 1
                        nextToAdd += 1
                    }
                    while maxDeque[maxHead] < windowStart { maxHead += 1 }
                    while minDeque[minHead] < windowStart { minHead += 1 }
                    windowHigh = high[maxDeque[maxHead]]
                    windowLow = low[minDeque[minHead]]
                }

                let kind: Int
                if high[i] == windowHigh {
                    kind = 1
                } else if low[i] == windowLow {
                    kind = -1
                } else {
                    continue
                }
                if kind == runKind {
                    if kind == 1 ? high[i] > high[runBest] : low[i] < low[runBest] { runBest = i }
                } else {
                    if runKind != 0 {
                        highLow[runBest] = Double(runKind)
                        if firstSwing < 0 { firstSwing = runBest }
                        lastSwing = runBest
                    }
                    runKind = kind
                    runBest = i
                }
            }
            if runKind != 0 {
                highLow[runBest] = Double(runKind)
                if firstSwing < 0 { firstSwing = runBest }
                lastSwing = runBest
            }
        }}}
        let high = candles.high, low = candles.low

        if firstSwing >= 0 {
            // firstSwing >= 1 and lastSwing <= n - 2, so these never overwrite a real swing.
            highLow[0] = -highLow[firstSwing]
            highLow[n - 1] = -highLow[lastSwing]
        }
        for i in 0..<n where !highLow[i].isNaN {
            level[i] = highLow[i] == 1 ? high[i] : low[i]
        }
        return SwingHighsLows(highLow: highLow, level: level)
    }
}
