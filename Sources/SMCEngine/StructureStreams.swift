/// Streaming order blocks, liquidity and retracements. All three read "the swings before candle i", which a stream
/// only knows once `SwingStream` has settled them, so they run a cursor that trails the newest candle by the
/// swing confirmation delay and buffer the candles in between.

/// The most recent candles, addressed by their index in the stream.
struct CandleWindow: Sendable, Hashable, Codable {
    private(set) var base = 0
    @JSONSafe private var candles: [Candle] = []

    /// Index the next appended candle gets.
    var end: Int { base + candles.count }

    mutating func append(_ candle: Candle) { candles.append(candle) }

    subscript(index: Int) -> Candle { candles[index - base] }

    /// Forgets candles before `index`, in chunks so that each candle is moved a bounded number of times.
    mutating func discard(before index: Int) {
        let drop = Swift.min(index, end) - base
        guard drop > 0, drop * 2 >= candles.count else { return }
        candles.removeFirst(drop)
        base += drop
    }
}

// MARK: - Order blocks

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

// MARK: - Liquidity

/// Events of `LiquidityStream`. `index` is the pool's first swing, `direction` 1 for swing highs, -1 for lows.
public enum LiquidityEvent: Sendable, Hashable, Codable {
    /// The pool now holds `members` swings (2 when it first appears), the last one on candle `end`; `level` is
    /// their mean as float32, as in the batch rows. A pool that gains a member gets a new event, never an edit.
    case pool(index: Int, confirmedAt: Int, direction: Int, level: Double, end: Int, members: Int)
    /// Candle `sweptIndex` went through the pool's first swing by the range: no later swing can join it.
    case swept(index: Int, confirmedAt: Int, direction: Int, sweptIndex: Int)

    public var index: Int {
        switch self {
        case .pool(let index, _, _, _, _, _), .swept(let index, _, _, _): index
        }
    }

    public var confirmedAt: Int {
        switch self {
        case .pool(_, let at, _, _, _, _), .swept(_, let at, _, _): at
        }
    }
}

/// Streaming `SMC.liquidity` over its own `SwingStream`, with a fixed `range` in price units.
///
/// Difference from batch mode: the reference's range is `range_percent` of the whole series' span (highest high −
/// lowest low), which is only known at the end and changes as data is appended, so every pool of a batch result
/// can change when one candle is added. A stream cannot use it; it takes the range as a parameter, fixed for its
/// life (for example `SMC.liquidityRange` of the history available when it starts). With the batch's own range the
/// replay equals the batch result: a swing joins the earliest earlier unused swing within ± range that was not
/// swept before it, which is certain when the swing is confirmed.
///
/// Cost per candle is constant on average: unused unswept swings lie in price buckets of width `range`, and two of
/// them never share a bucket (the later one would have joined the earlier one).
///
/// Its state (unused swings and the candles since the last settled swing) is `Codable` (JSON-safe, see
/// `JSONSafeCodable`) and `Hashable`: a decoded stream continues exactly as the original.
public struct LiquidityStream: StreamingDetector, Codable, Hashable {
    public let range: Double
    public private(set) var candleCount = 0
    private var swings: SwingStream
    private var window = CandleWindow()
    private var highs: LiquiditySide
    private var lows: LiquiditySide

    public init(swingLength: Int = 50, range: Double) {
        precondition(range.isFinite, "range must be finite")
        swings = SwingStream(swingLength: swingLength)
        self.range = range
        highs = LiquiditySide(kind: 1, range: range)
        lows = LiquiditySide(kind: -1, range: range)
    }

    public mutating func feed(_ candle: Candle) -> [LiquidityEvent] {
        let t = candleCount
        candleCount += 1
        window.append(candle)
        var events: [LiquidityEvent] = []
        highs.sweep(with: candle, at: t, events: &events)
        lows.sweep(with: candle, at: t, events: &events)
        for swing in swings.feed(candle) {
            if swing.kind == 1 {
                highs.add(swing, window: window, now: t, events: &events)
            } else {
                lows.add(swing, window: window, now: t, events: &events)
            }
        }
        window.discard(before: Swift.min(swings.settledHighs, swings.settledLows))
        return events
    }
}

