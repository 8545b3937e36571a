import Foundation
import Testing
@testable import SMCEngine

/// A warm snapshot with the given volatility ratio (ATR over a mean ATR of 1) and DMI readings.
private func snapshot(ratio: Double, adx: Double = 10, plusDI: Double = 20, minusDI: Double = 20,
                      close: Double = 100, ema50: Double = 100) -> IndicatorSnapshot {
    IndicatorSnapshot(close: close, ema20: close, ema50: ema50, ema200: ema50, rsi: 50,
                      macd: MACDValue(macd: 0, signal: 0, histogram: 0), atr: ratio, atrAverage: 1,
                      adx: ADXValue(adx: adx, plusDI: plusDI, minusDI: minusDI), volumeAverage: 1000)
}

/// Candles from closes with a fixed half-range around the body.
private func candles(_ closes: [Double], wick: Double, startTime: Int64 = 0) -> [Candle] {
    var out: [Candle] = []
    var previous = closes.first ?? 0
    for (i, c) in closes.enumerated() {
        out.append(Candle(time: startTime + Int64(i) * 300, open: previous, high: max(previous, c) + wick,
                          low: min(previous, c) - wick, close: c, volume: 1000))
        previous = c
    }
    return out
}

/// Feeds candles and returns the regime after each.
private func run(_ series: [Candle], indicators: inout TechnicalIndicators,
                 detector: inout RegimeDetector) -> [MarketRegime?] {
    series.map { detector.update(indicators.update($0)) }
}

private func run(_ series: [Candle]) -> [MarketRegime?] {
    var indicators = TechnicalIndicators()
    var detector = RegimeDetector()
    return run(series, indicators: &indicators, detector: &detector)
}

/// Sideways chop: a sine wave of period 8 around 100 with a little noise.
private func chop(count: Int, amplitude: Double = 2, seed: UInt64 = 1) -> [Double] {
    var rng = SplitMix(seed: seed)
    return (0..<count).map { i in
        100 + amplitude * sin(Double(i) * 2 * .pi / 8) + Double(rng.next() % 100) / 1000
    }
}

