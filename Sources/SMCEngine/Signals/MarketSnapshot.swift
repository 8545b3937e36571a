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
