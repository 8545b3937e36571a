// smc-bench: the engine beside the Python reference, and the signal layer's quality, for `make bench` (printed, never
// asserted). The engine's micro-benchmarks (each detector, the streams, the analyzer and ensemble per candle, the
// stored state) are in SMCEngineBenchmarks, on package-benchmark.
//
//   smc-bench [CSV] [--runs N] [--tsv FILE]
//
// CSV defaults to the shared EURUSD 15m file beside the repository. Prints, as an aligned table: CSV parse time and
// the median and best time of each batch call the reference's tests make (swings included where the call needs
// them, as `smc.bos_choch(df, smc.swing_highs_lows(df, 5))` does), timed as scripts/bench_reference.py times the
// reference; then the backtest's statistics and the learned member's walk-forward evaluation on the file.
// `--tsv FILE` also writes `name<TAB>median_ms<TAB>best_ms` per batch call, for scripts/bench to put beside the
// reference's times.
import Foundation
import SMCEngine

// MARK: Options

var arguments = Array(CommandLine.arguments.dropFirst())
var runs = 20
var tsvPath: String?
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
    case "-h", "--help":
        print("usage: smc-bench [CSV] [--runs N] [--tsv FILE]")
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

// MARK: Output

print("smc-bench: \(n) candles from \(csvPath), \(runs) runs per batch call")
print("")
printTable(["csv parse", "median ms", "best ms", "ns/candle"],
           [["CandleCSV.parse", milliseconds(parse.median), milliseconds(parse.best),
             String(format: "%.1f", parse.median / Double(n) * 1e9)]])
print("")
printTable(["batch call", "median ms", "best ms", "ns/candle"], batchRows)

// MARK: Signal layer

// The signal layer's quality on this file: the backtest's statistics and the learned member's walk-forward
// evaluation on the labelled setups (its speed per candle is in SMCEngineBenchmarks).
if let m15 = SignalTimeframe.inferred(from: candles) {
    let all = (0..<n).map { candles[$0] }
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
