import Foundation
import Logging
import PostgresNIO
import SMCEngine
import Synchronization

/// The signal pipeline: when closed candles of a (symbol, timeframe) arrive, the shared analyzer of each distinct
/// detector-parameter set runs over them once, and every tenant watching the stream is evaluated on the snapshots
/// with its own settings and ensemble state; signals, outcomes, their alert jobs and sync versions are stored.
///
/// Work sharing: a worker takes a stream by locking its `market_streams` row (`FOR UPDATE SKIP LOCKED`), deletes
/// the stream's queued jobs, processes every closed candle the stream has not seen (up to `chunk`), and commits
/// everything — analyzer state and position, tenant states, signals, outbox, sync counters — in that one
/// transaction. A process killed mid-way rolls back: the jobs are still queued and the next worker redoes the
/// work; the unique (tenant, symbol, timeframe, signal key) forbids a second copy of a signal anyway.
///
/// Tenants are evaluated on candles received after they subscribed (their `tenant_streams.subscribed_at`), so a
/// new subscriber does not get a flood of signals on old history, while history fed after subscribing (a
/// backfill) is evaluated like live data.
struct Pipeline: Sendable {
    let database: Database
    let cache: PipelineCache
    /// Most candles one transaction feeds; a longer backlog is re-queued and continued.
    var chunk = 5000


    var logger: Logger { database.logger }

    /// What one `processNext` did.
    struct Report: Sendable, Equatable {
        var stream: String
        var candles = 0
        var signals = 0
        var outcomes = 0
        var tenants = 0
    }

    /// Decoded states to remember once the transaction that wrote them has committed (never before: a rolled-back
    /// version number may be reused by another process for other content).
    final class CacheUpdates: @unchecked Sendable {
        var analyzers: [(AnalysisKey, MarketAnalyzer, Int64)] = []
        var evaluators: [(UUID, String, String, TenantEvaluator, Int64)] = []
    }

    /// Takes one stream with queued work and processes it; nil when no stream is waiting (or all are taken).
    func processNext(now: Date = Date()) async throws -> Report? {
        let updates = CacheUpdates()
        let report = try await database.withWorker { connection -> Report? in
            let claimed = try await PipelineJobs.take(connection, logger: logger)
            guard let (symbol, tfLabel) = claimed, let timeframe = SignalTimeframe(label: tfLabel) else { return nil }
            return try await process(symbol: symbol, timeframe: timeframe, now: now, updates, connection)
        }
        for (key, analyzer, version) in updates.analyzers { cache.store(key, analyzer: analyzer, version: version) }
        for (tenant, symbol, tf, evaluator, version) in updates.evaluators {
            cache.store(tenant, symbol: symbol, timeframe: tf, evaluator: evaluator, version: version)
        }
        return report
    }

    private func process(symbol: String, timeframe: SignalTimeframe, now: Date, _ updates: CacheUpdates,
                         _ connection: PostgresConnection)
        async throws -> Report
    {
        var report = Report(stream: "\(symbol)/\(timeframe.label)")
        let subscribers = try await Subscribers.load(symbol: symbol, timeframe: timeframe, connection, logger: logger)
        // Tenants that stopped watching lose their evaluator (a later subscription starts afresh).
        try await dropEvaluators(symbol: symbol, timeframe: timeframe, keeping: subscribers.map(\.tenant), connection)
        let groups = Dictionary(grouping: subscribers, by: \.params)
        // The registry's costs now: each new signal keeps its cost in R as issued.
        let costs = try await SymbolRegistry.spec(symbol, connection, logger: logger)?.costs ?? BacktestCosts()
        var more = false
        for (params, members) in groups.sorted(by: { $0.key.key < $1.key.key }) {
            let result = try await processGroup(symbol: symbol, timeframe: timeframe, params: params, members: members,
                                                costs: costs, now: now, updates, connection)
            report.candles = Swift.max(report.candles, result.candles)
            report.signals += result.signals
            report.outcomes += result.outcomes
            report.tenants += members.count
            more = more || result.candles >= chunk
        }
        if more {
            try await PipelineJobs.again(symbol: symbol, timeframe: timeframe.label, connection, logger: logger)
        }
        return report
    }

    private struct GroupResult {
        var candles = 0
        var signals = 0
        var outcomes = 0
    }

    private func processGroup(symbol: String, timeframe: SignalTimeframe, params: DetectorParameters,
                              members: [Subscriber], costs: BacktestCosts, now: Date, _ updates: CacheUpdates,
                              _ connection: PostgresConnection) async throws -> GroupResult
    {
        let streamKey = AnalysisKey(symbol: symbol, timeframe: timeframe.label, params: params.key)
        var stream = try await loadAnalyzer(streamKey, params: params, connection)

        let nowSeconds = Int64(now.timeIntervalSince1970.rounded(.down))
        let after = stream.processedUntil.map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? Date.distantPast
        let latestOpen = Date(timeIntervalSince1970: TimeInterval(nowSeconds - timeframe.seconds))
        let candles = try await MarketDataService.candles(
            symbol: symbol, timeframe: timeframe.label, after: after, openingBy: latestOpen, limit: chunk, connection, logger: logger)
        var result = GroupResult(candles: candles.count)
        guard !candles.isEmpty else { return result }

        var tenants = try await loadEvaluators(symbol: symbol, timeframe: timeframe, params: params, members: members,
                                               firstCandle: candles[0].0.time, connection)
        let alerts = try await ExternalAlertsService.parsed(
            symbol: symbol, tenants: tenants.map(\.tenant), from: candles.first!.0.time - 4 * timeframe.seconds,
            to: candles.last!.0.time + timeframe.seconds, connection, logger: logger)
        var alertCursor = [UUID: Int]()

        var signals: [UUID: [Signal]] = [:]
        var outcomes: [UUID: [SignalOutcome]] = [:]
        for (index, (candle, received)) in candles.enumerated() {
            // A chunk is thousands of candles times the tenants' evaluators: let requests waiting for this cooperative
            // thread run between slices rather than after the whole chunk.
            if index % 64 == 63 { await Task.yield() }
            let snapshot = stream.analyzer.update(candle)
            for k in tenants.indices where received >= tenants[k].subscribedAt {
                let tenant = tenants[k].tenant
                if let list = alerts[tenant] {
                    var i = alertCursor[tenant, default: 0]
                    while i < list.count, list[i].time <= candle.time + timeframe.seconds {
                        tenants[k].evaluator.receive(list[i])
                        i += 1
                    }
                    alertCursor[tenant] = i
                }
                let step = tenants[k].evaluator.evaluate(snapshot)
                if !step.signals.isEmpty { signals[tenant, default: []] += step.signals }
                if !step.outcomes.isEmpty { outcomes[tenant, default: []] += step.outcomes }
            }
        }
        stream.processedUntil = candles.last!.0.time
        stream.candles += Int64(candles.count)

        let written = try await SignalStore(logger: logger).write(
            symbol: symbol, timeframe: timeframe.label, costs: costs, signals: signals, outcomes: outcomes, connection)
        result.signals = written.signals
        result.outcomes = written.outcomes
        try await saveEvaluators(tenants, symbol: symbol, timeframe: timeframe, updates, connection)
        try await saveAnalyzer(stream, updates, connection)
        return result
    }
}
