import Foundation
import SMCAPI

/// Signal operations: authenticate (device token, or a `signals_read` machine key for reads), call the
/// signals service, map the records.
extension APIHandlers {
    /// A device token, or a machine key with the `signals_read` scope.
    func signalReader() async throws -> SignalReader {
        let header = RequestScope.current?.headers[.authorization]
        if let header, header.count > 7, header.prefix(7).lowercased() == "bearer " {
            let token = String(header.dropFirst(7)).trimmingWhitespace()
            if token.hasPrefix(BearerSecret.Kind.apiKey.rawValue) {
                let key = try await apiKeys.authenticate(token, scope: "signals_read")
                return SignalReader(tenantID: key.tenantID, userID: key.userID, viaAPIKey: true)
            }
        }
        let principal = try await authenticate()
        return SignalReader(tenantID: principal.tenantID, userID: principal.userID, viaAPIKey: false)
    }

    func listSignals(_ input: Operations.ListSignals.Input) async throws -> Operations.ListSignals.Output {
        let reader = try await signalReader()
        let q = input.query
        var rules = QueryRules()
        var filters = Self.filters(
            &rules, symbol: q.symbol, timeframe: q.timeframe?.rawValue, direction: q.direction?.rawValue, since: q.since,
            until: q.until, setupType: q.setupType?.rawValue, level: q.level?.rawValue, killzone: q.killzone)
        if let confidence = q.minConfidence {
            if confidence.isFinite, (0...100).contains(confidence) {
                filters.minConfidence = confidence
            } else {
                rules.fail("min_confidence", "must be between 0 and 100")
            }
        }
        filters.outcome = q.outcome?.rawValue
        filters.limit = rules.limit(q.limit)
        filters.cursor = q.cursor
        try rules.throwIfAny()
        let page = try await signals.list(reader, filters)
        let body = Components.Schemas.SignalPage(
            signals: page.signals.map(\.schema), hasMore: page.nextCursor != nil, nextCursor: page.nextCursor)
        return .ok(.init(body: .json(body)))
    }

    func getSignalStats(_ input: Operations.GetSignalStats.Input) async throws -> Operations.GetSignalStats.Output {
        let reader = try await signalReader()
        let q = input.query
        var rules = QueryRules()
        let filters = Self.filters(
            &rules, symbol: q.symbol, timeframe: q.timeframe?.rawValue, direction: q.direction?.rawValue, since: q.since,
            until: q.until, setupType: q.setupType?.rawValue, level: q.level?.rawValue, killzone: q.killzone)
        try rules.throwIfAny()
        return .ok(.init(body: .json(try await signals.stats(reader, filters).schema)))
    }

    /// The filters the signal list and the track record share, checked into `rules`.
    static func filters(_ rules: inout QueryRules, symbol: String?, timeframe: String?, direction: String?, since: Date?,
                        until: Date?, setupType: String?, level: String?, killzone: String?) -> SignalFilters
    {
        var filters = SignalFilters()
        filters.symbol = rules.symbol(symbol)
        filters.timeframe = timeframe
        filters.direction = direction.map { $0 == "long" ? 1 : -1 }
        filters.since = rules.time(since, "since")
        filters.until = rules.time(until, "until")
        filters.setupType = setupType
        filters.level = level
        if let killzone = killzone?.trimmingWhitespace() {
            if (1...50).contains(killzone.count) { filters.killzone = killzone } else { rules.fail("killzone", "must be a killzone name of 1–50 characters") }
        }
        return filters
    }

    func getSignal(_ input: Operations.GetSignal.Input) async throws -> Operations.GetSignal.Output {
        let reader = try await signalReader()
        guard let id = UUID(uuidString: input.path.signalId) else { throw Problem.notFound("no such signal") }
        let signal = try await signals.detail(reader, id: id)
        return .ok(.init(body: .json(signal.detailSchema)))
    }

    func annotateSignal(_ input: Operations.AnnotateSignal.Input) async throws -> Operations.AnnotateSignal.Output {
        let principal = try await authenticate()
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        guard let id = UUID(uuidString: input.path.signalId) else { throw Problem.notFound("no such signal") }
        let annotation = try await signals.annotate(principal, id: id, note: body.note, tags: body.tags, taken: body.taken)
        return .ok(.init(body: .json(annotation.schema)))
    }
}

