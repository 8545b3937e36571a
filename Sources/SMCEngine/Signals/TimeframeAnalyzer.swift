import Foundation  // tanh

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

    /// What this timeframe holds now, read-only (`MarketAnalyzer.view`); `state` is its last update's.
    func view(state: TimeframeState?) -> TimeframeView {
        func point(_ e: SwingEvent) -> SwingPoint { SwingPoint(level: e.level, index: e.index, time: times[e.index]) }
        let swings = breaks.recentSwings
        return TimeframeView(
            timeframe: timeframe, candles: count, lastCandleTime: times[count - 1], state: state,
            orderBlocks: orderBlocks, fairValueGaps: fairValueGaps, breaks: breaksSeen, unsweptHighs: highs,
            unsweptLows: lows, lastSwingHigh: swings.last { $0.kind == 1 }.map(point),
            lastSwingLow: swings.last { $0.kind == -1 }.map(point))
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
