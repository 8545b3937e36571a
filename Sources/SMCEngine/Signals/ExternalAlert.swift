/// An alert a tenant sent from outside (TradingView), already parsed.
public struct ExternalAlert: Sendable, Hashable, Codable {
    public var time: Int64
    /// 1 buy / −1 sell.
    public var direction: Int
    /// 0…1; 1 when the alert did not say.
    public var strength: Double
    public var text: String

    public init(time: Int64, direction: Int, strength: Double = 1, text: String = "") {
        self.time = time
        self.direction = direction
        self.strength = Swift.min(Swift.max(strength, 0), 1)
        self.text = text
    }
}
