import Foundation  // tanh
/// A zone price may return to: an order block or a fair value gap, bullish (demand, `direction` 1) or bearish
/// (supply, -1).
public struct Zone: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case orderBlock = "order_block"
        case fairValueGap = "fair_value_gap"
    }

    public var kind: Kind
    public var direction: Int
    public var top: Double
    public var bottom: Double
    /// Open time of the candle the zone is on.
    public var time: Int64
    /// Index and open time of the candle whose close made the zone certain (streaming detectors confirm late).
    public var formedIndex: Int
    public var formedTime: Int64

    /// Stable within one (symbol, timeframe, detector parameters) stream: kind, side and candle time.
    public var id: String {
        "\(kind == .orderBlock ? "ob" : "fvg"):\(direction > 0 ? "bull" : "bear"):\(time)"
    }

    public var height: Double { top - bottom }

    /// Distance from a price to the zone (0 inside it).
    public func distance(to price: Double) -> Double {
        price > top ? price - top : (price < bottom ? bottom - price : 0)
    }
}

/// A structure break as the bias sees it.
public struct StructureBreak: Sendable, Hashable, Codable {
    public var kind: String  // "BOS" or "CHoCH"
    public var direction: Int
    public var level: Double
    /// When the broken swing formed, when it was broken, and when the break became certain.
    public var swingTime: Int64
    public var brokenTime: Int64
    public var confirmedTime: Int64
}

/// The five bias components of one timeframe, each in [-1, 1] (positive = bullish); weights are the tenant's.
///
/// - structure: the last certain BOS (±1) or CHoCH (±0.7).
/// - order blocks / fair value gaps: the unmitigated zones within 3 ATR of the close, each counted by direction and
///   weighted 1 / (1 + distance in ATR); the sum divided by max(total weight, 1), so one far zone says little.
/// - momentum: ½ tanh((RSI − 50) / 15) + ½ tanh(MACD histogram / (0.1 ATR)).
/// - volume: (volume of up candles − volume of down candles) / total, over the last 20 candles; 0 without volume.
public struct BiasComponents: Sendable, Hashable, Codable {
    public var structure = 0.0
    public var orderBlocks = 0.0
    public var fairValueGaps = 0.0
    public var momentum = 0.0
    public var volume = 0.0

    public init() {}

    /// The weighted score, −100…100.
    public func score(_ w: SignalWeights) -> Double {
        100 * (w.structure * structure + w.orderBlocks * orderBlocks + w.fairValueGaps * fairValueGaps
            + w.momentum * momentum + w.volume * volume)
    }
}

/// A timeframe's bias under a tenant's weights and levels.
public struct Bias: Sendable, Hashable, Codable {
    public var timeframe: String
    /// −100…100; the sign is the direction.
    public var score: Double
    public var direction: Int { level == .neutral ? 0 : (score > 0 ? 1 : -1) }
    public var level: ConfidenceLevel

    public init(timeframe: SignalTimeframe, components: BiasComponents, settings: StrategySettings) {
        self.timeframe = timeframe.label
        score = components.score(settings.signalWeights)
        level = settings.confidenceLevels.level(abs(score))
    }
}

/// One timeframe's state after a closed candle.
public struct TimeframeState: Sendable, Hashable, Codable {
    public var timeframe: SignalTimeframe
    /// Open time of the last closed candle of this timeframe that the state reflects.
    public var candleTime: Int64
    public var components: BiasComponents
    public var lastBreak: StructureBreak?
    /// (same-direction − opposite) / count over the last five certain breaks, signed by the last one: how much
    /// the structure keeps breaking one way.
    public var breakMomentum: Double
    public var indicators: IndicatorSnapshot
    public var regime: MarketRegime?
}

/// A zone that price retested and rejected on this candle: the raw material of a setup.
///
/// Rule (bullish; bearish mirrors): the zone is known before this candle, this candle's low trades into it
/// (low ≤ top) and the candle closes above it (close > top). Each zone gives at most one candidate; a close
/// through its far side (close < bottom) retires it without one.
public struct SetupCandidate: Sendable, Hashable, Codable {
    public var zone: Zone
    /// Candles between the zone becoming known and this retest.
    public var age: Int
}

