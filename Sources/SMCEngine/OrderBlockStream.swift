/// Events of `OrderBlockStream`. `index` is the block's candle, `confirmedAt` the candle whose arrival made the
/// event certain, `direction` 1 bullish / -1 bearish.
public enum OrderBlockEvent: Sendable, Hashable, Codable {
    /// A block formed when candle `brokenAt` closed beyond the last swing (values as the batch rows: float32).
    case formed(index: Int, confirmedAt: Int, direction: Int, top: Double, bottom: Double, volume: Double,
                percentage: Double, brokenAt: Int)
    /// Candle `by` traded through the block, which became a breaker. `mitigatedIndex` is what the batch's
    /// `MitigatedIndex` column shows: `by - 1` for bullish blocks (a reference quirk), `by` for bearish ones.
    case mitigated(index: Int, confirmedAt: Int, direction: Int, by: Int, mitigatedIndex: Int)
    /// Candle `by` ran through the breaker on its far side; the batch result drops the block's row.
    case invalidated(index: Int, confirmedAt: Int, direction: Int, by: Int)

    public var index: Int {
        switch self {
        case .formed(let index, _, _, _, _, _, _, _), .mitigated(let index, _, _, _, _),
             .invalidated(let index, _, _, _): index
        }
    }

    public var confirmedAt: Int {
        switch self {
        case .formed(_, let at, _, _, _, _, _, _), .mitigated(_, let at, _, _, _), .invalidated(_, let at, _, _): at
        }
    }

    public var direction: Int {
        switch self {
        case .formed(_, _, let d, _, _, _, _, _), .mitigated(_, _, let d, _, _), .invalidated(_, _, let d, _): d
        }
    }
}

/// Streaming `SMC.orderBlocks` over its own `SwingStream`.
///
/// Candle `i` is processed (mitigations, deletions, then the break test against the last swing before `i`) once
/// the swings before `i` are settled, so events arrive `swingLength` candles or more after the candle they are
/// about; each direction then follows the batch rules exactly.
///
/// Difference from batch mode: the bullish and the bearish blocks are two independent sets of zones. The
/// reference computes all bullish blocks over the whole series before the bearish ones, in shared per-candle
/// arrays, so on a candle that holds blocks of both directions its row shows only the bearish one, and that one
/// inherits the bullish block's breaker flag (even when the bullish block is mitigated later than the bearish
/// block forms: look-ahead no stream can reproduce). Everywhere else the replay equals the batch result. Such
/// candles are rare (one must be the lowest low after a swing high and the highest high after a swing low): there
/// are none in the EURUSD 15m history, where the replay is the batch result.
///
/// Its state (the candles not yet processed and the live blocks) is `Codable` (JSON-safe, see `JSONSafeCodable`)
/// and `Hashable`: a decoded stream continues exactly as the original.
public struct OrderBlockStream: StreamingDetector, Codable, Hashable {
    public let closeMitigation: Bool
    public private(set) var candleCount = 0
    private var swings: SwingStream
    private var window = CandleWindow()
    private var bullish = OrderBlockSide(bullish: true)
    private var bearish = OrderBlockSide(bullish: false)

    public init(swingLength: Int = 50, closeMitigation: Bool = false) {
        swings = SwingStream(swingLength: swingLength)
        self.closeMitigation = closeMitigation
    }

    public mutating func feed(_ candle: Candle) -> [OrderBlockEvent] {
        let t = candleCount
        candleCount += 1
        window.append(candle)
        for swing in swings.feed(candle) {
            if swing.kind == 1 { bullish.swingPositions.append(swing.index) } else { bearish.swingPositions.append(swing.index) }
        }
        var events: [OrderBlockEvent] = []
        bullish.advance(through: Swift.min(t, swings.settledHighs), window: window, now: t,
                        closeMitigation: closeMitigation, events: &events)
        bearish.advance(through: Swift.min(t, swings.settledLows), window: window, now: t,
                        closeMitigation: closeMitigation, events: &events)
        window.discard(before: Swift.min(bullish.cursor, bearish.cursor) - 2)
        return events
    }
}

/// One direction of `OrderBlockStream`: the batch pass, one candle at a time.
private struct OrderBlockSide: Sendable, Hashable, Codable {
    /// A block's zone (float32 values).
    struct Block: Hashable, Codable {
        @JSONSafe var top: Double
        @JSONSafe var bottom: Double
    }

