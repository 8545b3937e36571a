/// A swing that can no longer change.
public struct SwingEvent: Sendable, Hashable, Codable {
    /// The swing candle.
    public var index: Int
    /// The candle at which the swing became certain.
    public var confirmedAt: Int
    /// 1 swing high, -1 swing low.
    public var kind: Int
    public var level: Double
}
