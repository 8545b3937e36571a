import Foundation
import Testing
@testable import SMCEngine

// MARK: - Synthetic data

/// A deterministic random walk with gaps, wicks and volume.
func syntheticCandles(count: Int, seed: UInt64, drift: Double = 0.02, start: Double = 100) -> [Candle] {
    var rng = SplitMix(seed: seed)
    func unit() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
    var candles: [Candle] = []
    var close = start
    for i in 0..<count {
        let gap = i % 37 == 0 ? (unit() - 0.5) * 6 : (unit() - 0.5) * 0.4
        let open = close + gap
        close = open + (unit() - 0.5) * 2 + drift
        let high = max(open, close) + unit() * 1.5
        let low = min(open, close) - unit() * 1.5
        candles.append(Candle(time: Int64(i) * 300, open: open, high: high, low: low, close: close,
                              volume: 1000 + unit() * 800))
    }
    return candles
}

// MARK: - Plain batch formulas (independent of the streaming code)

/// EMA: value at index `period - 1` is the mean of the first `period` inputs, then `alpha*x + (1-alpha)*prev`.
func batchEMA(_ x: [Double], _ period: Int) -> [Double?] {
    var out = [Double?](repeating: nil, count: x.count)
    guard x.count >= period else { return out }
    let alpha = 2.0 / Double(period + 1)
    var prev = x[0..<period].reduce(0, +) / Double(period)
    out[period - 1] = prev
    for i in period..<x.count {
        prev = alpha * x[i] + (1 - alpha) * prev
        out[i] = prev
    }
    return out
}

/// Wilder smoothing: mean of the first `period` inputs at index `period - 1`, then `(prev*(n-1) + x) / n`.
func batchWilder(_ x: [Double], _ period: Int) -> [Double?] {
    var out = [Double?](repeating: nil, count: x.count)
    guard x.count >= period else { return out }
    var prev = x[0..<period].reduce(0, +) / Double(period)
    out[period - 1] = prev
    for i in period..<x.count {
        prev = (prev * Double(period - 1) + x[i]) / Double(period)
        out[i] = prev
    }
    return out
}

func batchRSI(_ closes: [Double], _ period: Int) -> [Double?] {
    var out = [Double?](repeating: nil, count: closes.count)
    guard closes.count > period else { return out }
    var gains: [Double] = []
    var losses: [Double] = []
    for i in 1..<closes.count {
        let d = closes[i] - closes[i - 1]
        gains.append(d > 0 ? d : 0)
        losses.append(d < 0 ? -d : 0)
    }
    let g = batchWilder(gains, period)
    let l = batchWilder(losses, period)
    for j in 0..<gains.count {
        guard let ag = g[j], let al = l[j] else { continue }
        out[j + 1] = al == 0 ? (ag == 0 ? 50 : 100) : 100 - 100 / (1 + ag / al)
    }
    return out
}

func batchMACD(_ closes: [Double], fast: Int, slow: Int, signal: Int) -> [MACDValue?] {
    let f = batchEMA(closes, fast)
    let s = batchEMA(closes, slow)
    var lineIndex: [Int] = []
    var line: [Double] = []
    for i in closes.indices {
        if let a = f[i], let b = s[i] {
            lineIndex.append(i)
            line.append(a - b)
        }
    }
    let sig = batchEMA(line, signal)
    var out = [MACDValue?](repeating: nil, count: closes.count)
    for (k, i) in lineIndex.enumerated() {
        if let sg = sig[k] { out[i] = MACDValue(macd: line[k], signal: sg, histogram: line[k] - sg) }
    }
    return out
}

func batchTrueRange(_ c: [Candle]) -> [Double] {
    c.indices.map { i in
        i == 0 ? c[i].high - c[i].low
            : max(c[i].high - c[i].low, abs(c[i].high - c[i - 1].close), abs(c[i].low - c[i - 1].close))
    }
}

func batchATR(_ c: [Candle], _ period: Int) -> [Double?] { batchWilder(batchTrueRange(c), period) }

