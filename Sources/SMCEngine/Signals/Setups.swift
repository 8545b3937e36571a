/// A trade built from a retested zone: entry at the close of the rejecting candle, stop beyond the zone's far
/// edge, targets at the opposing liquidity.
///
/// Rules (long; short mirrors):
/// - entry = the signal candle's close (the signal is known when that candle closes, so no earlier price is
///   assumed);
/// - stop = zone bottom − `stopBufferATR` × ATR, or lower when needed to be `minRiskATR` × ATR below the entry;
/// - targets = the nearest three unswept confirmed swing highs above the entry (buy-side liquidity), nearest first;
///   no liquidity above → no setup;
/// - reward:risk = (first target − entry) / (entry − stop); below `minRewardRisk` → no setup.
public struct TradeSetup: Sendable, Hashable, Codable {
    public var direction: Int
    public var zone: Zone
    public var entry: Double
    public var stop: Double
    public var targets: [Double]
    public var rewardRisk: Double

    public var risk: Double { abs(entry - stop) }

    public init?(candidate: SetupCandidate, snapshot: MarketSnapshot, settings: StrategySettings) {
        guard let atr = snapshot.base.indicators.atr, atr > 0, candidate.age <= settings.zoneMaxAge else { return nil }
        let zone = candidate.zone
        let d = zone.direction
        let entry = snapshot.candle.close
        let beyondZone = d > 0 ? zone.bottom - settings.stopBufferATR * atr : zone.top + settings.stopBufferATR * atr
        let farEnough = entry - Double(d) * settings.minRiskATR * atr
        let stop = d > 0 ? Swift.min(beyondZone, farEnough) : Swift.max(beyondZone, farEnough)
        let risk = (entry - stop) * Double(d)
        let pools = d > 0 ? snapshot.liquidityAbove : snapshot.liquidityBelow
        let targets = Array(pools.filter { ($0 - entry) * Double(d) > 0 }.prefix(3))
        guard risk > 0, let first = targets.first else { return nil }
        let rewardRisk = (first - entry) * Double(d) / risk
        guard rewardRisk >= settings.minRewardRisk else { return nil }
        self.direction = d
        self.zone = zone
        self.entry = entry
        self.stop = stop
        self.targets = targets
        self.rewardRisk = rewardRisk
    }
}

/// How a setup ended.
public enum OutcomeKind: String, Sendable, Hashable, Codable {
    /// The first target traded before the stop.
    case target
    /// The stop traded first — or in the same candle as the target (the worse case: a candle's path is unknown).
    case stop
    /// Neither within `expiryCandles` candles after the signal; closed at that candle's close.
    case expired
}

public struct SignalOutcome: Sendable, Hashable, Codable {
    public var signalID: String
    public var kind: OutcomeKind
    /// Open time of the candle that decided it, and how many candles after the signal that was.
    public var resolvedTime: Int64
    public var candles: Int
    public var exitPrice: Double
    /// Result in multiples of the risk, before costs: the reward:risk for a target, −1 for a stop.
    public var r: Double
}

/// Labels a setup from the candles after its signal candle, one candle at a time (so never with look-ahead).
public struct OutcomeLabeler: Sendable, Hashable, Codable {
    public let setup: TradeSetup
    public let signalIndex: Int
    public let expiryCandles: Int

    public init(setup: TradeSetup, signalIndex: Int, expiryCandles: Int) {
        self.setup = setup
        self.signalIndex = signalIndex
        self.expiryCandles = expiryCandles
    }

    /// The outcome this later candle decides, if any.
    public func label(_ candle: Candle, index: Int, signalID: String) -> SignalOutcome? {
        guard index > signalIndex, let target = setup.targets.first else { return nil }
        let long = setup.direction > 0
        let stopHit = long ? candle.low <= setup.stop : candle.high >= setup.stop
        let targetHit = long ? candle.high >= target : candle.low <= target
        let n = index - signalIndex
        if stopHit {
            return SignalOutcome(signalID: signalID, kind: .stop, resolvedTime: candle.time, candles: n,
                                 exitPrice: setup.stop, r: -1)
        }
        if targetHit {
            return SignalOutcome(signalID: signalID, kind: .target, resolvedTime: candle.time, candles: n,
                                 exitPrice: target, r: setup.rewardRisk)
        }
        if n >= expiryCandles {
            let r = (candle.close - setup.entry) * Double(setup.direction) / setup.risk
            return SignalOutcome(signalID: signalID, kind: .expired, resolvedTime: candle.time, candles: n,
                                 exitPrice: candle.close, r: r)
        }
        return nil
    }
}
