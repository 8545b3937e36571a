// smc-bench: engine timings for `make bench` (printed, never asserted).
//
//   smc-bench [CSV] [--runs N] [--tsv FILE] [--no-million]
//
// CSV defaults to the shared EURUSD 15m file beside the repository. Prints, as an aligned table: CSV parse time,
// the median and best time of each batch call the reference's tests make (swings included where the call needs
// them, as `smc.bos_choch(df, smc.swing_highs_lows(df, 5))` does), the streaming cost per candle of each
// detector, and the same batch calls on a 1,000,000-candle random walk to show the cost per candle stays flat.
// `--tsv FILE` also writes `name<TAB>median_ms<TAB>best_ms` per batch call, for scripts/bench to put beside the
// reference's times.
import Foundation
import SMCEngine

// MARK: Options

var arguments = Array(CommandLine.arguments.dropFirst())
var runs = 20
var tsvPath: String?
var million = true
var csvPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("shared/conformance/smartmoneyconcepts/eurusd-15m/EURUSD_15M.csv").path
while let argument = arguments.first {
    arguments.removeFirst()
    switch argument {
    case "--runs":
        guard let value = arguments.first.flatMap(Int.init), value > 0 else {
            FileHandle.standardError.write(Data("smc-bench: --runs needs a positive number\n".utf8))
            exit(2)
        }
        runs = value
        arguments.removeFirst()
    case "--tsv":
        guard let value = arguments.first else {
            FileHandle.standardError.write(Data("smc-bench: --tsv needs a file name\n".utf8))
            exit(2)
        }
        tsvPath = value
        arguments.removeFirst()
    case "--no-million":
        million = false
    case "-h", "--help":
        print("usage: smc-bench [CSV] [--runs N] [--tsv FILE] [--no-million]")
        exit(0)
    default:
        csvPath = argument
    }
}

// MARK: Timing

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Keeps results alive so the optimiser cannot drop the work.
nonisolated(unsafe) var sink = 0

struct Timing {
    var median: Double  // seconds
    var best: Double
}

func measure(runs: Int, _ body: () throws -> Int) rethrows -> Timing {
    sink &+= try body()  // warm-up
    var samples: [Double] = []
    for _ in 0..<runs {
        let start = now()
        sink &+= try body()
        samples.append(Double(now() - start) / 1e9)
    }
    samples.sort()
    let mid = samples.count / 2
    let median = samples.count % 2 == 1 ? samples[mid] : (samples[mid - 1] + samples[mid]) / 2
    return Timing(median: median, best: samples[0])
}

func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let space = String(repeating: " ", count: max(0, width - text.count))
    return right ? space + text : text + space
}

func milliseconds(_ seconds: Double) -> String { String(format: "%.3f", seconds * 1e3) }

