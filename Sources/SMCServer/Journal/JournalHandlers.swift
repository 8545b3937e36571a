import Foundation
import OpenAPIRuntime
import SMCAPI

/// Journal operations: authenticate, call the journal service, answer with the trade and its ETag.
extension APIHandlers {
    func listTrades(_ input: Operations.ListTrades.Input) async throws -> Operations.ListTrades.Output {
        let principal = try await authenticate()
        let q = input.query
        var rules = QueryRules()
        var filters = TradeFilters()
        filters.symbol = rules.symbol(q.symbol)
        filters.outcome = q.outcome?.rawValue
        filters.since = rules.time(q.since, "since")
        filters.until = rules.time(q.until, "until")
        if let tag = q.tag {
            let trimmed = tag.trimmingWhitespace()
            if (1...40).contains(trimmed.count) { filters.tag = trimmed } else { rules.fail("tag", "must be 1–40 characters") }
        }
        filters.limit = rules.limit(q.limit)
        filters.cursor = q.cursor
        try rules.throwIfAny()
        let (trades, next) = try await journal.list(principal, filters)
        return .ok(.init(body: .json(.init(trades: trades.map(\.schema), hasMore: next != nil, nextCursor: next))))
    }

    func createTrade(_ input: Operations.CreateTrade.Input) async throws -> Operations.CreateTrade.Output {
        let principal = try await authenticate()
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        let (trade, created) = try await journal.create(principal, body)
        if created { return .created(.init(headers: .init(eTag: trade.etag), body: .json(trade.schema))) }
        return .ok(.init(headers: .init(eTag: trade.etag), body: .json(trade.schema)))
    }

    func getTrade(_ input: Operations.GetTrade.Input) async throws -> Operations.GetTrade.Output {
        let principal = try await authenticate()
        let trade = try await journal.get(principal, id: try tradeID(input.path.tradeId))
        return .ok(.init(headers: .init(eTag: trade.etag), body: .json(trade.schema)))
    }

    func updateTrade(_ input: Operations.UpdateTrade.Input) async throws -> Operations.UpdateTrade.Output {
        let principal = try await authenticate()
        let id = try tradeID(input.path.tradeId)
        let patch: OpenAPIObjectContainer
        switch input.body {
        case .applicationMergePatchJson(let body): patch = body
        case .json(let body): patch = body
        }
        let trade = try await journal.patch(principal, id: id, patch, ifMatch: rawIfMatch)
        return .ok(.init(headers: .init(eTag: trade.etag), body: .json(trade.schema)))
    }

    func closeTrade(_ input: Operations.CloseTrade.Input) async throws -> Operations.CloseTrade.Output {
        let principal = try await authenticate()
        let id = try tradeID(input.path.tradeId)
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        let trade = try await journal.close(
            principal, id: id, exitPrice: body.exitPrice, exitTime: body.exitTime, fees: body.fees, ifMatch: rawIfMatch)
        return .ok(.init(headers: .init(eTag: trade.etag), body: .json(trade.schema)))
    }

    func deleteTrade(_ input: Operations.DeleteTrade.Input) async throws -> Operations.DeleteTrade.Output {
        let principal = try await authenticate()
        try await journal.delete(principal, id: try tradeID(input.path.tradeId))
        return .noContent(.init())
    }

    func getJournalStats(_ input: Operations.GetJournalStats.Input) async throws -> Operations.GetJournalStats.Output {
        let principal = try await authenticate()
        var rules = QueryRules()
        let since = rules.time(input.query.since, "since")
        let until = rules.time(input.query.until, "until")
        let symbol = rules.symbol(input.query.symbol)
        try rules.throwIfAny()
        let stats = try await journal.stats(principal, since: since, until: until, symbol: symbol)
        return .ok(
            .init(
                body: .json(
                    .init(
                        overall: stats.overall.schema, bySymbol: stats.bySymbol.map(\.groupSchema),
                        byKillzone: stats.byKillzone.map(\.groupSchema), bySetupType: stats.bySetupType.map(\.groupSchema)))))
    }

    /// A trade id from the path; anything that is not a UUID names no trade.
    private func tradeID(_ text: String) throws -> UUID {
        guard let id = UUID(uuidString: text) else { throw Problem.notFound("no such trade") }
        return id
    }
}

extension TradeRecord {
    var schema: Components.Schemas.Trade {
        let d = draft
        return .init(
            id: id.uuidString.lowercased(), userId: userID.uuidString.lowercased(), symbol: d.symbol,
            direction: d.direction > 0 ? .long : .short, entryPrice: d.entryPrice, stopPrice: d.stopPrice, targets: d.targets,
            size: d.size, fees: d.fees, entryTime: RFC3339.date(micros: d.entryTime), exitPrice: d.exitPrice,
            exitTime: d.exitTime.map(RFC3339.date(micros:)), pnl: pnl, rMultiple: rMultiple,
            outcome: .init(rawValue: outcome) ?? .open, notes: d.notes, tags: d.tags, screenshots: d.screenshots,
            signalId: d.signalID?.uuidString.lowercased(), setupType: d.setupType, killzone: d.killzone,
            timeframe: d.timeframe.flatMap(Components.Schemas.Timeframe.init(rawValue:)), version: version, createdAt: createdAt,
            updatedAt: updatedAt)
    }
}

extension TradeStatsRecord {
    var schema: Components.Schemas.TradeStats {
        .init(
            count: count, wins: wins, losses: losses, breakeven: breakeven, winRate: winRate, rCount: rCount, averageR: averageR,
            expectancyR: expectancyR, profitFactor: profitFactor, totalPnl: totalPnl)
    }

    var groupSchema: Components.Schemas.TradeStatsGroup {
        .init(value1: .init(key: key), value2: schema)
    }
}
