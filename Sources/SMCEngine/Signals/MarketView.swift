/// A read-only picture of a `MarketAnalyzer` (`MarketAnalyzer.view()`): what a market summary is made of.
public struct MarketView: Sendable, Hashable {
    public var parameters: DetectorParameters
    /// Base candles the analyzer has been fed.
    public var candles: Int
    /// The last base candle fed (nil before the first, and in a state stored before the analyzer kept it).
    public var lastCandle: Candle?
    /// The base timeframe first, then the higher ones of its confluence ladder.
    public var timeframes: [TimeframeView]
}

/// A confirmed swing: its level, its candle's stream index and open time (nil once the analyzer has forgotten the
/// time: it keeps the last 4,096).
public struct SwingPoint: Sendable, Hashable {
    public var level: Double
    public var index: Int
    public var time: Int64?
}

/// One timeframe of a `MarketView`.
public struct TimeframeView: Sendable, Hashable {
    public var timeframe: SignalTimeframe
    /// Closed candles of this timeframe analysed.
    public var candles: Int
    /// Open time of the last of them.
    public var lastCandleTime: Int64?
    /// The state after the last of them: bias components, last break, indicators, regime (nil before the first
    /// closed candle of a higher timeframe, and for the base in a state stored before the analyzer kept it).
    public var state: TimeframeState?
    /// Unmitigated order blocks and fair value gaps, in the order they became known (at most 200 of each).
    public var orderBlocks: [Zone]
    public var fairValueGaps: [Zone]
    /// The last certain BOS/CHoCH (at most five), oldest first.
    public var breaks: [StructureBreak]
    /// Confirmed swing levels no later candle has traded through, ascending (at most 100 each).
    public var unsweptHighs: [Double]
    public var unsweptLows: [Double]
    /// The last confirmed swing high and swing low.
    public var lastSwingHigh: SwingPoint?
    public var lastSwingLow: SwingPoint?

    /// Every active zone, order blocks and gaps, nearest to `price` first (ties: the newer first).
    public func zones(nearest price: Double) -> [Zone] {
        (orderBlocks + fairValueGaps).sorted {
            let a = $0.distance(to: price), b = $1.distance(to: price)
            return a != b ? a < b : $0.formedIndex > $1.formedIndex
        }
    }

    /// Candles of this timeframe since `zone` became known (0: on the last candle).
    public func age(of zone: Zone) -> Int { Swift.max(0, candles - 1 - zone.formedIndex) }

    /// The nearest unswept swing high above `price` and swing low below it: where the resting liquidity is.
    public func liquidity(around price: Double) -> (above: Double?, below: Double?) {
        (unsweptHighs.first { $0 > price }, unsweptLows.last { $0 < price })
    }

    /// Where `price` sits between the last confirmed swing high and swing low (nil without both, or when the high
    /// is not above the low).
    public func dealingRange(price: Double) -> DealingRange? {
        guard let high = lastSwingHigh, let low = lastSwingLow else { return nil }
        return DealingRange(high: high, low: low, price: price)
    }
}

/// A dealing range: the last confirmed swing high and swing low, and where a price sits in it.
///
/// Rule: `percent` = 100 · (price − low) / (high − low), so 0 is the swing low and 100 the swing high (a price
/// outside the range gives a value below 0 or above 100). Above 55 % the price is at a premium (expensive: where
/// sells are sought), below 45 % at a discount (where buys are sought), 45–55 % inclusive is equilibrium.
public struct DealingRange: Sendable, Hashable {
    public enum Position: String, Sendable, Hashable, Codable, CaseIterable {
        case premium
        case equilibrium
        case discount
    }

    /// The equilibrium band, in percent of the range.
    public static let equilibrium: ClosedRange<Double> = 45...55

    public var high: SwingPoint
    public var low: SwingPoint
    public var percent: Double
    public var position: Position

    /// Nil when the high is not above the low (no range), or a figure (the percent too) is not finite.
    public init?(high: SwingPoint, low: SwingPoint, price: Double) {
        guard high.level > low.level, high.level.isFinite, low.level.isFinite, price.isFinite else { return nil }
        self.high = high
        self.low = low
        percent = 100 * (price - low.level) / (high.level - low.level)
        guard percent.isFinite else { return nil }  // a range too narrow (or prices too large) to place a price in
        position = percent > Self.equilibrium.upperBound ? .premium
            : (percent < Self.equilibrium.lowerBound ? .discount : .equilibrium)
    }
}
