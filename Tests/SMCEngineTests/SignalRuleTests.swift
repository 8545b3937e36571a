import Foundation
import Testing
@testable import SMCEngine

// Rules of the signal layer, each on hand-made data: aggregation, setups, outcomes, ensemble bookkeeping,
// statistics and configuration.

private func candle(_ t: Int64, _ o: Double, _ h: Double, _ l: Double, _ c: Double, _ v: Double = 0) -> Candle {
    Candle(time: t, open: o, high: h, low: l, close: c, volume: v)
}

@Suite("Timeframes and aggregation")
struct AggregationTests {
    let m15 = SignalTimeframe(label: "15m")!
    let h1 = SignalTimeframe(label: "1h")!

    @Test func labelsAndLadder() {
        #expect(SignalTimeframe.all.map(\.label) == ["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"])
        #expect(m15.confluenceLadder.map(\.label) == ["1h", "4h", "1d"])
        #expect(SignalTimeframe(label: "1d")!.confluenceLadder.map(\.label) == ["1w"])
        #expect(SignalTimeframe(label: "2h") == nil)
    }

    @Test func completeBucketClosesOnItsLastCandle() {
        var agg = CandleAggregator(base: m15, target: h1)
        let t0: Int64 = 1_700_006_400  // 2023-11-15 00:00 UTC, an hour boundary
        #expect(agg.feed(candle(t0, 1, 2, 0.5, 1.5, 10)).isEmpty)
        #expect(agg.feed(candle(t0 + 900, 1.5, 3, 1, 2, 10)).isEmpty)
        #expect(agg.feed(candle(t0 + 1800, 2, 2.5, 0.2, 1, 10)).isEmpty)
        let closed = agg.feed(candle(t0 + 2700, 1, 1.2, 0.9, 1.1, 5))
        #expect(closed == [candle(t0, 1, 3, 0.2, 1.1, 35)])
    }

    @Test func bucketWithGapClosesWhenALaterBucketStarts() {
        var agg = CandleAggregator(base: m15, target: h1)
        let t0: Int64 = 1_700_006_400
        #expect(agg.feed(candle(t0, 1, 2, 0.5, 1.5)).isEmpty)
        #expect(agg.feed(candle(t0 + 900, 1.5, 3, 1, 2)).isEmpty)  // 30m and 45m missing
        let closed = agg.feed(candle(t0 + 3600, 2, 2, 2, 2))
        #expect(closed == [candle(t0, 1, 3, 0.5, 2)])
    }

    @Test func weeksStartOnMonday() {
        let week = SignalTimeframe(label: "1w")!
        let wednesday: Int64 = 1_700_006_400  // 2023-11-15 was a Wednesday
        let monday = week.bucketStart(wednesday)
        #expect(monday == wednesday - 2 * 86_400)
        #expect(CivilTime.weekday(ofDay: CivilTime.day(of: monday)) == CivilTime.weekday(ofDay: CivilTime.days(year: 2023, month: 11, day: 13)))
    }

    @Test func inferredTimeframeIgnoresGaps() {
        let series = CandleSeries([candle(0, 1, 1, 1, 1), candle(900, 1, 1, 1, 1), candle(9000, 1, 1, 1, 1)])
        #expect(SignalTimeframe.inferred(from: series) == m15)
        #expect(SignalTimeframe.inferred(from: CandleSeries([candle(0, 1, 1, 1, 1), candle(700, 1, 1, 1, 1)])) == nil)
    }
}

/// A snapshot with just what setups need.
private func snapshot(close: Double, atr: Double, above: [Double], below: [Double], candidates: [SetupCandidate] = [])
    -> MarketSnapshot
{
    var indicators = IndicatorSnapshot(close: close)
    indicators.atr = atr
    let state = TimeframeState(timeframe: SignalTimeframe(label: "15m")!, candleTime: 0, components: .init(),
                               lastBreak: nil, breakMomentum: 0, indicators: indicators, regime: nil)
    return MarketSnapshot(index: 10, candle: candle(0, close, close, close, close), base: state, higher: [],
                          candidates: candidates, liquidityAbove: above, liquidityBelow: below)
}

