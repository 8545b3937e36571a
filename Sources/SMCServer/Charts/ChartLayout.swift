import Foundation

/// Where things go on a chart: the plot area, a price's row and a time's column. Pure (the renderer draws with it,
/// and the tests find the pixel a price maps to with it).
///
/// Candles are spaced evenly (a gap — a weekend — takes no room); a time between two candles falls between their
/// columns. The price range holds every candle, the zone, the entry, the stop and the first target; further lines
/// widen it by at most half again (the ones beyond are drawn as tags at the edge).
struct ChartLayout: Sendable, Hashable {
    struct Rect: Sendable, Hashable {
        var x: Double, y: Double, width: Double, height: Double
        var maxX: Double { x + width }
        var maxY: Double { y + height }
    }

    let plot: Rect
    let minPrice: Double
    let maxPrice: Double
    let times: [Int64]
    let timeframeSeconds: Int64
    /// The width of one candle's column.
    let slot: Double

    static let titleHeight = 58.0
    static let axisWidth = 92.0
    static let timeAxisHeight = 30.0
    static let margin = 10.0

    init(_ d: ChartDescription) {
        let width = Double(max(d.width, 200)), height = Double(max(d.height, 150))
        plot = Rect(x: Self.margin, y: Self.titleHeight, width: width - Self.margin - Self.axisWidth,
                    height: height - Self.titleHeight - Self.timeAxisHeight)
        times = d.candles.map(\.time)
        timeframeSeconds = max(d.timeframeSeconds, 1)
        slot = plot.width / Double(max(d.candles.count, 1))

        var low = d.candles.map(\.low).min() ?? .infinity
        var high = d.candles.map(\.high).max() ?? -.infinity
        func include(_ p: Double) {
            guard p.isFinite else { return }
            low = min(low, p)
            high = max(high, p)
        }
        if let zone = d.zone { include(zone.top); include(zone.bottom) }
        for line in d.lines where line.kind == .entry || line.kind == .stop { include(line.price) }
        if let first = d.lines.first(where: { $0.kind == .target }) { include(first.price) }
        if let outcome = d.outcome { include(outcome.price) }
        if !low.isFinite || !high.isFinite { low = 0; high = 1 }
        let core = max(high - low, abs(high) * 1e-6, 1e-9)
        for line in d.lines where line.price.isFinite {
            if line.price > high, line.price <= high + core / 2 { high = line.price }
            if line.price < low, line.price >= low - core / 2 { low = line.price }
        }
        let span = max(high - low, abs(high) * 1e-6, 1e-9)
        minPrice = low - span * 0.06
        maxPrice = high + span * 0.06
    }

    /// The row of a price (may lie outside the plot for a price outside the range).
    func y(_ price: Double) -> Double {
        plot.maxY - (price - minPrice) / (maxPrice - minPrice) * plot.height
    }

    func contains(price: Double) -> Bool { price >= minPrice && price <= maxPrice }

    /// The centre of candle `index`'s column.
    func x(index: Int) -> Double { plot.x + (Double(index) + 0.5) * slot }

    /// The column of a time: a candle's centre, or between two candles in proportion; clamped to the plot's ends.
    func x(_ time: Int64) -> Double {
        guard let first = times.first, let last = times.last else { return plot.x }
        if time <= first { return x(index: 0) - Double(first - time) / Double(timeframeSeconds) * slot }
        if time >= last { return min(x(index: times.count - 1) + Double(time - last) / Double(timeframeSeconds) * slot, plot.maxX) }
        // The last candle opening at or before `time`.
        var lo = 0, hi = times.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if times[mid] <= time { lo = mid } else { hi = mid - 1 }
        }
        let fraction = min(Double(time - times[lo]) / Double(times[lo + 1] - times[lo]), 1)
        return x(index: lo) + fraction * slot
    }

    /// The prices of the horizontal grid lines: a 1–2–5 step giving about six lines.
    var gridPrices: [Double] {
        let raw = (maxPrice - minPrice) / 6
        guard raw > 0, raw.isFinite else { return [] }
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        var out: [Double] = []
        var p = (minPrice / step).rounded(.up) * step
        while p <= maxPrice, out.count < 20 {
            out.append(p)
            p += step
        }
        return out
    }

    /// The candles that get a time label: one per 140 pixels or more (a label is about 90 wide), the first half a
    /// step in from the left edge.
    var timeLabelIndices: [Int] {
        guard !times.isEmpty else { return [] }
        let every = max(1, Int((140 / slot).rounded(.up)))
        return stride(from: every / 2, to: times.count, by: every).map { $0 }
    }
}