    let bullish: Bool
    /// Next candle to process.
    var cursor = 0
    /// Settled swings of this side's kind (highs for bullish), not yet reached by the cursor.
    var swingPositions: [Int] = []
    private var swingHead = 0
    private var lastSwing = -1
    @JSONSafe private var lastSwingPrice = 0.0
    private var crossed = false
    /// Most extreme candle strictly between the last swing and the cursor (lowest low for bullish, the last on
    /// ties), with its high and low.
    private var extreme = -1
    @JSONSafe private var extremeHigh = 0.0
    @JSONSafe private var extremeLow = 0.0
    /// Blocks not yet invalidated, by candle.
    private var blocks: [Int: Block] = [:]
    private var waiting: IndexHeap
    private var breakers: IndexHeap

    init(bullish: Bool) {
        self.bullish = bullish
        // Same keys as the batch pass: the next block to fire is on top.
        waiting = IndexHeap(largestFirst: bullish)
        breakers = IndexHeap(largestFirst: !bullish)
    }

    mutating func advance(through limit: Int, window: CandleWindow, now t: Int, closeMitigation: Bool,
                          events: inout [OrderBlockEvent]) {
        let direction = bullish ? 1 : -1
        while cursor <= limit {
            let p = cursor
            cursor += 1
            let candle = window[p]
            // 1. Breakers run through on their far side are deleted.
            if bullish {
                while let key = breakers.topKey, key < candle.high { invalidate(breakers.pop()!, p, t, &events) }
            } else {
                while let key = breakers.topKey, key > candle.low { invalidate(breakers.pop()!, p, t, &events) }
            }
            // 2. Mitigations (checked for deletion from the next candle on).
            if bullish {
                let trigger = closeMitigation ? Swift.min(candle.open, candle.close) : candle.low
                while let key = waiting.topKey, key > trigger {
                    let idx = waiting.pop()!
                    events.append(.mitigated(index: idx, confirmedAt: t, direction: 1, by: p, mitigatedIndex: p - 1))
                    breakers.push(key: blocks[idx]!.top, index: idx)
                }
            } else {
                let trigger = closeMitigation ? Swift.max(candle.open, candle.close) : candle.high
                while let key = waiting.topKey, key < trigger {
                    let idx = waiting.pop()!
                    events.append(.mitigated(index: idx, confirmedAt: t, direction: -1, by: p, mitigatedIndex: p))
                    breakers.push(key: blocks[idx]!.bottom, index: idx)
                }
            }
            guard p >= 1 else { continue }
            // 3. Candle p − 1 is either the new last swing or joins the range searched for the block.
            let q = p - 1
            while swingHead < swingPositions.count, swingPositions[swingHead] < q { swingHead += 1 }
            let previous = window[q]
            if swingHead < swingPositions.count, swingPositions[swingHead] == q {
                swingHead += 1
                lastSwing = q
                lastSwingPrice = bullish ? previous.high : previous.low
                crossed = false
                extreme = -1
            } else if lastSwing >= 0 {
                if extreme < 0 || (bullish ? previous.low <= extremeLow : previous.high >= extremeHigh) {
                    extreme = q
                    extremeHigh = previous.high
                    extremeLow = previous.low
                }
            }
            if swingHead * 2 >= swingPositions.count && swingHead > 16 {
                swingPositions.removeFirst(swingHead)
                swingHead = 0
            }
            // 4. A close beyond the last swing forms a block.
            guard lastSwing >= 0, !crossed, bullish ? candle.close > lastSwingPrice : candle.close < lastSwingPrice
            else { continue }
            crossed = true
            let index: Int
            let top: Double
            let bottom: Double
            if p - lastSwing > 1 {
                index = extreme
                top = extremeHigh
                bottom = extremeLow
            } else {
                // The swing candle itself; bullish keeps the reference's swapped top and bottom.
                index = q
                top = bullish ? previous.low : previous.high
                bottom = bullish ? previous.high : previous.low
            }
            let current = candle.volume
            let previous1 = previous.volume
            let previous2 = p >= 2 ? window[p - 2].volume : 0
            let lowSide = Float(bullish ? previous2 : current + previous1)
            let highSide = Float(bullish ? current + previous1 : previous2)
            let largest = Swift.max(highSide, lowSide)
            let percentage = largest != 0 ? Double(Swift.min(highSide, lowSide) / largest * 100) : 100
            let block = Block(top: top.float32Rounded, bottom: bottom.float32Rounded)
            blocks[index] = block
            waiting.push(key: bullish ? block.bottom : block.top, index: index)
            events.append(.formed(index: index, confirmedAt: t, direction: direction, top: block.top,
                                  bottom: block.bottom, volume: (current + previous1 + previous2).float32Rounded,
                                  percentage: percentage, brokenAt: p))
        }
    }

    private mutating func invalidate(_ idx: Int, _ p: Int, _ t: Int, _ events: inout [OrderBlockEvent]) {
        blocks[idx] = nil
        events.append(.invalidated(index: idx, confirmedAt: t, direction: bullish ? 1 : -1, by: p))
    }
}
