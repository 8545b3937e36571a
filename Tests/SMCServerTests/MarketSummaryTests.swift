import Foundation
import NIOPosix
import SMCAPI
import SMCEngine
import SMCTestSupport
import Testing

@testable import SMCServer

/// `GET /v1/market/{symbol}/summary` over HTTP with a real PostgreSQL, checked against a `MarketAnalyzer` run
/// directly over the same candles.
@Suite("Market summary", .serialized)
struct MarketSummaryTests {
    typealias Summary = Components.Schemas.MarketSummary

    /// The analyzer's view after `candles` (on NIO's thread pool: seconds in a debug build).
    static func offline(_ candles: CandleSeries, _ parameters: DetectorParameters) async throws -> MarketView {
        try await NIOThreadPool.singleton.runIfActive {
            var analyzer = MarketAnalyzer(parameters)
            for i in 0..<candles.count { _ = analyzer.update(candles[i]) }
            return analyzer.view()
        }
    }

    /// Every figure of `s` against the engine's view, weighed with `strategy`; prices within half a tick.
    static func check(_ s: Summary, against view: MarketView, strategy: StrategySettings, killzones: KillzoneSettings,
                      decimals: Int, sourceLocation: SourceLocation = #_sourceLocation) throws
    {
        let tick = pow(10, -Double(decimals)) / 2 + 1e-12
        func price(_ got: Double?, _ want: Double?, _ what: String) {
            #expect((got == nil) == (want == nil), "\(what): \(String(describing: got)) vs \(String(describing: want))", sourceLocation: sourceLocation)
            if let got, let want { #expect(abs(got - want) <= tick, "\(what): \(got) vs \(want)", sourceLocation: sourceLocation) }
        }
        func date(_ t: Int64?) -> Date? { t.map { Date(timeIntervalSince1970: TimeInterval($0)) } }
        let last = try #require(view.lastCandle)
        let close = last.close
        #expect(s.priceDecimals == decimals, sourceLocation: sourceLocation)
        #expect(s.candles == view.candles, sourceLocation: sourceLocation)
        #expect(s.lastCandle.time == date(last.time), sourceLocation: sourceLocation)
        #expect(s.processedUntil == date(last.time), sourceLocation: sourceLocation)
        price(s.lastCandle.close, close, "last close")
        #expect(s.detector.swingLength == view.parameters.swingLength, sourceLocation: sourceLocation)
        #expect(s.regime?.rawValue == view.timeframes[0].state?.regime?.rawValue, sourceLocation: sourceLocation)
        #expect(s.killzone.lastCandle == (try KillzoneCalendar(killzones.zones)).first(at: last.time), sourceLocation: sourceLocation)
        #expect(s.killzone.mode.rawValue == killzones.mode.rawValue, sourceLocation: sourceLocation)
        #expect(s.timeframes.map(\.timeframe.rawValue) == view.timeframes.map(\.timeframe.label), sourceLocation: sourceLocation)

        var higher: [Bias] = []
        for (t, v) in zip(s.timeframes, view.timeframes) {
            let label = v.timeframe.label
            #expect(t.candles == v.candles, "\(label) candles", sourceLocation: sourceLocation)
            #expect(t.lastCandleTime == date(v.lastCandleTime), "\(label) last candle", sourceLocation: sourceLocation)
            let state = try #require(v.state, "\(label) has a state")
            let bias = Bias(timeframe: v.timeframe, components: state.components, settings: strategy)
            if v.timeframe != view.parameters.timeframe { higher.append(bias) }
            let b = try #require(t.bias, "\(label) bias")
            #expect(abs(b.score - bias.score) <= 0.05 + 1e-9, "\(label) score \(b.score) vs \(bias.score)", sourceLocation: sourceLocation)
            #expect(b.level.rawValue == bias.level.rawValue, "\(label) level", sourceLocation: sourceLocation)
            #expect(b.direction.rawValue == (bias.direction > 0 ? "bullish" : bias.direction < 0 ? "bearish" : "neutral"),
                    sourceLocation: sourceLocation)
            let c = b.components, w = strategy.signalWeights
            for (got, value, weight) in [(c.structure, state.components.structure, w.structure),
                                         (c.orderBlocks, state.components.orderBlocks, w.orderBlocks),
                                         (c.fairValueGaps, state.components.fairValueGaps, w.fairValueGaps),
                                         (c.momentum, state.components.momentum, w.momentum),
                                         (c.volume, state.components.volume, w.volume)] {
                #expect(abs(got.value - value) <= 0.005 + 1e-9 && got.weight == weight, "\(label) component", sourceLocation: sourceLocation)
                #expect(abs(got.points - 100 * weight * value) <= 0.05 + 1e-9, "\(label) points", sourceLocation: sourceLocation)
            }
            #expect(t.regime?.rawValue == state.regime?.rawValue, sourceLocation: sourceLocation)

            let zones = v.zones(nearest: close)
            #expect(t.zonesTotal == v.orderBlocks.count + v.fairValueGaps.count && t.zonesTotal == zones.count, sourceLocation: sourceLocation)
            #expect(t.zones.count == min(10, zones.count), "\(label) zones listed", sourceLocation: sourceLocation)
            for (got, zone) in zip(t.zones, zones) {
                #expect(got.time == date(zone.time) && got.formedTime == date(zone.formedTime), "\(label) zone time", sourceLocation: sourceLocation)
                #expect(got.kind.rawValue == zone.kind.rawValue && got.direction.rawValue == (zone.direction > 0 ? "bullish" : "bearish"),
                        sourceLocation: sourceLocation)
                price(got.top, zone.top, "\(label) zone top")
                price(got.bottom, zone.bottom, "\(label) zone bottom")
                price(got.distance, zone.distance(to: close), "\(label) zone distance")
                #expect(got.ageCandles == v.candles - 1 - zone.formedIndex, sourceLocation: sourceLocation)
                #expect(got.ageSeconds == Int(v.lastCandleTime! - zone.formedTime), sourceLocation: sourceLocation)
            }

            let lastBreak = v.breaks.last
            #expect(t.lastBreak?.kind.rawValue == lastBreak?.kind, "\(label) break", sourceLocation: sourceLocation)
            price(t.lastBreak?.level, lastBreak?.level, "\(label) break level")
            #expect(t.lastBreak?.brokenTime == date(lastBreak?.brokenTime), sourceLocation: sourceLocation)

            let liquidity = v.liquidity(around: close)
            price(t.liquidity.above, liquidity.above, "\(label) liquidity above")
            price(t.liquidity.below, liquidity.below, "\(label) liquidity below")

            let range = v.dealingRange(price: close)
            #expect(t.dealingRange?.position.rawValue == range?.position.rawValue, "\(label) range", sourceLocation: sourceLocation)
            price(t.dealingRange?.high, range?.high.level, "\(label) range high")
            price(t.dealingRange?.low, range?.low.level, "\(label) range low")
            if let got = t.dealingRange, let range {
                #expect(abs(got.percent - range.percent) <= 0.05 + 1e-9, sourceLocation: sourceLocation)
                #expect(got.highTime == date(range.high.time) && got.lowTime == date(range.low.time), sourceLocation: sourceLocation)
            }
        }
        #expect(abs(s.confluence - strategy.confluence(higher, direction: 1)) <= 0.005 + 1e-9, sourceLocation: sourceLocation)
    }

