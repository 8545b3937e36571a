// The engine's micro-benchmarks on package-benchmark: wall clock percentiles, throughput and mallocs of each
// detector family in batch mode, of each streaming detector replaying a year candle by candle, of the shared
// analyzer, the tenant evaluator (the ensemble) and the whole signal engine on one candle after a year of history,
// and of the state the server stores between candles (JSON encode and decode, with its size).
//
// `make bench` compares a run with the baseline stored in .benchmarkBaselines/ and prints both. By hand (the target
// exists only with SMC_BENCHMARKS set, see Package.swift):
//
//   SMC_BENCHMARKS=1 swift package benchmark --target SMCEngineBenchmarks [--filter REGEX]
//   SMC_BENCHMARKS=1 swift package --allow-writing-to-package-directory benchmark --target SMCEngineBenchmarks \
//       baseline update stored
//
// Data: a year of real 15m candles (the shared EURUSD 15m file beside the repository, 24,423 candles; SMC_BENCH_CSV
// names another file) and a year of 1m candles (525,600, a seeded random walk: no 1m history ships with the project).
// Parameters are the service's defaults (swing length 50, closing breaks, 1 % liquidity range).
import Benchmark
import Foundation
import SMCEngine

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal]
    /// A whole pass over a year per iteration: a few dozen samples are enough for the percentiles.
    let pass = Benchmark.Configuration(metrics: metrics, warmupIterations: 1, maxDuration: .seconds(2),
                                       maxIterations: 50)
    /// One candle per iteration, each after the ones before it: percentiles of the per-candle latency.
    let perCandle = Benchmark.Configuration(metrics: metrics, warmupIterations: 10, maxDuration: .seconds(5),
                                            maxIterations: 4_000)
    let stateSize = BenchmarkMetric.custom("state bytes", polarity: .prefersSmaller, useScalingFactor: false)
    let state = Benchmark.Configuration(metrics: metrics + [stateSize], warmupIterations: 1, maxDuration: .seconds(2),
                                        maxIterations: 200)

    // MARK: Batch: each detector family over a year

    for (label, series) in [("15m year", { Inputs.year15m }), ("1m year", { Inputs.year1m })] as [(String, () -> CandleSeries)] {
        Benchmark("Batch \(label): swings", configuration: pass) { benchmark, candles in
            blackHole(SMC.swingHighsLows(candles, swingLength: Inputs.swingLength))
        } setup: { series() }
        Benchmark("Batch \(label): fvg", configuration: pass) { benchmark, candles in
            blackHole(SMC.fairValueGaps(candles))
        } setup: { series() }
        Benchmark("Batch \(label): bos_choch", configuration: pass) { benchmark, input in
            blackHole(SMC.breaksOfStructure(input.candles, swings: input.swings))
        } setup: { SwingInput(series()) }
        Benchmark("Batch \(label): ob", configuration: pass) { benchmark, input in
            blackHole(SMC.orderBlocks(input.candles, swings: input.swings))
        } setup: { SwingInput(series()) }
        Benchmark("Batch \(label): liquidity", configuration: pass) { benchmark, input in
            blackHole(SMC.liquidity(input.candles, swings: input.swings))
        } setup: { SwingInput(series()) }
        Benchmark("Batch \(label): previous_high_low 1D", configuration: pass) { benchmark, candles in
            blackHole(SMC.previousHighLow(candles, timeFrame: .day))
        } setup: { series() }
        Benchmark("Batch \(label): sessions London", configuration: pass) { benchmark, candles in
            blackHole(try? SMC.sessions(candles, session: Inputs.london))
        } setup: { series() }
        Benchmark("Batch \(label): retracements", configuration: pass) { benchmark, input in
            blackHole(SMC.retracements(input.candles, swings: input.swings))
        } setup: { SwingInput(series()) }
    }

    Benchmark("CSV parse: 15m year", configuration: pass) { benchmark, text in
        blackHole(try? CandleCSV.parse(text))
    } setup: { Inputs.csvText }

    // MARK: Streaming: each detector fed the 15m year one candle at a time

    func stream<D: StreamingDetector>(_ name: String, _ make: @escaping () -> D) {
        Benchmark("Stream 15m year: \(name)", configuration: pass) { benchmark, candles in
            var detector = make()
            for candle in candles { blackHole(detector.feed(candle)) }
        } setup: { Inputs.candles15m }
    }
    let length = Inputs.swingLength
    stream("swings") { SwingStream(swingLength: length) }
    stream("fvg") { FairValueGapStream() }
    stream("bos_choch") { StructureBreakStream(swingLength: length) }
    stream("ob") { OrderBlockStream(swingLength: length) }
    stream("liquidity") { LiquidityStream(swingLength: length, range: Inputs.liquidityRange) }
    stream("previous_high_low 1D") { PreviousHighLowStream(timeFrame: .day) }
    stream("sessions London") { SessionStream(session: Inputs.london) }
    stream("retracements") { RetracementStream(swingLength: length) }

    // MARK: Per candle, after a year of history (what the server runs on every closed candle)

    // The shared analyzer: every streaming detector, the indicators and the regime, on 15m and 3 higher timeframes.
    Benchmark("Per candle: MarketAnalyzer.update", configuration: perCandle) { benchmark, feed in
        blackHole(feed.state.update(feed.nextCandle()))
    } setup: { Feed(Inputs.warmAnalyzer(), from: Inputs.warmCandles) }

    // One tenant with the default strategy: outcomes, setups, the ensemble's vote.
    Benchmark("Per candle: TenantEvaluator.evaluate", configuration: perCandle) { benchmark, feed in
        blackHole(feed.state.evaluate(feed.nextSnapshot()))
    } setup: { Inputs.evaluatorFeed() }

    Benchmark("Per candle: SignalEngine.process (analyzer + evaluator)", configuration: perCandle) { benchmark, feed in
        blackHole(feed.state.process(feed.nextCandle()))
    } setup: { Feed(Inputs.warmEngine(), from: Inputs.warmCandles) }

    // MARK: Stored state after a year

    /// Encoding and decoding one part of an engine's state after the 15m year, with the encoded size.
    func storedState<State: Codable>(_ name: String, _ part: @escaping (SignalEngine) -> State) {
        Benchmark("State: \(name) encode (JSON)", configuration: state) { benchmark, value in
            let data = try! JSONEncoder().encode(value)
            benchmark.measurement(stateSize, data.count)
        } setup: { part(Inputs.warmEngine(through: Inputs.candles15m.count)) }
        Benchmark("State: \(name) decode (JSON)", configuration: state) { benchmark, data in
            blackHole(try! JSONDecoder().decode(State.self, from: data))
            benchmark.measurement(stateSize, data.count)
        } setup: { try JSONEncoder().encode(part(Inputs.warmEngine(through: Inputs.candles15m.count))) }
    }
    storedState("MarketAnalyzer") { $0.analyzer }
    storedState("TenantEvaluator") { $0.evaluator }
}

