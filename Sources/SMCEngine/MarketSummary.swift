import Foundation

extension SwingHighsLows {
    /// The swings that later candles can no longer change: without the reference's fake swing on the last candle
    /// (it only marks the end of the data) and without the last real swing (a later, more extreme candidate could
    /// still replace it). What `SwingStream` has emitted after the same candles.
    public var confirmed: SwingHighsLows {
        var highLow = self.highLow
        var level = self.level
        var removed = 0
        var i = count - 1
        while i > 0 && removed < 2 {
            if !highLow[i].isNaN {
                highLow[i] = .nan
                level[i] = .nan
                removed += 1
            }
            i -= 1
        }
        if removed < 2 {
            // No real swing at all: the fake first swing goes too.
            return SwingHighsLows(highLow: .init(repeating: .nan, count: count), level: .init(repeating: .nan, count: count))
        }
        return SwingHighsLows(highLow: highLow, level: level)
    }
}

/// What a trader wants to see about a chart now (`smc-client analyze FILE --summary`): the structural bias on the
/// file's timeframe and on the higher ones it aggregates to, the zones price has not yet traded back into, the
/// last structure break, and the nearest liquidity pools above and below the last close.
///
/// Structure is computed from confirmed swings (`SwingHighsLows.confirmed`) only, so the summary never rests on a
/// swing that a later candle could move or remove (the batch result's last swing and its end-of-data marker). A
/// later break can still supersede the last one under the reference's BOS/CHoCH rule, and zones get mitigated.
public struct MarketSummary: Sendable, Hashable {
    public enum Bias: String, Sendable, Hashable {
        case bullish
        case bearish
        case neutral
    }

    /// A BOS or CHoCH, located in time.
    public struct StructureBreak: Sendable, Hashable {
        /// "BOS" or "CHoCH".
        public var kind: String
        /// 1 bullish (a swing high was broken upwards), -1 bearish.
        public var direction: Int
        public var level: Double
        /// Open time of the swing candle whose level broke.
        public var swingTime: Int64
        /// Open time of the candle whose close broke it.
        public var brokenTime: Int64
        /// Candles since the break (0 = the last candle).
        public var candlesAgo: Int
    }

    public struct TimeframeBias: Sendable, Hashable {
        /// "15m", "1h", "4h", "1D", "1W", …
        public var timeFrame: String
        public var candles: Int
        /// The swing length used on this timeframe (the requested one, capped at candles / 20 on higher
        /// timeframes, which have too few candles for a 15m-sized length).
        public var swingLength: Int
        public var bias: Bias
        /// One line saying why.
        public var reason: String
        public var lastBreak: StructureBreak?
    }

    public struct Zone: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable {
            case orderBlock = "order block"
            case fairValueGap = "fair value gap"
        }

