import Foundation
import Logging
import PostgresNIO
import SMCEngine

/// A symbol of the registry with the timeframes that have data.
struct SymbolListing: Sendable {
    var spec: SymbolSpec
    var timeframes: [(timeframe: String, first: Date, last: Date)]
}

struct CandlePageRecord: Sendable {
    var spec: SymbolSpec
    var timeframe: SignalTimeframe
    var candles: [(Candle, closed: Bool)]
    var nextCursor: String?
}

/// The read side of shared market data over REST: the registry with its data spans, and candle pages. Market data
/// is not tenant data; the caller is authenticated and each request is charged to the plan's budget.
struct MarketQueries: Sendable {
    let database: Database
    let plans: PlansService
    let rateLimiter: RateLimiter
    var logger: Logger { database.logger }

    /// Candles per request charge: one request per this many candles asked for (the first block is the request).
    static let candlesPerCharge = 1_000
    static let maxPage = 5_000

    /// The registry's entry, or 404 `unknown_symbol` pointing to the list.
    static func require(_ text: String, _ connection: PostgresConnection, logger: Logger) async throws -> SymbolSpec {
        // Spelt as watchlist symbols are: `eurusd`, `EUR-USD` and `EUR_USD` are `EURUSD`.
        let symbol = Watchlist.normalise(text)
        guard !symbol.isEmpty, let spec = try await SymbolRegistry.spec(symbol, connection, logger: logger) else {
            throw Problem(.unknownSymbol, detail: "\(symbol.isEmpty ? text : symbol) is not a symbol this server serves; GET /v1/symbols lists them",
                          extensions: ["symbols": .string("/v1/symbols")])
        }
        return spec
    }

    func symbols(_ reader: SignalReader) async throws -> [SymbolListing] {
        try await database.withTenant(reader.tenantID, readOnly: true) { connection in
            try await rateLimiter.charge(reader, plans: plans, connection)
            let specs = try await SymbolRegistry.all(connection, logger: logger)
            let spans = try await MarketDataService.spans(
                symbols: specs.map(\.symbol), timeframes: SignalTimeframe.all.map(\.label), connection, logger: logger)
            return specs.map { SymbolListing(spec: $0, timeframes: spans[$0.symbol] ?? []) }
        }
    }

    func candles(_ reader: SignalReader, symbol: String, timeframe: SignalTimeframe, since: Date?, until: Date?, limit: Int,
                 cursor: String?, now: Date = Date()) async throws -> CandlePageRecord
    {
        let scope = "candles|\(Watchlist.normalise(symbol))|\(timeframe.label)|\(since.map { "\($0.timeIntervalSince1970)" } ?? "")|"
            + (until.map { "\($0.timeIntervalSince1970)" } ?? "")
        let after = try cursor.map { try PageCursor.decode($0, scope: scope) }
        return try await database.withTenant(reader.tenantID, readOnly: true) { connection in
            try await rateLimiter.charge(reader, extra: (limit - 1) / Self.candlesPerCharge, plans: plans, connection)
            let spec = try await Self.require(symbol, connection, logger: logger)
            var rows = try await MarketDataService.page(
                symbol: spec.symbol, timeframe: timeframe, since: since, until: until,
                after: after.map { Date(timeIntervalSince1970: Double($0.micros) / 1_000_000) }, limit: limit + 1, now: now,
                connection, logger: logger)
            var next: String?
            if rows.count > limit {
                rows.removeLast()
                next = rows.last.map { PageCursor(micros: $0.0.time * 1_000_000, id: UUID(uuid: UUID_NULL)).encoded(scope: scope) }
            }
            return CandlePageRecord(spec: spec, timeframe: timeframe, candles: rows, nextCursor: next)
        }
    }
}

private let UUID_NULL: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
