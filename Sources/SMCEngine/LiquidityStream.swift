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
