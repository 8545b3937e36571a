import Foundation  // tanh, sin, cos

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
