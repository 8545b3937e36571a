/// The signal layer for one tenant on one series: a `MarketAnalyzer` and a `TenantEvaluator` together. What the
/// CLI's backtest uses; the server keeps the two halves apart to share the analyzer between tenants.
public struct SignalEngine: Sendable, Codable {
    public private(set) var analyzer: MarketAnalyzer
    public private(set) var evaluator: TenantEvaluator

    public init(timeframe: SignalTimeframe, settings: StrategySettings = .init(),
                killzones: KillzoneSettings = .init()) throws(SMCParameterError)
    {
        evaluator = try TenantEvaluator(settings: settings, killzones: killzones, timeframe: timeframe)
        analyzer = MarketAnalyzer(DetectorParameters(timeframe: timeframe, strategy: settings))
    }

    public mutating func process(_ candle: Candle) -> EvaluationStep {
        evaluator.evaluate(analyzer.update(candle))
    }

    public mutating func receive(_ alert: ExternalAlert) {
        evaluator.receive(alert)
    }
}