func printTable(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows { for (c, cell) in row.enumerated() { widths[c] = max(widths[c], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { c, cell in pad(cell, widths[c], right: c > 0) }.joined(separator: "  ")
    }
    print(line(header))
    print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
    for row in rows { print(line(row)) }
}

// MARK: Data

guard let text = try? String(contentsOfFile: csvPath, encoding: .utf8) else {
    FileHandle.standardError.write(Data("smc-bench: cannot read \(csvPath)\n".utf8))
    exit(2)
}
let candles: CandleSeries
do {
    candles = try CandleCSV.parse(text)
} catch {
    FileHandle.standardError.write(Data("smc-bench: \(csvPath): \(error)\n".utf8))
    exit(2)
}
let n = candles.count
let parse = try measure(runs: runs) { try CandleCSV.parse(text).count }

// MARK: Batch calls (the reference's test calls)

let london = try TradingSession(named: "London")
let frames = try ["4h", "1D", "W"].map { try TimeFrame(parsing: $0) }

/// The calls, by the names scripts/bench_reference.py uses for the same reference calls.
func batchCalls(_ c: CandleSeries) -> [(String, () -> Int)] {
    [
        ("fvg", { SMC.fairValueGaps(c).count }),
        ("fvg join_consecutive", { SMC.fairValueGaps(c, joinConsecutive: true).count }),
        ("swing_highs_lows 5", { SMC.swingHighsLows(c, swingLength: 5).count }),
        ("bos_choch", { SMC.breaksOfStructure(c, swings: SMC.swingHighsLows(c, swingLength: 5)).count }),
        ("ob", { SMC.orderBlocks(c, swings: SMC.swingHighsLows(c, swingLength: 5)).count }),
        ("liquidity", { SMC.liquidity(c, swings: SMC.swingHighsLows(c, swingLength: 5)).count }),
        ("previous_high_low 4h", { SMC.previousHighLow(c, timeFrame: frames[0]).count }),
        ("previous_high_low 1D", { SMC.previousHighLow(c, timeFrame: frames[1]).count }),
        ("previous_high_low W", { SMC.previousHighLow(c, timeFrame: frames[2]).count }),
        ("sessions London", { (try? SMC.sessions(c, session: london).count) ?? 0 }),
        ("retracements", { SMC.retracements(c, swings: SMC.swingHighsLows(c, swingLength: 5)).count }),
    ]
}

var batchRows: [[String]] = []
var tsv = ""
var totalMedian = 0.0, totalBest = 0.0
for (name, call) in batchCalls(candles) {
    let t = measure(runs: runs, call)
    totalMedian += t.median
    totalBest += t.best
    batchRows.append([name, milliseconds(t.median), milliseconds(t.best), String(format: "%.1f", t.median / Double(n) * 1e9)])
    tsv += "\(name)\t\(t.median * 1e3)\t\(t.best * 1e3)\n"
}
batchRows.append(["total", milliseconds(totalMedian), milliseconds(totalBest), String(format: "%.1f", totalMedian / Double(n) * 1e9)])
tsv += "total\t\(totalMedian * 1e3)\t\(totalBest * 1e3)\n"

// MARK: Streaming

@MainActor func streamCost<D: StreamingDetector>(_ make: () -> D, on series: CandleSeries? = nil, runs runCount: Int? = nil)
    -> Timing
{
    let source = series ?? candles
    let n = source.count
    let all = (0..<n).map { source[$0] }
    let t = measure(runs: runCount ?? max(3, runs / 4)) {
        var detector = make()
        var events = 0
        for candle in all { events &+= detector.feed(candle).count }
        return events
    }
    return Timing(median: t.median / Double(n), best: t.best / Double(n))
}

let streams: [(String, Timing)] = [
    ("swings (length 5)", streamCost { SwingStream(swingLength: 5) }),
    ("fvg", streamCost { FairValueGapStream() }),
    ("fvg join_consecutive", streamCost { FairValueGapStream(joinConsecutive: true) }),
    ("bos_choch", streamCost { StructureBreakStream(swingLength: 5) }),
    ("ob", streamCost { OrderBlockStream(swingLength: 5) }),
    ("liquidity", streamCost { LiquidityStream(swingLength: 5, range: SMC.liquidityRange(candles)) }),
    ("previous_high_low 1D", streamCost { PreviousHighLowStream(timeFrame: frames[1]) }),
    ("sessions London", streamCost { SessionStream(session: london) }),
    ("retracements", streamCost { RetracementStream(swingLength: 5) }),
]

// MARK: Output

print("smc-bench: \(n) candles from \(csvPath), \(runs) runs per batch call")
print("")
printTable(["csv parse", "median ms", "best ms", "ns/candle"],
           [["CandleCSV.parse", milliseconds(parse.median), milliseconds(parse.best),
             String(format: "%.1f", parse.median / Double(n) * 1e9)]])
print("")
printTable(["batch call", "median ms", "best ms", "ns/candle"], batchRows)
print("")
printTable(["streaming detector", "median ns/candle", "best ns/candle"],
           streams.map { [$0.0, String(format: "%.1f", $0.1.median * 1e9), String(format: "%.1f", $0.1.best * 1e9)] })

if million {
    // A 1,000,000-candle random walk: the same calls; ns/candle should stay close to the figures above.
    var generator = SystemRandomNumberGenerator()
    var big = CandleSeries(capacity: 1_000_000)
    var price = 1.1
    for i in 0..<1_000_000 {
        let open = price
        price += Double.random(in: -0.0008...0.0008, using: &generator)
        big.append(Candle(time: 1_600_000_000 + Int64(i) * 900, open: open,
                          high: max(open, price) + Double.random(in: 0...0.0004, using: &generator),
                          low: min(open, price) - Double.random(in: 0...0.0004, using: &generator),
                          close: price, volume: 1))
    }
    var rows: [[String]] = []
    var total = 0.0
    for (name, call) in batchCalls(big) {
        let t = measure(runs: 2, call)
        total += t.median
        rows.append([name, milliseconds(t.median), String(format: "%.1f", t.median / 1e6 * 1e9)])
    }
    rows.append(["total", milliseconds(total), String(format: "%.1f", total / 1e6 * 1e9)])
    print("")
    printTable(["1M-candle random walk", "median ms", "ns/candle"], rows)
    // Streaming over the long history: the per-candle cost stays that of the 24k-candle file.
    let bigStreams: [(String, Timing)] = [
        ("bos_choch", streamCost({ StructureBreakStream(swingLength: 5) }, on: big, runs: 1)),
        ("ob", streamCost({ OrderBlockStream(swingLength: 5) }, on: big, runs: 1)),
        ("liquidity", streamCost({ LiquidityStream(swingLength: 5, range: SMC.liquidityRange(big)) }, on: big, runs: 1)),
        ("retracements", streamCost({ RetracementStream(swingLength: 5) }, on: big, runs: 1)),
    ]
    print("")
    printTable(["1M-candle streaming", "ns/candle"], bigStreams.map { [$0.0, String(format: "%.1f", $0.1.median * 1e9)] })
}

// MARK: Signal layer

// The whole per-candle pipeline a tenant costs on this file (shared analyzer + tenant evaluator with the default
// settings), the backtest's statistics, and the learned member's walk-forward evaluation on the labelled setups.
if let m15 = SignalTimeframe.inferred(from: candles) {
    let all = (0..<n).map { candles[$0] }
    var lastEngine: SignalEngine?
    let engineTime = try measure(runs: max(3, runs / 5)) {
        var engine = try SignalEngine(timeframe: m15)
        var produced = 0
        for candle in all { produced &+= engine.process(candle).signals.count }
        lastEngine = engine
        return produced
    }
    var analyzerOnly = MarketAnalyzer(DetectorParameters(timeframe: m15))
    let analyzerStart = now()
    for candle in all { sink &+= analyzerOnly.update(candle).candidates.count }
    let analyzerSeconds = Double(now() - analyzerStart) / 1e9
    print("")
    printTable(["signal layer (default settings)", "median ms", "ns/candle"], [
        ["analyzer + tenant evaluator", milliseconds(engineTime.median), String(format: "%.0f", engineTime.median / Double(n) * 1e9)],
        ["shared analyzer alone", milliseconds(analyzerSeconds), String(format: "%.0f", analyzerSeconds / Double(n) * 1e9)],
    ])
    if let engine = lastEngine {
        let state = try JSONEncoder().encode(engine)
        print("engine state after \(n) candles: \(state.count) bytes of JSON")
    }
    let backtest = try Backtest(candles: candles, timeframe: m15,
                                configuration: BacktestConfiguration(costs: .init(spread: 0.0001)))
    let st = backtest.statistics
    print("")
    print("backtest (default settings, spread 0.0001): \(st.trades) trades, win rate \(String(format: "%.1f", st.winRate * 100)) %, "
        + "average R \(String(format: "%+.2f", st.averageR)), profit factor \(String(format: "%.2f", st.profitFactor)), "
        + "max drawdown \(String(format: "%.2f", st.maxDrawdownR)) R")

    // The learned member: every setup of the file (signalled or not) labelled target/stop, walk-forward.
    var learning = try SignalEngine(timeframe: m15)
    for candle in all { _ = learning.process(candle) }
    let samples = learning.evaluator.ensemble.samples
    print("")
    print("learned member: walk-forward on \(samples.count) labelled setups of \(csvPath.split(separator: "/").last ?? "")")
    print(WalkForward.evaluate(samples, featureNames: SetupFeatures.names).text())
} else {
    print("")
    print("signal layer skipped: the file's candle spacing is not a standard timeframe")
}

if let tsvPath {
    do {
        try tsv.write(toFile: tsvPath, atomically: true, encoding: .utf8)
    } catch {
        FileHandle.standardError.write(Data("smc-bench: cannot write \(tsvPath): \(error)\n".utf8))
        exit(1)
    }
}
if sink == 42 { print("") }  // uses the results
