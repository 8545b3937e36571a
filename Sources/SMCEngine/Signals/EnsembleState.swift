/// Per-tenant ensemble state: the members' running accuracy and the learned member's data and model. A plain
/// value, `Codable`, that the server stores between candles.
public struct EnsembleState: Sendable, Hashable, Codable {
    /// Exponentially decayed share of outcomes each member called right (starts at 0.5, a coin).
    public var accuracy: [EnsembleMember: Double] = [:]
    public var outcomesSeen: [EnsembleMember: Int] = [:]
    /// Labelled setups (target or stop) for the learned member, oldest first, at most `sampleLimit`.
    public var samples: [LabelledSample] = []
    public var model: LogisticModel?
    /// `samples.count` plus the samples dropped so far, when `model` was trained.
    public var trainedAtSample = 0
    public var totalSamples = 0

    public static let sampleLimit = 3000
    /// The learned member trains from this many labelled setups, and retrains after every `retrainEvery` more.
    public static let minimumSamples = 40
    public static let retrainEvery = 20

    public init() {}

    /// The adaptive factor of a member's weight: accuracy / 0.5, within 0.2…2 (1 for a coin).
    public func factor(_ member: EnsembleMember) -> Double {
        Swift.min(Swift.max((accuracy[member] ?? 0.5) / 0.5, 0.2), 2)
    }

    /// Scores the members that voted on a signal against its outcome: a member was right when its vote's sign is
    /// the direction that paid (the setup's when the result was positive, the other one otherwise).
    public mutating func record(votes: [MemberVote], direction: Int, r: Double, decay: Double) {
        let paid = r > 0 ? direction : -direction
        for vote in votes where !vote.abstained && vote.vote != 0 {
            let right: Double = (vote.vote > 0 ? 1 : -1) == paid ? 1 : 0
            accuracy[vote.member] = decay * (accuracy[vote.member] ?? 0.5) + (1 - decay) * right
            outcomesSeen[vote.member, default: 0] += 1
        }
    }

    /// Adds a labelled setup and retrains the learned member when enough new ones have arrived.
    public mutating func learn(_ sample: LabelledSample) {
        samples.append(sample)
        totalSamples += 1
        if samples.count > Self.sampleLimit { samples.removeFirst(samples.count - Self.sampleLimit) }
        guard samples.count >= Self.minimumSamples, totalSamples - trainedAtSample >= Self.retrainEvery || model == nil
        else { return }
        if let trained = LogisticModel.train(samples, featureNames: SetupFeatures.names) {
            model = trained
            trainedAtSample = totalSamples
        }
    }
}
