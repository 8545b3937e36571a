/// Order blocks, one row per candle (reference `smc.ob`).
public struct OrderBlocks: Sendable, Hashable, ReferenceTableConvertible {
    /// 1 bullish, -1 bearish, NaN none.
    public var direction: [Double]
    public var top: [Double]
    public var bottom: [Double]
    /// Volume of the breaking candle and the two before it.
    public var volume: [Double]
    /// Candle that mitigated the block; 0 while unmitigated (the reference's convention).
    public var mitigatedIndex: [Double]
    /// min(high-side volume, low-side volume) / max(…) × 100; 100 when both are 0.
    public var percentage: [Double]

    public var count: Int { direction.count }

    public var referenceTable: ReferenceTable {
        ReferenceTable(columns: [
            .init(name: "OB", kind: .float64, values: direction),
            .init(name: "Top", kind: .float64, values: top),
            .init(name: "Bottom", kind: .float64, values: bottom),
            .init(name: "OBVolume", kind: .float64, values: volume),
            .init(name: "MitigatedIndex", kind: .float64, values: mitigatedIndex),
            .init(name: "Percentage", kind: .float64, values: percentage),
        ])
    }
}

extension SMC {
    /// Order blocks.
    ///
    /// Bullish: when a close first rises above the latest swing high before it, the candle with the lowest low
    /// between that swing and the breaking candle (the last one on ties) becomes the block. Once a low (or, with
    /// `closeMitigation`, the lower of open/close) falls below the block's bottom it is mitigated and turns into a
    /// breaker; a breaker whose top is later exceeded by a high is deleted. Bearish blocks mirror this.
    ///
    /// Reference quirks kept:
    /// - prices are kept as float32 and compared as such;
    /// - when the breaking candle directly follows the swing, the previous candle becomes the block with top and
    ///   bottom swapped (top = its low, bottom = its high);
    /// - bullish mitigation is reported one candle early (`MitigatedIndex` = mitigating candle − 1), bearish
    ///   mitigation on the mitigating candle;
    /// - all bullish blocks are computed over the whole series before the bearish ones, in shared per-candle
    ///   state: a bearish block placed on a candle that held a bullish block inherits its breaker flag and its
    ///   mitigation index, and a deleted block leaves its breaker flag behind.
    public static func orderBlocks(_ candles: CandleSeries, swings: SwingHighsLows,
                                   closeMitigation: Bool = false) -> OrderBlocks {
        let n = candles.count
        precondition(swings.count == n, "swings must come from the same candles")
        return orderBlocks(candles, swings: swings, closeMitigation: closeMitigation, passes: [true, false])
    }

    /// The reference's passes in order (`true` bullish, `false` bearish) over one shared state. A single pass
    /// gives one direction's blocks without the cross-pass quirk, which is what `OrderBlockStream` reproduces.
    static func orderBlocks(_ candles: CandleSeries, swings: SwingHighsLows, closeMitigation: Bool,
                            passes: [Bool]) -> OrderBlocks {
        let n = candles.count
        precondition(swings.count == n, "swings must come from the same candles")
        var state = OrderBlockState(count: n)
        candles.open.withUnsafeBufferPointer { open in
        candles.high.withUnsafeBufferPointer { high in
        candles.low.withUnsafeBufferPointer { low in
        candles.close.withUnsafeBufferPointer { close in
        candles.volume.withUnsafeBufferPointer { volume in
            let prices = Prices(open: open, high: high, low: low, close: close, volume: volume)
            for bullish in passes {
                state.run(bullish: bullish, prices: prices, swings: swings.highLow, closeMitigation: closeMitigation)
            }
        }}}}}
        return state.result()
    }
}

private struct Prices {
    let open, high, low, close, volume: UnsafeBufferPointer<Double>
}

/// The reference's per-candle arrays, shared by the bullish and the bearish pass.
private struct OrderBlockState {
    var kind: [Int8]
    var top: [Double]
    var bottom: [Double]
    var volume: [Double]
    var percentage: [Double]
    var mitigated: [Int]
    var breaker: [Bool]
    var crossed: [Bool]

    init(count n: Int) {
        kind = [Int8](repeating: 0, count: n)
        top = [Double](repeating: 0, count: n)
        bottom = [Double](repeating: 0, count: n)
        volume = [Double](repeating: 0, count: n)
        percentage = [Double](repeating: 0, count: n)
        mitigated = [Int](repeating: 0, count: n)
        breaker = [Bool](repeating: false, count: n)
        crossed = [Bool](repeating: false, count: n)
    }

