import Foundation  // tanh, String(format:)

/// What one candle produced for a tenant.
public struct EvaluationStep: Sendable, Hashable {
    public var signals: [Signal] = []
    /// Outcomes of earlier signals that this candle decided.
    public var outcomes: [SignalOutcome] = []
}

/// The per-tenant half of the signal layer: the tenant's settings and ensemble state, applied to the shared
/// snapshots one candle at a time.
///
/// On each snapshot, in this order: (1) this candle decides outcomes of earlier setups, which update the
/// members' accuracy (signals only) and the learned member's samples (every setup, signalled or not, so it
/// learns from more than what it let through); (2) each retest candidate becomes a setup if its reward:risk is
/// enough; (3) the members vote, gated by regime and weighted by settings × adaptive factor; (4) a setup whose
/// weighted vote in its own direction reaches `minConfidence` is a signal, unless killzones suppress it.
/// The state is `Codable`: a decoded evaluator continues exactly as the original.
public struct TenantEvaluator: Sendable, Codable {
    public let settings: StrategySettings
    public let killzones: KillzoneSettings
    public let timeframe: SignalTimeframe
    public private(set) var ensemble = EnsembleState()
    public private(set) var lastExternal: ExternalAlert?
    private var pending: [Pending] = []
    private let calendar: KillzoneCalendar

    /// An external alert counts for this many candles after it arrives.
    public static let externalLifetimeCandles: Int64 = 4

    struct Pending: Sendable, Codable {
        var id: String
        var labeler: OutcomeLabeler
        var signalTime: Int64
        var features: [Double]
        /// Votes when it was a signal; nil for a setup the tenant did not get (learning only).
        var votes: [MemberVote]?
    }

    enum CodingKeys: String, CodingKey {
        case settings, killzones, timeframe, ensemble, lastExternal = "last_external", pending
    }

    public init(settings: StrategySettings, killzones: KillzoneSettings, timeframe: SignalTimeframe) throws(SMCParameterError) {
        if let problem = settings.problems().first {
            throw SMCParameterError(code: "invalid_strategy", message: "\(problem.field) \(problem.message)")
        }
        self.settings = settings
        self.killzones = killzones
        self.timeframe = timeframe
        calendar = try KillzoneCalendar(killzones.zones)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        settings = try c.decode(StrategySettings.self, forKey: .settings)
        killzones = try c.decode(KillzoneSettings.self, forKey: .killzones)
        timeframe = try c.decode(SignalTimeframe.self, forKey: .timeframe)
        ensemble = try c.decode(EnsembleState.self, forKey: .ensemble)
        lastExternal = try c.decodeIfPresent(ExternalAlert.self, forKey: .lastExternal)
        pending = try c.decode([Pending].self, forKey: .pending)
        calendar = try KillzoneCalendar(killzones.zones)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(settings, forKey: .settings)
        try c.encode(killzones, forKey: .killzones)
        try c.encode(timeframe, forKey: .timeframe)
        try c.encode(ensemble, forKey: .ensemble)
        try c.encodeIfPresent(lastExternal, forKey: .lastExternal)
        try c.encode(pending, forKey: .pending)
    }

    /// Setups still waiting for their outcome.
    public var openSetups: Int { pending.count }

    /// Takes an external alert for this symbol; it votes on setups in the next few candles.
    public mutating func receive(_ alert: ExternalAlert) {
        if lastExternal.map({ alert.time >= $0.time }) ?? true {
            lastExternal = alert
            revision &+= 1
        }
    }

    /// Counts the changes to this evaluator's state (not persisted): a caller that stores the state can skip
    /// writing it when the revision did not move — most candles change nothing for most tenants.
    public private(set) var revision = 0

    /// The same evaluator under new settings: the ensemble's learning (accuracies, samples, model) is kept; setups
    /// awaiting their outcome are kept only when `keepOpenSetups` (they belong to the analyzer that made them, so a
    /// change of detector parameters must drop them).
    public func reconfigured(settings: StrategySettings, killzones: KillzoneSettings, keepOpenSetups: Bool) throws(SMCParameterError)
        -> TenantEvaluator
    {
        var next = try TenantEvaluator(settings: settings, killzones: killzones, timeframe: timeframe)
        next.ensemble = ensemble
        next.lastExternal = lastExternal
        if keepOpenSetups { next.pending = pending }
        return next
    }

