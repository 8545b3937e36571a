/// A detector that takes one closed candle at a time and returns the events that became certain with it.
///
/// Streaming detectors are value-type state machines (DESIGN §8): `feed` is the only transition, an emitted event
/// is never changed or withdrawn, and replaying a history candle by candle yields the part of the batch result
/// that can be known without later candles. Per-candle cost does not grow with history length.
public protocol StreamingDetector: Sendable {
    associatedtype Event: Sendable, Hashable
    /// Number of candles fed so far (the index the next candle will get).
    var candleCount: Int { get }
    mutating func feed(_ candle: Candle) -> [Event]
}

extension StreamingDetector {
    /// Feeds every candle of a series, returning all events in order.
    public mutating func feed(_ candles: CandleSeries) -> [Event] {
        var events: [Event] = []
        for i in 0..<candles.count { events += feed(candles[i]) }
        return events
    }
}

// MARK: - Serialisable state

/// How a stream's state encodes the values that could make a plain `JSONEncoder` fail.
///
/// Every stream but `PreviousHighLowStream` and `SessionStream` is `Codable` and `Hashable`, so a server can store
/// it between candles and resume it after a restart without replaying history; a decoded stream continues exactly
/// as the original would have. State is meant to go through a plain `JSONEncoder()`, which refuses ±infinity and
/// NaN, and a state can hold them: candles are not checked, and float32 rounding, sums and ratios of prices
/// beyond the float32 range overflow. So the Doubles of a state are stored `@JSONSafe`, which encodes a finite
/// value as a JSON number (JSONEncoder writes round-trip digits: the same Double comes back, -0.0 included) and
/// the others as strings: "inf", "-inf", "nan" (`Double.nan`), "-nan" (its negation, what x86 arithmetic
/// produces) and "nan:" with the 16 hex digits of any other NaN, so that decoding restores every value bit for
/// bit. The Doubles stored plainly are finite by construction (a heap's sign, the liquidity range). Candles in a
/// state are encoded as `[time, open, high, low, close, volume]`, swings as `[index, confirmedAt, kind, level]`.
///
/// The encoding mirrors the stream's internals: it is meant to be decoded by the same engine version that wrote
/// it, and decoding trusts it (a tampered state can break the stream's invariants). Equality compares the states
/// as Doubles do, so a state holding a NaN is not equal to itself.
///
/// The events are `Codable` too, synthesized: their numbers are plain JSON numbers, so an event holding a
/// non-finite value (only from non-finite candles or prices beyond the float32 range) needs
/// `JSONEncoder.nonConformingFloatEncodingStrategy`.
protocol JSONSafeCodable: Sendable, Hashable {
    func encodeJSONSafe(to encoder: any Encoder) throws
    init(jsonSafeFrom decoder: any Decoder) throws
}

/// A stored value of a stream's state, encoded by `JSONSafeCodable` rules (see there).
@propertyWrapper
struct JSONSafe<Value: JSONSafeCodable>: Sendable, Hashable, Codable {
    var wrappedValue: Value

    init(wrappedValue: Value) { self.wrappedValue = wrappedValue }
    init(from decoder: any Decoder) throws { wrappedValue = try Value(jsonSafeFrom: decoder) }
    func encode(to encoder: any Encoder) throws { try wrappedValue.encodeJSONSafe(to: encoder) }
}

extension Double: JSONSafeCodable {
    func encodeJSONSafe(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if isFinite {
            try container.encode(self)
        } else if isInfinite {
            try container.encode(self > 0 ? "inf" : "-inf")
        } else if bitPattern == Double.nan.bitPattern {
            try container.encode("nan")
        } else if bitPattern == (-Double.nan).bitPattern {
            try container.encode("-nan")
        } else {
            let digits = String(bitPattern, radix: 16)
            try container.encode("nan:" + String(repeating: "0", count: 16 - digits.count) + digits)
        }
    }