    /// One pass over all candles for one direction. A bearish pass is the bullish one with highs and lows
    /// exchanged and every comparison mirrored; it is written out rather than done by negating prices so that
    /// the float32 rounding stays exactly the reference's.
    mutating func run(bullish: Bool, prices p: Prices, swings: [Double], closeMitigation: Bool) {
        let n = p.high.count
        let swingKind: Double = bullish ? 1 : -1
        // Blocks waiting for mitigation, keyed so that the next to fire is on top:
        // bullish fire when trigger < bottom (largest bottom first); bearish when trigger > top (smallest top first).
        var waiting = IndexHeap(largestFirst: bullish)
        // Breakers waiting for deletion: bullish when high > top (smallest top first); bearish when
        // low < bottom (largest bottom first).
        var breakers = IndexHeap(largestFirst: !bullish)
        var lastSwing = -1
        var nextSwingScan = 0

        for i in 0..<n {
            // 1. Breakers that are invalidated by this candle are deleted.
            if bullish {
                let h = p.high[i]
                while let key = breakers.topKey, key < h {
                    reset(breakers.pop()!)
                }
            } else {
                let l = p.low[i]
                while let key = breakers.topKey, key > l {
                    reset(breakers.pop()!)
                }
            }
            // 2. Blocks mitigated by this candle become breakers (checked for deletion from the next candle on).
            if bullish {
                let trigger = closeMitigation ? Swift.min(p.open[i], p.close[i]) : p.low[i]
                while let key = waiting.topKey, key > trigger {
                    let idx = waiting.pop()!
                    breaker[idx] = true
                    mitigated[idx] = i - 1
                    breakers.push(key: top[idx], index: idx)
                }
            } else {
                let trigger = closeMitigation ? Swift.max(p.open[i], p.close[i]) : p.high[i]
                while let key = waiting.topKey, key < trigger {
                    let idx = waiting.pop()!
                    breaker[idx] = true
                    mitigated[idx] = i
                    breakers.push(key: bottom[idx], index: idx)
                }
            }
            // 3. The latest swing strictly before this candle.
            while nextSwingScan < i {
                if swings[nextSwingScan] == swingKind { lastSwing = nextSwingScan }
                nextSwingScan += 1
            }
            guard lastSwing >= 0, !crossed[lastSwing] else { continue }
            let breaks = bullish ? p.close[i] > p.high[lastSwing] : p.close[i] < p.low[lastSwing]
            guard breaks else { continue }
            crossed[lastSwing] = true

            var blockIndex = i - 1
            var blockTop: Double
            var blockBottom: Double
            if i - lastSwing > 1 {
                // Most extreme candle between the swing and the break, the last one on ties.
                blockIndex = lastSwing + 1
                if bullish {
                    for k in (lastSwing + 1)..<i where p.low[k] <= p.low[blockIndex] { blockIndex = k }
                } else {
                    for k in (lastSwing + 1)..<i where p.high[k] >= p.high[blockIndex] { blockIndex = k }
                }
                blockTop = p.high[blockIndex]
                blockBottom = p.low[blockIndex]
            } else if bullish {
                // Reference quirk: top and bottom swapped for the bullish default block.
                blockTop = p.low[blockIndex]
                blockBottom = p.high[blockIndex]
            } else {
                blockTop = p.high[blockIndex]
                blockBottom = p.low[blockIndex]
            }
            let current = p.volume[i]
            let previous1 = p.volume[i - 1]
            let previous2 = i >= 2 ? p.volume[i - 2] : 0
            let lowSide = Float(bullish ? previous2 : current + previous1)
            let highSide = Float(bullish ? current + previous1 : previous2)
            let largest = Swift.max(highSide, lowSide)

            kind[blockIndex] = bullish ? 1 : -1
            top[blockIndex] = blockTop.float32Rounded
            bottom[blockIndex] = blockBottom.float32Rounded
            volume[blockIndex] = (current + previous1 + previous2).float32Rounded
            percentage[blockIndex] = largest != 0 ? Double(Swift.min(highSide, lowSide) / largest * 100) : 100
            if breaker[blockIndex] {
                breakers.push(key: bullish ? top[blockIndex] : bottom[blockIndex], index: blockIndex)
            } else {
                waiting.push(key: bullish ? bottom[blockIndex] : top[blockIndex], index: blockIndex)
            }
        }
    }

    mutating func reset(_ idx: Int) {
        kind[idx] = 0
        top[idx] = 0
        bottom[idx] = 0
        volume[idx] = 0
        percentage[idx] = 0
        mitigated[idx] = 0
    }

    func result() -> OrderBlocks {
        let n = kind.count
        var direction = [Double](repeating: .nan, count: n)
        var topOut = direction, bottomOut = direction, volumeOut = direction
        var mitigatedOut = direction, percentageOut = direction
        for i in 0..<n where kind[i] != 0 {
            direction[i] = Double(kind[i])
            topOut[i] = top[i]
            bottomOut[i] = bottom[i]
            volumeOut[i] = volume[i]
            mitigatedOut[i] = Double(mitigated[i])
            percentageOut[i] = percentage[i]
        }
        return OrderBlocks(direction: direction, top: topOut, bottom: bottomOut, volume: volumeOut,
                           mitigatedIndex: mitigatedOut, percentage: percentageOut)
    }
}
