/// A signal: a setup the tenant's ensemble agreed on, with everything needed to understand it later.
public struct Signal: Sendable, Hashable, Codable {
    /// `<zone id>@<signal candle open time>`: unique per (tenant, symbol, timeframe), the same on every replay.
    public var id: String
    public var timeframe: String
    /// Open time of the candle whose close produced the signal, and that close's time.
    public var candleTime: Int64
    public var closeTime: Int64
    public var direction: Int
    /// 0–100, and how it reads under the tenant's levels.
    public var confidence: Double
    public var level: ConfidenceLevel
    public var setup: TradeSetup
    public var votes: [MemberVote]
    public var regime: MarketRegime?
    /// The first of the tenant's killzones the signal candle opened in; nil outside all of them.
    public var killzone: String?
    /// The base timeframe's bias first, then the higher timeframes'.
    public var biases: [Bias]
    /// −1…1: the higher timeframes' bias in the setup's direction, weighted by the tenant's timeframe weights.
    public var confluence: Double
}