    public mutating func evaluate(_ snapshot: MarketSnapshot) -> EvaluationStep {
        var step = EvaluationStep()
        let candle = snapshot.candle

        // 1. Outcomes decided by this candle.
        var changed = false
        defer { if changed { revision &+= 1 } }
        pending.removeAll { p in
            guard let outcome = p.labeler.label(candle, index: snapshot.index, signalID: p.id) else { return false }
            if outcome.kind != .expired {
                ensemble.learn(LabelledSample(time: p.signalTime, resolvedAt: candle.time, features: p.features,
                                              label: outcome.kind == .target))
            }
            if let votes = p.votes {
                step.outcomes.append(outcome)
                if settings.ensemble.adaptive {
                    ensemble.record(votes: votes, direction: p.labeler.setup.direction, r: outcome.r,
                                    decay: settings.ensemble.decay)
                }
            }
            changed = true
            return true
        }

        // 2–4. New setups.
        guard !snapshot.candidates.isEmpty else { return step }
        let biases = [Bias(timeframe: timeframe, components: snapshot.base.components, settings: settings)]
            + snapshot.higher.map { Bias(timeframe: $0.timeframe, components: $0.components, settings: settings) }
        let killzone = calendar.first(at: candle.time)
        for candidate in snapshot.candidates {
            guard let setup = TradeSetup(candidate: candidate, snapshot: snapshot, settings: settings) else { continue }
            let d = setup.direction
            let confluence = settings.confluence(biases.dropFirst(), direction: d)
            let features = SetupFeatures.compute(setup, candidate: candidate, snapshot: snapshot,
                                                 baseBias: biases[0].score, confluence: confluence)
            let votes = vote(setup: setup, snapshot: snapshot, baseBias: biases[0].score, confluence: confluence,
                             features: features)
            let totalWeight = votes.reduce(0) { $0 + $1.weight }
            let support = totalWeight > 0 ? votes.reduce(0) { $0 + $1.weight * $1.vote } / totalWeight : 0
            let confidence = Swift.max(0, Swift.min(100, 100 * support * Double(d)))
            let id = "\(setup.zone.id)@\(candle.time)"
            let passes = confidence >= settings.minConfidence && confidence > 0
                && (killzone != nil || killzones.mode == .tag)
            if passes {
                step.signals.append(Signal(
                    id: id, timeframe: timeframe.label, candleTime: candle.time,
                    closeTime: candle.time + timeframe.seconds, direction: d, confidence: confidence,
                    level: settings.confidenceLevels.level(confidence), setup: setup, votes: votes,
                    regime: snapshot.base.regime, killzone: killzone, biases: biases, confluence: confluence))
            }
            changed = true
            pending.append(Pending(
                id: id, labeler: OutcomeLabeler(setup: setup, signalIndex: snapshot.index,
                                                expiryCandles: settings.expiryCandles),
                signalTime: candle.time, features: features, votes: passes ? votes : nil))
        }
        return step
    }

    func vote(setup: TradeSetup, snapshot: MarketSnapshot, baseBias: Double, confluence: Double,
              features: [Double]) -> [MemberVote]
    {
        let d = Double(setup.direction)
        let regime = snapshot.base.regime
        var votes: [MemberVote] = []
        for member in EnsembleMember.allCases {
            let configured = settings.ensemble.members[member]
            let gate = RegimeGates.gate(member, regime)
            var vote = 0.0
            var reason: String
            var abstained = false
            switch member {
            case .smc:
                // A rejection from the zone is evidence for the setup's side (0.25); the base bias and the higher
                // timeframes' confluence in that direction add to it or take it away.
                let aligned = baseBias / 100 * d
                vote = Swift.min(Swift.max(0.25 + 0.35 * aligned + 0.4 * confluence, -1), 1) * d
                reason = "\(setup.zone.kind.rawValue) retest, bias \(fmt(baseBias)), confluence \(fmt(confluence)), R:R \(fmt(setup.rewardRisk))"
            case .technical:
                if let (v, why) = TechnicalModel.vote(snapshot.base.indicators) {
                    vote = v
                    reason = why
                } else {
                    abstained = true
                    reason = "indicators warming up"
                }
            case .learned:
                if let model = ensemble.model {
                    // The model estimates P(target before stop); what matters is whether that pays at this
                    // setup's reward:risk: expected R = p·RR − (1 − p), squashed to −1…1.
                    let p = model.probability(features)
                    let expected = p * setup.rewardRisk - (1 - p)
                    vote = tanh(expected) * d
                    reason = "P(target first) \(fmt(p)) at R:R \(fmt(setup.rewardRisk)): expected \(fmt(expected)) R "
                        + "(model of \(model.trainedSamples) labelled setups)"
                } else {
                    abstained = true
                    reason = "not trained yet (\(ensemble.samples.count) of \(EnsembleState.minimumSamples) labelled setups)"
                }
            case .external:
                if let alert = lastExternal, alert.time <= snapshot.candle.time + timeframe.seconds,
                   alert.time > snapshot.candle.time - Self.externalLifetimeCandles * timeframe.seconds
                {
                    vote = Double(alert.direction) * alert.strength
                    reason = "external alert \(alert.direction > 0 ? "buy" : "sell") at \(alert.time)"
                        + (alert.text.isEmpty ? "" : ": \(alert.text.prefix(80))")
                } else {
                    abstained = true
                    reason = "no recent external alert"
                }
            }
            if !configured.enabled {
                abstained = true
                reason = "disabled"
                vote = 0
            }
            let factor = settings.ensemble.adaptive ? ensemble.factor(member) : 1
            let weight = abstained ? 0 : configured.weight * factor * gate
            votes.append(MemberVote(member: member, vote: vote, weight: weight, gate: gate, abstained: abstained,
                                    reason: reason))
        }
        return votes
    }
}

func fmt(_ x: Double) -> String {
    String(format: "%.2f", x)
}
