import Foundation
import PostgresNIO
import SMCAPI

typealias Watchlist = Components.Schemas.Watchlist
typealias Killzones = Components.Schemas.Killzones
typealias Strategy = Components.Schemas.Strategy
typealias AlertPreferences = Components.Schemas.AlertPreferences


/// Wall-clock `HH:MM` → minutes after midnight.
func parseClock(_ text: String) -> Int? {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let h = Int(parts[0]), let m = Int(parts[1]),
        (0..<24).contains(h), (0..<60).contains(m)
    else { return nil }
    return h * 60 + m
}

func isTimeZone(_ identifier: String) -> Bool {
    identifier.utf8.count <= 64 && !identifier.isEmpty && TimeZone(identifier: identifier) != nil
        && (identifier.contains("/") || identifier == "UTC")
}

extension Watchlist: SettingsDocument {
    static let kind = "watchlist"
    static var defaults: Watchlist { .init(entries: []) }

    /// `eur/usd`, `EUR-USD`, ` eurusd ` → `EURUSD`.
    static func normalise(_ symbol: String) -> String {
        symbol.uppercased().filter { !"/-_. ".contains($0) }
    }

    func validated(_ context: SettingsContext) async throws -> Watchlist {
        var problems = FieldErrors()
        problems.check(entries.count <= 200, "/entries", "at most 200 entries")
        var seen = Set<String>()
        var normalised: [Components.Schemas.WatchlistEntry] = []
        for (i, entry) in entries.enumerated() {
            let symbol = Self.normalise(entry.symbol)
            let field = "/entries/\(i)"
            problems.check(
                symbol.range(of: "^[A-Z0-9]{3,20}$", options: .regularExpression) != nil, field + "/symbol",
                "is not a symbol (3–20 letters and digits)")
            problems.check(seen.insert(symbol).inserted, field + "/symbol", "\(symbol) is listed twice")
            problems.check(!entry.timeframes.isEmpty, field + "/timeframes", "needs at least one timeframe")
            problems.check(Set(entry.timeframes).count == entry.timeframes.count, field + "/timeframes", "lists a timeframe twice")
            let order = Components.Schemas.Timeframe.allCases
            let timeframes = entry.timeframes.sorted { order.firstIndex(of: $0)! < order.firstIndex(of: $1)! }
            normalised.append(.init(symbol: symbol, timeframes: timeframes, active: nil))
        }
        try problems.throwIfAny()
        // Only symbols the market-data registry knows (and still serves).
        let known = try await SymbolRegistry.active(Array(seen), context.connection, logger: context.logger)
        for (i, entry) in normalised.enumerated() where !known.contains(entry.symbol) {
            problems.check(false, "/entries/\(i)/symbol", "\(entry.symbol) is not a symbol we have market data for")
        }
        try problems.throwIfAny()
        let plan = context.plan
        if normalised.count > plan.maxSymbols {
            throw try await context.plans.limitExceeded(
                "symbols", allowed: plan.maxSymbols, plan: plan, context.connection,
                detail: "the \(plan.name) plan allows \(plan.maxSymbols) watched symbols, not \(normalised.count)")
        }
        if let wide = normalised.first(where: { $0.timeframes.count > plan.maxTimeframesPerSymbol }) {
            throw try await context.plans.limitExceeded(
                "timeframes_per_symbol", allowed: plan.maxTimeframesPerSymbol, plan: plan, context.connection,
                detail: "the \(plan.name) plan allows \(plan.maxTimeframesPerSymbol) timeframes per symbol; \(wide.symbol) has \(wide.timeframes.count)")
        }
        return try await Watchlist(entries: normalised).annotated(context)
    }

    /// `active`: within the plan's limits (after a downgrade, entries beyond them are kept but not analysed).
    func annotated(_ context: SettingsContext) async throws -> Watchlist {
        Watchlist(
            entries: entries.enumerated().map { i, entry in
                .init(
                    symbol: entry.symbol, timeframes: entry.timeframes,
                    active: i < context.plan.maxSymbols && entry.timeframes.count <= context.plan.maxTimeframesPerSymbol)
            })
    }
}

