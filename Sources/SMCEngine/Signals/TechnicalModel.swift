import Foundation  // tanh

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
