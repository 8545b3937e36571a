/// A tenant's strategy: every number the signal layer uses, with the defaults of DESIGN.md §4.
///
/// The JSON form is the REST `strategy` settings document (snake_case keys), plus a few engine fields that the
/// document may leave out (`stop_buffer_atr`, `min_risk_atr`, `expiry_candles`,
/// `zone_max_age`). Decoding fills every missing key
/// with its default and refuses unknown keys, so a typo in a backtest config is an error, not a silent default.
public struct StrategySettings: Sendable, Hashable, Codable {
    /// Swing length of the base timeframe's detectors (the reference's default 50).
    public var swingLength: Int = 50
    public var closeBreak: Bool = true
    public var closeMitigation: Bool = false
    /// Kept for the liquidity detector's display; targets use confirmed swings (see `SetupRules`).
    public var liquidityRangePercent: Double = 0.01
    /// Signals below this confidence (0–100) are not emitted.
    public var minConfidence: Double = 40
    /// Setups whose first target pays less than this multiple of the risk are not signals.
    public var minRewardRisk: Double = 1.5
    public var signalWeights = SignalWeights()
    public var confidenceLevels = ConfidenceLevels()
    /// Weight of each timeframe's bias in multi-timeframe confluence (labels as `SignalTimeframe`).
    public var timeframeWeights: [String: Double] = [
        "1m": 0.5, "5m": 0.6, "15m": 0.8, "30m": 0.9, "1h": 1.0, "4h": 1.25, "1d": 1.5, "1w": 1.75,
    ]
    public var ensemble = EnsembleSettings()
    /// The stop sits this many ATRs beyond the far edge of the entry zone (half an ATR keeps ordinary noise from
    /// taking it out).
    public var stopBufferATR: Double = 0.5
    /// The stop is at least this many ATRs from the entry, however thin the zone (a stop inside one candle's
    /// ordinary range is noise, not invalidation).
    public var minRiskATR: Double = 1.0
    /// A signal whose stop and first target are both untouched after this many candles expires.
    public var expiryCandles: Int = 96
    /// A zone not retested within this many candles of its formation is no longer traded.
    public var zoneMaxAge: Int = 300

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case swingLength = "swing_length", closeBreak = "close_break", closeMitigation = "close_mitigation"
        case liquidityRangePercent = "liquidity_range_percent", minConfidence = "min_confidence"
        case minRewardRisk = "min_reward_risk", signalWeights = "signal_weights", confidenceLevels = "confidence_levels"
        case timeframeWeights = "timeframe_weights", ensemble, stopBufferATR = "stop_buffer_atr", minRiskATR = "min_risk_atr"
        case expiryCandles = "expiry_candles", zoneMaxAge = "zone_max_age"
    }

    public init(from decoder: any Decoder) throws {
        try StrictKeys.check(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var s = StrategySettings()
        s.swingLength = try c.decodeIfPresent(Int.self, forKey: .swingLength) ?? s.swingLength
        s.closeBreak = try c.decodeIfPresent(Bool.self, forKey: .closeBreak) ?? s.closeBreak
        s.closeMitigation = try c.decodeIfPresent(Bool.self, forKey: .closeMitigation) ?? s.closeMitigation
        s.liquidityRangePercent = try c.decodeIfPresent(Double.self, forKey: .liquidityRangePercent) ?? s.liquidityRangePercent
        s.minConfidence = try c.decodeIfPresent(Double.self, forKey: .minConfidence) ?? s.minConfidence
        s.minRewardRisk = try c.decodeIfPresent(Double.self, forKey: .minRewardRisk) ?? s.minRewardRisk
        s.signalWeights = try c.decodeIfPresent(SignalWeights.self, forKey: .signalWeights) ?? s.signalWeights
        s.confidenceLevels = try c.decodeIfPresent(ConfidenceLevels.self, forKey: .confidenceLevels) ?? s.confidenceLevels
        s.timeframeWeights = try c.decodeIfPresent([String: Double].self, forKey: .timeframeWeights) ?? s.timeframeWeights
        s.ensemble = try c.decodeIfPresent(EnsembleSettings.self, forKey: .ensemble) ?? s.ensemble
        s.stopBufferATR = try c.decodeIfPresent(Double.self, forKey: .stopBufferATR) ?? s.stopBufferATR
        s.minRiskATR = try c.decodeIfPresent(Double.self, forKey: .minRiskATR) ?? s.minRiskATR
        s.expiryCandles = try c.decodeIfPresent(Int.self, forKey: .expiryCandles) ?? s.expiryCandles
        s.zoneMaxAge = try c.decodeIfPresent(Int.self, forKey: .zoneMaxAge) ?? s.zoneMaxAge
        self = s
    }

    /// The problems with these settings, as (JSON pointer, message); empty when the engine can use them.
    public func problems() -> [(field: String, message: String)] {
        var out: [(String, String)] = []
        func check(_ ok: Bool, _ field: String, _ message: String) { if !ok { out.append((field, message)) } }
        func range(_ v: Double, _ r: ClosedRange<Double>, _ field: String) {
            check(v.isFinite && r.contains(v), field, "must be between \(r.lowerBound) and \(r.upperBound)")
        }
        check((1...200).contains(swingLength), "/swing_length", "must be between 1 and 200")
        range(liquidityRangePercent, 0.0001...0.2, "/liquidity_range_percent")
        range(minConfidence, 0...100, "/min_confidence")
        range(minRewardRisk, 0.5...20, "/min_reward_risk")
        let w = signalWeights
        for (name, v) in w.named { range(v, 0...1, "/signal_weights/\(name)") }
        let sum = w.named.map(\.1).reduce(0, +)
        check(abs(sum - 1) < 1e-6, "/signal_weights", "must sum to 1 (they sum to \(sum))")
        let l = confidenceLevels
        for (name, v) in [("high", l.high), ("medium", l.medium), ("low", l.low)] { range(v, 0...100, "/confidence_levels/\(name)") }
        check(l.high > l.medium && l.medium > l.low, "/confidence_levels", "must be high > medium > low")
        for (label, v) in timeframeWeights.sorted(by: { $0.key < $1.key }) {
            check(SignalTimeframe(label: label) != nil, "/timeframe_weights/\(label)", "is not a timeframe")
            range(v, 0...10, "/timeframe_weights/\(label)")
        }
        range(ensemble.decay, 0.5...0.999, "/ensemble/decay")
        for member in EnsembleMember.allCases { range(ensemble.members[member].weight, 0...10, "/ensemble/members/\(member.rawValue)/weight") }
        check(EnsembleMember.allCases.contains { ensemble.members[$0].enabled && ensemble.members[$0].weight > 0 },
              "/ensemble/members", "at least one member must be enabled with a weight above 0")
        range(stopBufferATR, 0...5, "/stop_buffer_atr")
        range(minRiskATR, 0...10, "/min_risk_atr")
        check((1...10_000).contains(expiryCandles), "/expiry_candles", "must be between 1 and 10000")
        check((1...100_000).contains(zoneMaxAge), "/zone_max_age", "must be between 1 and 100000")
        return out
    }
}