extension Watchlist {
    /// A watchlist change queues its active streams for the pipeline, in the same transaction: a new subscription
    /// gets its analyzer and evaluator at once rather than at the next candle.
    func stored(_ context: SettingsContext) async throws {
        let streams = entries.filter { $0.active ?? true }.flatMap { e in e.timeframes.map { "\(e.symbol)/\($0.rawValue)" } }
        try await PipelineJobs.enqueue(streams, context.connection, logger: context.logger)
    }
}

extension Killzones: SettingsDocument {
    static let kind = "killzones"
    /// The ICT killzones, New York wall-clock (DESIGN.md §4).
    static var defaults: Killzones {
        let ny = "America/New_York"
        return .init(
            mode: .tag,
            zones: [
                .init(name: "Asian", start: "20:00", end: "00:00", timeZone: ny, enabled: true),
                .init(name: "London open", start: "02:00", end: "05:00", timeZone: ny, enabled: true),
                .init(name: "New York open", start: "07:00", end: "10:00", timeZone: ny, enabled: true),
                .init(name: "London close", start: "10:00", end: "12:00", timeZone: ny, enabled: true),
            ])
    }

    func validated(_ context: SettingsContext) async throws -> Killzones {
        var problems = FieldErrors()
        problems.check(zones.count <= 20, "/zones", "at most 20 killzones")
        var names = Set<String>()
        var normalised: [Components.Schemas.Killzone] = []
        for (i, zone) in zones.enumerated() {
            let field = "/zones/\(i)"
            let name = zone.name.trimmingWhitespace()
            problems.check((1...50).contains(name.count) && !AccountRules.containsControl(name), field + "/name", "must be 1–50 characters")
            problems.check(names.insert(name.lowercased()).inserted, field + "/name", "\(name) is used twice")
            let start = parseClock(zone.start), end = parseClock(zone.end)
            problems.check(start != nil, field + "/start", "must be HH:MM (00:00–23:59)")
            problems.check(end != nil, field + "/end", "must be HH:MM (00:00–23:59)")
            if let start, let end { problems.check(start != end, field + "/end", "must differ from start (an empty or 24-hour window)") }
            problems.check(isTimeZone(zone.timeZone), field + "/time_zone", "is not an IANA time zone (e.g. America/New_York)")
            normalised.append(.init(name: name, start: zone.start, end: zone.end, timeZone: zone.timeZone, enabled: zone.enabled ?? true))
        }
        try problems.throwIfAny()
        return Killzones(mode: mode, zones: normalised)
    }
}

extension Strategy: SettingsDocument {
    static let kind = "strategy"
    static var defaults: Strategy {
        .init(
            swingLength: 50, closeBreak: true, closeMitigation: false, liquidityRangePercent: 0.01, minConfidence: 40,
            minRewardRisk: 1.5,
            signalWeights: .init(structure: 0.35, orderBlocks: 0.30, fairValueGaps: 0.20, momentum: 0.10, volume: 0.05),
            confidenceLevels: .init(high: 75, medium: 55, low: 40),
            timeframeWeights: .init(additionalProperties: [
                "1m": 0.5, "5m": 0.6, "15m": 0.8, "30m": 0.9, "1h": 1.0, "4h": 1.25, "1d": 1.5, "1w": 1.75,
            ]),
            ensemble: .init(
                adaptive: true, decay: 0.95,
                members: .init(
                    smc: .init(enabled: true, weight: 1), technical: .init(enabled: true, weight: 1),
                    learned: .init(enabled: true, weight: 1), external: .init(enabled: true, weight: 1))))
    }

