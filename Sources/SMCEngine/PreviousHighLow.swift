/// Previous period's high and low for every candle (reference `smc.previous_high_low`).
public struct PreviousHighLow: Sendable, Hashable, ReferenceTableConvertible {
    /// High of the reference period (float32), NaN when there is none yet.
    public var previousHigh: [Double]
    public var previousLow: [Double]
    /// 1 once a high since the reference period changed is above `previousHigh`, else 0.
    public var brokenHigh: [Double]
    public var brokenLow: [Double]

    public var count: Int { previousHigh.count }

    public var referenceTable: ReferenceTable {
        ReferenceTable(columns: [
            .init(name: "PreviousHigh", kind: .float32, values: previousHigh),
            .init(name: "PreviousLow", kind: .float32, values: previousLow),
            .init(name: "BrokenHigh", kind: .integer, values: brokenHigh),
            .init(name: "BrokenLow", kind: .integer, values: brokenLow),
        ])
    }
}

extension SMC {
    /// Previous high and low of a higher time frame.
    ///
    /// Candles are grouped into periods as pandas' `resample` does (minute/hour/day periods counted from
    /// midnight of the first candle's day, left-closed and labelled by their start; weeks and month ends
    /// right-closed and labelled by their last day), keeping only periods that have candles. A candle's reference
    /// period is the second-to-last of the periods whose label is earlier than the candle.
    ///
    /// Reference quirks kept, which follow from that rule: a candle exactly at the start of a period (e.g. the
    /// 00:00 candle for `1D`) gets the period two back, not the previous one; with weeks and month ends, whose
    /// label is their last day, candles get the period two back except on that last day. Broken flags restart
    /// whenever the reference period changes. Prices are float32.
    public static func previousHighLow(_ candles: CandleSeries, timeFrame: TimeFrame = .day) -> PreviousHighLow {
        let n = candles.count
        var result = PreviousHighLow(previousHigh: .init(repeating: .nan, count: n),
                                     previousLow: .init(repeating: .nan, count: n),
                                     brokenHigh: .init(repeating: 0, count: n), brokenLow: .init(repeating: 0, count: n))
        guard n > 0 else { return result }
        let time = candles.time, high = candles.high, low = candles.low

        let periods = PeriodLabeler(timeFrame: timeFrame, firstTime: time[0])
        // Periods in order with their extremes, and each candle's count of periods labelled before it.
        var periodHigh: [Double] = []
        var periodLow: [Double] = []
        var before = [Int](repeating: 0, count: n)
        var currentLabel = Int64.min
        for i in 0..<n {
            let l = periods.label(time[i])
            if l != currentLabel {
                currentLabel = l
                periodHigh.append(high[i])
                periodLow.append(low[i])
            } else {
                periodHigh[periodHigh.count - 1] = Swift.max(periodHigh[periodHigh.count - 1], high[i])
                periodLow[periodLow.count - 1] = Swift.min(periodLow[periodLow.count - 1], low[i])
            }
            before[i] = periodHigh.count - 1 + (l < time[i] ? 1 : 0)
        }

        var groupReference = Int.min
        var runningHigh = -Double.infinity
        var runningLow = Double.infinity
        for i in 0..<n {
            let reference = before[i] - 2
            if reference != groupReference {
                groupReference = reference
                runningHigh = high[i]
                runningLow = low[i]
            } else {
                runningHigh = Swift.max(runningHigh, high[i])
                runningLow = Swift.min(runningLow, low[i])
            }
            guard reference >= 0 else { continue }
            let ph = periodHigh[reference].float32Rounded
            let pl = periodLow[reference].float32Rounded
            result.previousHigh[i] = ph
            result.previousLow[i] = pl
            result.brokenHigh[i] = runningHigh > ph ? 1 : 0
            result.brokenLow[i] = runningLow < pl ? 1 : 0
        }
        return result
    }
}