/// Everything a tenant's evaluation needs about one closed candle of the base timeframe; shared by every tenant
/// with the same detector parameters.
public struct MarketSnapshot: Sendable, Hashable, Codable {
    public var index: Int
    public var candle: Candle
    public var base: TimeframeState
    /// The higher timeframes of the confluence ladder, each as of its last closed candle (never a forming one).
    public var higher: [TimeframeState]
    public var candidates: [SetupCandidate]
    /// Unswept confirmed swing levels above and below the close, nearest first (at most 8 each): where the
    /// opposing liquidity rests.
    public var liquidityAbove: [Double]
    public var liquidityBelow: [Double]
}

/// The parameters that decide detector output; every tenant with the same ones shares one `MarketAnalyzer` per
/// symbol and timeframe.
public struct DetectorParameters: Sendable, Hashable, Codable {
    public var timeframe: SignalTimeframe
    public var swingLength: Int
    public var closeBreak: Bool
    public var closeMitigation: Bool
    /// Swing length on the higher timeframes: min(swingLength, 10), so a year of data still shows structure
    /// on 1d candles.
    public var higherSwingLength: Int { Swift.min(swingLength, 10) }

    public init(timeframe: SignalTimeframe, swingLength: Int = 50, closeBreak: Bool = true, closeMitigation: Bool = false) {
        self.timeframe = timeframe
        self.swingLength = swingLength
        self.closeBreak = closeBreak
        self.closeMitigation = closeMitigation
    }

    public init(timeframe: SignalTimeframe, strategy: StrategySettings) {
        self.init(timeframe: timeframe, swingLength: strategy.swingLength, closeBreak: strategy.closeBreak,
                  closeMitigation: strategy.closeMitigation)
    }
}

/// The shared, streaming half of the signal layer: detectors, indicators and regime on the base timeframe and
/// on the higher timeframes it aggregates, turning each closed base candle into a `MarketSnapshot`.
///
/// Its whole state is `Codable`; a decoded analyzer continues exactly as the original.
public struct MarketAnalyzer: Sendable, Codable {
    public let parameters: DetectorParameters
    private var base: TimeframeAnalyzer
    private var higher: [TimeframeAnalyzer]
    private var aggregators: [CandleAggregator]
    private var higherStates: [TimeframeState?]
    private var watch: [Zone] = []
    public private(set) var candleCount = 0
    public private(set) var lastTime: Int64?

    public init(_ parameters: DetectorParameters) {
        self.parameters = parameters
        base = TimeframeAnalyzer(timeframe: parameters.timeframe, swingLength: parameters.swingLength,
                                 closeBreak: parameters.closeBreak, closeMitigation: parameters.closeMitigation)
        let ladder = parameters.timeframe.confluenceLadder
        higher = ladder.map {
            TimeframeAnalyzer(timeframe: $0, swingLength: parameters.higherSwingLength,
                              closeBreak: parameters.closeBreak, closeMitigation: parameters.closeMitigation)
        }
        aggregators = ladder.map { CandleAggregator(base: parameters.timeframe, target: $0) }
        higherStates = ladder.map { _ in nil }
    }

    /// Feeds the next closed candle (open times must increase); returns the snapshot after it.
    public mutating func update(_ candle: Candle) -> MarketSnapshot {
        precondition(lastTime.map { candle.time > $0 } ?? true, "candles must arrive in time order")
        lastTime = candle.time
        let index = candleCount
        candleCount += 1

        // Retests are judged against the zones known before this candle.
        var candidates: [SetupCandidate] = []
        watch.removeAll { zone in
            let up = zone.direction > 0
            let touched = up ? candle.low <= zone.top : candle.high >= zone.bottom
            let rejected = up ? candle.close > zone.top : candle.close < zone.bottom
            let through = up ? candle.close < zone.bottom : candle.close > zone.top
            if touched && rejected {
                candidates.append(SetupCandidate(zone: zone, age: index - zone.formedIndex))
                return true
            }
            return through
        }

        let (state, newZones) = base.update(candle)
        watch += newZones
        if watch.count > 200 { watch.removeFirst(watch.count - 200) }

        for k in higher.indices {
            for closed in aggregators[k].feed(candle) {
                higherStates[k] = higher[k].update(closed).state
            }
        }
        return MarketSnapshot(index: index, candle: candle, base: state, higher: higherStates.compactMap { $0 },
                              candidates: candidates, liquidityAbove: base.liquidity(above: candle.close),
                              liquidityBelow: base.liquidity(below: candle.close))
    }
}