/// Weights of the bias components; they sum to 1.
public struct SignalWeights: Sendable, Hashable, Codable {
    public var structure = 0.35
    public var orderBlocks = 0.30
    public var fairValueGaps = 0.20
    public var momentum = 0.10
    public var volume = 0.05

    public init() {}

    public init(structure: Double, orderBlocks: Double, fairValueGaps: Double, momentum: Double, volume: Double) {
        self.structure = structure
        self.orderBlocks = orderBlocks
        self.fairValueGaps = fairValueGaps
        self.momentum = momentum
        self.volume = volume
    }

    var named: [(String, Double)] {
        [("structure", structure), ("order_blocks", orderBlocks), ("fair_value_gaps", fairValueGaps),
         ("momentum", momentum), ("volume", volume)]
    }

    enum CodingKeys: String, CodingKey {
        case structure, orderBlocks = "order_blocks", fairValueGaps = "fair_value_gaps", momentum, volume
    }
}

/// How a confidence (0–100) reads: HIGH ≥ 75, MEDIUM ≥ 55, LOW ≥ 40, else NEUTRAL (the defaults).
public struct ConfidenceLevels: Sendable, Hashable, Codable {
    public var high = 75.0
    public var medium = 55.0
    public var low = 40.0

    public init() {}

    public init(high: Double, medium: Double, low: Double) {
        self.high = high
        self.medium = medium
        self.low = low
    }