extension SignalRecord {
    var schema: Components.Schemas.Signal {
        let p = format
        return .init(
            id: id.uuidString.lowercased(), symbol: symbol, timeframe: timeframe, direction: direction > 0 ? .long : .short,
            setupType: .init(rawValue: setupType) ?? .orderBlock, confidence: PriceFormat.confidence(confidence),
            level: .init(rawValue: level) ?? .neutral, candleTime: candleTime, closeTime: closeTime, entry: p.round(entry),
            stop: p.round(stop), targets: targets.map(p.round), rewardRisk: PriceFormat.r(rewardRisk), regime: regime,
            killzone: killzone, confluence: PriceFormat.r(confluence), costR: PriceFormat.r(costR),
            priceDecimals: p.decimals, outcome: outcome.map {
                .init(kind: .init(rawValue: $0.kind) ?? .expired, time: $0.time, r: $0.r.map(PriceFormat.r),
                      netR: $0.r.map { PriceFormat.r($0 - costR) }, exitPrice: $0.exitPrice.map(p.round))
            },
            annotation: annotation?.schema)
    }

    var detailSchema: Components.Schemas.SignalDetail {
        let p = format
        let zone: Components.Schemas.SignalZone? = detail?.setup?.zone.flatMap { zone in
            guard let kind = zone.kind.flatMap(Components.Schemas.SignalZone.KindPayload.init(rawValue:)), let top = zone.top,
                let bottom = zone.bottom, let time = zone.time
            else { return nil }
            return .init(
                kind: kind, direction: (zone.direction ?? direction) > 0 ? .long : .short, top: p.round(top),
                bottom: p.round(bottom), time: Date(timeIntervalSince1970: Double(time)),
                formedTime: Date(timeIntervalSince1970: Double(zone.formedTime ?? time)), formedIndex: zone.formedIndex)
        }
        return .init(
            value1: schema,
            value2: .init(
                votes: (detail?.votes ?? []).map {
                    .init(member: $0.member, vote: PriceFormat.r($0.vote), weight: PriceFormat.r($0.weight),
                          gate: PriceFormat.r($0.gate), abstained: $0.abstained, reason: $0.reason)
                },
                zone: zone,
                biases: (detail?.biases ?? []).map {
                    .init(timeframe: $0.timeframe, score: PriceFormat.confidence($0.score), level: .init(rawValue: $0.level) ?? .neutral)
                }))
    }
}

extension AnnotationRecord {
    var schema: Components.Schemas.SignalAnnotation {
        .init(note: note, tags: tags, taken: taken, updatedAt: updatedAt)
    }
}

extension SignalStatsRecord {
    var schema: Components.Schemas.SignalStats {
        func figures(_ f: StatsFigures) -> Components.Schemas.StatsFigures {
            .init(
                wins: f.sums.wins, losses: f.sums.resolved - f.sums.wins, hitRate: PriceFormat.round(f.sums.hitRate, 4),
                averageR: PriceFormat.r(f.sums.average), expectancyR: PriceFormat.r(f.sums.expectancy),
                profitFactor: f.sums.profitFactor.map(PriceFormat.r), totalR: PriceFormat.r(f.sums.total),
                maxDrawdownR: PriceFormat.r(f.maxDrawdownR), longestLosingStreak: f.longestLosingStreak)
        }
        func groups(_ dimension: String) -> [Components.Schemas.StatsGroup] {
            (breakdown[dimension] ?? []).map { g in
                .init(
                    key: g.key, count: g.count, resolved: g.gross.resolved, hitRate: PriceFormat.round(g.gross.hitRate, 4),
                    netHitRate: PriceFormat.round(g.net.hitRate, 4), averageR: PriceFormat.r(g.gross.average),
                    averageNetR: PriceFormat.r(g.net.average), totalR: PriceFormat.r(g.gross.total),
                    totalNetR: PriceFormat.r(g.net.total), netProfitFactor: g.net.profitFactor.map(PriceFormat.r))
            }
        }
        return .init(
            historyDays: historyDays, count: count, open: open, resolved: resolved,
            outcomes: .init(target: targets, stop: stops, expired: expired), gross: figures(gross), net: figures(net),
            equityCurve: equityCurve.map {
                .init(date: $0.date, resolved: $0.resolved, r: PriceFormat.r($0.r), netR: PriceFormat.r($0.netR),
                      cumulativeR: PriceFormat.r($0.cumulativeR), cumulativeNetR: PriceFormat.r($0.cumulativeNetR))
            },
            breakdown: .init(
                setupType: groups("setup_type"), symbol: groups("symbol"), timeframe: groups("timeframe"),
                killzone: groups("killzone"), level: groups("level"), direction: groups("direction"), month: groups("month")))
    }
}
