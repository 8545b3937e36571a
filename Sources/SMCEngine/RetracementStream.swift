/// One candle's retracement (a row of the batch result, which shows it one row later).
public struct RetracementRow: Sendable, Hashable, Codable {
    /// The candle the values are computed on. The batch result shows them on row `index + 1`: the reference
    /// shifts its whole output one candle later.
    public var index: Int
    public var confirmedAt: Int
    /// 1 after a swing high, -1 after a swing low, 0 during the warm-up.
    public var direction: Int
    public var currentRetracement: Double
    public var deepestRetracement: Double
}

/// Streaming `SMC.retracements` over its own `SwingStream`: a candle's row is emitted once the swings up to it
/// are settled.
///
/// Difference from batch mode, in the warm-up only: the reference zeroes every row up to the one after its third
/// "direction change", and counts among them the step from its last row to its first (it rolls the output), so
/// whether the warm-up ends at the second or the third real swing depends on the parity of the number of swings
/// in the whole series. The stream zeroes the rows through the second real swing (the first candle whose top and
/// bottom both come from real swings is the first with values): equal to the batch result when the series has an
/// even number of real swings, and otherwise different on the rows between the second and the third swing,
/// which the batch zeroes.
///
/// Its state is `Codable` (JSON-safe, see `JSONSafeCodable`) and `Hashable`: a decoded stream continues exactly as
/// the original.
public struct RetracementStream: StreamingDetector, Codable, Hashable {
    public private(set) var candleCount = 0
    private var swings: SwingStream
    private var window = CandleWindow()
    @JSONSafe private var pending: [SwingEvent] = []
    private var pendingHead = 0
    private var cursor = 0
    private var realSwings = 0
    private var warmUpEnd = Int.max
    private var direction = 0
    @JSONSafe private var top = 0.0
    @JSONSafe private var bottom = 0.0
    @JSONSafe private var deepest = 0.0

    public init(swingLength: Int = 50) {
        swings = SwingStream(swingLength: swingLength)
    }

    public mutating func feed(_ candle: Candle) -> [RetracementRow] {
        let t = candleCount
        candleCount += 1
        window.append(candle)
        pending += swings.feed(candle)
        var rows: [RetracementRow] = []
        let limit = Swift.min(swings.settledHighs, swings.settledLows)
        while cursor < limit {
            let i = cursor
            cursor += 1
            let previousDirection = direction
            if pendingHead < pending.count, pending[pendingHead].index == i {
                let swing = pending[pendingHead]
                pendingHead += 1
                direction = swing.kind
                if swing.kind == 1 { top = swing.level } else { bottom = swing.level }
                if i > 0 {
                    realSwings += 1
                    if realSwings == 2 { warmUpEnd = i }
                }
            }
            let candle = window[i]
            var current = 0.0
            var deepestNow = 0.0
            if previousDirection == 1 {
                let divisor = top - bottom
                current = pythonRound1(divisor != 0 ? 100 - ((candle.low - bottom) / divisor) * 100 : 0)
                deepestNow = Swift.max(previousDirection == 1 ? deepest : 0, current)
            }
            if direction == -1 {
                let divisor = bottom - top
                current = pythonRound1(divisor != 0 ? 100 - ((candle.high - top) / divisor) * 100 : 0)
                deepestNow = Swift.max(previousDirection == -1 ? deepest : 0, current)
            }
            deepest = deepestNow
            if i <= warmUpEnd {
                rows.append(RetracementRow(index: i, confirmedAt: t, direction: 0, currentRetracement: 0,
                                           deepestRetracement: 0))
            } else {
                rows.append(RetracementRow(index: i, confirmedAt: t, direction: direction,
                                           currentRetracement: current, deepestRetracement: deepestNow))
            }
        }
        if pendingHead > 16 && pendingHead * 2 >= pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
        window.discard(before: cursor)
        return rows
    }
}