// MARK: - Inputs

enum Inputs {
    static let swingLength = 50
    /// The last candles of the year, fed one per iteration to the per-candle benchmarks (more than they take).
    static let measuredCandles = 5_000
    static let london = try! TradingSession(named: "London")

    static let csvPath: String = ProcessInfo.processInfo.environment["SMC_BENCH_CSV"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("shared/conformance/smartmoneyconcepts/eurusd-15m/EURUSD_15M.csv").path

    static let csvText: String = {
        guard let text = try? String(contentsOfFile: csvPath, encoding: .utf8) else {
            fatalError("SMCEngineBenchmarks: cannot read \(csvPath) (the shared data sits beside the repository)")
        }
        return text
    }()

    /// The shared EURUSD 15m file: 24,423 candles, about a year.
    static let year15m: CandleSeries = {
        do { return try CandleCSV.parse(csvText) } catch { fatalError("SMCEngineBenchmarks: \(csvPath): \(error)") }
    }()
    static let candles15m: [Candle] = (0..<year15m.count).map { year15m[$0] }
    static let liquidityRange = SMC.liquidityRange(year15m)
    static let timeframe15m = SignalTimeframe(seconds: 900)

    /// A year of 1m candles (365 × 1,440), a random walk from a fixed seed so every run measures the same series.
    static let year1m: CandleSeries = {
        var random = SeededRandom(seed: 20_240_101)
        var series = CandleSeries(capacity: 525_600)
        var price = 1.1
        for i in 0..<525_600 {
            let open = price
            price += random.uniform(-0.0002, 0.0002)
            series.append(Candle(time: 1_704_067_200 + Int64(i) * 60, open: open,
                                 high: max(open, price) + random.uniform(0, 0.0001),
                                 low: min(open, price) - random.uniform(0, 0.0001), close: price,
                                 volume: random.uniform(1, 100)))
        }
        return series
    }()

    /// Where the per-candle benchmarks start: everything before is history.
    static var warmCandles: Int { candles15m.count - measuredCandles }

    static func warmAnalyzer() -> MarketAnalyzer {
        var analyzer = MarketAnalyzer(DetectorParameters(timeframe: timeframe15m, swingLength: swingLength))
        for candle in candles15m[..<warmCandles] { _ = analyzer.update(candle) }
        return analyzer
    }

    static func warmEngine(through end: Int = warmCandles) -> SignalEngine {
        var engine = try! SignalEngine(timeframe: timeframe15m)
        for candle in candles15m[..<end] { _ = engine.process(candle) }
        return engine
    }

    /// An engine after the history, and the snapshots its analyzer makes of the measured candles, so that the
    /// evaluator is timed alone.
    static func evaluatorFeed() -> Feed<TenantEvaluator> {
        let engine = warmEngine()
        var analyzer = engine.analyzer
        let feed = Feed(engine.evaluator, from: warmCandles)
        feed.snapshots = candles15m[warmCandles...].map { analyzer.update($0) }
        return feed
    }
}

/// Candles and the swings of them (length 50), for the detectors that take swings.
struct SwingInput {
    let candles: CandleSeries
    let swings: SwingHighsLows

    init(_ candles: CandleSeries) {
        self.candles = candles
        swings = SMC.swingHighsLows(candles, swingLength: Inputs.swingLength)
    }
}

/// A state that goes on from one iteration to the next, fed the 15m year's candles (or their snapshots) in order.
final class Feed<State> {
    var state: State
    var snapshots: [MarketSnapshot] = []
    private let start: Int
    private var next: Int

    init(_ state: State, from start: Int) {
        self.state = state
        self.start = start
        next = start
    }

    func nextCandle() -> Candle {
        defer { next += 1 }
        precondition(next < Inputs.candles15m.count, "more iterations than measured candles")
        return Inputs.candles15m[next]
    }

    func nextSnapshot() -> MarketSnapshot {
        defer { next += 1 }
        return snapshots[next - start]
    }
}

/// A seeded linear congruential generator (Knuth's MMIX constants): the synthetic series is the same on every run
/// and machine, and its statistical quality is beside the point.
struct SeededRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func uniform(_ low: Double, _ high: Double) -> Double {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return low + (high - low) * Double(state >> 11) / Double(1 << 53)
    }
}
