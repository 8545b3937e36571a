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

/// The market reads (the registry, candle pages) and the operator's symbol edits.
extension APIHandlers {
    var marketQueries: MarketQueries { .init(database: signals.database, plans: plans, rateLimiter: signals.rateLimiter) }

    func listSymbols(_ input: Operations.ListSymbols.Input) async throws -> Operations.ListSymbols.Output {
        let reader = try await signalReader()
        let listings = try await marketQueries.symbols(reader)
        return .ok(.init(body: .json(.init(symbols: listings.map(\.schema)))))
    }

    func listCandles(_ input: Operations.ListCandles.Input) async throws -> Operations.ListCandles.Output {
        let reader = try await signalReader()
        let q = input.query
        var rules = QueryRules()
        let since = q.since, until = q.until
        let limit = q.limit ?? 1_000
        if !(1...MarketQueries.maxPage).contains(limit) { rules.fail("limit", "must be 1–\(MarketQueries.maxPage)") }
        guard let timeframe = SignalTimeframe(label: q.timeframe.rawValue) else {
            throw Problem.badRequest("timeframe is not one of the service's")
        }
        try rules.throwIfAny()
        let page = try await marketQueries.candles(reader, symbol: input.path.symbol, timeframe: timeframe, since: since,
                                                   until: until, limit: limit, cursor: q.cursor)
        let format = PriceFormat(decimals: page.spec.priceDecimals)
        return .ok(.init(body: .json(.init(
            symbol: page.spec.symbol, timeframe: q.timeframe, priceDecimals: page.spec.priceDecimals,
            candles: page.candles.map { c, closed in
                .init(time: Date(timeIntervalSince1970: Double(c.time)), open: format.round(c.open), high: format.round(c.high),
                      low: format.round(c.low), close: format.round(c.close), volume: c.volume, closed: closed)
            },
            hasMore: page.nextCursor != nil, nextCursor: page.nextCursor))))
    }

    func updateSymbol(_ input: Operations.UpdateSymbol.Input) async throws -> Operations.UpdateSymbol.Output {
        try AdminService.authorize(presented: RequestScope.current?.headers[.authorization], configured: adminToken)
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        let spec = try await admin.setSymbol(input.path.symbol, SymbolChange(
            priceDecimals: body.priceDecimals, spread: body.spread, commission: body.commission,
            commissionRate: body.commissionRate))
        return .ok(.init(body: .json(SymbolListing(spec: spec, timeframes: []).schema)))
    }
}

extension SymbolListing {
    var schema: Components.Schemas.SymbolInfo {
        .init(
            symbol: spec.symbol, assetClass: .init(rawValue: spec.assetClass) ?? .forex, description: spec.description,
            active: spec.active, priceDecimals: spec.priceDecimals,
            tickSize: PriceFormat.round(pow(10, -Double(spec.priceDecimals)), spec.priceDecimals),
            spread: spec.spread, commission: spec.commission, commissionRate: spec.commissionRate,
            timeframes: timeframes.compactMap { span in
                Components.Schemas.Timeframe(rawValue: span.timeframe).map {
                    .init(timeframe: $0, firstCandleTime: span.first, lastCandleTime: span.last)
                }
            },
            lastCandleTime: timeframes.map(\.last).max())
    }
}