    init(jsonSafeFrom decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Double.self) {
            self = value
            return
        }
        let text = try container.decode(String.self)
        switch text {
        case "inf": self = .infinity
        case "-inf": self = -.infinity
        case "nan": self = .nan
        case "-nan": self = -.nan
        default:
            guard text.hasPrefix("nan:"), let bits = UInt64(text.dropFirst(4), radix: 16),
                  Double(bitPattern: bits).isNaN else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not a number")
            }
            self = Double(bitPattern: bits)
        }
    }
}

extension Array: JSONSafeCodable where Element: JSONSafeCodable {
    func encodeJSONSafe(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        for element in self { try container.encode(JSONSafe(wrappedValue: element)) }
    }

    init(jsonSafeFrom decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        self = []
        while !container.isAtEnd { append(try container.decode(JSONSafe<Element>.self).wrappedValue) }
    }
}

extension Candle: JSONSafeCodable {
    func encodeJSONSafe(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(time)
        for value in [open, high, low, close, volume] { try container.encode(JSONSafe(wrappedValue: value)) }
    }

    init(jsonSafeFrom decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let time = try container.decode(Int64.self)
        var values: [Double] = []
        for _ in 0..<5 { values.append(try container.decode(JSONSafe<Double>.self).wrappedValue) }
        self.init(time: time, open: values[0], high: values[1], low: values[2], close: values[3], volume: values[4])
    }
}

extension SwingEvent: JSONSafeCodable {
    func encodeJSONSafe(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(index)
        try container.encode(confirmedAt)
        try container.encode(kind)
        try container.encode(JSONSafe(wrappedValue: level))
    }

    init(jsonSafeFrom decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        index = try container.decode(Int.self)
        confirmedAt = try container.decode(Int.self)
        kind = try container.decode(Int.self)
        level = try container.decode(JSONSafe<Double>.self).wrappedValue
    }
}

// MARK: - Swings

/// A swing that can no longer change.
public struct SwingEvent: Sendable, Hashable, Codable {
    /// The swing candle.
    public var index: Int
    /// The candle at which the swing became certain.
    public var confirmedAt: Int
    /// 1 swing high, -1 swing low.
    public var kind: Int
    public var level: Double
}

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

// MARK: - Fair value gaps

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

// MARK: - BOS / CHoCH

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

// MARK: - Per-candle indicators

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

/// One candle's session values (a row of the batch result), known on that candle.
public struct SessionRow: Sendable, Hashable, Codable {
    public var index: Int
    public var confirmedAt: Int
    public var active: Bool
    public var high: Double
    public var low: Double
    /// False when the candle's wall-clock time does not exist or is ambiguous in the time zone (batch mode
    /// refuses such a series; a stream cannot, so it marks the row inactive and says so).
    public var validTime: Bool
}

/// Streaming `SMC.sessions`.
public struct SessionStream: StreamingDetector {
    public let session: TradingSession
    public let timeZone: SessionTimeZone
    public private(set) var candleCount = 0
    private var previousHigh = 0.0
    private var previousLow = 0.0

    public init(session: TradingSession, timeZone: SessionTimeZone = .utc) {
        self.session = session
        self.timeZone = timeZone
    }

    public mutating func feed(_ candle: Candle) -> [SessionRow] {
        let t = candleCount
        candleCount += 1
        guard case .success(let utc) = timeZone.toUTC([candle.time]) else {
            previousHigh = 0
            previousLow = 0
            return [SessionRow(index: t, confirmedAt: t, active: false, high: 0, low: 0, validTime: false)]
        }
        let secondOfDay = utc[0] - CivilTime.day(of: utc[0]) * CivilTime.secondsPerDay
        guard session.contains(minuteOfDay: Int(secondOfDay / 60)) else {
            previousHigh = 0
            previousLow = 0
            return [SessionRow(index: t, confirmedAt: t, active: false, high: 0, low: 0, validTime: true)]
        }
        let high = Swift.max(candle.high, t > 0 ? previousHigh : 0).float32Rounded
        let low = Swift.min(candle.low, (t > 0 && previousLow != 0) ? previousLow : .infinity).float32Rounded
        previousHigh = high
        previousLow = low
        return [SessionRow(index: t, confirmedAt: t, active: true, high: high, low: low, validTime: true)]
    }
}