private func zone(_ direction: Int, top: Double, bottom: Double) -> Zone {
    Zone(kind: .orderBlock, direction: direction, top: top, bottom: bottom, time: 0, formedIndex: 0, formedTime: 0)
}

@Suite("Trade setups")
struct SetupTests {
    @Test func longSetupFromDemandZone() throws {
        var settings = StrategySettings()
        settings.stopBufferATR = 0.1
        settings.minRewardRisk = 1.5
        let z = zone(1, top: 1.10, bottom: 1.09)
        let s = snapshot(close: 1.105, atr: 0.01, above: [1.1, 1.13, 1.15, 1.2, 1.3], below: [])
        let setup = try #require(TradeSetup(candidate: SetupCandidate(zone: z, age: 3), snapshot: s, settings: settings))
        #expect(setup.direction == 1)
        #expect(setup.entry == 1.105)
        #expect(abs(setup.stop - 1.089) < 1e-12)
        #expect(setup.targets == [1.13, 1.15, 1.2])  // 1.10 is below the entry: not a target
        #expect(abs(setup.rewardRisk - (1.13 - 1.105) / (1.105 - 1.089)) < 1e-12)
    }

    @Test func shortSetupMirrors() throws {
        let z = zone(-1, top: 1.21, bottom: 1.20)
        let s = snapshot(close: 1.195, atr: 0.01, above: [], below: [1.17, 1.1])
        var settings = StrategySettings()
        settings.stopBufferATR = 0.1
        let setup = try #require(TradeSetup(candidate: SetupCandidate(zone: z, age: 3), snapshot: s, settings: settings))
        #expect(abs(setup.stop - 1.211) < 1e-12)
        #expect(setup.targets == [1.17, 1.1])
        #expect(abs(setup.rewardRisk - 0.025 / 0.016) < 1e-9)
    }

    @Test func belowMinimumRewardRiskIsNoSetup() {
        var settings = StrategySettings()
        settings.stopBufferATR = 0.1
        settings.minRewardRisk = 2
        let z = zone(1, top: 1.10, bottom: 1.09)
        // Reward 0.025 over risk 0.016 is 1.56 < 2.
        #expect(TradeSetup(candidate: .init(zone: z, age: 1), snapshot: snapshot(close: 1.105, atr: 0.01, above: [1.13], below: []),
                           settings: settings) == nil)
        settings.minRewardRisk = 1.5
        #expect(TradeSetup(candidate: .init(zone: z, age: 1), snapshot: snapshot(close: 1.105, atr: 0.01, above: [1.13], below: []),
                           settings: settings) != nil)
    }

    @Test func noOpposingLiquidityOrTooOldIsNoSetup() {
        let z = zone(1, top: 1.10, bottom: 1.09)
        #expect(TradeSetup(candidate: .init(zone: z, age: 1), snapshot: snapshot(close: 1.105, atr: 0.01, above: [], below: [1.0]),
                           settings: .init()) == nil)
        var settings = StrategySettings()
        settings.zoneMaxAge = 50
        #expect(TradeSetup(candidate: .init(zone: z, age: 51), snapshot: snapshot(close: 1.105, atr: 0.01, above: [1.2], below: []),
                           settings: settings) == nil)
    }
}

@Suite("Outcome labelling")
struct OutcomeTests {
    let setup: TradeSetup = {
        let s = snapshot(close: 1.105, atr: 0.01, above: [1.14], below: [])
        return TradeSetup(candidate: .init(zone: zone(1, top: 1.10, bottom: 1.09), age: 1), snapshot: s, settings: .init())!
    }()

    func label(_ candles: [Candle], expiry: Int = 96) -> SignalOutcome? {
        let labeler = OutcomeLabeler(setup: setup, signalIndex: 10, expiryCandles: expiry)
        for (k, c) in candles.enumerated() {
            if let o = labeler.label(c, index: 11 + k, signalID: "x") { return o }
        }
        return nil
    }

    @Test func targetFirst() throws {
        let o = try #require(label([candle(1, 1.105, 1.12, 1.10, 1.11), candle(2, 1.11, 1.141, 1.105, 1.14)]))
        #expect(o.kind == .target)
        #expect(o.candles == 2)
        #expect(o.exitPrice == 1.14)
        #expect(abs(o.r - setup.rewardRisk) < 1e-12)
    }