    public func level(_ confidence: Double) -> ConfidenceLevel {
        confidence >= high ? .high : confidence >= medium ? .medium : confidence >= low ? .low : .neutral
    }
}

public enum ConfidenceLevel: String, Sendable, Hashable, Codable {
    case high = "HIGH", medium = "MEDIUM", low = "LOW", neutral = "NEUTRAL"
}

/// The ensemble's members (DESIGN.md §4).
public enum EnsembleMember: String, Sendable, Hashable, Codable, CaseIterable, CodingKeyRepresentable {
    /// SMC structure: the setup's zone, the base timeframe's bias and the higher timeframes' confluence.
    case smc
    /// Technical indicators: EMA trend, RSI, MACD, ATR volatility.
    case technical
    /// A logistic model trained on the tenant's own labelled outcomes.
    case learned
    /// The tenant's external alerts (TradingView) on the symbol.
    case external
}

public struct MemberSettings: Sendable, Hashable, Codable {
    public var enabled = true
    public var weight = 1.0

    public init(enabled: Bool = true, weight: Double = 1) {
        self.enabled = enabled
        self.weight = weight
    }
}

public struct EnsembleMembers: Sendable, Hashable, Codable {
    public var smc = MemberSettings()
    public var technical = MemberSettings()
    public var learned = MemberSettings()
    public var external = MemberSettings()

    public init() {}

    public subscript(member: EnsembleMember) -> MemberSettings {
        get {
            switch member {
            case .smc: smc
            case .technical: technical
            case .learned: learned
            case .external: external
            }
        }
        set {
            switch member {
            case .smc: smc = newValue
            case .technical: technical = newValue
            case .learned: learned = newValue
            case .external: external = newValue
            }
        }
    }
}

public struct EnsembleSettings: Sendable, Hashable, Codable {
    /// Whether member weights adapt to the tenant's outcomes.
    public var adaptive = true
    /// Weight of the past per new outcome in the members' running accuracy (0.95: an outcome's influence halves
    /// after about 14 more).
    public var decay = 0.95
    public var members = EnsembleMembers()

    public init() {}
}

/// Refuses keys a `Decodable` does not know, naming them.
enum StrictKeys {
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static func check<K: CodingKey & CaseIterable>(_ decoder: any Decoder, _ keys: K.Type) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        let known = Set(K.allCases.map(\.stringValue))
        if let unknown = container.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
            throw DecodingError.dataCorruptedError(
                forKey: AnyKey(stringValue: unknown), in: container,
                debugDescription: "unknown field '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
    }
}

extension StrategySettings {
    /// The higher timeframes' bias in `direction` (1 long, -1 short), weighted by `timeframeWeights` (1 for a
    /// timeframe without a weight): Σ w·score/100·direction / Σ w, −1…1; 0 without higher timeframes. A signal's
    /// `confluence`, and the market summary's.
    public func confluence(_ higher: some Sequence<Bias>, direction: Int) -> Double {
        var sum = 0.0, weights = 0.0
        for bias in higher {
            let w = timeframeWeights[bias.timeframe] ?? 1
            sum += w * bias.score / 100 * Double(direction)
            weights += w
        }
        return weights > 0 ? sum / weights : 0
    }
}
