import Foundation
import Logging
import PostgresNIO
import SMCEngine

/// One symbol of the registry: how its prices are shown (the tick) and what a round trip costs.
struct SymbolSpec: Sendable, Hashable {
    var symbol: String
    var assetClass: String
    var description: String
    var active: Bool
    /// Decimals of the tick: prices are shown and sent rounded to it.
    var priceDecimals: Int
    /// Price units per round trip.
    var spread: Double
    var commission: Double
    /// Fraction of the entry price per round trip.
    var commissionRate: Double
    var updatedAt: Date

    var costs: BacktestCosts { BacktestCosts(spread: spread, commission: commission, commissionRate: commissionRate) }

    /// A setup's cost in R under these figures.
    func costR(entry: Double, stop: Double) -> Double { costs.costR(entry: entry, risk: abs(entry - stop)) }

    /// A price rounded to the tick, for people and payloads (stored values keep full precision).
    func price(_ value: Double) -> Double { PriceFormat(decimals: priceDecimals).round(value) }
}

/// Rounding of what a person reads: prices to the symbol's tick, confidence to 0.1, R and R:R to 0.01.
struct PriceFormat: Sendable, Hashable {
    var decimals: Int

    /// The registry's default when a symbol is not known.
    static let fallback = PriceFormat(decimals: 5)

    func round(_ value: Double) -> Double { Self.round(value, decimals) }

    func text(_ value: Double) -> String { String(format: "%.\(decimals)f", value) }

    static func round(_ value: Double, _ decimals: Int) -> Double {
        guard value.isFinite else { return value }
        let scale = pow(10, Double(decimals))
        return (value * scale).rounded() / scale
    }

    static func confidence(_ value: Double) -> Double { round(value, 1) }
    static func r(_ value: Double) -> Double { round(value, 2) }
}

/// A change to a symbol's display and cost figures (admin).
struct SymbolChange: Sendable, Hashable {
    var priceDecimals: Int?
    var spread: Double?
    var commission: Double?
    var commissionRate: Double?

    var isEmpty: Bool { priceDecimals == nil && spread == nil && commission == nil && commissionRate == nil }

    /// Field errors (JSON pointers as the admin API names them).
    func problems() -> [(field: String, message: String)] {
        var out: [(String, String)] = []
        if let d = priceDecimals, !(0...10).contains(d) { out.append(("/price_decimals", "must be 0 to 10")) }
        for (name, value) in [("spread", spread), ("commission", commission)] {
            if let v = value, !(v.isFinite && v >= 0 && v < 1e9) { out.append(("/\(name)", "must be at least 0 and below 1e9 (price units)")) }
        }
        if let r = commissionRate, !(r.isFinite && r >= 0 && r < 0.1) {
            out.append(("/commission_rate", "must be at least 0 and below 0.1 (a fraction of the entry price)"))
        }
        if isEmpty { out.append(("", "name at least one of price_decimals, spread, commission, commission_rate")) }
        return out
    }
}

/// The owner of `symbols`: the registry of what the server serves. Shared data (no tenant), read by every room
/// through these functions.
enum SymbolRegistry {
    private static let columns = "symbol, asset_class, description, active, price_decimals, spread, commission, commission_rate, updated_at"

    private static func decode(_ rows: PostgresRowSequence) async throws -> [SymbolSpec] {
        var out: [SymbolSpec] = []
        for try await (symbol, asset, description, active, decimals, spread, commission, rate, updated) in rows.decode(
            (String, String, String, Bool, Int16, Double, Double, Double, Date).self)
        {
            out.append(SymbolSpec(symbol: symbol, assetClass: asset, description: description, active: active,
                                  priceDecimals: Int(decimals), spread: spread, commission: commission,
                                  commissionRate: rate, updatedAt: updated))
        }
        return out
    }

    /// Every symbol, alphabetical.
    static func all(_ connection: PostgresConnection, logger: Logger) async throws -> [SymbolSpec] {
        try await decode(connection.query(
            PostgresQuery(unsafeSQL: "SELECT \(columns) FROM symbols ORDER BY symbol"), logger: logger))
    }

    /// The named symbols the registry knows, by name.
    static func specs(_ symbols: [String], _ connection: PostgresConnection, logger: Logger) async throws -> [String: SymbolSpec] {
        var query = PostgresQuery(unsafeSQL: "SELECT \(columns) FROM symbols WHERE symbol = ANY($1)")
        query.binds.append(symbols)
        let specs = try await decode(connection.query(query, logger: logger))
        return Dictionary(specs.map { ($0.symbol, $0) }, uniquingKeysWith: { a, _ in a })
    }

    static func spec(_ symbol: String, _ connection: PostgresConnection, logger: Logger) async throws -> SymbolSpec? {
        try await specs([symbol], connection, logger: logger)[symbol]
    }

    /// Every symbol the registry knows (active or not).
    static func names(_ connection: PostgresConnection, logger: Logger) async throws -> Set<String> {
        var out = Set<String>()
        for try await symbol in try await connection.query("SELECT symbol FROM symbols", logger: logger).decode(String.self) {
            out.insert(symbol)
        }
        return out
    }

    /// Which of `symbols` the registry serves (active); every active one when `symbols` is nil.
    static func active(_ symbols: [String]?, _ connection: PostgresConnection, logger: Logger) async throws -> Set<String> {
        var out = Set<String>()
        let rows = if let symbols {
            try await connection.query("SELECT symbol FROM symbols WHERE active AND symbol = ANY(\(symbols))", logger: logger)
        } else {
            try await connection.query("SELECT symbol FROM symbols WHERE active", logger: logger)
        }
        for try await symbol in rows.decode(String.self) { out.insert(symbol) }
        return out
    }

    /// Applies a validated change; nil when the symbol is unknown.
    static func update(_ symbol: String, _ change: SymbolChange, _ connection: PostgresConnection, logger: Logger)
        async throws -> SymbolSpec?
    {
        let decimals = change.priceDecimals.map(Int16.init)
        var query = PostgresQuery(unsafeSQL: """
            UPDATE symbols SET price_decimals = coalesce($2, price_decimals), spread = coalesce($3, spread),
              commission = coalesce($4, commission), commission_rate = coalesce($5, commission_rate), updated_at = now()
            WHERE symbol = $1 RETURNING \(columns)
            """)
        query.binds.append(symbol)
        query.binds.append(decimals)
        query.binds.append(change.spread)
        query.binds.append(change.commission)
        query.binds.append(change.commissionRate)
        return try await decode(connection.query(query, logger: logger)).first
    }
}
