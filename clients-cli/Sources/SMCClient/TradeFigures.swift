import Foundation

/// A trade's PnL, R multiple and outcome, computed as the server computes them on close (`JournalService.recompute`,
/// in PostgreSQL `numeric`), so that a trade closed offline shows the figures it will have after the sync:
///
/// - pnl = (exit − entry) × direction × size − fees, exactly (1.105 − 1.1 is 0.005);
/// - r_multiple = (exit − entry) × direction / |entry − stop|, rounded as PostgreSQL rounds a numeric quotient; none
///   without a stop;
/// - outcome: open without an exit; breakeven when |pnl| < 1e-9; else win or loss.
///
/// The amounts are the doubles the client sends, read as the server stores them (their shortest text).
public struct TradeFigures: Sendable, Equatable {
    public var pnl: PostgresNumeric?
    public var rMultiple: PostgresNumeric?
    /// open, win, loss or breakeven.
    public var outcome: String

    static let breakevenBand = PostgresNumeric(text: "1e-9")!

    public init(direction: String, entry: Double, stop: Double?, exit: Double?, size: Double, fees: Double) {
        guard let exit else {
            self.init(pnl: nil, rMultiple: nil, outcome: "open")
            return
        }
        let stopN = stop.flatMap { PostgresNumeric($0) }
        guard let entryN = PostgresNumeric(entry), let exitN = PostgresNumeric(exit), let sizeN = PostgresNumeric(size),
            let feesN = PostgresNumeric(fees), (stop == nil) == (stopN == nil)
        else {
            // Beyond what Decimal holds (amounts near 1e-300, which the rules allow but nobody trades): doubles.
            self.init(approximately: direction, entry: entry, stop: stop, exit: exit, size: size, fees: fees)
            return
        }
        let sign = PostgresNumeric(direction == "short" ? -1 : 1)
        let move = (exitN - entryN) * sign
        let pnl = move * sizeN - feesN
        var r: PostgresNumeric?
        if let stopN, stopN != entryN { r = move.divided(by: (entryN - stopN).magnitude) }
        let outcome = pnl.magnitude < Self.breakevenBand ? "breakeven" : pnl > .zero ? "win" : "loss"
        self.init(pnl: pnl, rMultiple: r, outcome: outcome)
    }

    init(pnl: PostgresNumeric?, rMultiple: PostgresNumeric?, outcome: String) {
        self.pnl = pnl
        self.rMultiple = rMultiple
        self.outcome = outcome
    }

    private init(approximately direction: String, entry: Double, stop: Double?, exit: Double, size: Double, fees: Double) {
        let sign = direction == "short" ? -1.0 : 1.0
        let pnl = (exit - entry) * sign * size - fees
        let r = stop.flatMap { $0 == entry ? nil : (exit - entry) * sign / abs(entry - $0) }
        self.init(
            pnl: PostgresNumeric(pnl), rMultiple: r.flatMap { PostgresNumeric($0) },
            outcome: abs(pnl) < 1e-9 ? "breakeven" : pnl > 0 ? "win" : "loss")
    }
}
