/// The reference's indicator families by their Python names, as `smc-client analyze --indicator NAME` takes them.
public enum ReferenceIndicator: String, Sendable, CaseIterable {
    case fvg
    case swingHighsLows = "swing_highs_lows"
    case bosChoch = "bos_choch"
    case ob
    case liquidity
    case previousHighLow = "previous_high_low"
    case sessions
    case retracements
}

/// Every parameter of the reference's calls, with the reference's defaults.
public struct ReferenceParameters: Sendable, Hashable {
    /// `swing_length`, for `swing_highs_lows` and for the swings the structure families are given.
    public var swingLength = 50
    public var joinConsecutive = false
    public var closeBreak = true
    public var closeMitigation = false
    public var rangePercent = 0.01
    public var timeFrame = "1D"
    /// A named session, or `Custom` (implied when only `start`/`end` are given).
    public var session: String?
    public var start: String?
    public var end: String?
    public var timeZone = "UTC"

    public init() {}
}

extension SMC {
    /// Runs one reference call by name: what the CLI prints. Structure families (`bos_choch`, `ob`, `liquidity`,
    /// `retracements`) get `swing_highs_lows(candles, swingLength)` as their swings, as the reference's tests do.
    public static func reference(_ indicator: ReferenceIndicator, candles: CandleSeries,
                                 parameters p: ReferenceParameters = .init()) throws(SMCParameterError)
        -> ReferenceTable
    {
        guard p.swingLength >= 1 else {
            throw SMCParameterError(code: "invalid_swing_length", message: "swing length must be at least 1")
        }
        guard p.rangePercent.isFinite else {
            throw SMCParameterError(code: "invalid_range_percent", message: "range percent must be a finite number")
        }
        func swings() -> SwingHighsLows { swingHighsLows(candles, swingLength: p.swingLength) }
        switch indicator {
        case .fvg:
            return fairValueGaps(candles, joinConsecutive: p.joinConsecutive).referenceTable
        case .swingHighsLows:
            return swings().referenceTable
        case .bosChoch:
            return breaksOfStructure(candles, swings: swings(), closeBreak: p.closeBreak).referenceTable
        case .ob:
            return orderBlocks(candles, swings: swings(), closeMitigation: p.closeMitigation).referenceTable
        case .liquidity:
            return liquidity(candles, swings: swings(), rangePercent: p.rangePercent).referenceTable
        case .previousHighLow:
            return previousHighLow(candles, timeFrame: try TimeFrame(parsing: p.timeFrame)).referenceTable
        case .sessions:
            let name = p.session ?? ((p.start != nil || p.end != nil) ? "Custom" : nil)
            guard let name else {
                throw SMCParameterError(code: "invalid_session",
                                        message: "sessions needs a session name, or a start and end time")
            }
            let session = try TradingSession(named: name, start: p.start, end: p.end)
            return try sessions(candles, session: session, timeZone: SessionTimeZone(p.timeZone)).referenceTable
        case .retracements:
            return retracements(candles, swings: swings()).referenceTable
        }
    }
}
