import Foundation
import SMCEngine

/// Makes `ChartDescription`s from stored data, without I/O: a signal's chart (its zone, entry, stop, targets,
/// outcome, the killzones and the structure around it) and a symbol's chart (its last candles and structure).
enum ChartBuilder {
    /// How many candles a signal chart shows before the signal candle, and at most after it.
    static let before = 80
    static let after = 40
    /// The most candles a signal chart reaches after the signal to show its outcome.
    static let outcomeReach = 200

    /// How many candles after the signal to read: `after`, or as far as the outcome's candle and two more when that is
    /// later (weekends and gaps make the count a bound, not exact), at most `outcomeReach`.
    static func after(_ s: SignalRecord) -> Int {
        guard let outcome = s.outcome, let tf = SignalTimeframe(label: s.timeframe)?.seconds, tf > 0 else { return after }
        let span = Int((outcome.time.timeIntervalSince1970 - s.candleTime.timeIntervalSince1970) / Double(tf)) + 3
        return min(max(after, span), outcomeReach)
    }

    /// A symbol chart's candles.
    static let symbolCandles = 120
    /// The swing length of the structure drawn (chart-scale, not the strategy's).
    static let swingLength = 5

    /// The signal's chart. `candles` are the stream's candles around the signal (oldest first: `before` before it, and
    /// `after(signal)` after it); the chart stops two candles after the outcome's, or `after` candles after the signal
    /// while it is open. `killzones` are the tenant's windows (disabled ones are skipped).
    static func signal(_ s: SignalRecord, candles: [Candle], priceDecimals: Int, killzones: [Killzone],
                       theme: ChartDescription.Theme) -> ChartDescription
    {
        let tf = SignalTimeframe(label: s.timeframe)?.seconds ?? 60
        let signalTime = Int64(s.candleTime.timeIntervalSince1970)
        let format = PriceFormat(decimals: priceDecimals)
        let outcomeTime = s.outcome.map { Int64($0.time.timeIntervalSince1970) }
        // Up to the outcome's candle (and two more), at most `after` after the signal.
        var shown = candles
        if let outcomeTime, let last = shown.lastIndex(where: { $0.time <= outcomeTime }) {
            shown = Array(shown.prefix(min(last + 3, shown.count)))
        } else if let first = shown.firstIndex(where: { $0.time > signalTime }) {
            shown = Array(shown.prefix(min(first + after, shown.count)))
        }
        let descriptionCandles = shown.map { ChartDescription.Candle(time: $0.time, open: $0.open, high: $0.high, low: $0.low, close: $0.close) }
        let lastTime = shown.last?.time ?? signalTime

        var d = ChartDescription(
            title: .init(symbol: s.symbol, timeframe: s.timeframe, direction: s.direction > 0 ? "long" : "short",
                         setup: s.setupType, confidence: s.confidence),
            timeframeSeconds: tf, candles: descriptionCandles, priceDecimals: priceDecimals)
        d.theme = theme
        d.signalTime = signalTime

        if let z = s.detail?.setup?.zone, let top = z.top, let bottom = z.bottom {
            let kind = (z.kind ?? s.setupType).replacingOccurrences(of: "_", with: " ")
            let bullish = (z.direction ?? s.direction) > 0
            d.zone = .init(
                top: top, bottom: bottom, from: z.time ?? signalTime, to: outcomeTime ?? lastTime, bullish: bullish,
                label: "\(bullish ? "bullish" : "bearish") \(kind) \(format.text(bottom))–\(format.text(top))")
        }
        d.lines.append(.init(kind: .entry, price: s.entry, label: "Entry", from: signalTime))
        d.lines.append(.init(kind: .stop, price: s.stop, label: "Stop", from: signalTime))
        for (i, target) in s.targets.prefix(3).enumerated() {
            d.lines.append(.init(kind: .target, price: target, label: "T\(i + 1)", from: signalTime))
        }
        if let o = s.outcome, let time = outcomeTime {
            let price = o.exitPrice ?? (o.kind == "stop" ? s.stop : o.kind == "target" ? s.targets.first ?? s.entry : s.entry)
            d.outcome = .init(kind: o.kind, time: time, price: price)
        }
        d.killzones = windows(shown.map(\.time), killzones)
        d.structure = structure(Array(shown.prefix { $0.time <= signalTime }))
        var sub = ["R:R \(String(format: "%.2f", PriceFormat.r(s.rewardRisk)))", "level \(s.level)"]
        if let k = s.killzone { sub.append(k) }
        if let regime = s.regime { sub.append("regime \(regime.replacingOccurrences(of: "_", with: " "))") }
        if let o = s.outcome {
            sub.append("outcome \(o.kind)" + (o.r.map { String(format: " %+.2fR", PriceFormat.r($0)) } ?? ""))
        }
        sub.append(CivilTime.rfc3339(signalTime).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC"))
        d.subtitle = sub.joined(separator: " · ")
        return d
    }

    /// A symbol's chart: its candles up to a time, the killzones and the latest structure.
    static func symbol(_ symbol: String, timeframe: String, candles: [Candle], priceDecimals: Int, killzones: [Killzone],
                       theme: ChartDescription.Theme) -> ChartDescription
    {
        let tf = SignalTimeframe(label: timeframe)?.seconds ?? 60
        var d = ChartDescription(
            title: .init(symbol: symbol, timeframe: timeframe), timeframeSeconds: tf,
            candles: candles.map { .init(time: $0.time, open: $0.open, high: $0.high, low: $0.low, close: $0.close) },
            priceDecimals: priceDecimals)
        d.theme = theme
        d.killzones = windows(candles.map(\.time), killzones)
        d.structure = structure(candles)
        if let last = candles.last {
            d.lines.append(.init(kind: .level, price: last.close, label: "Last", from: nil))
            let close = CivilTime.rfc3339(last.time + tf).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")
            d.subtitle = "\(candles.count) candles · last close \(PriceFormat(decimals: priceDecimals).text(last.close)) at \(close)"
        } else {
            d.subtitle = "no candles stored for this stream yet"
        }
        return d
    }

    /// The killzone windows the candles fall in: runs of consecutive candles in the same named zone.
    static func windows(_ times: [Int64], _ zones: [Killzone]) -> [ChartDescription.Window] {
        guard let calendar = try? KillzoneCalendar(zones.filter(\.enabled)), !calendar.zones.isEmpty else { return [] }
        var out: [ChartDescription.Window] = []
        var open: ChartDescription.Window?
        for t in times {
            let name = calendar.first(at: t)
            if let current = open, current.name == name {
                open?.to = t
                continue
            }
            if let current = open { out.append(current) }
            open = name.map { ChartDescription.Window(name: $0, from: t, to: t) }
        }
        if let open { out.append(open) }
        return out
    }

    /// The last swings (at most eight; the detector's forced first and last are left out) and breaks of structure
    /// (at most three) of the candles.
    static func structure(_ candles: [Candle]) -> [ChartDescription.StructureMark] {
        guard candles.count >= 4 * swingLength else { return [] }
        let series = CandleSeries(candles)
        let swings = SMC.swingHighsLows(series, swingLength: swingLength)
        let breaks = SMC.breaksOfStructure(series, swings: swings, closeBreak: true)
        var marks: [ChartDescription.StructureMark] = []
        var swingMarks: [ChartDescription.StructureMark] = []
        for i in 1..<(candles.count - 1) where !swings.highLow[i].isNaN {
            let high = swings.highLow[i] > 0
            swingMarks.append(.init(kind: high ? .swingHigh : .swingLow, time: candles[i].time, price: swings.level[i],
                                    to: nil, direction: high ? 1 : -1, label: high ? "SH" : "SL"))
        }
        marks += swingMarks.suffix(8)
        var breakMarks: [ChartDescription.StructureMark] = []
        for i in 0..<candles.count {
            let bos = breaks.bos[i], choch = breaks.choch[i]
            let value = !bos.isNaN ? bos : choch
            guard !value.isNaN, !breaks.level[i].isNaN else { continue }
            let broken = breaks.brokenIndex[i]
            let to = broken.isNaN ? nil : candles[min(Int(broken), candles.count - 1)].time
            breakMarks.append(.init(kind: bos.isNaN ? .choch : .bos, time: candles[i].time, price: breaks.level[i], to: to,
                                    direction: value > 0 ? 1 : -1, label: bos.isNaN ? "CHoCH" : "BOS"))
        }
        marks += breakMarks.suffix(3)
        return marks
    }
}