/// Detectors, indicators and regime of one timeframe.
struct TimeframeAnalyzer: Sendable, Codable {
    let timeframe: SignalTimeframe
    private var count = 0
    private var swings: SwingStream
    private var breaks: StructureBreakStream
    private var blocks: OrderBlockStream
    private var gaps: FairValueGapStream
    private var indicators = TechnicalIndicators()
    private var regime = RegimeDetector()
    private var times = TimeRing()
    /// Unmitigated zones (the reference's sense), for the bias.
    private var orderBlocks: [Zone] = []
    private var fairValueGaps: [Zone] = []
    /// Confirmed swing levels no later candle has traded through, ascending.
    private var highs: [Double] = []
    private var lows: [Double] = []
    private var breaksSeen: [StructureBreak] = []
    private var signedVolumes: [Double] = []

    static let zoneLimit = 200
    static let swingLimit = 100

    init(timeframe: SignalTimeframe, swingLength: Int, closeBreak: Bool, closeMitigation: Bool) {
        self.timeframe = timeframe
        swings = SwingStream(swingLength: swingLength)
        breaks = StructureBreakStream(swingLength: swingLength, closeBreak: closeBreak)
        blocks = OrderBlockStream(swingLength: swingLength, closeMitigation: closeMitigation)
        gaps = FairValueGapStream()
    }

    /// Feeds a closed candle; returns the state and the zones that became known with it.
    mutating func update(_ candle: Candle) -> (state: TimeframeState, newZones: [Zone]) {
        let index = count
        count += 1
        times.append(candle.time)
        var newZones: [Zone] = []

        // Liquidity taken by this candle.
        if let cut = highs.firstIndex(where: { $0 >= candle.high }) { highs.removeFirst(cut) } else { highs.removeAll() }
        if let cut = lows.lastIndex(where: { $0 <= candle.low }) { lows.removeLast(lows.count - 1 - cut) } else { lows.removeAll() }
        for event in swings.feed(candle) {
            if event.kind == 1 {
                highs.insert(event.level, at: highs.firstIndex { $0 > event.level } ?? highs.endIndex)
                if highs.count > Self.swingLimit { highs.removeLast() }
            } else {
                lows.insert(event.level, at: lows.firstIndex { $0 > event.level } ?? lows.endIndex)
                if lows.count > Self.swingLimit { lows.removeFirst() }
            }
        }

        for event in breaks.feed(candle) {
            breaksSeen.append(StructureBreak(
                kind: event.kind == .bos ? "BOS" : "CHoCH", direction: event.direction, level: event.level,
                swingTime: times[event.index] ?? candle.time, brokenTime: times[event.brokenIndex] ?? candle.time,
                confirmedTime: candle.time))
            if breaksSeen.count > 5 { breaksSeen.removeFirst() }
        }

        for event in blocks.feed(candle) {
            switch event {
            case .formed(let i, _, let direction, let top, let bottom, _, _, _):
                let zone = Zone(kind: .orderBlock, direction: direction, top: top, bottom: bottom,
                                time: times[i] ?? candle.time, formedIndex: index, formedTime: candle.time)
                orderBlocks.append(zone)
                newZones.append(zone)
                if orderBlocks.count > Self.zoneLimit { orderBlocks.removeFirst() }
            case .mitigated(let i, _, let direction, _, _), .invalidated(let i, _, let direction, _):
                let time = times[i]
                orderBlocks.removeAll { $0.time == time && $0.direction == direction }
            }
        }
        for event in gaps.feed(candle) {
            switch event {
            case .gap(let i, _, let direction, let top, let bottom):
                let zone = Zone(kind: .fairValueGap, direction: direction, top: top, bottom: bottom,
                                time: times[i] ?? candle.time, formedIndex: index, formedTime: candle.time)
                fairValueGaps.append(zone)
                newZones.append(zone)
                if fairValueGaps.count > Self.zoneLimit { fairValueGaps.removeFirst() }
            case .mitigated(let i, _):
                let time = times[i]
                fairValueGaps.removeAll { $0.time == time }
            }
        }

        let snapshot = indicators.update(candle)
        let regimeNow = regime.update(snapshot)
        let sign: Double = candle.close > candle.open ? 1 : (candle.close < candle.open ? -1 : 0)
        signedVolumes.append(sign * candle.volume)
        if signedVolumes.count > 20 { signedVolumes.removeFirst() }

        var c = BiasComponents()
        var momentum = 0.0
        if let last = breaksSeen.last {
            c.structure = Double(last.direction) * (last.kind == "BOS" ? 1 : 0.7)
            let same = breaksSeen.filter { $0.direction == last.direction }.count
            momentum = Double(last.direction) * Double(2 * same - breaksSeen.count) / Double(breaksSeen.count)
        }
        if let atr = snapshot.atr, atr > 0 {
            c.orderBlocks = Self.zoneBalance(orderBlocks, close: candle.close, atr: atr)
            c.fairValueGaps = Self.zoneBalance(fairValueGaps, close: candle.close, atr: atr)
            if let rsi = snapshot.rsi, let macd = snapshot.macd {
                c.momentum = 0.5 * tanh((rsi - 50) / 15) + 0.5 * tanh(macd.histogram / (0.1 * atr))
            }
        }
        let total = signedVolumes.reduce(0) { $0 + abs($1) }
        if total > 0 { c.volume = signedVolumes.reduce(0, +) / total }

        let state = TimeframeState(timeframe: timeframe, candleTime: candle.time, components: c,
                                   lastBreak: breaksSeen.last, breakMomentum: momentum, indicators: snapshot,
                                   regime: regimeNow)
        return (state, newZones)
    }

