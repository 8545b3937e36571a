import Foundation  // tanh, sin, cos

/// One member's say on a setup.
public struct MemberVote: Sendable, Hashable, Codable {
    public var member: EnsembleMember
    /// −1…1: positive favours a long, negative a short; 0 with `abstained` when the member has nothing to say.
    public var vote: Double
    /// The weight the vote carried: tenant weight × adaptive factor × regime gate (0 when disabled or abstaining).
    public var weight: Double
    /// The regime gate applied (0…1).
    public var gate: Double
    public var abstained: Bool
    /// Why the member voted so, for people reading the signal.
    public var reason: String
}

/// An alert a tenant sent from outside (TradingView), already parsed.
public struct ExternalAlert: Sendable, Hashable, Codable {
    public var time: Int64
    /// 1 buy / −1 sell.
    public var direction: Int
    /// 0…1; 1 when the alert did not say.
    public var strength: Double
    public var text: String

    public init(time: Int64, direction: Int, strength: Double = 1, text: String = "") {
        self.time = time
        self.direction = direction
        self.strength = Swift.min(Swift.max(strength, 0), 1)
        self.text = text
    }
}

/// How much each member counts in each market regime (DESIGN.md §4: the regime gates the members).
///
/// Trend-following indicators mislead in a range and lag in a volatility burst; structure reads are weaker when
/// price whips; the learned member saw every regime in its features (it has regime inputs) and keeps full weight.
public enum RegimeGates {
    public static func gate(_ member: EnsembleMember, _ regime: MarketRegime?) -> Double {
        switch (member, regime) {
        case (.technical, nil): 0  // indicators not warm yet
        case (.technical, .ranging?): 0.25
        case (.technical, .volatile?), (.technical, .quiet?): 0.5
        case (.smc, .volatile?), (.external, .volatile?): 0.5
        case (.smc, .quiet?): 0.75
        default: 1
        }
    }
}

/// Per-tenant ensemble state: the members' running accuracy and the learned member's data and model. A plain
/// value, `Codable`, that the server stores between candles.
public struct EnsembleState: Sendable, Hashable, Codable {
    /// Exponentially decayed share of outcomes each member called right (starts at 0.5, a coin).
    public var accuracy: [EnsembleMember: Double] = [:]
    public var outcomesSeen: [EnsembleMember: Int] = [:]
    /// Labelled setups (target or stop) for the learned member, oldest first, at most `sampleLimit`.
    public var samples: [LabelledSample] = []
    public var model: LogisticModel?
    /// `samples.count` plus the samples dropped so far, when `model` was trained.
    public var trainedAtSample = 0
    public var totalSamples = 0

    public static let sampleLimit = 3000
    /// The learned member trains from this many labelled setups, and retrains after every `retrainEvery` more.
    public static let minimumSamples = 40
    public static let retrainEvery = 20

    public init() {}

    /// The adaptive factor of a member's weight: accuracy / 0.5, within 0.2…2 (1 for a coin).
    public func factor(_ member: EnsembleMember) -> Double {
        Swift.min(Swift.max((accuracy[member] ?? 0.5) / 0.5, 0.2), 2)
    }

    /// Scores the members that voted on a signal against its outcome: a member was right when its vote's sign is
    /// the direction that paid (the setup's when the result was positive, the other one otherwise).
    public mutating func record(votes: [MemberVote], direction: Int, r: Double, decay: Double) {
        let paid = r > 0 ? direction : -direction
        for vote in votes where !vote.abstained && vote.vote != 0 {
            let right: Double = (vote.vote > 0 ? 1 : -1) == paid ? 1 : 0
            accuracy[vote.member] = decay * (accuracy[vote.member] ?? 0.5) + (1 - decay) * right
            outcomesSeen[vote.member, default: 0] += 1
        }
    }

    /// Adds a labelled setup and retrains the learned member when enough new ones have arrived.
    public mutating func learn(_ sample: LabelledSample) {
        samples.append(sample)
        totalSamples += 1
        if samples.count > Self.sampleLimit { samples.removeFirst(samples.count - Self.sampleLimit) }
        guard samples.count >= Self.minimumSamples, totalSamples - trainedAtSample >= Self.retrainEvery || model == nil
        else { return }
        if let trained = LogisticModel.train(samples, featureNames: SetupFeatures.names) {
            model = trained
            trainedAtSample = totalSamples
        }
    }
}