    @Test func stopFirst() throws {
        let o = try #require(label([candle(1, 1.105, 1.11, 1.095, 1.10), candle(2, 1.10, 1.10, 1.08, 1.085)]))
        #expect(o.kind == .stop)
        #expect(o.r == -1)
        #expect(o.resolvedTime == 2)
    }

    @Test func bothInOneCandleIsTheWorseCase() throws {
        let o = try #require(label([candle(1, 1.105, 1.15, 1.08, 1.12)]))
        #expect(o.kind == .stop)
    }

    @Test func expiresAfterNCandlesAtTheClose() throws {
        let quiet = (1...5).map { candle(Int64($0), 1.105, 1.11, 1.10, 1.107) }
        #expect(label(Array(quiet.prefix(4)), expiry: 5) == nil)
        let o = try #require(label(quiet, expiry: 5))
        #expect(o.kind == .expired)
        #expect(o.candles == 5)
        #expect(abs(o.r - (1.107 - 1.105) / setup.risk) < 1e-9)
    }

    @Test func theSignalCandleItselfDecidesNothing() {
        let labeler = OutcomeLabeler(setup: setup, signalIndex: 10, expiryCandles: 5)
        #expect(labeler.label(candle(0, 1.1, 1.2, 1.0, 1.1), index: 10, signalID: "x") == nil)
    }
}

@Suite("Ensemble bookkeeping")
struct EnsembleStateTests {
    func vote(_ member: EnsembleMember, _ v: Double, abstained: Bool = false) -> MemberVote {
        MemberVote(member: member, vote: v, weight: 1, gate: 1, abstained: abstained, reason: "")
    }

    @Test func accuracyDecaysTowardsOutcomes() {
        var state = EnsembleState()
        #expect(state.factor(.smc) == 1)
        // A long that hit its target: the member that voted long was right, the one that voted short wrong.
        state.record(votes: [vote(.smc, 0.6), vote(.technical, -0.3), vote(.learned, 0, abstained: true)],
                     direction: 1, r: 2, decay: 0.9)
        #expect(abs(state.accuracy[.smc]! - 0.55) < 1e-12)
        #expect(abs(state.accuracy[.technical]! - 0.45) < 1e-12)
        #expect(state.accuracy[.learned] == nil)
        // A short that was stopped: the long-voting member was right.
        state.record(votes: [vote(.smc, -0.6), vote(.technical, 0.3)], direction: -1, r: -1, decay: 0.9)
        #expect(abs(state.accuracy[.smc]! - 0.495) < 1e-12)
        #expect(abs(state.accuracy[.technical]! - 0.505) < 1e-12)
        #expect(state.outcomesSeen[.smc] == 2)
    }

    @Test func factorIsBounded() {
        var state = EnsembleState()
        for _ in 0..<200 { state.record(votes: [vote(.smc, 1)], direction: 1, r: -1, decay: 0.9) }
        #expect(state.factor(.smc) == 0.2)
        for _ in 0..<200 { state.record(votes: [vote(.smc, 1)], direction: 1, r: 1, decay: 0.9) }
        #expect(state.factor(.smc) > 1.9 && state.factor(.smc) <= 2)
    }

    @Test func learnedMemberTrainsOnceEnoughSamplesArrive() {
        var state = EnsembleState()
        let n = SetupFeatures.names.count
        for i in 0..<(EnsembleState.minimumSamples - 1) {
            var f = [Double](repeating: 0, count: n)
            f[3] = Double(i % 2)
            state.learn(LabelledSample(time: Int64(i), resolvedAt: Int64(i + 1), features: f, label: i % 2 == 0))
        }
        #expect(state.model == nil)
        var f = [Double](repeating: 0, count: n)
        f[3] = 1
        state.learn(LabelledSample(time: 100, resolvedAt: 101, features: f, label: true))
        #expect(state.model?.trainedSamples == EnsembleState.minimumSamples)
    }
}