    static func zoneBalance(_ zones: [Zone], close: Double, atr: Double) -> Double {
        var signed = 0.0, total = 0.0
        for zone in zones {
            let distance = zone.distance(to: close) / atr
            guard distance <= 3 else { continue }
            let w = 1 / (1 + distance)
            signed += Double(zone.direction) * w
            total += w
        }
        return signed / Swift.max(total, 1)
    }

    func liquidity(above price: Double) -> [Double] {
        Array(highs.lazy.filter { $0 > price }.prefix(8))
    }

    func liquidity(below price: Double) -> [Double] {
        Array(lows.reversed().lazy.filter { $0 < price }.prefix(8))
    }
}

/// Open times of the last 4,096 candles by stream index (older indices are forgotten).
///
/// Encoded compactly (it is most of an analyzer's persisted state otherwise): the count, the oldest kept time and
/// the gaps between consecutive times as (gap, repeats) runs — a regular series is a handful of runs.
struct TimeRing: Sendable, Hashable, Codable {
    static let capacity = 4096
    private var times: [Int64] = []
    private var count = 0

    init() {}

    enum CodingKeys: String, CodingKey { case count, first, runs }

    /// The kept times, oldest first.
    private var chronological: [Int64] {
        guard times.count == Self.capacity else { return times }
        let head = count % Self.capacity
        return Array(times[head...] + times[..<head])
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(count, forKey: .count)
        let ordered = chronological
        try c.encodeIfPresent(ordered.first, forKey: .first)
        var runs: [Int64] = []  // gap, repeats, gap, repeats, …
        for i in ordered.indices.dropFirst() {
            let gap = ordered[i] - ordered[i - 1]
            if runs.count >= 2, runs[runs.count - 2] == gap { runs[runs.count - 1] += 1 } else { runs += [gap, 1] }
        }
        try c.encode(runs, forKey: .runs)
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let total = try c.decode(Int.self, forKey: .count)
        var ordered: [Int64] = []
        if var t = try c.decodeIfPresent(Int64.self, forKey: .first) {
            ordered.append(t)
            let runs = try c.decode([Int64].self, forKey: .runs)
            guard runs.count % 2 == 0 else {
                throw DecodingError.dataCorruptedError(forKey: .runs, in: c, debugDescription: "runs come in (gap, repeats) pairs")
            }
            for k in stride(from: 0, to: runs.count, by: 2) where runs[k + 1] > 0 {
                for _ in 0..<runs[k + 1] {
                    t += runs[k]
                    ordered.append(t)
                }
            }
        }
        guard ordered.count == Swift.min(total, Self.capacity) else {
            throw DecodingError.dataCorruptedError(forKey: .runs, in: c, debugDescription: "time ring size does not match its count")
        }
        count = total
        if ordered.count < Self.capacity {
            times = ordered
        } else {
            // Put each time back at its slot (index % capacity).
            times = [Int64](repeating: 0, count: Self.capacity)
            for (k, t) in ordered.enumerated() { times[(total - Self.capacity + k) % Self.capacity] = t }
        }
    }

    mutating func append(_ time: Int64) {
        if times.count < Self.capacity { times.append(time) } else { times[count % Self.capacity] = time }
        count += 1
    }

    subscript(index: Int) -> Int64? {
        guard index >= 0, index < count, index >= count - Self.capacity else { return nil }
        return times[index % Self.capacity]
    }
}
