/// A break of structure or change of character that can no longer be dropped.
public struct StructureBreakEvent: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case bos
        case choch
    }

    /// The swing whose level was broken (the row the batch result marks).
    public var index: Int
    public var confirmedAt: Int
    public var kind: Kind
    /// 1 bullish, -1 bearish.
    public var direction: Int
    /// The broken level (float32, as in batch mode).
    public var level: Double
    /// The candle that broke it.
    public var brokenIndex: Int
}

/// Streaming `SMC.breaksOfStructure` over its own `SwingStream`.
///
/// An event exists once the swing two after its swing is confirmed, is broken by a later candle, and is then
/// final only when no later event can still drop it under the reference's rule (an event breaking at or before
/// its break): that is, once two swings after `brokenIndex - 2` are confirmed. Events the batch result drops are
/// never emitted (the batch keeps their `BrokenIndex`, which has no event here).
///
/// Its state is `Codable` (JSON-safe, see `JSONSafeCodable`) and `Hashable`: a decoded stream continues exactly as
/// the original.
public struct StructureBreakStream: StreamingDetector, Codable, Hashable {
    public let closeBreak: Bool
    public private(set) var candleCount = 0
    private var swings: SwingStream
    /// The last four confirmed swings, oldest first.
    @JSONSafe private var recent: [SwingEvent] = []
    /// Positions of recently confirmed swings (for the finality rule), ascending.
    private var swingPositions: [Int] = []
    /// Candle values from `base` on, for the break search of new events.
    private var base = 0
    @JSONSafe private var breakValuesUp: [Double] = []
    @JSONSafe private var breakValuesDown: [Double] = []

    private struct Candidate: Hashable, Codable {
        var index: Int
        var kind: StructureBreakEvent.Kind
        var direction: Int
        @JSONSafe var level: Double
    }

    /// An event and the candle that broke it.
    private struct BrokenCandidate: Hashable, Codable {
        var candidate: Candidate
        var broken: Int
    }

    /// Unbroken events by index.
    private var unbroken: [Int: Candidate] = [:]
    /// Bullish events wait for a value above their level (smallest level first); bearish for one below.
    private var waitingUp = IndexHeap(largestFirst: false)
    private var waitingDown = IndexHeap(largestFirst: true)
    /// Broken events that a later event could still drop, ascending by index.
    private var pending: [BrokenCandidate] = []
    /// Largest index of any event broken so far.
    private var largestBrokenIndex = -1

    /// The last (up to) four confirmed swings, oldest first; they alternate high, low (`kind` 1, -1).
    public var recentSwings: [SwingEvent] { recent }

    public init(swingLength: Int = 50, closeBreak: Bool = true) {
        swings = SwingStream(swingLength: swingLength)
        self.closeBreak = closeBreak
    }