@Suite("Backtest statistics and configuration")
struct BacktestRuleTests {
    func trade(_ r: Double, _ kind: OutcomeKind = .target) -> BacktestTrade {
        let s = snapshot(close: 1.105, atr: 0.01, above: [1.14], below: [])
        let setup = TradeSetup(candidate: .init(zone: zone(1, top: 1.10, bottom: 1.09), age: 1), snapshot: s, settings: .init())!
        let signal = Signal(id: "x", timeframe: "15m", candleTime: 0, closeTime: 900, direction: 1, confidence: 60,
                            level: .medium, setup: setup, votes: [], regime: nil, killzone: nil, biases: [], confluence: 0)
        return BacktestTrade(signal: signal, outcome: SignalOutcome(signalID: "x", kind: kind, resolvedTime: 0, candles: 1,
                                                                   exitPrice: 0, r: r), netR: r)
    }

    @Test func statistics() {
        // Equity: 2, 1, 0, 3, 2.5 → peak 3 after a peak of 2 and a trough of 0: drawdown 2.
        let s = BacktestStatistics([trade(2), trade(-1, .stop), trade(-1, .stop), trade(3), trade(-0.5, .expired)], open: 1)
        #expect(s.trades == 5 && s.wins == 2 && s.losses == 3 && s.expired == 1 && s.open == 1)
        #expect(abs(s.winRate - 0.4) < 1e-12)
        #expect(abs(s.totalR - 2.5) < 1e-12)
        #expect(abs(s.averageR - 0.5) < 1e-12)
        #expect(abs(s.expectancy - 0.5) < 1e-12)
        #expect(abs(s.profitFactor - 5 / 2.5) < 1e-12)
        #expect(abs(s.maxDrawdownR - 2) < 1e-12)
        #expect(BacktestStatistics([trade(1)], open: 0).profitFactor == .infinity)
        #expect(BacktestStatistics([], open: 0).winRate == 0)
    }

