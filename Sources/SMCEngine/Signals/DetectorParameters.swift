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
