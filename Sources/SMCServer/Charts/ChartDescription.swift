import Foundation

/// What a chart shows, as a value: the candles, and what a signal rests on drawn over them (its zone, its entry,
/// stop and targets, how it ended, the killzones it fell in, the structure around it). `ChartBuilder` makes one from
/// stored data; `ChartRenderer` draws one. Times are epoch seconds UTC (candle open times); prices are the stored
/// values (the renderer rounds what it writes to `priceDecimals`).
struct ChartDescription: Sendable, Hashable, Codable {
    enum Theme: String, Sendable, Hashable, Codable, CaseIterable {
        case light, dark
    }

    struct Title: Sendable, Hashable, Codable {
        var symbol: String
        var timeframe: String
        /// `long` or `short`; nil for a symbol chart.
        var direction: String?
        /// `order_block` or `fair_value_gap`; nil for a symbol chart.
        var setup: String?
        /// 0–100; nil for a symbol chart.
        var confidence: Double?
    }

    struct Candle: Sendable, Hashable, Codable {
        var time: Int64
        var open: Double
        var high: Double
        var low: Double
        var close: Double
    }

    /// A zone (order block or fair value gap) as a box from its candle to where the chart stops caring.
    struct ZoneBox: Sendable, Hashable, Codable {
        var top: Double
        var bottom: Double
        var from: Int64
        var to: Int64
        var bullish: Bool
        var label: String
    }

    struct Line: Sendable, Hashable, Codable {
        enum Kind: String, Sendable, Hashable, Codable {
            case entry, stop, target, level
        }
        var kind: Kind
        var price: Double
        var label: String
        /// Where the line starts (nil: the chart's left edge).
        var from: Int64?
    }

    struct Outcome: Sendable, Hashable, Codable {
        /// `target`, `stop` or `expired`.
        var kind: String
        var time: Int64
        var price: Double
    }

    /// A killzone's window: shaded from `from` to `to` (candle open times; the last candle is inside).
    struct Window: Sendable, Hashable, Codable {
        var name: String
        var from: Int64
        var to: Int64
    }

    struct StructureMark: Sendable, Hashable, Codable {
        enum Kind: String, Sendable, Hashable, Codable {
            case swingHigh = "swing_high", swingLow = "swing_low", bos, choch
        }
        var kind: Kind
        /// The swing's candle (for a break: the broken swing's candle).
        var time: Int64
        var price: Double
        /// A break's breaking candle (the level is drawn from `time` to here).
        var to: Int64?
        /// 1 bullish, −1 bearish.
        var direction: Int
        var label: String
    }

    var width = 1000
    var height = 560
    var theme = Theme.light
    var title: Title
    /// The candle length, to lay out the time axis.
    var timeframeSeconds: Int64
    var candles: [Candle]
    var priceDecimals: Int
    var zone: ZoneBox?
    var lines: [Line] = []
    var outcome: Outcome?
    var killzones: [Window] = []
    var structure: [StructureMark] = []
    /// The signal's candle, marked on the time axis.
    var signalTime: Int64?
    /// A line under the title (e.g. the signal's reward:risk); nil for none.
    var subtitle: String?

    static let defaultWidth = 1000
    static let defaultHeight = 560
}