/// Wilder's DMI/ADX in his original running-sum form.
func batchADX(_ c: [Candle], _ n: Int) -> [ADXValue?] {
    var out = [ADXValue?](repeating: nil, count: c.count)
    let nd = Double(n)
    var sumTR = 0.0, sumPlus = 0.0, sumMinus = 0.0
    var dxs: [Double] = []
    var adx: Double?
    for i in 1..<c.count {
        let up = c[i].high - c[i - 1].high
        let down = c[i - 1].low - c[i].low
        let plus = up > down && up > 0 ? up : 0
        let minus = down > up && down > 0 ? down : 0
        let tr = max(c[i].high - c[i].low, abs(c[i].high - c[i - 1].close), abs(c[i].low - c[i - 1].close))
        if i <= n {
            sumTR += tr; sumPlus += plus; sumMinus += minus
            if i < n { continue }
        } else {
            sumTR = sumTR - sumTR / nd + tr
            sumPlus = sumPlus - sumPlus / nd + plus
            sumMinus = sumMinus - sumMinus / nd + minus
        }
        let pdi = 100 * sumPlus / sumTR
        let mdi = 100 * sumMinus / sumTR
        let dx = pdi + mdi == 0 ? 0 : 100 * abs(pdi - mdi) / (pdi + mdi)
        dxs.append(dx)
        if dxs.count == n {
            adx = dxs.reduce(0, +) / nd
        } else if let a = adx {
            adx = (a * (nd - 1) + dx) / nd
        }
        if let adx { out[i] = ADXValue(adx: adx, plusDI: pdi, minusDI: mdi) }
    }
    return out
}

/// Mean of the last `n` values (nil until `n` exist), summed afresh each time.
func batchRollingMean(_ x: [Double?], _ n: Int) -> [Double?] {
    var out = [Double?](repeating: nil, count: x.count)
    var seen: [Double] = []
    for i in x.indices {
        guard let v = x[i] else { continue }
        seen.append(v)
        if seen.count >= n { out[i] = seen[(seen.count - n)...].reduce(0, +) / Double(n) }
    }
    return out
}

// MARK: - Comparison helpers

func approx(_ a: Double?, _ b: Double?, tolerance: Double = 1e-9) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case let (x?, y?): return abs(x - y) <= tolerance * max(1, abs(x), abs(y))
    default: return false
    }
}

func approx(_ a: MACDValue?, _ b: MACDValue?) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case let (x?, y?): return approx(x.macd, y.macd) && approx(x.signal, y.signal) && approx(x.histogram, y.histogram)
    default: return false
    }
}

func approx(_ a: ADXValue?, _ b: ADXValue?) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case let (x?, y?): return approx(x.adx, y.adx) && approx(x.plusDI, y.plusDI) && approx(x.minusDI, y.minusDI)
    default: return false
    }
}

/// Index of the first non-nil element.
func firstIndex<T>(_ x: [T?]) -> Int? { x.firstIndex { $0 != nil } }

// MARK: - Tests

@Suite struct IndicatorTests {
    let candles = syntheticCandles(count: 600, seed: 42)
    var closes: [Double] { candles.map(\.close) }

    @Test func emaSmallExamples() {
        var ema = EMA(period: 3)
        #expect(ema.update(1) == nil)
        #expect(ema.update(2) == nil)
        #expect(ema.update(3) == 2)  // seed: mean of 1, 2, 3
        #expect(ema.update(4) == 3)  // alpha 0.5: 0.5*4 + 0.5*2
        #expect(ema.update(5) == 4)
        var constant = EMA(period: 20)
        for i in 0..<500 {
            let v = constant.update(7.25)
            #expect(i < 19 ? v == nil : v == 7.25)
        }
        var one = EMA(period: 1)
        #expect(one.update(3) == 3)
        #expect(one.update(9) == 9)
    }

    @Test(arguments: [1, 2, 5, 20, 50, 200])
    func emaMatchesBatch(_ period: Int) {
        var ema = EMA(period: period)
        let expected = batchEMA(closes, period)
        for (i, c) in closes.enumerated() {
            #expect(approx(ema.update(c), expected[i]), "EMA(\(period)) at \(i)")
        }
        #expect(firstIndex(expected) == period - 1)
    }

    @Test func rsiSmallExamples() {
        var rising = RSI(period: 14)
        for i in 0..<100 {
            let v = rising.update(close: 100 + Double(i) * 0.5)
            #expect(i < 14 ? v == nil : v == 100)
        }
        var falling = RSI(period: 14)
        for i in 0..<100 { falling.update(close: 100 - Double(i)) }
        #expect(falling.value == 0)
        var r = RSI(period: 2)
        #expect(r.update(close: 1) == nil)
        #expect(r.update(close: 2) == nil)
        #expect(r.update(close: 1) == 50)  // gains 1,0 / losses 0,1: averages 0.5 and 0.5
        #expect(r.update(close: 2) == 75)  // gain (0.5+1)/2 = 0.75, loss (0.5+0)/2 = 0.25, RS 3
        var flat = RSI(period: 3)
        for _ in 0..<10 { flat.update(close: 5) }
        #expect(flat.value == 50)
    }

