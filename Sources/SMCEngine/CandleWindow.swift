/// Streaming order blocks, liquidity and retracements. All three read "the swings before candle i", which a stream
/// only knows once `SwingStream` has settled them, so they run a cursor that trails the newest candle by the
/// swing confirmation delay and buffer the candles in between.

/// The most recent candles, addressed by their index in the stream.
struct CandleWindow: Sendable, Hashable, Codable {
    private(set) var base = 0
    @JSONSafe private var candles: [Candle] = []

    /// Index the next appended candle gets.
    var end: Int { base + candles.count }

    mutating func append(_ candle: Candle) { candles.append(candle) }

    subscript(index: Int) -> Candle { candles[index - base] }

    /// Forgets candles before `index`, in chunks so that each candle is moved a bounded number of times.
    mutating func discard(before index: Int) {
        let drop = Swift.min(index, end) - base
        guard drop > 0, drop * 2 >= candles.count else { return }
        candles.removeFirst(drop)
        base += drop
    }
}