@Suite struct RegimeTests {
    @Test func parametersDefaultsAndValidation() throws {
        let p = RegimeParameters()
        #expect(p.volatileEnter == 1.6 && p.volatileExit == 1.4)
        #expect(p.quietEnter == 0.6 && p.quietExit == 0.7)
        #expect(p.trendEnter == 25 && p.trendExit == 20)
        try p.validate()
        var bad = p
        bad.volatileExit = 1.7
        #expect(code { try bad.validate() } == "invalid_regime_parameters")
        bad = p
        bad.quietExit = 1.5
        #expect(code { try bad.validate() } == "invalid_regime_parameters")
        bad = p
        bad.trendExit = .nan
        #expect(code { try bad.validate() } == "invalid_regime_parameters")
        // Missing keys keep their defaults.
        let partial = try JSONDecoder().decode(RegimeParameters.self, from: Data(#"{"trendEnter":30}"#.utf8))
        var expected = RegimeParameters()
        expected.trendEnter = 30
        #expect(partial == expected)
        #expect(MarketRegime.allCases.map(\.rawValue) == ["trending_up", "trending_down", "ranging", "volatile", "quiet"])
    }

    @Test func nilUntilWarm() {
        var detector = RegimeDetector()
        var cold = snapshot(ratio: 2)
        cold.ema200 = nil
        #expect(detector.update(cold) == nil)
        #expect(detector.regime == nil)
        #expect(detector.update(snapshot(ratio: 2)) == .volatile)
        #expect(detector.update(cold) == nil)
        #expect(detector.regime == .volatile)  // unchanged by a cold snapshot
    }

    @Test func ruleOrder() {
        // Volatility wins over a trend, and a trend needs DI and EMA 50 to agree.
        var d = RegimeDetector()
        #expect(d.update(snapshot(ratio: 1.6, adx: 40, plusDI: 30, minusDI: 10, close: 110)) == .volatile)
        d = RegimeDetector()
        #expect(d.update(snapshot(ratio: 0.6, adx: 40, plusDI: 30, minusDI: 10, close: 110)) == .quiet)
        d = RegimeDetector()
        #expect(d.update(snapshot(ratio: 1, adx: 25, plusDI: 30, minusDI: 10, close: 110)) == .trendingUp)
        #expect(d.update(snapshot(ratio: 1, adx: 25, plusDI: 10, minusDI: 30, close: 90)) == .trendingDown)
        #expect(d.update(snapshot(ratio: 1, adx: 25, plusDI: 30, minusDI: 10, close: 90)) == .ranging)  // below EMA
        #expect(d.update(snapshot(ratio: 1, adx: 25, plusDI: 10, minusDI: 30, close: 110)) == .ranging)  // above EMA
        #expect(d.update(snapshot(ratio: 1, adx: 25, plusDI: 20, minusDI: 20, close: 110)) == .ranging)  // DI tie
        #expect(d.update(snapshot(ratio: 1, adx: 25, plusDI: 30, minusDI: 10, close: 100)) == .ranging)  // at EMA
        d = RegimeDetector()
        #expect(d.update(snapshot(ratio: 1, adx: 24.9, plusDI: 30, minusDI: 10, close: 110)) == .ranging)
        // A flat market (mean ATR 0) is quiet.
        var flat = snapshot(ratio: 0)
        flat.atrAverage = 0
        #expect(d.update(flat) == .quiet)
    }

    @Test func volatileHysteresis() {
        // Coming from volatile, 1.5 stays volatile; it takes < 1.4 to leave.
        var d = RegimeDetector()
        #expect(d.update(snapshot(ratio: 1.7)) == .volatile)
        for _ in 0..<10 { #expect(d.update(snapshot(ratio: 1.5)) == .volatile) }
        #expect(d.update(snapshot(ratio: 1.4)) == .volatile)
        #expect(d.update(snapshot(ratio: 1.39)) == .ranging)
        #expect(d.update(snapshot(ratio: 1.5)) == .ranging)
        // Coming from ranging, 1.5 stays ranging; it takes >= 1.6 to enter.
        var r = RegimeDetector()
        #expect(r.update(snapshot(ratio: 1.0)) == .ranging)
        for _ in 0..<10 { #expect(r.update(snapshot(ratio: 1.5)) == .ranging) }
        #expect(r.update(snapshot(ratio: 1.59)) == .ranging)
        #expect(r.update(snapshot(ratio: 1.6)) == .volatile)
        #expect(r.band == .volatile)
    }

    @Test func quietHysteresis() {
        var d = RegimeDetector()
        #expect(d.update(snapshot(ratio: 0.65)) == .ranging)
        #expect(d.update(snapshot(ratio: 0.6)) == .quiet)
        #expect(d.update(snapshot(ratio: 0.65)) == .quiet)
        #expect(d.update(snapshot(ratio: 0.7)) == .quiet)
        #expect(d.update(snapshot(ratio: 0.71)) == .ranging)
        #expect(d.update(snapshot(ratio: 0.65)) == .ranging)
        // Straight from volatile to quiet in one step.
        #expect(d.update(snapshot(ratio: 2)) == .volatile)
        #expect(d.update(snapshot(ratio: 0.5)) == .quiet)
    }

    @Test func trendHysteresis() {
        var d = RegimeDetector()
        func up(_ adx: Double, ratio: Double = 1) -> IndicatorSnapshot {
            snapshot(ratio: ratio, adx: adx, plusDI: 30, minusDI: 10, close: 110)
        }
        #expect(d.update(up(24)) == .ranging)
        #expect(d.update(up(25)) == .trendingUp)
        #expect(d.update(up(21)) == .trendingUp)
        #expect(d.update(up(20)) == .trendingUp)
        #expect(d.update(up(19.9)) == .ranging)
        #expect(d.update(up(22)) == .ranging)
        #expect(d.update(up(26)) == .trendingUp)
        // A volatile spell does not end a trend whose ADX held up.
        #expect(d.update(up(23, ratio: 1.8)) == .volatile)
        #expect(d.isTrending)
        #expect(d.update(up(22, ratio: 1.2)) == .trendingUp)
        // A trend that ended while volatile has to start again.
        #expect(d.update(up(19, ratio: 1.8)) == .volatile)
        #expect(d.update(up(22, ratio: 1.2)) == .ranging)
    }

    @Test func steadyUptrend() {
        var rng = SplitMix(seed: 3)
        let closes = (0..<400).map { 100 + Double($0) * 0.5 + Double(rng.next() % 100) / 250 }
        let regimes = run(candles(closes, wick: 0.3))
        #expect(regimes[198] == nil && regimes[199] != nil)
        #expect(regimes[250...].allSatisfy { $0 == .trendingUp }, "\(regimes[250...])")
    }

    @Test func steadyDowntrend() {
        var rng = SplitMix(seed: 4)
        let closes = (0..<400).map { 1000 - Double($0) * 0.5 + Double(rng.next() % 100) / 250 }
        let regimes = run(candles(closes, wick: 0.3))
        #expect(regimes[250...].allSatisfy { $0 == .trendingDown }, "\(regimes[250...])")
    }

    @Test func sidewaysChop() {
        let regimes = run(candles(chop(count: 400), wick: 0.5))
        #expect(regimes[250...].allSatisfy { $0 == .ranging }, "\(regimes[250...])")
    }

    @Test func volatilityBurst() {
        var indicators = TechnicalIndicators()
        var detector = RegimeDetector()
        let calm = candles(chop(count: 300), wick: 0.5)
        let before = run(calm, indicators: &indicators, detector: &detector)
        #expect(before.last == .ranging)
        // Swings five times as wide.
        let wild = candles(chop(count: 12, amplitude: 10, seed: 9), wick: 2.5, startTime: 300 * 300)
        let during = run(wild, indicators: &indicators, detector: &detector)
        #expect(during.contains(.volatile), "\(during)")
        #expect(during.last == .volatile)
        #expect(indicators.snapshot!.volatilityRatio! >= 1.6)
    }

    @Test func veryCalmStretch() {
        var indicators = TechnicalIndicators()
        var detector = RegimeDetector()
        let normal = candles(chop(count: 300), wick: 0.5)
        _ = run(normal, indicators: &indicators, detector: &detector)
        #expect(detector.regime == .ranging)
        // A tenth of the movement.
        let still = candles(chop(count: 40, amplitude: 0.2, seed: 11).map { ($0 - 100) / 10 + 100 }, wick: 0.05,
                            startTime: 300 * 300)
        let after = run(still, indicators: &indicators, detector: &detector)
        #expect(after.contains(.quiet), "\(after)")
        #expect(after.last == .quiet)
        #expect(indicators.snapshot!.volatilityRatio! <= 0.6)
    }

    @Test func detectorCodableRoundTrip() throws {
        var d = RegimeDetector()
        d.update(snapshot(ratio: 1.7, adx: 30, plusDI: 30, minusDI: 10, close: 110))
        let back = try JSONDecoder().decode(RegimeDetector.self, from: JSONEncoder().encode(d))
        #expect(back == d)
        #expect(back.regime == .volatile && back.band == .volatile && back.isTrending)
        let json = String(decoding: try JSONEncoder().encode(MarketRegime.trendingUp), as: UTF8.self)
        #expect(json == #""trending_up""#)
    }
}
