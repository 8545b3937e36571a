// Streaming technical indicators: each consumes one value or candle at a time in O(1), keeps only what it needs,
// and is Codable so the server can persist it as JSON between candles and continue exactly where it left off.

/// Exponential moving average.
///
/// Rules: `alpha = 2 / (period + 1)`. The first `period` inputs are averaged (simple mean) to seed the value, which
/// is reported on the `period`-th input; after that `value = alpha * x + (1 - alpha) * value`. `nil` before the
/// seed. `period` must be at least 1.
public struct EMA: Sendable, Hashable, Codable {
    /// Number of inputs averaged to seed; sets `alpha = 2 / (period + 1)`.
    public let period: Int
    /// The current average; `nil` until `period` inputs have been seen.
    public private(set) var value: Double?
    /// Inputs seen while seeding (stops counting at `period`).
    private var seeded: Int = 0
    /// Sum of the seeding inputs.
    private var seedSum: Double = 0

    /// An empty average; `period` must be at least 1.
    public init(period: Int) {
        precondition(period >= 1, "EMA period must be at least 1")
        self.period = period
    }

    /// Adds an input and returns the new value (`nil` while seeding).
    @discardableResult
    public mutating func update(_ x: Double) -> Double? {
        if let v = value {
            let alpha = 2.0 / Double(period + 1)
            value = v + alpha * (x - v)
        } else {
            seeded += 1
            seedSum += x
            if seeded == period { value = seedSum / Double(period) }
        }
        return value
    }
}

/// Wilder's moving average (RMA): seeded with the simple mean of the first `period` inputs, then
/// `value = (value * (period - 1) + x) / period`.
struct WilderAverage: Sendable, Hashable, Codable {
    let period: Int
    private(set) var value: Double?
    private var seeded: Int = 0
    private var seedSum: Double = 0

    init(period: Int) {
        precondition(period >= 1, "Wilder period must be at least 1")
        self.period = period
    }

    @discardableResult
    mutating func update(_ x: Double) -> Double? {
        if let v = value {
            value = (v * Double(period - 1) + x) / Double(period)
        } else {
            seeded += 1
            seedSum += x
            if seeded == period { value = seedSum / Double(period) }
        }
        return value
    }
}

/// Relative strength index (Wilder).
///
/// Rules: each close after the first gives a change; gains and losses (as positive numbers) are averaged with
/// Wilder smoothing seeded by the simple means of the first `period` changes, so the first value comes with the
/// `period + 1`-th close. `RSI = 100 - 100 / (1 + avgGain / avgLoss)`; it is 100 when there are no losses
/// (average loss 0) and 50 when there is no movement at all (both averages 0).
public struct RSI: Sendable, Hashable, Codable {
    /// Number of changes in the smoothing window.
    public let period: Int
    /// The current RSI in `0...100`; `nil` until `period + 1` closes have been seen.
    public private(set) var value: Double?
    private var previousClose: Double?
    private var gains: WilderAverage
    private var losses: WilderAverage

    /// An empty RSI; `period` must be at least 1.
    public init(period: Int = 14) {
        precondition(period >= 1, "RSI period must be at least 1")
        self.period = period
        gains = WilderAverage(period: period)
        losses = WilderAverage(period: period)
    }

    /// Adds a close and returns the new RSI (`nil` while warming up).
    @discardableResult
    public mutating func update(close: Double) -> Double? {
        defer { previousClose = close }
        guard let previous = previousClose else { return nil }
        let change = close - previous
        let gain = gains.update(max(change, 0))
        let loss = losses.update(max(-change, 0))
        guard let gain, let loss else { return nil }
        if loss == 0 {
            value = gain == 0 ? 50 : 100
        } else {
            value = 100 - 100 / (1 + gain / loss)
        }
        return value
    }
}

/// One MACD reading.
public struct MACDValue: Sendable, Hashable, Codable {
    /// Fast EMA minus slow EMA.
    public var macd: Double
    /// EMA of the MACD line.
    public var signal: Double
    /// `macd - signal`.
    public var histogram: Double

    /// A reading from its parts (`histogram` is not checked against `macd - signal`).
    public init(macd: Double, signal: Double, histogram: Double) {
        self.macd = macd
        self.signal = signal
        self.histogram = histogram
    }
}

/// Moving average convergence/divergence.
///
/// Rules: fast and slow `EMA`s of the closes (as `EMA`, SMA-seeded). Once both exist (the slow one comes with the
/// `slow`-th close when `fast <= slow`) each close adds `fast - slow` to the signal `EMA(signal)`; the value is
/// reported once the signal EMA exists, i.e. from close `slow + signal - 1` on (34 for 12/26/9).
public struct MACD: Sendable, Hashable, Codable {
    /// The current reading; `nil` until the signal EMA exists.
    public private(set) var value: MACDValue?
    private var fast: EMA
    private var slow: EMA
    private var signal: EMA

    /// An empty MACD with the given EMA periods (each at least 1).
    public init(fast: Int = 12, slow: Int = 26, signal: Int = 9) {
        self.fast = EMA(period: fast)
        self.slow = EMA(period: slow)
        self.signal = EMA(period: signal)
    }

