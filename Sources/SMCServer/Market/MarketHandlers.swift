import Foundation
import OpenAPIRuntime
import SMCAPI
import SMCEngine

/// Market data operations.
extension APIHandlers {
    func ingestCandles(_ input: Operations.IngestCandles.Input) async throws -> Operations.IngestCandles.Output {
        let feeder = try await market.authenticateFeeder(authorization: RequestScope.current?.headers[.authorization])
        guard case .json(let batch) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        var problems = FieldErrors()
        let source = batch.source?.trimmingWhitespace() ?? "feed:\(feeder)"
        problems.check((1...50).contains(source.unicodeScalars.count) && !AccountRules.containsControl(source), "/source", "must be 1–50 characters")
        problems.check(batch.candles.count <= MarketDataService.maxBatch, "/candles",
                       "at most \(MarketDataService.maxBatch) candles per request")
        try problems.throwIfAny()
        var candles: [IncomingCandle] = []
        candles.reserveCapacity(batch.candles.count)
        for (i, c) in batch.candles.enumerated() {
            let seconds = c.openTime.timeIntervalSince1970
            guard seconds.rounded(.down) == seconds, let timeframe = SignalTimeframe(label: c.timeframe.rawValue) else {
                throw Problem.validation([.init(field: "/candles/\(i)/open_time", message: "must be a whole second")])
            }
            candles.append(IncomingCandle(
                symbol: c.symbol, timeframe: timeframe, openTime: Int64(seconds), open: c.open, high: c.high, low: c.low,
                close: c.close, volume: c.volume ?? 0))
        }
        let valid = try await market.validate(candles)
        let result = try await market.ingest(valid, source: source)
        return .ok(.init(body: .json(.init(
            received: batch.candles.count, inserted: result.inserted, replaced: result.replaced,
            corrections: result.corrections, unchanged: result.unchanged + (batch.candles.count - valid.count),
            aggregated: result.aggregated, queued: result.queued))))
    }
}
