import Foundation
import Testing
@testable import SMCEngine

/// `MarketAnalyzer.view()`: the analyzer's state read back, checked against what the analyzer reported while it ran
/// and against the batch detectors over the same candles.
@Suite("Market view")
struct MarketViewTests {
    static func run(_ n: Int) throws -> (MarketAnalyzer, MarketSnapshot, CandleSeries) {
        let series = try eurusd.get()[0..<n]
        var analyzer = MarketAnalyzer(DetectorParameters(timeframe: SignalTimeframe(label: "15m")!))
        var last: MarketSnapshot?
        for i in 0..<series.count { last = analyzer.update(series[i]) }
        return (analyzer, last!, series)
    }

    @Test("the view repeats the last snapshot: candle, base and higher states, nearest liquidity")
    func viewMatchesSnapshot() throws {
        let (analyzer, snapshot, series) = try Self.run(3000)
        let view = analyzer.view()
        #expect(view.candles == series.count)
        #expect(view.lastCandle == series[series.count - 1])
        #expect(view.timeframes.map(\.timeframe.label) == ["15m", "1h", "4h", "1d"])
        #expect(view.timeframes[0].state == snapshot.base)
        #expect(view.timeframes[0].candles == series.count)
        #expect(view.timeframes[0].lastCandleTime == series.time.last)
        #expect(Array(view.timeframes.dropFirst().compactMap(\.state)) == snapshot.higher)
        #expect(view.timeframes[1].candles > 700 && view.timeframes[3].candles > 25)
        let close = snapshot.candle.close
        let liquidity = view.timeframes[0].liquidity(around: close)
        #expect(liquidity.above == snapshot.liquidityAbove.first)
        #expect(liquidity.below == snapshot.liquidityBelow.first)
        #expect(view.timeframes[0].breaks.last == snapshot.base.lastBreak)
        for tf in view.timeframes.dropFirst() { #expect(tf.breaks.last == tf.state?.lastBreak) }
    }

    @Test("active fair value gaps are the batch detector's unmitigated ones; zones sort nearest first")
    func zonesMatchBatch() throws {
        let (analyzer, snapshot, series) = try Self.run(3000)
        let base = analyzer.view().timeframes[0]
        let batch = SMC.fairValueGaps(series)
        let unmitigated = (0..<batch.count).filter { !batch.direction[$0].isNaN && batch.mitigatedIndex[$0] == 0 }
        #expect(!unmitigated.isEmpty)
        #expect(base.fairValueGaps.map(\.time) == unmitigated.map { series.time[$0] })
        #expect(base.fairValueGaps.map(\.top) == unmitigated.map { batch.top[$0] })
        #expect(!base.orderBlocks.isEmpty)
        let close = snapshot.candle.close
        let sorted = base.zones(nearest: close)
        #expect(sorted.count == base.orderBlocks.count + base.fairValueGaps.count)
        #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $0.distance(to: close) <= $1.distance(to: close) })
        for zone in sorted {
            #expect(base.age(of: zone) == series.count - 1 - zone.formedIndex)
            #expect(zone.formedTime == series.time[zone.formedIndex])
        }
    }

    @Test("the last confirmed swings are the batch detector's confirmed ones")
    func swingsMatchBatch() throws {
        let (analyzer, snapshot, series) = try Self.run(3000)
        let view = analyzer.view()
        let confirmed = SMC.swingHighsLows(series, swingLength: 50).confirmed
        let lastHigh = (0..<confirmed.count).last { confirmed.highLow[$0] == 1 }!
        let lastLow = (0..<confirmed.count).last { confirmed.highLow[$0] == -1 }!
        let base = view.timeframes[0]
        #expect(base.lastSwingHigh == SwingPoint(level: confirmed.level[lastHigh], index: lastHigh, time: series.time[lastHigh]))
        #expect(base.lastSwingLow == SwingPoint(level: confirmed.level[lastLow], index: lastLow, time: series.time[lastLow]))
        let range = try #require(base.dealingRange(price: snapshot.candle.close))
        let expected = 100 * (snapshot.candle.close - confirmed.level[lastLow]) / (confirmed.level[lastHigh] - confirmed.level[lastLow])
        #expect(abs(range.percent - expected) < 1e-9)
    }

    @Test("a decoded analyzer has the same view; a state stored before the view existed decodes without the last candle")
    func viewSurvivesCoding() throws {
        let (analyzer, _, series) = try Self.run(1500)
        let data = try JSONEncoder().encode(analyzer)
        let copy = try JSONDecoder().decode(MarketAnalyzer.self, from: data)
        #expect(copy.view() == analyzer.view())

        // The older layout: the same JSON without the two new keys.
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["lastCandle"] != nil && object["baseState"] != nil)
        object["lastCandle"] = nil
        object["baseState"] = nil
        var old = try JSONDecoder().decode(MarketAnalyzer.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(old.view().lastCandle == nil && old.view().timeframes[0].state == nil)
        #expect(old.view().timeframes[0].orderBlocks == analyzer.view().timeframes[0].orderBlocks)
        var live = analyzer
        let next = try eurusd.get()[series.count]
        #expect(old.update(next) == live.update(next))
        #expect(old.view() == live.view())
    }

    @Test("dealing range: percent of the swing range, equilibrium 45–55 % inclusive, premium above, discount below")
    func dealingRangeRule() throws {
        let high = SwingPoint(level: 1.2, index: 10, time: 1000), low = SwingPoint(level: 1.0, index: 20, time: 2000)
        func at(_ price: Double) throws -> DealingRange { try #require(DealingRange(high: high, low: low, price: price)) }
        let middle = try at(1.1), above = try at(1.3), below = try at(0.9)
        #expect(middle.position == .equilibrium && abs(middle.percent - 50) < 1e-9)
        #expect(try at(1.0901).position == .equilibrium)  // just above 45 %
        #expect(try at(1.1099).position == .equilibrium)  // just below 55 %
        #expect(try at(1.1101).position == .premium)
        #expect(try at(1.0899).position == .discount)
        #expect(above.position == .premium && abs(above.percent - 150) < 1e-9)
        #expect(below.position == .discount && below.percent < 0)
        #expect(DealingRange(high: low, low: high, price: 1.1) == nil)
    }

    @Test("confluence: the timeframe-weighted higher biases in a direction")
    func confluence() {
        var settings = StrategySettings()
        settings.timeframeWeights = ["1h": 1, "4h": 3]
        var c = BiasComponents()
        c.structure = 1  // score 100 × structure weight
        let up = Bias(timeframe: SignalTimeframe(label: "1h")!, components: c, settings: settings)
        c.structure = -1
        let down = Bias(timeframe: SignalTimeframe(label: "4h")!, components: c, settings: settings)
        let w = settings.signalWeights.structure
        #expect(abs(settings.confluence([up, down], direction: 1) - (1 * w - 3 * w) / 4) < 1e-12)
        #expect(settings.confluence([up, down], direction: -1) == -settings.confluence([up, down], direction: 1))
        #expect(settings.confluence([Bias](), direction: 1) == 0)
    }
}
