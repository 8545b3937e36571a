import Foundation

/// `SMC_BINANCE_*`: the connector that pulls closed klines from Binance's public REST API.
public struct BinanceSettings: Sendable {
    /// `SMC_BINANCE_PAIRS`: what to follow; empty (the default) turns the connector off.
    public var pairs: [BinancePair] = []
    /// `SMC_BINANCE_URL`: the REST base URL (`/api/v3/klines` is appended).
    public var baseURL = "https://api.binance.com"
    /// `SMC_BINANCE_POLL_SECONDS`: how often each pair checks whether a kline has closed since its last one.
    public var pollInterval: Duration = .seconds(10)
    /// `SMC_BINANCE_BACKFILL_CANDLES`: how far back a pair with nothing stored yet starts.
    public var backfillCandles = 1000
    /// `SMC_BINANCE_TIMEOUT_SECONDS`: the whole request, body included.
    public var requestTimeout: Duration = .seconds(10)

    public init() {}
}
