/// One closed candle. Used where candles arrive one at a time (streaming); batch code reads `CandleSeries`.
public struct Candle: Sendable, Hashable, Codable {
    /// Open time of the candle, seconds since 1970-01-01 00:00 UTC.
    public var time: Int64
    public var open: Double
    public var high: Double
    public var low: Double
    public var close: Double
    public var volume: Double

    public init(time: Int64, open: Double, high: Double, low: Double, close: Double, volume: Double = 0) {
        self.time = time
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
    }
}

/// Candles stored column by column (struct of arrays), so detectors scan one contiguous array at a time.
///
/// Times are open times in epoch seconds (UTC) and are expected to increase strictly; `CandleCSV` guarantees that
/// for what it reads. All columns always have the same length.
public struct CandleSeries: Sendable, Hashable {
    public private(set) var time: [Int64]
    public private(set) var open: [Double]
    public private(set) var high: [Double]
    public private(set) var low: [Double]
    public private(set) var close: [Double]
    public private(set) var volume: [Double]

    /// An empty series with room for `capacity` candles.
    public init(capacity: Int = 0) {
        time = []
        open = []
        high = []
        low = []
        close = []
        volume = []
        reserveCapacity(capacity)
    }

    /// Builds a series from columns of equal length; `volume` defaults to zeros.
    public init(time: [Int64], open: [Double], high: [Double], low: [Double], close: [Double], volume: [Double]? = nil) {
        let n = time.count
        precondition(open.count == n && high.count == n && low.count == n && close.count == n,
                     "CandleSeries columns must have equal length")
        precondition(volume == nil || volume!.count == n, "CandleSeries volume column must match the others")
        self.time = time
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume ?? [Double](repeating: 0, count: n)
    }

    /// Builds a series from row values.
    public init(_ candles: some Sequence<Candle>) {
        self.init()
        for candle in candles { append(candle) }
    }

    public var count: Int { time.count }
    public var isEmpty: Bool { time.isEmpty }

    public subscript(index: Int) -> Candle {
        Candle(time: time[index], open: open[index], high: high[index], low: low[index], close: close[index],
               volume: volume[index])
    }

    /// The candles in `range`, as a new series (indices restart at 0, as a sliced DataFrame reset would).
    public subscript(range: Range<Int>) -> CandleSeries {
        CandleSeries(time: Array(time[range]), open: Array(open[range]), high: Array(high[range]),
                     low: Array(low[range]), close: Array(close[range]), volume: Array(volume[range]))
    }

    public mutating func reserveCapacity(_ capacity: Int) {
        time.reserveCapacity(capacity)
        open.reserveCapacity(capacity)
        high.reserveCapacity(capacity)
        low.reserveCapacity(capacity)
        close.reserveCapacity(capacity)
        volume.reserveCapacity(capacity)
    }

    public mutating func append(_ candle: Candle) {
        time.append(candle.time)
        open.append(candle.open)
        high.append(candle.high)
        low.append(candle.low)
        close.append(candle.close)
        volume.append(candle.volume)
    }
}
