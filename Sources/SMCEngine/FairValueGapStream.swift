/// Events of `FairValueGapStream`.
public enum FairValueGapEvent: Sendable, Hashable, Codable {
    /// A gap on candle `index` (1 bullish, -1 bearish), final from `confirmedAt` on.
    case gap(index: Int, confirmedAt: Int, direction: Int, top: Double, bottom: Double)
    /// The gap on `index` was traded into by candle `confirmedAt`.
    case mitigated(index: Int, confirmedAt: Int)
}

/// Streaming `SMC.fairValueGaps`: a gap is final one candle after its middle candle (two with `joinConsecutive`,
/// when the next candle shows whether the run goes on); its mitigation is reported on the mitigating candle.
///
/// Its state (the last two candles and the unmitigated gaps) is `Codable` (JSON-safe, see `JSONSafeCodable`) and
/// `Hashable`: a decoded stream continues exactly as the original.
public struct FairValueGapStream: StreamingDetector, Codable, Hashable {
    public let joinConsecutive: Bool
    public private(set) var candleCount = 0
    @JSONSafe private var lastTwo: [Candle] = []

    private struct Gap: Hashable, Codable {
        var index: Int
        var direction: Int
        @JSONSafe var top: Double
        @JSONSafe var bottom: Double
    }

    /// A (joined) gap whose run may still grow.
    private var pending: Gap?
    /// Bullish gaps, mitigated when a low reaches the top: largest top first.
    private var bullish = IndexHeap(largestFirst: true)
    /// Bearish gaps, mitigated when a high reaches the bottom: smallest bottom first.
    private var bearish = IndexHeap(largestFirst: false)

    public init(joinConsecutive: Bool = false) {
        self.joinConsecutive = joinConsecutive
    }

    public mutating func feed(_ candle: Candle) -> [FairValueGapEvent] {
        let t = candleCount
        candleCount += 1
        var events: [FairValueGapEvent] = []
        // 1. Mitigation of final gaps (each is only in a heap from its index + 2 on).
        while let top = bullish.topKey, candle.low <= top {
            events.append(.mitigated(index: bullish.pop()!, confirmedAt: t))
        }
        while let bottom = bearish.topKey, candle.high >= bottom {
            events.append(.mitigated(index: bearish.pop()!, confirmedAt: t))
        }
        // 2. The gap on the previous candle, now that its right neighbour is known.
        defer {
            lastTwo.append(candle)
            if lastTwo.count > 2 { lastTwo.removeFirst() }
        }
        guard lastTwo.count == 2 else { return events }
        let left = lastTwo[0], middle = lastTwo[1]
        let i = t - 1
        var gap: Gap?
        if middle.close > middle.open, left.high < candle.low {
            gap = Gap(index: i, direction: 1, top: candle.low, bottom: left.high)
        } else if middle.close < middle.open, left.low > candle.high {
            gap = Gap(index: i, direction: -1, top: left.low, bottom: candle.high)
        }
        if !joinConsecutive {
            if let gap { finalize(gap, at: t, into: &events) }
            return events
        }
        if let run = pending, let gap, gap.direction == run.direction, gap.index == run.index + 1 {
            pending = Gap(index: gap.index, direction: gap.direction, top: Swift.max(run.top, gap.top),
                          bottom: Swift.min(run.bottom, gap.bottom))
            return events
        }
        if let run = pending {
            // Its mitigation search starts at index + 2, which is this candle.
            finalize(run, at: t, into: &events, alsoCheck: candle)
        }
        pending = gap
        return events
    }

    private mutating func finalize(_ gap: Gap, at t: Int, into events: inout [FairValueGapEvent],
                                   alsoCheck candle: Candle? = nil) {
        events.append(.gap(index: gap.index, confirmedAt: t, direction: gap.direction, top: gap.top,
                           bottom: gap.bottom))
        if let candle, gap.direction == 1 ? candle.low <= gap.top : candle.high >= gap.bottom {
            events.append(.mitigated(index: gap.index, confirmedAt: t))
            return
        }
        if gap.direction == 1 {
            bullish.push(key: gap.top, index: gap.index)
        } else {
            bearish.push(key: gap.bottom, index: gap.index)
        }
    }
}
