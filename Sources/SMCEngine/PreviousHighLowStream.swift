/// One candle's previous-period values (a row of the batch result), known on that candle.
public struct PreviousHighLowRow: Sendable, Hashable, Codable {
    public var index: Int
    public var confirmedAt: Int
    /// NaN until there is a reference period.
    public var previousHigh: Double
    public var previousLow: Double
    public var brokenHigh: Bool
    public var brokenLow: Bool
}

/// Streaming `SMC.previousHighLow`: every row depends only on candles up to its own, so each is emitted at once.
public struct PreviousHighLowStream: StreamingDetector {
    public let timeFrame: TimeFrame
    public private(set) var candleCount = 0
    private var labeler: PeriodLabeler?
    private var currentLabel = Int64.min
    /// Extremes of the last three periods, oldest first, and the current period's rank.
    private var periods: [(high: Double, low: Double)] = []
    private var rank = -1
    private var groupReference = Int.min
    private var runningHigh = 0.0
    private var runningLow = 0.0

    public init(timeFrame: TimeFrame = .day) {
        self.timeFrame = timeFrame
    }

    public mutating func feed(_ candle: Candle) -> [PreviousHighLowRow] {
        let t = candleCount
        candleCount += 1
        if labeler == nil { labeler = PeriodLabeler(timeFrame: timeFrame, firstTime: candle.time) }
        let label = labeler!.label(candle.time)
        if label != currentLabel {
            currentLabel = label
            rank += 1
            periods.append((candle.high, candle.low))
            if periods.count > 3 { periods.removeFirst() }
        } else {
            let last = periods.count - 1
            periods[last].high = Swift.max(periods[last].high, candle.high)
            periods[last].low = Swift.min(periods[last].low, candle.low)
        }
        let reference = rank + (label < candle.time ? 1 : 0) - 2
        if reference != groupReference {
            groupReference = reference
            runningHigh = candle.high
            runningLow = candle.low
        } else {
            runningHigh = Swift.max(runningHigh, candle.high)
            runningLow = Swift.min(runningLow, candle.low)
        }
        guard reference >= 0 else {
            return [PreviousHighLowRow(index: t, confirmedAt: t, previousHigh: .nan, previousLow: .nan,
                                       brokenHigh: false, brokenLow: false)]
        }
        // `reference` is rank − 1 or rank − 2: within the last three periods.
        let period = periods[periods.count - 1 - (rank - reference)]
        let high = period.high.float32Rounded
        let low = period.low.float32Rounded
        return [PreviousHighLowRow(index: t, confirmedAt: t, previousHigh: high, previousLow: low,
                                   brokenHigh: runningHigh > high, brokenLow: runningLow < low)]
    }
}