    @Test(arguments: [2, 14])
    func rsiMatchesBatch(_ period: Int) {
        var rsi = RSI(period: period)
        let expected = batchRSI(closes, period)
        for (i, c) in closes.enumerated() {
            #expect(approx(rsi.update(close: c), expected[i]), "RSI(\(period)) at \(i)")
        }
        #expect(firstIndex(expected) == period)
    }

    @Test func macdMatchesBatch() {
        var macd = MACD()
        let expected = batchMACD(closes, fast: 12, slow: 26, signal: 9)
        for (i, c) in closes.enumerated() {
            #expect(approx(macd.update(close: c), expected[i]), "MACD at \(i)")
        }
        #expect(firstIndex(expected) == 33)  // close 34 = slow 26 + signal 9 - 1
        var other = MACD(fast: 5, slow: 13, signal: 4)
        let expected2 = batchMACD(closes, fast: 5, slow: 13, signal: 4)
        for (i, c) in closes.enumerated() { #expect(approx(other.update(close: c), expected2[i])) }
        var constant = MACD()
        for _ in 0..<100 { constant.update(close: 3) }
        #expect(constant.value == MACDValue(macd: 0, signal: 0, histogram: 0))
    }

    @Test func atrSmallExample() {
        var atr = ATR(period: 2)
        #expect(atr.update(Candle(time: 0, open: 9, high: 10, low: 8, close: 9)) == nil)  // TR 2 (high - low)
        #expect(atr.update(Candle(time: 1, open: 9, high: 11, low: 9, close: 10)) == 2)  // TR max(2, 2, 0) = 2
        #expect(atr.update(Candle(time: 2, open: 14, high: 15, low: 14, close: 14.5)) == 3.5)  // TR max(1, 5, 4) = 5: (2 + 5) / 2
        #expect(atr.update(Candle(time: 3, open: 14, high: 14, low: 12, close: 13)) == 3)  // TR max(2, 0.5, 2.5): (3.5 + 2.5) / 2
    }

    @Test(arguments: [1, 14])
    func atrMatchesBatch(_ period: Int) {
        var atr = ATR(period: period)
        let expected = batchATR(candles, period)
        for (i, c) in candles.enumerated() {
            #expect(approx(atr.update(c), expected[i]), "ATR(\(period)) at \(i)")
        }
    }

    @Test func adxSmallExamples() {
        // Strictly rising candles: all movement is +DM, so -DI = 0 and ADX = 100.
        var up = ADX(period: 3)
        var values: [ADXValue?] = []
        for i in 0..<20 {
            let b = Double(i)
            values.append(up.update(Candle(time: Int64(i), open: b, high: b + 1, low: b - 1, close: b + 0.5)))
        }
        #expect(firstIndex(values) == 5)  // candle 2 * period
        #expect(values[5]?.adx == 100)
        #expect(values[19]?.minusDI == 0)
        #expect(approx(values[19]?.plusDI, 50))  // +DM 1 per candle, TR 2 (high - low)
        // Identical candles: no movement at all, DIs and ADX 0.
        var flat = ADX(period: 3)
        for i in 0..<10 { flat.update(Candle(time: Int64(i), open: 1, high: 1, low: 1, close: 1)) }
        #expect(flat.value == ADXValue(adx: 0, plusDI: 0, minusDI: 0))
    }

    @Test(arguments: [3, 14])
    func adxMatchesBatch(_ period: Int) {
        var adx = ADX(period: period)
        let expected = batchADX(candles, period)
        for (i, c) in candles.enumerated() {
            #expect(approx(adx.update(c), expected[i]), "ADX(\(period)) at \(i)")
        }
        #expect(firstIndex(expected) == 2 * period - 1)
    }

    @Test func rollingMeanMatchesBatchAndDoesNotDrift() {
        var mean = RollingMean(capacity: 5)
        let x = closes
        let expected = batchRollingMean(x, 5)
        for (i, v) in x.enumerated() { #expect(approx(mean.update(v), expected[i]), "at \(i)") }
        // Huge values followed by small ones: a plain running sum would keep the rounding error of the huge ones.
        var drift = RollingMean(capacity: 20)
        var rng = SplitMix(seed: 7)
        for _ in 0..<1_000_003 { drift.update(1e15 + Double(rng.next() % 1000) + 0.123) }
        for _ in 0..<40 { drift.update(1.5) }
        #expect(drift.value == 1.5)
        #expect(drift.count == 20)
    }

    @Test func technicalIndicatorsMatchBatch() throws {
        var ti = TechnicalIndicators()
        #expect(ti.snapshot == nil)
        let ema20 = batchEMA(closes, 20), ema50 = batchEMA(closes, 50), ema200 = batchEMA(closes, 200)
        let rsi = batchRSI(closes, 14)
        let macd = batchMACD(closes, fast: 12, slow: 26, signal: 9)
        let atr = batchATR(candles, 14)
        let atrAverage = batchRollingMean(atr, 100)
        let adx = batchADX(candles, 14)
        let volumeAverage = batchRollingMean(candles.map(\.volume), 20)
        for (i, c) in candles.enumerated() {
            let s = ti.update(c)
            #expect(s == ti.snapshot)
            #expect(s.close == c.close)
            #expect(approx(s.ema20, ema20[i]) && approx(s.ema50, ema50[i]) && approx(s.ema200, ema200[i]), "EMAs at \(i)")
            #expect(approx(s.rsi, rsi[i]), "RSI at \(i)")
            #expect(approx(s.macd, macd[i]), "MACD at \(i)")
            #expect(approx(s.atr, atr[i]), "ATR at \(i)")
            #expect(approx(s.atrAverage, atrAverage[i]), "ATR average at \(i)")
            #expect(approx(s.adx, adx[i]), "ADX at \(i)")
            #expect(approx(s.volumeAverage, volumeAverage[i]), "volume average at \(i)")
            #expect(s.isWarm == (i >= 199), "warm at \(i)")
            if let a = atr[i], let m = atrAverage[i] {
                #expect(approx(s.volatilityRatio, a / m))
            } else {
                #expect(s.volatilityRatio == nil)
            }
        }
        #expect(firstIndex(atrAverage) == 112)  // ATR from candle 14, 100 of them at candle 113
    }

    @Test func volatilityRatioNeedsPositiveAverage() {
        #expect(IndicatorSnapshot(close: 1, atr: 2, atrAverage: 0).volatilityRatio == nil)
        #expect(IndicatorSnapshot(close: 1, atr: 2, atrAverage: nil).volatilityRatio == nil)
        #expect(IndicatorSnapshot(close: 1, atr: 3, atrAverage: 2).volatilityRatio == 1.5)
        #expect(!IndicatorSnapshot(close: 1).isWarm)
    }

    /// Encoding the state to JSON mid-stream, decoding it and continuing gives exactly the uninterrupted results.
    @Test(arguments: [0, 1, 13, 33, 112, 150, 199, 200, 431])
    func jsonRoundTripMidStream(_ cut: Int) throws {
        var straight = TechnicalIndicators()
        var straightRegime = RegimeDetector()
        var expected: [IndicatorSnapshot] = []
        var expectedRegimes: [MarketRegime?] = []
        for c in candles {
            let s = straight.update(c)
            expected.append(s)
            expectedRegimes.append(straightRegime.update(s))
        }
        var resumed = TechnicalIndicators()
        var resumedRegime = RegimeDetector()
        for c in candles[..<cut] { resumedRegime.update(resumed.update(c)) }
        let encoder = JSONEncoder()
        resumed = try JSONDecoder().decode(TechnicalIndicators.self, from: encoder.encode(resumed))
        resumedRegime = try JSONDecoder().decode(RegimeDetector.self, from: encoder.encode(resumedRegime))
        for i in cut..<candles.count {
            let s = resumed.update(candles[i])
            #expect(s == expected[i], "snapshot \(i) after resuming at \(cut)")
            #expect(resumedRegime.update(s) == expectedRegimes[i])
        }
        #expect(resumed == straight)
        #expect(resumedRegime == straightRegime)
        // Each indicator on its own, too.
        var ema = EMA(period: 20), rsi = RSI(), macd = MACD(), atr = ATR(), adx = ADX()
        for c in candles[..<cut] {
            ema.update(c.close); rsi.update(close: c.close); macd.update(close: c.close); atr.update(c); adx.update(c)
        }
        func roundTrip<T: Codable>(_ v: T) throws -> T { try JSONDecoder().decode(T.self, from: encoder.encode(v)) }
        var ema2 = try roundTrip(ema), rsi2 = try roundTrip(rsi), macd2 = try roundTrip(macd)
        var atr2 = try roundTrip(atr), adx2 = try roundTrip(adx)
        #expect(ema2 == ema && rsi2 == rsi && macd2 == macd && atr2 == atr && adx2 == adx)
        for c in candles[cut...] {
            #expect(ema2.update(c.close) == ema.update(c.close))
            #expect(rsi2.update(close: c.close) == rsi.update(close: c.close))
            #expect(macd2.update(close: c.close) == macd.update(close: c.close))
            #expect(atr2.update(c) == atr.update(c))
            #expect(adx2.update(c) == adx.update(c))
        }
    }
}
