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
        var filters = SignalFilters()
        filters.symbol = rules.symbol(q.symbol)
        filters.timeframe = q.timeframe?.rawValue
        filters.direction = q.direction.map { $0 == .long ? 1 : -1 }
        if let confidence = q.minConfidence {
            if confidence.isFinite, (0...100).contains(confidence) {
                filters.minConfidence = confidence
            } else {
                rules.fail("min_confidence", "must be between 0 and 100")
            }
        }
        filters.since = rules.time(q.since, "since")
        filters.until = rules.time(q.until, "until")
        filters.outcome = q.outcome?.rawValue
        filters.setupType = q.setupType?.rawValue
        filters.level = q.level?.rawValue
        if let killzone = q.killzone?.trimmingWhitespace() {
            if (1...50).contains(killzone.count) { filters.killzone = killzone } else { rules.fail("killzone", "must be a killzone name of 1–50 characters") }
        }
        filters.limit = rules.limit(q.limit)
        filters.cursor = q.cursor
        try rules.throwIfAny()
        let page = try await signals.list(reader, filters)
        let body = Components.Schemas.SignalPage(
            signals: page.signals.map(\.schema), hasMore: page.nextCursor != nil, nextCursor: page.nextCursor)
        return .ok(.init(body: .json(body)))
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
        .init(
            id: id.uuidString.lowercased(), symbol: symbol, timeframe: timeframe, direction: direction > 0 ? .long : .short,
            setupType: .init(rawValue: setupType) ?? .orderBlock, confidence: confidence, level: .init(rawValue: level) ?? .neutral,
            candleTime: candleTime, closeTime: closeTime, entry: entry, stop: stop, targets: targets, rewardRisk: rewardRisk,
            regime: regime, killzone: killzone, confluence: confluence,
            outcome: outcome.map {
                .init(kind: .init(rawValue: $0.kind) ?? .expired, time: $0.time, r: $0.r, exitPrice: $0.exitPrice)
            },
            annotation: annotation?.schema)
    }

    var detailSchema: Components.Schemas.SignalDetail {
        let zone: Components.Schemas.SignalZone? = detail?.setup?.zone.flatMap { zone in
            guard let kind = zone.kind.flatMap(Components.Schemas.SignalZone.KindPayload.init(rawValue:)), let top = zone.top,
                let bottom = zone.bottom, let time = zone.time
            else { return nil }
            return .init(
                kind: kind, direction: (zone.direction ?? direction) > 0 ? .long : .short, top: top, bottom: bottom,
                time: Date(timeIntervalSince1970: Double(time)),
                formedTime: Date(timeIntervalSince1970: Double(zone.formedTime ?? time)), formedIndex: zone.formedIndex)
        }
        return .init(
            value1: schema,
            value2: .init(
                votes: (detail?.votes ?? []).map {
                    .init(member: $0.member, vote: $0.vote, weight: $0.weight, gate: $0.gate, abstained: $0.abstained, reason: $0.reason)
                },
                zone: zone,
                biases: (detail?.biases ?? []).map {
                    .init(timeframe: $0.timeframe, score: $0.score, level: .init(rawValue: $0.level) ?? .neutral)
                }))
    }
}

extension AnnotationRecord {
    var schema: Components.Schemas.SignalAnnotation {
        .init(note: note, tags: tags, taken: taken, updatedAt: updatedAt)
    }
}