        public var kind: Kind
        /// 1 bullish (support), -1 bearish (resistance).
        public var direction: Int
        public var top: Double
        public var bottom: Double
        /// Open time of the zone's candle.
        public var time: Int64
        /// Candles since the zone's candle.
        public var ageCandles: Int
        /// Price distance from the last close (0 when the close is inside).
        public var distance: Double
    }

    public struct LiquidityPool: Sendable, Hashable {
        /// 1 a pool of swing highs (buy-side liquidity), -1 of swing lows (sell-side).
        public var direction: Int
        public var level: Double
        public var swings: Int
        public var firstTime: Int64
        public var lastTime: Int64
    }

    public var candles: Int
    public var firstTime: Int64
    public var lastTime: Int64
    public var lastClose: Double
    /// The file's own timeframe.
    public var timeFrame: String
    public var swingLength: Int
    /// The file's timeframe first, then higher ones.
    public var biases: [TimeframeBias]
    /// Unmitigated order blocks and fair value gaps on the file's timeframe, nearest to the last close first.
    public var zones: [Zone]
    /// The last BOS/CHoCH on the file's timeframe.
    public var lastBreak: StructureBreak?
    /// Nearest unswept pool above / below the last close (range: 1% of the file's span, the reference default).
    public var liquidityAbove: LiquidityPool?
    public var liquidityBelow: LiquidityPool?
    /// Decimals that the file's prices use, for the text rendering.
    public var priceDecimals: Int

    public init(_ candles: CandleSeries, swingLength: Int = 50) {
        precondition(swingLength >= 1, "swing length must be at least 1")
        let n = candles.count
        self.candles = n
        self.swingLength = swingLength
        firstTime = candles.time.first ?? 0
        lastTime = candles.time.last ?? 0
        lastClose = candles.close.last ?? .nan
        priceDecimals = Self.decimals(candles)
        let base = Self.barSeconds(candles)
        timeFrame = Self.label(seconds: base)
        biases = []
        zones = []
        guard n > 0 else { return }

        let swings = SMC.swingHighsLows(candles, swingLength: swingLength).confirmed
        let own = Self.bias(candles, swings: swings, timeFrame: timeFrame, swingLength: swingLength)
        biases.append(own)
        lastBreak = own.lastBreak
        for (seconds, label) in [(Int64(3600), "1h"), (14_400, "4h"), (86_400, "1D"), (604_800, "1W")]
        where base > 0 && seconds > base && seconds % base == 0 {
            let higher = Self.aggregate(candles, seconds: seconds)
            guard higher.count >= (seconds == 604_800 ? 12 : 3) else { continue }
            let length = Swift.max(1, Swift.min(swingLength, higher.count / 20))
            let higherSwings = SMC.swingHighsLows(higher, swingLength: length).confirmed
            biases.append(Self.bias(higher, swings: higherSwings, timeFrame: label, swingLength: length))
        }

        // Zones.
        let close = lastClose
        func zone(_ kind: Zone.Kind, _ i: Int, _ direction: Double, _ a: Double, _ b: Double) -> Zone {
            let top = Swift.max(a, b), bottom = Swift.min(a, b)
            let distance = close > top ? close - top : (close < bottom ? bottom - close : 0)
            return Zone(kind: kind, direction: Int(direction), top: top, bottom: bottom, time: candles.time[i],
                        ageCandles: n - 1 - i, distance: distance)
        }
        let blocks = SMC.orderBlocks(candles, swings: swings)
        for i in 0..<n where !blocks.direction[i].isNaN && blocks.mitigatedIndex[i] == 0 {
            zones.append(zone(.orderBlock, i, blocks.direction[i], blocks.top[i], blocks.bottom[i]))
        }
        let gaps = SMC.fairValueGaps(candles)
        for i in 0..<n where !gaps.direction[i].isNaN && gaps.mitigatedIndex[i] == 0 {
            zones.append(zone(.fairValueGap, i, gaps.direction[i], gaps.top[i], gaps.bottom[i]))
        }
        zones.sort { ($0.distance, -$0.time) < ($1.distance, -$1.time) }

        // Liquidity: the stream's pools are the batch's on confirmed swings, with member counts.
        var stream = LiquidityStream(swingLength: swingLength, range: SMC.liquidityRange(candles))
        var pools: [Int: LiquidityPool] = [:]
        for i in 0..<n {
            for event in stream.feed(candles[i]) {
                switch event {
                case .pool(let index, _, let direction, let level, let end, let members):
                    pools[index] = LiquidityPool(direction: direction, level: level, swings: members,
                                                 firstTime: candles.time[index], lastTime: candles.time[end])
                case .swept(let index, _, _, _):
                    pools[index] = nil
                }
            }
        }
        let unswept = pools.values.sorted { ($0.level, $0.firstTime) < ($1.level, $1.firstTime) }
        liquidityAbove = unswept.first { $0.level > close }
        liquidityBelow = unswept.last { $0.level < close }
    }

    // MARK: Analysis helpers

    static func bias(_ candles: CandleSeries, swings: SwingHighsLows, timeFrame: String, swingLength: Int)
        -> TimeframeBias
    {
        let breaks = SMC.breaksOfStructure(candles, swings: swings)
        var last: Int?
        for i in 0..<candles.count where !(breaks.bos[i].isNaN && breaks.choch[i].isNaN) {
            if let l = last, breaks.brokenIndex[l] > breaks.brokenIndex[i] { continue }
            last = i
        }
        guard let i = last else {
            return TimeframeBias(timeFrame: timeFrame, candles: candles.count, swingLength: swingLength,
                                 bias: .neutral, reason: "no structure break yet (swing length \(swingLength))",
                                 lastBreak: nil)
        }
        let isBOS = !breaks.bos[i].isNaN
        let direction = Int(isBOS ? breaks.bos[i] : breaks.choch[i])
        let broken = Int(breaks.brokenIndex[i])
        let structureBreak = StructureBreak(kind: isBOS ? "BOS" : "CHoCH", direction: direction,
                                            level: breaks.level[i], swingTime: candles.time[i],
                                            brokenTime: candles.time[broken], candlesAgo: candles.count - 1 - broken)
        let reason = "\(direction == 1 ? "bullish" : "bearish") \(structureBreak.kind): close "
            + "\(direction == 1 ? "above swing high" : "below swing low") \(priceText(structureBreak.level, decimals(candles))) "
            + "of \(timeText(structureBreak.swingTime)) at \(timeText(structureBreak.brokenTime))"
        return TimeframeBias(timeFrame: timeFrame, candles: candles.count, swingLength: swingLength,
                             bias: direction == 1 ? .bullish : .bearish, reason: reason, lastBreak: structureBreak)
    }

    /// Candles of `seconds` each, aligned on UTC midnight (weeks on Mondays), by `CandleAggregator`'s rules; the
    /// last one may still be forming. `seconds` must be a multiple of the series' bar size.
    static func aggregate(_ candles: CandleSeries, seconds: Int64) -> CandleSeries {
        var out = CandleSeries(capacity: candles.count / Int(Swift.max(1, seconds / 60)) + 1)
        var aggregator = CandleAggregator(base: SignalTimeframe(seconds: barSeconds(candles)),
                                          target: SignalTimeframe(seconds: seconds))
        for i in 0..<candles.count {
            for closed in aggregator.feed(candles[i]) { out.append(closed) }
        }
        if let last = aggregator.forming { out.append(last) }
        return out
    }

    /// The bar size: the smallest step between consecutive candles (gaps only make steps longer).
    static func barSeconds(_ candles: CandleSeries) -> Int64 {
        var best = Int64.max
        for i in stride(from: 1, to: candles.count, by: 1) { best = Swift.min(best, candles.time[i] - candles.time[i - 1]) }
        return best == .max ? 0 : best
    }

    static func label(seconds: Int64) -> String {
        switch seconds {
        case 0: return "?"
        case let s where s % 604_800 == 0: return "\(s / 604_800)W"
        case let s where s % 86_400 == 0: return "\(s / 86_400)D"
        case let s where s % 3600 == 0: return "\(s / 3600)h"
        case let s where s % 60 == 0: return "\(s / 60)m"
        default: return "\(seconds)s"
        }
    }

    public static func decimals(_ candles: CandleSeries) -> Int {
        var result = 0
        for i in 0..<Swift.min(candles.count, 500) {
            for value in [candles.open[i], candles.high[i], candles.low[i], candles.close[i]] {
                var d = result
                while d < 8 {
                    let scaled = value * pow(10, Double(d))
                    if Swift.abs(scaled - scaled.rounded()) <= 1e-6 * Swift.max(1, Swift.abs(scaled) * 1e-9) { break }
                    d += 1
                }
                result = Swift.max(result, d)
            }
        }
        return result
    }

    static func priceText(_ value: Double, _ decimals: Int) -> String {
        value.isFinite ? String(format: "%.\(decimals)f", value) : "-"
    }

    static func timeText(_ time: Int64) -> String { CivilTime.minuteText(time) }

    static func durationText(_ seconds: Int64) -> String {
        let days = seconds / 86_400, hours = seconds % 86_400 / 3600, minutes = seconds % 3600 / 60
        if days > 0 { return "\(days)d \(hours)h" }
        if hours > 0 { return "\(hours)h \(minutes)m" }
        return "\(minutes)m"
    }

    // MARK: Rendering

    /// Plain text for a terminal; ends with a newline. Lists the ten nearest zones (the JSON has all).
    public func text(maxZones: Int = 10) -> String {
        guard candles > 0 else { return "no candles\n" }
        let p = { (v: Double) in Self.priceText(v, priceDecimals) }
        var out = "\(candles) candles of \(timeFrame), \(Self.timeText(firstTime)) to \(Self.timeText(lastTime)) UTC; "
            + "last close \(p(lastClose)); swing length \(swingLength)\n\n"
        out += "Bias\n"
        let width = biases.map(\.timeFrame.count).max() ?? 2
        for b in biases {
            out += "  " + b.timeFrame.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                + b.bias.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0) + "  " + b.reason + "\n"
        }
        out += "\nLast structure break (\(timeFrame)): "
        if let s = lastBreak {
            out += "\(s.direction == 1 ? "bullish" : "bearish") \(s.kind) at \(p(s.level)), "
                + "broken \(Self.timeText(s.brokenTime)) (\(s.candlesAgo) candles ago)\n"
        } else {
            out += "none\n"
        }
        let blocks = zones.filter { $0.kind == .orderBlock }.count
        out += "\nActive zones (\(timeFrame), nearest first): \(blocks) order blocks, "
            + "\(zones.count - blocks) fair value gaps unmitigated\n"
        if !zones.isEmpty {
            let rows = zones.prefix(maxZones).map { z -> [String] in
                [z.kind.rawValue, z.direction == 1 ? "bullish" : "bearish", p(z.top), p(z.bottom),
                 Self.timeText(z.time), "\(z.ageCandles) (\(Self.durationText(lastTime - z.time)))",
                 z.distance == 0 ? "inside" : p(z.distance)]
            }
            out += Self.table(header: ["kind", "direction", "top", "bottom", "formed", "age (candles)", "distance"],
                              rows: rows)
            if zones.count > maxZones { out += "  … and \(zones.count - maxZones) more\n" }
        }
        out += "\nLiquidity (unswept pools)\n"
        for (label, pool) in [("above", liquidityAbove), ("below", liquidityBelow)] {
            out += "  \(label): "
            if let pool {
                out += "\(p(pool.level)), \(pool.swings) swing \(pool.direction == 1 ? "highs" : "lows") from "
                    + "\(Self.timeText(pool.firstTime)) to \(Self.timeText(pool.lastTime))\n"
            } else {
                out += "none\n"
            }
        }
        return out
    }

    static func table(header: [String], rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows { for (c, cell) in row.enumerated() { widths[c] = Swift.max(widths[c], cell.count) } }
        func line(_ cells: [String]) -> String {
            "  " + cells.enumerated().map { c, cell in cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) + "\n"
        }
        return ([line(header)] + rows.map(line)).joined()
    }

    /// JSON object with every field (times as ISO 8601 UTC strings, prices as round-trip numbers); ends with a
    /// newline.
    public func json() -> String {
        func time(_ t: Int64) -> String { JSONString.quoted(Self.timeText(t).replacingOccurrences(of: " ", with: "T") + ":00Z") }
        func structure(_ s: StructureBreak?) -> String {
            guard let s else { return "null" }
            return "{\"kind\":\(JSONString.quoted(s.kind)),\"direction\":\(s.direction),\"level\":\(JSONString.number(s.level)),"
                + "\"swingTime\":\(time(s.swingTime)),\"brokenTime\":\(time(s.brokenTime)),\"candlesAgo\":\(s.candlesAgo)}"
        }
        func pool(_ p: LiquidityPool?) -> String {
            guard let p else { return "null" }
            return "{\"direction\":\(p.direction),\"level\":\(JSONString.number(p.level)),\"swings\":\(p.swings),"
                + "\"firstTime\":\(time(p.firstTime)),\"lastTime\":\(time(p.lastTime))}"
        }
        var out = "{\"candles\":\(candles),\"timeFrame\":\(JSONString.quoted(timeFrame)),\"swingLength\":\(swingLength),"
        out += "\"firstTime\":\(candles > 0 ? time(firstTime) : "null"),\"lastTime\":\(candles > 0 ? time(lastTime) : "null"),"
        out += "\"lastClose\":\(JSONString.number(lastClose)),\n\"biases\":["
        out += biases.map { b in
            "\n{\"timeFrame\":\(JSONString.quoted(b.timeFrame)),\"candles\":\(b.candles),\"swingLength\":\(b.swingLength),"
                + "\"bias\":\(JSONString.quoted(b.bias.rawValue)),\"reason\":\(JSONString.quoted(b.reason)),"
                + "\"lastBreak\":\(structure(b.lastBreak))}"
        }.joined(separator: ",")
        out += "],\n\"lastBreak\":\(structure(lastBreak)),\n\"zones\":["
        out += zones.map { z in
            "\n{\"kind\":\(JSONString.quoted(z.kind == .orderBlock ? "order_block" : "fair_value_gap")),"
                + "\"direction\":\(z.direction),\"top\":\(JSONString.number(z.top)),\"bottom\":\(JSONString.number(z.bottom)),"
                + "\"time\":\(time(z.time)),\"ageCandles\":\(z.ageCandles),\"distance\":\(JSONString.number(z.distance))}"
        }.joined(separator: ",")
        out += "],\n\"liquidityAbove\":\(pool(liquidityAbove)),\"liquidityBelow\":\(pool(liquidityBelow))}\n"
        return out
    }
}
