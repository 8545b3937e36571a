/// One member's say on a setup.
public struct MemberVote: Sendable, Hashable, Codable {
    public var member: EnsembleMember
    /// −1…1: positive favours a long, negative a short; 0 with `abstained` when the member has nothing to say.
    public var vote: Double
    /// The weight the vote carried: tenant weight × adaptive factor × regime gate (0 when disabled or abstaining).
    public var weight: Double
    /// The regime gate applied (0…1).
    public var gate: Double
    public var abstained: Bool
    /// Why the member voted so, for people reading the signal.
    public var reason: String
}