    /// Adds a close and returns the new reading (`nil` while warming up).
    @discardableResult
    public mutating func update(close: Double) -> MACDValue? {
        let f = fast.update(close)
        let s = slow.update(close)
        guard let f, let s else { return nil }
        let line = f - s
        guard let sig = signal.update(line) else { return nil }
        value = MACDValue(macd: line, signal: sig, histogram: line - sig)
        return value
    }
}

/// True range of a candle: `max(high - low, |high - previousClose|, |low - previousClose|)`, or `high - low`
/// without a previous close.
@inline(__always)
func trueRange(_ candle: Candle, previousClose: Double?) -> Double {
    let range = candle.high - candle.low
    guard let pc = previousClose else { return range }
    return max(range, abs(candle.high - pc), abs(candle.low - pc))
}

/// Average true range (Wilder).
///
/// Rules: the true range uses the previous close (the first candle's is `high - low`); the ATR is the simple mean
/// of the first `period` true ranges, reported with the `period`-th candle, then Wilder-smoothed:
/// `atr = (atr * (period - 1) + tr) / period`.
public struct ATR: Sendable, Hashable, Codable {
    /// Number of true ranges in the smoothing window.
    public let period: Int
    /// The current ATR; `nil` until `period` candles have been seen.
    public private(set) var value: Double?
    private var previousClose: Double?
    private var average: WilderAverage

    /// An empty ATR; `period` must be at least 1.
    public init(period: Int = 14) {
        precondition(period >= 1, "ATR period must be at least 1")
        self.period = period
        average = WilderAverage(period: period)
    }

    /// Adds a candle and returns the new ATR (`nil` while warming up).
    @discardableResult
    public mutating func update(_ candle: Candle) -> Double? {
        let tr = trueRange(candle, previousClose: previousClose)
        previousClose = candle.close
        value = average.update(tr)
        return value
    }
}

/// One directional-movement reading.
public struct ADXValue: Sendable, Hashable, Codable {
    /// Average directional index, `0...100`.
    public var adx: Double
    /// Positive directional indicator, `0...100`.
    public var plusDI: Double
    /// Negative directional indicator, `0...100`.
    public var minusDI: Double

    /// A reading from its parts.
    public init(adx: Double, plusDI: Double, minusDI: Double) {
        self.adx = adx
        self.plusDI = plusDI
        self.minusDI = minusDI
    }
}

/// Wilder's directional movement system (DMI) and average directional index (ADX).
///
/// Rules, for each candle after the first (the first only provides the previous high, low and close):
/// - `up = high - previousHigh`, `down = previousLow - low`; `+DM = up` if `up > down && up > 0` else 0;
///   `-DM = down` if `down > up && down > 0` else 0; `TR` is the true range with the previous close.
/// - `+DM`, `-DM` and `TR` are Wilder-smoothed (seeded with the mean of the first `period` values; Wilder's
///   running sums give the same ratios). `+DI = 100 * +DM / TR`, `-DI = 100 * -DM / TR` (0 when `TR` is 0).
/// - `DX = 100 * |+DI - -DI| / (+DI + -DI)` (0 when both are 0); `ADX` is `DX` Wilder-smoothed the same way.
/// - The first DI values come with candle `period + 1`, the first ADX (and so `value`) with candle `2 * period`.
public struct ADX: Sendable, Hashable, Codable {
    /// Smoothing period of the DMs, true range and DX.
    public let period: Int
    /// The current reading; `nil` until the ADX exists (candle `2 * period`).
    public private(set) var value: ADXValue?
    private var previous: Candle?
    private var plusDM: WilderAverage
    private var minusDM: WilderAverage
    private var range: WilderAverage
    private var dx: WilderAverage

    /// An empty ADX; `period` must be at least 1.
    public init(period: Int = 14) {
        precondition(period >= 1, "ADX period must be at least 1")
        self.period = period
        plusDM = WilderAverage(period: period)
        minusDM = WilderAverage(period: period)
        range = WilderAverage(period: period)
        dx = WilderAverage(period: period)
    }

    /// Adds a candle and returns the new reading (`nil` while warming up).
    @discardableResult
    public mutating func update(_ candle: Candle) -> ADXValue? {
        defer { previous = candle }
        guard let prev = previous else { return nil }
        let up = candle.high - prev.high
        let down = prev.low - candle.low
        let pdm = (up > down && up > 0) ? up : 0
        let mdm = (down > up && down > 0) ? down : 0
        let tr = trueRange(candle, previousClose: prev.close)
        let sp = plusDM.update(pdm)
        let sm = minusDM.update(mdm)
        let st = range.update(tr)
        guard let sp, let sm, let st else { return nil }
        let plusDI = st > 0 ? 100 * sp / st : 0
        let minusDI = st > 0 ? 100 * sm / st : 0
        let sum = plusDI + minusDI
        let dxValue = sum > 0 ? 100 * abs(plusDI - minusDI) / sum : 0
        guard let adx = dx.update(dxValue) else { return nil }
        value = ADXValue(adx: adx, plusDI: plusDI, minusDI: minusDI)
        return value
    }
}