    func validated(_ context: SettingsContext) async throws -> Strategy {
        var p = FieldErrors()
        func range(_ value: Double, _ bounds: ClosedRange<Double>, _ field: String) {
            p.check(value.isFinite && bounds.contains(value), field, "must be between \(bounds.lowerBound) and \(bounds.upperBound)")
        }
        p.check((1...200).contains(swingLength), "/swing_length", "must be between 1 and 200")
        range(liquidityRangePercent, 0.0001...0.2, "/liquidity_range_percent")
        range(minConfidence, 0...100, "/min_confidence")
        range(minRewardRisk, 0.5...20, "/min_reward_risk")
        let w = signalWeights
        let weights = [
            ("structure", w.structure), ("order_blocks", w.orderBlocks), ("fair_value_gaps", w.fairValueGaps),
            ("momentum", w.momentum), ("volume", w.volume),
        ]
        for (name, value) in weights { range(value, 0...1, "/signal_weights/\(name)") }
        let sum = weights.map(\.1).reduce(0, +)
        p.check(abs(sum - 1) < 1e-6, "/signal_weights", "must sum to 1 (they sum to \(sum))")
        let c = confidenceLevels
        for (name, value) in [("high", c.high), ("medium", c.medium), ("low", c.low)] { range(value, 0...100, "/confidence_levels/\(name)") }
        p.check(c.high > c.medium && c.medium > c.low, "/confidence_levels", "must be high > medium > low")
        let validTimeframes = Set(Components.Schemas.Timeframe.allCases.map(\.rawValue))
        for (tf, value) in timeframeWeights.additionalProperties {
            p.check(validTimeframes.contains(tf), "/timeframe_weights/\(tf)", "is not a timeframe (\(validTimeframes.sorted().joined(separator: " ")))")
            range(value, 0...10, "/timeframe_weights/\(tf)")
        }
        range(ensemble.decay, 0.5...0.999, "/ensemble/decay")
        let members = ensemble.members
        let all = [("smc", members.smc), ("technical", members.technical), ("learned", members.learned), ("external", members.external)]
        for (name, member) in all { range(member.weight, 0...10, "/ensemble/members/\(name)/weight") }
        p.check(all.contains { $0.1.enabled && $0.1.weight > 0 }, "/ensemble/members", "at least one member must be enabled with a weight above 0")
        try p.throwIfAny()
        return self
    }
}

extension AlertPreferences: SettingsDocument {
    static let kind = "alerts"
    static let eventTypes = ["signal.created", "signal.outcome", "alert.test"]
    static var defaults: AlertPreferences {
        .init(
            events: .init(additionalProperties: Dictionary(uniqueKeysWithValues: eventTypes.map { ($0, .on) })),
            minConfidence: 55,
            quietHours: .init(enabled: false, start: "22:00", end: "07:00", timeZone: "UTC"),
            charts: true)
    }

    /// Whether signal alerts come with their chart (absent in documents stored before the setting: true).
    var wantsCharts: Bool { charts ?? true }

    func validated(_ context: SettingsContext) async throws -> AlertPreferences {
        var p = FieldErrors()
        for key in events.additionalProperties.keys {
            p.check(Self.eventTypes.contains(key), "/events/\(key)", "is not an event type (\(Self.eventTypes.joined(separator: ", ")))")
        }
        p.check(minConfidence.isFinite && (0...100).contains(minConfidence), "/min_confidence", "must be between 0 and 100")
        let start = parseClock(quietHours.start), end = parseClock(quietHours.end)
        p.check(start != nil, "/quiet_hours/start", "must be HH:MM (00:00–23:59)")
        p.check(end != nil, "/quiet_hours/end", "must be HH:MM (00:00–23:59)")
        if let start, let end, quietHours.enabled { p.check(start != end, "/quiet_hours/end", "must differ from start") }
        p.check(isTimeZone(quietHours.timeZone), "/quiet_hours/time_zone", "is not an IANA time zone (e.g. Europe/London)")
        try p.throwIfAny()
        // Event types not mentioned keep their defaults, so a new event type is on until the user says otherwise.
        var merged = Self.defaults.events.additionalProperties
        merged.merge(events.additionalProperties) { _, new in new }
        var result = self
        result.events = .init(additionalProperties: merged)
        result.charts = wantsCharts
        return result
    }
}