    public mutating func feed(_ candle: Candle) -> [StructureBreakEvent] {
        let t = candleCount
        candleCount += 1
        breakValuesUp.append(closeBreak ? candle.close : candle.high)
        breakValuesDown.append(closeBreak ? candle.close : candle.low)

        // 1. Waiting events broken by this candle.
        var brokenNow: [Candidate] = []
        let up = closeBreak ? candle.close : candle.high
        let down = closeBreak ? candle.close : candle.low
        while let level = waitingUp.topKey, level < up { brokenNow.append(unbroken.removeValue(forKey: waitingUp.pop()!)!) }
        while let level = waitingDown.topKey, level > down {
            brokenNow.append(unbroken.removeValue(forKey: waitingDown.pop()!)!)
        }
        // All breaks so far are at or before t, so any broken event with a larger index drops these.
        brokenNow.sort { $0.index < $1.index }
        for event in brokenNow { largestBrokenIndex = Swift.max(largestBrokenIndex, event.index) }
        for event in brokenNow {
            record(event, brokenAt: t, droppedOnArrival: largestBrokenIndex > event.index)
        }

        // 2. New swings, and the events they complete.
        for swing in swings.feed(candle) {
            recent.append(swing)
            if recent.count > 4 { recent.removeFirst() }
            swingPositions.append(swing.index)
            guard recent.count == 4 else { continue }
            if let event = Self.pattern(recent) {
                // Search this event's break among the candles seen so far. Events are created in index order,
                // so no event with a larger index has broken yet and this one is not dropped on arrival.
                if let j = firstBreak(of: event, through: t) {
                    largestBrokenIndex = Swift.max(largestBrokenIndex, event.index)
                    record(event, brokenAt: j, droppedOnArrival: false)
                } else {
                    unbroken[event.index] = event
                    if event.direction == 1 {
                        waitingUp.push(key: event.level, index: event.index)
                    } else {
                        waitingDown.push(key: event.level, index: event.index)
                    }
                }
            }
            // Later events sit on the second-to-last swing or after it: older candles are no longer searched.
            trim(keepingFrom: recent[recent.count - 2].index + 2)
        }

        // 3. Events no later event can drop any more.
        var events: [StructureBreakEvent] = []
        var remaining: [BrokenCandidate] = []
        for entry in pending {
            let event = entry.candidate, broken = entry.broken
            let later = swingPositions.reversed().prefix { $0 > broken - 2 }.count
            if later >= 2 {
                events.append(StructureBreakEvent(index: event.index, confirmedAt: t, kind: event.kind,
                                                  direction: event.direction, level: event.level, brokenIndex: broken))
            } else {
                remaining.append(entry)
            }
        }
        pending = remaining
        let oldestNeeded = pending.map { $0.broken - 2 }.min() ?? Int.max
        if swingPositions.count > 8 {
            let drop = swingPositions.prefix(swingPositions.count - 8).prefix { $0 <= oldestNeeded }.count
            if drop > 0 { swingPositions.removeFirst(drop) }
        }
        return events
    }

    /// Adds a newly broken event: it drops older pending events broken at or after it, then waits for finality
    /// unless a later event already broke (which drops it).
    private mutating func record(_ event: Candidate, brokenAt j: Int, droppedOnArrival: Bool) {
        pending.removeAll { $0.candidate.index < event.index && $0.broken >= j }
        if !droppedOnArrival {
            let position = pending.firstIndex { $0.candidate.index > event.index } ?? pending.endIndex
            pending.insert(BrokenCandidate(candidate: event, broken: j), at: position)
        }
    }

    private func firstBreak(of event: Candidate, through t: Int) -> Int? {
        let start = Swift.max(event.index + 2, base)
        guard start <= t else { return nil }
        if event.direction == 1 {
            for j in start...t where breakValuesUp[j - base] > event.level { return j }
        } else {
            for j in start...t where breakValuesDown[j - base] < event.level { return j }
        }
        return nil
    }

    private mutating func trim(keepingFrom index: Int) {
        let drop = index - base
        // Trim in chunks so that each candle is moved a bounded number of times.
        guard drop > 0, drop >= breakValuesUp.count / 2 else { return }
        breakValuesUp.removeFirst(drop)
        breakValuesDown.removeFirst(drop)
        base = index
    }

    /// The batch rule on four consecutive swings, oldest first; the event sits on the second one.
    private static func pattern(_ s: [SwingEvent]) -> Candidate? {
        let (l4, l3, l2, l1) = (s[0].level, s[1].level, s[2].level, s[3].level)
        let kinds = (s[0].kind, s[1].kind, s[2].kind, s[3].kind)
        let upPattern = kinds == (-1, 1, -1, 1)
        let downPattern = kinds == (1, -1, 1, -1)
        var bos = 0, choch = 0
        if upPattern && l4 < l2 && l2 < l3 && l3 < l1 { bos = 1 }
        if downPattern && l4 > l2 && l2 > l3 && l3 > l1 { bos = -1 }
        if upPattern && l1 > l3 && l3 > l4 && l4 > l2 { choch = 1 }
        if downPattern && l1 < l3 && l3 < l4 && l4 < l2 { choch = -1 }
        let level = l3.float32Rounded
        guard bos != 0 || choch != 0, level != 0 else { return nil }
        return Candidate(index: s[1].index, kind: bos != 0 ? .bos : .choch, direction: bos != 0 ? bos : choch,
                         level: level)
    }
}
