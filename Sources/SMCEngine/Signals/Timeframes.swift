/// The timeframes the service knows, by their API labels.
public struct SignalTimeframe: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public let seconds: Int64

    /// The ladder of standard timeframes, shortest first.
    public static let all: [SignalTimeframe] = [60, 300, 900, 1800, 3600, 14_400, 86_400, 604_800].map { .init(seconds: $0) }

    public init(seconds: Int64) {
        self.seconds = seconds
    }

    public init?(label: String) {
        guard let match = Self.all.first(where: { $0.label == label }) else { return nil }
        self = match
    }

    public var label: String {
        switch seconds {
        case let s where s % 604_800 == 0: "\(s / 604_800)w"
        case let s where s % 86_400 == 0: "\(s / 86_400)d"
        case let s where s % 3600 == 0: "\(s / 3600)h"
        case let s where s % 60 == 0: "\(s / 60)m"
        default: "\(seconds)s"
        }
    }

    public var description: String { label }

    /// The timeframe of a series: its smallest step between consecutive candles (gaps only make steps longer),
    /// when that is a standard timeframe.
    public static func inferred(from candles: CandleSeries) -> SignalTimeframe? {
        var best = Int64.max
        for i in stride(from: 1, to: candles.count, by: 1) { best = Swift.min(best, candles.time[i] - candles.time[i - 1]) }
        return all.first { $0.seconds == best }
    }

    public static func < (a: Self, b: Self) -> Bool { a.seconds < b.seconds }

    /// The higher timeframes whose bias forms a base timeframe's confluence: the next three on the ladder that
    /// the base divides (30m is skipped as a confluence step: 15m → 1h, 4h, 1d).
    public var confluenceLadder: [SignalTimeframe] {
        Array(Self.all.filter { $0 > self && $0.seconds % seconds == 0 && $0.seconds != 1800 }.prefix(3))
    }

    /// Start of the bucket holding `time`: UTC-aligned (days at 00:00 UTC), weeks starting Monday 00:00 UTC.
    public func bucketStart(_ time: Int64) -> Int64 {
        let shift: Int64 = seconds == 604_800 ? 3 * 86_400 : 0  // 1970-01-01 was a Thursday
        return CivilTime.floorDiv(time + shift, seconds) * seconds - shift
    }
}

/// Builds candles of a higher timeframe from closed candles of a lower one, one at a time.
///
/// Rules: buckets are UTC-aligned (`SignalTimeframe.bucketStart`); a higher candle opens at its bucket's start
/// with the first lower candle's open, takes the highest high, the lowest low, the last close and the summed
/// volume. It is emitted (closed) as soon as the lower candle that ends its bucket arrives, or, when that one is
/// missing (a gap, a weekend), when the first candle of a later bucket arrives. A partial bucket is never emitted
/// early, so nothing downstream sees an unfinished candle.
public struct CandleAggregator: Sendable, Hashable, Codable {
    public let base: SignalTimeframe
    public let target: SignalTimeframe
    private var current: Candle?

    /// The higher candle still being built (not yet closed), if any.
    public var forming: Candle? { current }

    public init(base: SignalTimeframe, target: SignalTimeframe) {
        precondition(target.seconds % base.seconds == 0 && target > base, "target must be a multiple of base")
        self.base = base
        self.target = target
    }

    /// Feeds one closed lower candle; returns the higher candles that this closes (at most two: a stale one and,
    /// rarely, the new one when it is complete by itself).
    public mutating func feed(_ candle: Candle) -> [Candle] {
        var closed: [Candle] = []
        let bucket = target.bucketStart(candle.time)
        if let c = current, c.time != bucket {
            closed.append(c)
            current = nil
        }
        if var c = current {
            c.high = Swift.max(c.high, candle.high)
            c.low = Swift.min(c.low, candle.low)
            c.close = candle.close
            c.volume += candle.volume
            current = c
        } else {
            current = Candle(time: bucket, open: candle.open, high: candle.high, low: candle.low, close: candle.close,
                             volume: candle.volume)
        }
        if candle.time + base.seconds >= bucket + target.seconds, let c = current {
            closed.append(c)
            current = nil
        }
        return closed
    }
}
