/// Breaks of structure and changes of character, one row per candle (reference `smc.bos_choch`).
///
/// The row of the swing whose level gets broken carries the event.
public struct BreaksOfStructure: Sendable, Hashable, ReferenceTableConvertible {
    /// 1 bullish BOS, -1 bearish BOS, NaN none.
    public var bos: [Double]
    /// 1 bullish CHoCH, -1 bearish CHoCH, NaN none.
    public var choch: [Double]
    /// The broken swing level (as a float32, like the reference), NaN where there is no event.
    public var level: [Double]
    /// The candle that broke the level. Can be set on a row whose BOS/CHoCH was removed (see `SMC.breaksOfStructure`).
    public var brokenIndex: [Double]

    public var count: Int { bos.count }

    public var referenceTable: ReferenceTable {
        ReferenceTable(columns: [
            .init(name: "BOS", kind: .float64, values: bos),
            .init(name: "CHOCH", kind: .float64, values: choch),
            .init(name: "Level", kind: .float64, values: level),
            .init(name: "BrokenIndex", kind: .float64, values: brokenIndex),
        ])
    }
}

extension SMC {
    /// BOS and CHoCH from four consecutive swings `s4, s3, s2, s1` (oldest first), marked on `s3`:
    /// - bullish BOS: low, high, low, high with `s4 < s2 < s3 < s1`; bearish BOS mirrored;
    /// - bullish CHoCH: low, high, low, high with `s1 > s3 > s4 > s2`; bearish CHoCH mirrored.
    ///
    /// The level is `s3`'s; it is broken by the first candle from `s3 + 2` on whose close (or high/low when
    /// `closeBreak` is false) passes it strictly. Events that never break are dropped.
    ///
    /// Reference quirks kept:
    /// - the level is stored as float32 and the break test compares prices with that rounded value;
    /// - when an event breaks at candle `j`, every earlier event that broke at `j` or later is dropped, but its
    ///   `BrokenIndex` stays in the output (a row with only `BrokenIndex` set);
    /// - a level of exactly 0 reads as "no event".
    public static func breaksOfStructure(_ candles: CandleSeries, swings: SwingHighsLows,
                                         closeBreak: Bool = true) -> BreaksOfStructure {
        let n = candles.count
        precondition(swings.count == n, "swings must come from the same candles")
        var bos = [Int8](repeating: 0, count: n)
        var choch = [Int8](repeating: 0, count: n)
        var level = [Double](repeating: 0, count: n)

        // The last four swings, newest last.
        var kinds: (Double, Double, Double, Double) = (0, 0, 0, 0)
        var levels: (Double, Double, Double, Double) = (0, 0, 0, 0)
        var positions: (Int, Int, Int, Int) = (0, 0, 0, 0)
        var seen = 0
        for i in 0..<n {
            let kind = swings.highLow[i]
            if kind.isNaN { continue }
            kinds = (kinds.1, kinds.2, kinds.3, kind)
            levels = (levels.1, levels.2, levels.3, swings.level[i])
            positions = (positions.1, positions.2, positions.3, i)
            seen += 1
            guard seen >= 4 else { continue }
            let (l4, l3, l2, l1) = levels
            let target = positions.1
            let upPattern = kinds == (-1, 1, -1, 1)
            let downPattern = kinds == (1, -1, 1, -1)
            var b: Int8 = 0
            var c: Int8 = 0
            if upPattern && l4 < l2 && l2 < l3 && l3 < l1 { b = 1 }
            if downPattern && l4 > l2 && l2 > l3 && l3 > l1 { b = -1 }
            if upPattern && l1 > l3 && l3 > l4 && l4 > l2 { c = 1 }
            if downPattern && l1 < l3 && l3 < l4 && l4 < l2 { c = -1 }
            bos[target] = b
            choch[target] = c
            level[target] = (b != 0 || c != 0) ? l3.float32Rounded : 0
        }

        // Where each event's level breaks.
        var upRows: [Int] = [], upStarts: [Int] = [], upLevels: [Double] = []
        var downRows: [Int] = [], downStarts: [Int] = [], downLevels: [Double] = []
        for i in 0..<n where bos[i] != 0 || choch[i] != 0 {
            if bos[i] == 1 || choch[i] == 1 {
                upRows.append(i); upStarts.append(i + 2); upLevels.append(level[i])
            } else {
                downRows.append(i); downStarts.append(i + 2); downLevels.append(level[i])
            }
        }
        var broken = [Int](repeating: 0, count: n)
        let upHits = FirstCrossing.resolve(values: closeBreak ? candles.close : candles.high, direction: .above,
                                           starts: upStarts, thresholds: upLevels)
        for (k, row) in upRows.enumerated() { broken[row] = upHits[k] ?? 0 }
        let downHits = FirstCrossing.resolve(values: closeBreak ? candles.close : candles.low, direction: .below,
                                             starts: downStarts, thresholds: downLevels)
        for (k, row) in downRows.enumerated() { broken[row] = downHits[k] ?? 0 }

        // An event broken at j drops every earlier live event broken at j or later. The live broken events form
        // a stack whose break indices increase towards the top, so the dropped ones are always on top.
        var live: [Int] = []
        for i in 0..<n where (bos[i] != 0 || choch[i] != 0) {
            let j = broken[i]
            guard j != 0 else { continue }
            while let k = live.last, broken[k] >= j {
                bos[k] = 0; choch[k] = 0; level[k] = 0
                live.removeLast()
            }
            live.append(i)
        }

        var bosOut = [Double](repeating: .nan, count: n)
        var chochOut = [Double](repeating: .nan, count: n)
        var levelOut = [Double](repeating: .nan, count: n)
        var brokenOut = [Double](repeating: .nan, count: n)
        for i in 0..<n {
            let unbroken = broken[i] == 0
            if !unbroken { brokenOut[i] = Double(broken[i]) }
            if unbroken { continue }
            if bos[i] != 0 { bosOut[i] = Double(bos[i]) }
            if choch[i] != 0 { chochOut[i] = Double(choch[i]) }
            if level[i] != 0 && (bos[i] != 0 || choch[i] != 0) { levelOut[i] = level[i] }
        }
        return BreaksOfStructure(bos: bosOut, choch: chochOut, level: levelOut, brokenIndex: brokenOut)
    }
}
