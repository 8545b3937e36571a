/// Streaming `SMC.swingHighsLows`.
///
/// A candidate at `i` is known at `i + swingLength`; it becomes a swing once a candidate of the other kind shows
/// up (until then a later, more extreme candidate of the same kind could replace it). The reference's fake swing
/// on candle 0 (opposite to the first swing) is emitted when the first candidate appears; its fake swing on the
/// last candle is never emitted, as it only marks the end of the data.
///
/// Its state is `Codable` (about 4·`swingLength` numbers; JSON-safe, see `JSONSafeCodable`) and `Hashable`: a
/// decoded stream continues exactly as the original.
public struct SwingStream: StreamingDetector, Codable, Hashable {
    public let swingLength: Int
    public private(set) var candleCount = 0
    @JSONSafe private var highs: [Double]
    @JSONSafe private var lows: [Double]
    @JSONSafe private var firstHigh = 0.0
    @JSONSafe private var firstLow = 0.0
    private var runKind = 0
    private var runBest = -1
    @JSONSafe private var runBestLevel = 0.0

    public init(swingLength: Int = 50) {
        precondition(swingLength >= 1, "swingLength must be at least 1")
        self.swingLength = swingLength
        highs = [Double](repeating: 0, count: 2 * swingLength)
        lows = [Double](repeating: 0, count: 2 * swingLength)
    }

    /// Swing highs at positions below this have all been emitted, and any later swing high lies at or after it.
    /// Detectors that ask "which is the last swing high before candle i" (order blocks, retracements) can answer
    /// exactly for every `i` up to this value.
    public var settledHighs: Int { settled(kind: 1) }
    /// `settledHighs` for swing lows.
    public var settledLows: Int { settled(kind: -1) }

    private func settled(kind: Int) -> Int {
        // Before the first candidate the kind of the reference's fake swing on candle 0 is unknown; within a run
        // its best candidate may still be replaced by a later one; a run of the other kind settles every candle
        // whose window is complete.
        if runKind == 0 { return 0 }
        return runKind == kind ? runBest : candleCount - swingLength
    }

    public mutating func feed(_ candle: Candle) -> [SwingEvent] {
        let t = candleCount
        let size = 2 * swingLength
        highs[t % size] = candle.high
        lows[t % size] = candle.low
        if t == 0 { firstHigh = candle.high; firstLow = candle.low }
        candleCount += 1
        let i = t - swingLength
        guard i >= 2 * swingLength - 1 else { return [] }
        // Window [i - L + 1, i + L] = the last 2L candles, all in the ring.
        var windowHigh = -Double.infinity
        var windowLow = Double.infinity
        for k in 0..<size {
            windowHigh = Swift.max(windowHigh, highs[k])
            windowLow = Swift.min(windowLow, lows[k])
        }
        let high = highs[i % size]
        let low = lows[i % size]
        let kind: Int
        if high == windowHigh { kind = 1 } else if low == windowLow { kind = -1 } else { return [] }

        var events: [SwingEvent] = []
        if runKind == 0 {
            // First candidate: the reference's fake swing on candle 0 is now determined.
            events.append(SwingEvent(index: 0, confirmedAt: t, kind: -kind, level: kind == 1 ? firstLow : firstHigh))
        }
        let level = kind == 1 ? high : low
        if kind == runKind {
            if kind == 1 ? level > runBestLevel : level < runBestLevel {
                runBest = i
                runBestLevel = level
            }
        } else {
            if runKind != 0 {
                events.append(SwingEvent(index: runBest, confirmedAt: t, kind: runKind, level: runBestLevel))
            }
            runKind = kind
            runBest = i
            runBestLevel = level
        }
        return events
    }
}
