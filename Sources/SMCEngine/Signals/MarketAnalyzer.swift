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
    /// The last candle and the base timeframe's state after it, for `view()`. Optional in the encoding: a state
    /// stored before they existed decodes with nil here until its next candle (the layout of every other field is
    /// unchanged, so `SMCEngine.stateVersion` stays).
    private var lastCandle: Candle?
    private var baseState: TimeframeState?

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
        lastCandle = candle
        baseState = state
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

    /// What the analyzer holds now, read-only: the last candle, and per timeframe (the base first, then the
    /// confluence ladder) its last state, unmitigated zones, last breaks, unswept swing levels and last confirmed
    /// swings. Nothing is recomputed: this is the state the next `update` continues from.
    public func view() -> MarketView {
        let higherViews = higher.indices.map { higher[$0].view(state: higherStates[$0]) }
        return MarketView(parameters: parameters, candles: candleCount, lastCandle: lastCandle,
                          timeframes: [base.view(state: baseState)] + higherViews)
    }
}