/// Simple mean of the last `capacity` values, O(1) per update.
///
/// A ring buffer holds the window and a running sum is kept; the sum is recomputed from the buffer every time the
/// write position wraps around (amortized O(1)), so rounding drift cannot build up over millions of updates.
public struct RollingMean: Sendable, Hashable, Codable {
    /// Window length.
    public let capacity: Int
    private var buffer: [Double]
    private var head: Int = 0
    private var sum: Double = 0

    /// An empty window; `capacity` must be at least 1.
    public init(capacity: Int) {
        precondition(capacity >= 1, "RollingMean capacity must be at least 1")
        self.capacity = capacity
        buffer = []
        buffer.reserveCapacity(capacity)
    }

    /// Number of values in the window (at most `capacity`).
    public var count: Int { buffer.count }

    /// The mean of the window; `nil` until it holds `capacity` values.
    public var value: Double? { buffer.count == capacity ? sum / Double(capacity) : nil }

    /// Adds a value (dropping the oldest once full) and returns the new mean (`nil` until full).
    @discardableResult
    public mutating func update(_ x: Double) -> Double? {
        if buffer.count < capacity {
            buffer.append(x)
            sum += x
        } else {
            sum += x - buffer[head]
            buffer[head] = x
            head += 1
            if head == capacity {
                head = 0
                var fresh = 0.0
                for v in buffer { fresh += v }
                sum = fresh
            }
        }
        return value
    }
}

/// The indicator readings after one candle.
public struct IndicatorSnapshot: Sendable, Hashable, Codable {
    /// Close of the candle.
    public var close: Double
    /// EMA 20 of the closes.
    public var ema20: Double?
    /// EMA 50 of the closes.
    public var ema50: Double?
    /// EMA 200 of the closes.
    public var ema200: Double?
    /// RSI 14.
    public var rsi: Double?
    /// MACD 12/26/9.
    public var macd: MACDValue?
    /// ATR 14.
    public var atr: Double?
    /// Simple mean of the last 100 ATR values (`nil` until 100 exist).
    public var atrAverage: Double?
    /// ADX 14 with its DIs.
    public var adx: ADXValue?
    /// Simple mean of the last 20 volumes.
    public var volumeAverage: Double?

    /// A snapshot from its readings (absent ones `nil`).
    public init(close: Double, ema20: Double? = nil, ema50: Double? = nil, ema200: Double? = nil, rsi: Double? = nil,
                macd: MACDValue? = nil, atr: Double? = nil, atrAverage: Double? = nil, adx: ADXValue? = nil,
                volumeAverage: Double? = nil) {
        self.close = close
        self.ema20 = ema20
        self.ema50 = ema50
        self.ema200 = ema200
        self.rsi = rsi
        self.macd = macd
        self.atr = atr
        self.atrAverage = atrAverage
        self.adx = adx
        self.volumeAverage = volumeAverage
    }

    /// `atr / atrAverage` when both exist and `atrAverage > 0`; above 1 means more volatile than usual.
    public var volatilityRatio: Double? {
        guard let atr, let atrAverage, atrAverage > 0 else { return nil }
        return atr / atrAverage
    }

    /// Whether every reading exists (from the 200th candle on, when EMA 200 seeds).
    public var isWarm: Bool {
        ema20 != nil && ema50 != nil && ema200 != nil && rsi != nil && macd != nil && atr != nil
            && atrAverage != nil && adx != nil && volumeAverage != nil
    }
}

/// All indicators of an `IndicatorSnapshot`, fed one candle at a time.
///
/// Candles must arrive in time order, each once. The whole state (a few kilobytes, dominated by the 100 ATR and
/// 20 volume values of the rolling means) is Codable; a decoded copy continues with identical results.
public struct TechnicalIndicators: Sendable, Hashable, Codable {
    /// The readings after the last candle; `nil` before the first.
    public private(set) var snapshot: IndicatorSnapshot?
    private var ema20 = EMA(period: 20)
    private var ema50 = EMA(period: 50)
    private var ema200 = EMA(period: 200)
    private var rsi = RSI(period: 14)
    private var macd = MACD(fast: 12, slow: 26, signal: 9)
    private var atr = ATR(period: 14)
    private var atrMean = RollingMean(capacity: 100)
    private var adx = ADX(period: 14)
    private var volumeMean = RollingMean(capacity: 20)

    /// Indicators that have seen no candle.
    public init() {}

    /// Adds a candle and returns the readings after it.
    @discardableResult
    public mutating func update(_ candle: Candle) -> IndicatorSnapshot {
        let atrValue = atr.update(candle)
        let atrAverage = atrValue.flatMap { atrMean.update($0) }
        let result = IndicatorSnapshot(
            close: candle.close,
            ema20: ema20.update(candle.close),
            ema50: ema50.update(candle.close),
            ema200: ema200.update(candle.close),
            rsi: rsi.update(close: candle.close),
            macd: macd.update(close: candle.close),
            atr: atrValue,
            atrAverage: atrAverage,
            adx: adx.update(candle),
            volumeAverage: volumeMean.update(candle.volume))
        snapshot = result
        return result
    }
}