    @Test func configurationForms() throws {
        let bare = try BacktestConfiguration(json: Data(#"{"min_reward_risk": 2, "swing_length": 20}"#.utf8))
        #expect(bare.strategy.minRewardRisk == 2 && bare.strategy.swingLength == 20)
        #expect(bare.strategy.signalWeights == SignalWeights())
        let wrapped = try BacktestConfiguration(json: Data(#"""
            {"strategy": {"min_confidence": 55}, "costs": {"spread": 0.0001},
             "killzones": {"mode": "suppress", "zones": [{"name": "NY", "start": "07:00", "end": "10:00", "time_zone": "America/New_York"}]}}
            """#.utf8))
        #expect(wrapped.strategy.minConfidence == 55)
        #expect(wrapped.costs == BacktestCosts(spread: 0.0001, commission: 0))
        #expect(wrapped.killzones.mode == .suppress)
        #expect(wrapped.killzones.zones.map(\.name) == ["NY"])
        #expect(wrapped.killzones.zones.first?.start == 7 * 60)
    }

    @Test(arguments: [
        (#"{"min_reward_rsk": 2}"#, "min_reward_rsk"),
        (#"{"swing_length": "50"}"#, "/swing_length"),
        (#"{"min_reward_risk": 0.1}"#, "min_reward_risk"),
        (#"{"signal_weights": {"structure": 1, "order_blocks": 1, "fair_value_gaps": 0, "momentum": 0, "volume": 0}}"#, "sum to 1"),
        (#"{"costs": {"spread": -1}}"#, "0 or more"),
        (#"{"strategy": {}, "extra": 1}"#, "extra"),
        (#"{"killzones": {"zones": [{"name": "X", "start": "25:00", "end": "10:00", "time_zone": "UTC"}]}}"#, "/killzones/zones/0"),
        (#"{"killzones": {"zones": [{"name": "X", "start": "07:00", "end": "10:00", "time_zone": "Mars/Base"}]}}"#, "Mars/Base"),
        (#"{"killzones": {"mode": "filter"}}"#, "/killzones/mode"),
        ("[1,", "not valid JSON"),
    ])
    func badConfigurationsNameTheProblem(json: String, expected: String) {
        #expect {
            _ = try BacktestConfiguration(json: Data(json.utf8))
        } throws: { error in
            guard let e = error as? SMCParameterError else { return false }
            return e.code == "invalid_config" && e.message.contains(expected)
        }
    }
}

@Suite("Bias, confluence and voting")
struct VotingTests {
    static let m15 = SignalTimeframe(label: "15m")!
    static let noon: Int64 = 1_700_049_600  // 2023-11-15 12:00 UTC = 07:00 New York (New York open)
    static let night: Int64 = 1_700_010_000  // 2023-11-15 01:00 UTC = 20:00 New York (Asian)
    static let afternoon: Int64 = 1_700_074_800  // 2023-11-15 19:00 UTC = 14:00 New York: in no ICT killzone

    static func components(_ x: Double) -> BiasComponents {
        var c = BiasComponents()
        c.structure = x
        c.orderBlocks = x
        c.fairValueGaps = x
        c.momentum = x
        c.volume = x
        return c
    }

    static func state(_ tf: String, _ bias: Double, regime: MarketRegime? = nil, warm: Bool = false) -> TimeframeState {
        var ind = IndicatorSnapshot(close: 1.105)
        ind.atr = 0.01
        if warm {
            ind = IndicatorSnapshot(close: 1.105, ema20: 1.10, ema50: 1.09, ema200: 1.08, rsi: 60,
                                    macd: MACDValue(macd: 0.001, signal: 0.0005, histogram: 0.0005), atr: 0.01,
                                    atrAverage: 0.01, adx: ADXValue(adx: 30, plusDI: 25, minusDI: 10), volumeAverage: 1)
        }
        return TimeframeState(timeframe: SignalTimeframe(label: tf)!, candleTime: 0, components: components(bias),
                              lastBreak: nil, breakMomentum: 0, indicators: ind, regime: regime)
    }

    /// A long retest of a demand zone at `time` with the given higher-timeframe bias.
    static func snapshot(time: Int64 = noon, higher: Double = 0, base: TimeframeState = state("15m", 0)) -> MarketSnapshot {
        let z = Zone(kind: .fairValueGap, direction: 1, top: 1.10, bottom: 1.09, time: time - 9000, formedIndex: 5,
                     formedTime: time - 8100)
        return MarketSnapshot(index: 20, candle: Candle(time: time, open: 1.101, high: 1.106, low: 1.099, close: 1.105),
                              base: base, higher: [state("1h", higher), state("4h", higher), state("1d", higher)],
                              candidates: [SetupCandidate(zone: z, age: 15)], liquidityAbove: [1.2], liquidityBelow: [])
    }

    static func evaluator(_ configure: (inout StrategySettings) -> Void = { _ in },
                          mode: KillzoneSettings.Mode = .tag) throws -> TenantEvaluator {
        var s = StrategySettings()
        s.minConfidence = 0
        configure(&s)
        return try TenantEvaluator(settings: s, killzones: KillzoneSettings(mode: mode), timeframe: m15)
    }

    @Test func biasScoreAndLevels() {
        let w = SignalWeights()
        #expect(abs(Self.components(1).score(w) - 100) < 1e-9)
        var c = BiasComponents()
        c.structure = 1  // 35
        c.orderBlocks = 1  // 30
        #expect(abs(c.score(w) - 65) < 1e-9)
        let bias = Bias(timeframe: Self.m15, components: c, settings: .init())
        #expect(bias.level == .medium && bias.direction == 1)
        c.orderBlocks = -1
        let weak = Bias(timeframe: Self.m15, components: c, settings: .init())
        #expect(weak.level == .neutral && weak.direction == 0)  // 5 points
        let levels = ConfidenceLevels()
        #expect([80.0, 75, 74.9, 55, 54.9, 40, 39.9].map(levels.level) == [.high, .high, .medium, .medium, .low, .low, .neutral])
    }

    @Test func higherTimeframesAlignedScoreHigher() throws {
        var aligned = try Self.evaluator()
        var opposed = try Self.evaluator()
        var flat = try Self.evaluator()
        let up = try #require(aligned.evaluate(Self.snapshot(higher: 0.8)).signals.first)
        let none = try #require(flat.evaluate(Self.snapshot(higher: 0)).signals.first)
        let down = opposed.evaluate(Self.snapshot(higher: -0.8)).signals.first
        #expect(up.confluence > 0.79 && none.confluence == 0)
        #expect(up.confidence > none.confidence)
        // Against the higher timeframes the SMC member turns against the long: no signal, or a weaker one.
        #expect((down?.confidence ?? 0) < none.confidence)
        #expect(up.biases.map(\.timeframe) == ["15m", "1h", "4h", "1d"])
    }

    @Test func externalAlertVotesWhileRecent() throws {
        var without = try Self.evaluator()
        let base = try #require(without.evaluate(Self.snapshot()).signals.first)
        #expect(base.votes.first { $0.member == .external }?.abstained == true)

        var buy = try Self.evaluator()
        buy.receive(ExternalAlert(time: Self.noon - 900, direction: 1, text: "TV long"))
        let withBuy = try #require(buy.evaluate(Self.snapshot()).signals.first)
        let vote = try #require(withBuy.votes.first { $0.member == .external })
        #expect(!vote.abstained && vote.vote == 1 && vote.reason.contains("TV long"))
        #expect(withBuy.confidence > base.confidence)

        var sell = try Self.evaluator()
        sell.receive(ExternalAlert(time: Self.noon, direction: -1))
        #expect((sell.evaluate(Self.snapshot()).signals.first?.confidence ?? 0) < base.confidence)

        var stale = try Self.evaluator()
        stale.receive(ExternalAlert(time: Self.noon - 4 * 900, direction: 1))
        let old = try #require(stale.evaluate(Self.snapshot()).signals.first)
        #expect(old.votes.first { $0.member == .external }?.abstained == true)
    }

    @Test func regimeGatesTheTechnicalMember() throws {
        var trending = try Self.evaluator()
        var ranging = try Self.evaluator()
        let t = try #require(trending.evaluate(Self.snapshot(base: Self.state("15m", 0, regime: .trendingUp, warm: true))).signals.first)
        let r = try #require(ranging.evaluate(Self.snapshot(base: Self.state("15m", 0, regime: .ranging, warm: true))).signals.first)
        let tv = try #require(t.votes.first { $0.member == .technical })
        let rv = try #require(r.votes.first { $0.member == .technical })
        #expect(tv.gate == 1 && rv.gate == 0.25)
        #expect(abs(rv.weight - 0.25 * tv.weight) < 1e-12)
        #expect(tv.vote > 0)  // close above rising EMAs, positive MACD, RSI 60
    }

    @Test func disabledMemberAndThresholds() throws {
        var e = try Self.evaluator { $0.ensemble.members.technical.enabled = false }
        let s = try #require(e.evaluate(Self.snapshot(base: Self.state("15m", 0, regime: .trendingUp, warm: true))).signals.first)
        let tech = try #require(s.votes.first { $0.member == .technical })
        #expect(tech.abstained && tech.weight == 0 && tech.reason == "disabled")
        var strict = try Self.evaluator { $0.minConfidence = 100 }
        #expect(strict.evaluate(Self.snapshot(higher: 0.5)).signals.isEmpty)
        #expect(strict.openSetups == 1)  // still labelled, for the learned member
    }

    @Test func killzonesTagOrSuppress() throws {
        var tag = try Self.evaluator()
        #expect(tag.evaluate(Self.snapshot(time: Self.noon)).signals.first?.killzone == "New York open")
        var tagNight = try Self.evaluator()
        #expect(tagNight.evaluate(Self.snapshot(time: Self.night)).signals.first?.killzone == "Asian")
        var tagOutside = try Self.evaluator()
        let outside = try #require(tagOutside.evaluate(Self.snapshot(time: Self.afternoon)).signals.first)
        #expect(outside.killzone == nil)
        var suppress = try Self.evaluator(mode: .suppress)
        #expect(suppress.evaluate(Self.snapshot(time: Self.afternoon)).signals.isEmpty)
        var suppressInside = try Self.evaluator(mode: .suppress)
        #expect(suppressInside.evaluate(Self.snapshot(time: Self.noon)).signals.count == 1)
    }

    @Test func invalidSettingsAreRefused() {
        var s = StrategySettings()
        s.signalWeights.structure = 0.9
        #expect(throws: SMCParameterError.self) {
            _ = try TenantEvaluator(settings: s, killzones: .init(), timeframe: Self.m15)
        }
    }
}