/// One kind of `LiquidityStream` (swing highs or swing lows).
private struct LiquiditySide: Sendable, Hashable, Codable {
    struct Opener: Sendable, Hashable, Codable {
        @JSONSafe var level: Double
        @JSONSafe var sum: Double
        var members = 1
        var sweep: Int?
    }

    let kind: Int
    let range: Double
    /// Unused swings (pool heads and single swings), by position.
    private var openers: [Int: Opener] = [:]
    private var buckets: [Int64: [Int]] = [:]
    /// Unswept openers by sweep threshold (level + range for highs, smallest first; level − range for lows).
    private var unswept: IndexHeap
    /// Swept openers in sweep order, dropped once no future swing can lie before their sweep.
    private var swept: [Int] = []
    private var sweptHead = 0

    init(kind: Int, range: Double) {
        self.kind = kind
        self.range = range
        unswept = IndexHeap(largestFirst: kind == -1)
    }

    private func bucket(_ level: Double) -> Int64 {
        guard range > 0 else { return Int64(bitPattern: (level + 0).bitPattern) }
        let q = (level / range).rounded(.down)
        return Int64(Swift.max(-4e18, Swift.min(4e18, q.isNaN ? 0 : q)))
    }

    mutating func sweep(with candle: Candle, at t: Int, events: inout [LiquidityEvent]) {
        if kind == 1 {
            while let key = unswept.topKey, candle.high >= key { markSwept(unswept.pop()!, at: t, now: t, &events) }
        } else {
            while let key = unswept.topKey, candle.low <= key { markSwept(unswept.pop()!, at: t, now: t, &events) }
        }
    }

    private mutating func markSwept(_ k: Int, at s: Int, now t: Int, _ events: inout [LiquidityEvent]) {
        openers[k]!.sweep = s
        swept.append(k)
        if openers[k]!.members > 1 { events.append(.swept(index: k, confirmedAt: t, direction: kind, sweptIndex: s)) }
    }

    mutating func add(_ swing: SwingEvent, window: CandleWindow, now t: Int, events: inout [LiquidityEvent]) {
        let j = swing.index
        let level = swing.level
        // Swept openers whose sweep is at or before this swing can never take a member again.
        while sweptHead < swept.count, let s = openers[swept[sweptHead]]?.sweep, s <= j {
            remove(swept[sweptHead])
            sweptHead += 1
        }
        if sweptHead > 32 && sweptHead * 2 >= swept.count {
            swept.removeFirst(sweptHead)
            sweptHead = 0
        }
        // The earliest unused swing within ± range that no candle up to this one swept.
        var owner: Int?
        if range >= 0 {
            let keys: ClosedRange<Int64> = range > 0
                ? (bucket(level - range) - 1)...(bucket(level + range) + 1) : bucket(level)...bucket(level)
            for key in keys {
                for k in buckets[key] ?? [] {
                    let opener = openers[k]!
                    if let s = opener.sweep, s <= j { continue }
                    guard level >= opener.level - range && level <= opener.level + range else { continue }
                    if owner == nil || k < owner! { owner = k }
                }
            }
        }
        if let k = owner {
            openers[k]!.sum += level
            openers[k]!.members += 1
            let opener = openers[k]!
            events.append(.pool(index: k, confirmedAt: t, direction: kind,
                                level: (opener.sum / Double(opener.members)).float32Rounded, end: j,
                                members: opener.members))
            if opener.members == 2, let s = opener.sweep {
                events.append(.swept(index: k, confirmedAt: t, direction: kind, sweptIndex: s))
            }
            return
        }
        // A new opener; its sweep may already have happened among the buffered candles.
        openers[j] = Opener(level: level, sum: level)
        buckets[bucket(level), default: []].append(j)
        let threshold = kind == 1 ? level + range : level - range
        var c = j + 1
        while c < window.end {
            let candle = window[c]
            if kind == 1 ? candle.high >= threshold : candle.low <= threshold { break }
            c += 1
        }
        if c < window.end {
            markSwept(j, at: c, now: t, &events)
        } else {
            unswept.push(key: threshold, index: j)
        }
    }

    private mutating func remove(_ k: Int) {
        guard let opener = openers.removeValue(forKey: k) else { return }
        let key = bucket(opener.level)
        buckets[key]?.removeAll { $0 == k }
        if buckets[key]?.isEmpty == true { buckets[key] = nil }
    }
}

// MARK: - Retracements

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