/// The learned member's inputs for a setup, signed so that positive always means "in the setup's favour".
public enum SetupFeatures {
    public static let version = 1
    public static let names = [
        "zone_is_order_block", "zone_height_atr", "risk_atr", "reward_risk", "zone_age_100",
        "structure_aligned", "last_break_choch", "break_momentum_aligned", "bias_aligned", "htf_alignment",
        "volatility_ratio", "rsi_aligned", "macd_aligned", "ema_trend_aligned",
        "regime_trend_with", "regime_trend_against", "regime_ranging", "regime_volatile", "regime_quiet",
        "hour_sin", "hour_cos", "entry_distance_atr",
    ]

    public static func compute(_ setup: TradeSetup, candidate: SetupCandidate, snapshot s: MarketSnapshot,
                               baseBias: Double, confluence: Double) -> [Double]
    {
        // `baseBias` is long-positive (−100…100); `confluence` is already in the setup's direction.
        let d = Double(setup.direction)
        let ind = s.base.indicators
        let atr = ind.atr ?? setup.risk
        let zone = setup.zone
        let lastBreak = s.base.lastBreak
        let regime = s.base.regime
        let trendWith = (regime == .trendingUp && d > 0) || (regime == .trendingDown && d < 0)
        let trendAgainst = (regime == .trendingUp && d < 0) || (regime == .trendingDown && d > 0)
        let hour = Double(((s.candle.time % 86_400) + 86_400) % 86_400) / 3600
        let edge = d > 0 ? zone.top : zone.bottom
        return [
            zone.kind == .orderBlock ? 1 : 0,
            zone.height / atr,
            setup.risk / atr,
            Swift.min(setup.rewardRisk, 10),
            Double(candidate.age) / 100,
            lastBreak.map { Double($0.direction) * d } ?? 0,
            lastBreak?.kind == "CHoCH" ? 1 : 0,
            s.base.breakMomentum * d,
            baseBias / 100 * d,
            confluence,
            ind.volatilityRatio ?? 1,
            ind.rsi.map { ($0 - 50) / 50 * d } ?? 0,
            ind.macd.map { tanh($0.histogram / (0.1 * atr)) * d } ?? 0,
            TechnicalModel.emaTrend(ind).map { $0 * d } ?? 0,
            trendWith ? 1 : 0, trendAgainst ? 1 : 0,
            regime == .ranging ? 1 : 0, regime == .volatile ? 1 : 0, regime == .quiet ? 1 : 0,
            sin(hour / 24 * 2 * .pi), cos(hour / 24 * 2 * .pi),
            (setup.entry - edge) * d / atr,
        ]
    }
}

/// The technical-indicator member: EMA trend, MACD and RSI momentum, damped when volatility runs high.
public enum TechnicalModel {
    /// +1 when close > EMA50 > EMA200 and EMA20 > EMA50 … −1 for the mirror; steps of ⅓ in between.
    static func emaTrend(_ s: IndicatorSnapshot) -> Double? {
        guard let e20 = s.ema20, let e50 = s.ema50, let e200 = s.ema200 else { return nil }
        let parts: [Double] = [s.close > e50 ? 1 : -1, e20 > e50 ? 1 : -1, e50 > e200 ? 1 : -1]
        return parts.reduce(0, +) / 3
    }

    /// The vote (positive = long) and its reason; nil while the indicators warm up.
    public static func vote(_ s: IndicatorSnapshot) -> (Double, String)? {
        guard s.isWarm, let trend = emaTrend(s), let rsi = s.rsi, let macd = s.macd, let atr = s.atr, atr > 0 else {
            return nil
        }
        let momentum = tanh(macd.histogram / (0.1 * atr))
        let rsiPart = tanh((rsi - 50) / 15)
        let ratio = s.volatilityRatio ?? 1
        let damping = ratio > 1.5 ? 0.5 : 1
        let vote = Swift.min(Swift.max((0.4 * trend + 0.3 * momentum + 0.3 * rsiPart) * damping, -1), 1)
        let reason = "EMA trend \(fmt(trend)), MACD \(fmt(momentum)), RSI \(fmt(rsi)), ATR ratio \(fmt(ratio))"
        return (vote, reason)
    }
}

func fmt(_ x: Double) -> String {
    String(format: "%.2f", x)
}