    @Test("a watched stream's summary is the stored analysis: the engine's zones, biases, breaks, liquidity and range")
    func storedSummary() async throws {
        let series = try CandleFeed.eurusd15m
        let m15 = SignalTimeframe(label: "15m")!
        try await TestApp.run(configure: { $0.pipelineWorkers = 1 }) { app in
            let key = try await app.feederKey()
            let weights: [String: Any] = ["structure": 0.5, "order_blocks": 0.2, "fair_value_gaps": 0.1, "momentum": 0.1, "volume": 0.1]
            let (tokenA, _, _) = try await app.signup()
            try await app.watchEURUSD(token: tokenA, strategy: ["signal_weights": weights])
            // B watches nothing and has another swing length: it reads the default strategy's stream.
            let (tokenB, _, _) = try await app.signup()
            let current = try await app.json(.GET, "/v1/settings/strategy", token: tokenB).json()
            let put = try await app.json(.PUT, "/v1/settings/strategy", token: tokenB, current.merging(["swing_length": 30]) { $1 },
                                         headers: [("if-match", "*")])
            #expect(put.status == 200)

            // Before any candle: a known symbol without candles, an unknown one, a bad timeframe, no token.
            let empty = try await app.json(.GET, "/v1/market/EURUSD/summary", token: tokenA)
            #expect(empty.status == 404 && empty.problemCode == "no_candles", "\(empty.body)")
            let unknown = try await app.json(.GET, "/v1/market/NOPE42/summary", token: tokenA)
            #expect(unknown.status == 404 && unknown.problemCode == "unknown_symbol")
            #expect(try unknown.member("/symbols") as? String == "/v1/symbols")
            let bad = try await app.json(.GET, "/v1/market/EURUSD/summary?timeframe=2m", token: tokenA)
            #expect(bad.status == 400 && bad.problemCode == "bad_request")
            let field = try bad.member("/errors/0/field") as? String, message = try bad.member("/errors/0/message") as? String
            #expect(field == "timeframe" && message?.contains("15m") == true && message?.contains("1w") == true, "\(bad.body)")
            #expect(try await app.json(.GET, "/v1/market/EURUSD/summary").status == 401)

            try await app.feed(series, key: key)
            try await app.waitForPipeline(lastOpen: series.time.last!, streams: 1)
            let decimals = try await app.sqlInt("SELECT price_decimals FROM symbols WHERE symbol = 'EURUSD'")
            let view = try await Self.offline(series, DetectorParameters(timeframe: m15))
            #expect(view.timeframes.allSatisfy { !$0.orderBlocks.isEmpty || !$0.fairValueGaps.isEmpty })

            let before = Date()
            let a = try await app.json(.GET, "/v1/market/eur-usd/summary?timeframe=15m", token: tokenA)
            #expect(a.status == 200, "\(a.body)")
            let summaryA = try a.decode(Summary.self)
            #expect(summaryA.symbol == "EURUSD" && summaryA.source == .stored && summaryA.timeframe == ._15m)
            #expect(summaryA.now >= before.addingTimeInterval(-1) && summaryA.now <= Date().addingTimeInterval(1))
            var strategyA = StrategySettings()
            strategyA.signalWeights = SignalWeights(structure: 0.5, orderBlocks: 0.2, fairValueGaps: 0.1, momentum: 0.1, volume: 0.1)
            try Self.check(summaryA, against: view, strategy: strategyA, killzones: KillzoneSettings(), decimals: decimals)
            // Prices on the wire carry the symbol's decimals at most.
            let top = try #require(try a.member("/timeframes/0/zones/0/top") as? Double)
            #expect(abs(top * pow(10, Double(decimals)) - (top * pow(10, Double(decimals))).rounded()) < 1e-6)

            let b = try await app.json(.GET, "/v1/market/EURUSD/summary", token: tokenB)
            #expect(b.status == 200, "\(b.body)")
            let summaryB = try b.decode(Summary.self)
            #expect(summaryB.source == .stored && summaryB.detector.swingLength == 50)
            try Self.check(summaryB, against: view, strategy: StrategySettings(), killzones: KillzoneSettings(), decimals: decimals)
            #expect(summaryA.timeframes[0].bias?.score != summaryB.timeframes[0].bias?.score)

            // A machine key with signals_read may read it too.
            let machine = try await app.apiKey(token: tokenA, scopes: ["signals_read"])
            #expect(try await app.json(.GET, "/v1/market/EURUSD/summary", token: machine).status == 200)
        }
    }

