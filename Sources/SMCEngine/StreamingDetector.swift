/// A detector that takes one closed candle at a time and returns the events that became certain with it.
///
/// Streaming detectors are value-type state machines (DESIGN §8): `feed` is the only transition, an emitted event
/// is never changed or withdrawn, and replaying a history candle by candle yields the part of the batch result
/// that can be known without later candles. Per-candle cost does not grow with history length.
public protocol StreamingDetector: Sendable {
    associatedtype Event: Sendable, Hashable
    /// Number of candles fed so far (the index the next candle will get).
    var candleCount: Int { get }
    mutating func feed(_ candle: Candle) -> [Event]
}

extension StreamingDetector {
    /// Feeds every candle of a series, returning all events in order.
    public mutating func feed(_ candles: CandleSeries) -> [Event] {
        var events: [Event] = []
        for i in 0..<candles.count { events += feed(candles[i]) }
        return events
    }
}
