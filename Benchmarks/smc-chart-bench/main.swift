// smc-chart-bench: how long the server takes to draw a chart, for `make bench` (printed, never asserted).
//
//   smc-chart-bench [CSV] [--runs N] [--out DIR]
//
// From the shared EURUSD 15m file: 121 candles (80 before a signal candle, 40 after), described as a signal chart
// (a zone, entry, stop, two targets, an outcome, the ICT killzones, the swings and breaks of structure) and as a symbol
// chart; then each drawn `runs` times (default 200) in both themes: building the description, drawing it with Cairo
// and encoding the PNG, one chart at a time on one core. `--out` also writes the four PNGs there.
import Foundation
import SMCEngine
import SMCServer

var arguments = Array(CommandLine.arguments.dropFirst())
var runs = 200
var out: String?
var csvPath = "../shared/conformance/smartmoneyconcepts/eurusd-15m/EURUSD_15M.csv"
while let argument = arguments.first {
    arguments.removeFirst()
    switch argument {
    case "--runs": runs = Int(arguments.removeFirst()) ?? runs
    case "--out": out = arguments.removeFirst()
    default: csvPath = argument
    }
}

let series = try CandleCSV.parse(String(contentsOfFile: csvPath, encoding: .utf8))
let signalIndex = min(series.count - 41, 2_000)
let candles = (signalIndex - 80...signalIndex + 40).map { series[$0] }
let signal = series[signalIndex]

@MainActor func signalChartJSON(dark: Bool) throws -> Data {
    var d = try JSONSerialization.jsonObject(
        with: ChartPNG.symbolDescription(symbol: "EURUSD", timeframe: "15m", candles: candles, priceDecimals: 5, dark: dark))
        as! [String: Any]
    let window = candles[60...80]
    let low = window.map(\.low).min()!, high = window.map(\.high).max()!
    let entry = signal.close, stop = low - (high - low) * 0.1
    d["title"] = ["symbol": "EURUSD", "timeframe": "15m", "direction": "long", "setup": "order_block", "confidence": 72.4]
    d["zone"] = ["top": low + (high - low) * 0.3, "bottom": low, "from": candles[70].time, "to": candles[100].time, "bullish": true,
                 "label": "bullish order block"]
    d["lines"] = [["kind": "entry", "price": entry, "label": "Entry", "from": signal.time],
                  ["kind": "stop", "price": stop, "label": "Stop", "from": signal.time],
                  ["kind": "target", "price": entry + 2 * (entry - stop), "label": "T1", "from": signal.time],
                  ["kind": "target", "price": entry + 3 * (entry - stop), "label": "T2", "from": signal.time]]
    d["outcome"] = ["kind": "target", "time": candles[100].time, "price": entry + 2 * (entry - stop)]
    d["signalTime"] = signal.time
    d["subtitle"] = "R:R 2.00 · level HIGH · London open"
    return try JSONSerialization.data(withJSONObject: d)
}

@MainActor func measure(_ name: String, _ body: () throws -> Int) rethrows {
    var times: [Double] = []
    var bytes = 0
    for _ in 0..<runs {
        let start = ContinuousClock.now
        bytes = try body()
        times.append(Double((ContinuousClock.now - start).components.attoseconds) / 1e15 + Double((ContinuousClock.now - start).components.seconds) * 1000)
    }
    times.sort()
    let median = times[times.count / 2], p99 = times[min(times.count - 1, times.count * 99 / 100)]
    print(String(format: "%@  median %.2f ms  p99 %.2f ms  (%d runs, %d bytes)", name.padding(toLength: 42, withPad: " ", startingAt: 0),
                 median, p99, runs, bytes))
}

print("chart: 1000×560, 121 EURUSD 15m candles, one at a time")
try measure("describe symbol chart (structure, killzones)") {
    try ChartPNG.symbolDescription(symbol: "EURUSD", timeframe: "15m", candles: candles, priceDecimals: 5, dark: false).count
}
for dark in [false, true] {
    let signalJSON = try signalChartJSON(dark: dark)
    let symbolJSON = try ChartPNG.symbolDescription(symbol: "EURUSD", timeframe: "15m", candles: candles, priceDecimals: 5, dark: dark)
    let theme = dark ? "dark" : "light"
    try measure("render signal chart, \(theme) (draw + PNG)") { try ChartPNG.render(descriptionJSON: signalJSON).count }
    try measure("render symbol chart, \(theme) (draw + PNG)") { try ChartPNG.render(descriptionJSON: symbolJSON).count }
    if let out {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try Data(ChartPNG.render(descriptionJSON: signalJSON)).write(to: URL(fileURLWithPath: "\(out)/bench-signal-\(theme).png"))
        try Data(ChartPNG.render(descriptionJSON: symbolJSON)).write(to: URL(fileURLWithPath: "\(out)/bench-symbol-\(theme).png"))
    }
}