    @Test("a stream nobody watches is summarised from its latest 2,000 candles")
    func recentWindow() async throws {
        let all = try CandleFeed.eurusd15m
        let series = all[(all.count - 3000)..<all.count]
        try await TestApp.run { app in
            let key = try await app.feederKey()
            let (token, _, _) = try await app.signup()
            let current = try await app.json(.GET, "/v1/settings/strategy", token: token).json()
            let put = try await app.json(.PUT, "/v1/settings/strategy", token: token, current.merging(["swing_length": 30]) { $1 },
                                         headers: [("if-match", "*")])
            #expect(put.status == 200)
            try await CandleFeed.feed(series, key: key, to: { app }, symbol: "GBPUSD")
            let decimals = try await app.sqlInt("SELECT price_decimals FROM symbols WHERE symbol = 'GBPUSD'")
            let window = series[(series.count - MarketSummaryService.window)..<series.count]
            var strategy = StrategySettings()
            strategy.swingLength = 30
            let view = try await Self.offline(window, DetectorParameters(timeframe: SignalTimeframe(label: "15m")!, strategy: strategy))

            let first = try await app.json(.GET, "/v1/market/GBPUSD/summary?timeframe=15m", token: token)
            #expect(first.status == 200, "\(first.body)")
            let summary = try first.decode(Summary.self)
            #expect(summary.source == .recentWindow && summary.candles == MarketSummaryService.window)
            #expect(summary.detector.swingLength == 30)
            try Self.check(summary, against: view, strategy: strategy, killzones: KillzoneSettings(), decimals: decimals)
            // From memory the second time: the same figures.
            let again = try await app.json(.GET, "/v1/market/GBPUSD/summary", token: token).decode(Summary.self)
            #expect(again.timeframes.map(\.zones) == summary.timeframes.map(\.zones) && again.confluence == summary.confluence)
            #expect(try await app.sqlInt("SELECT count(*)::int FROM analysis_streams WHERE symbol = 'GBPUSD'") == 0)
        }
    }
}
