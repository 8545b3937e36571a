import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The background work of one server process: pipeline workers (each takes one stream at a time), and a
/// maintenance loop that parses received TradingView alerts, re-queues streams whose forming candles have since
/// closed, and prunes signals beyond each plan's history. Any number of processes may run it on one database.
///
/// On graceful shutdown a worker finishes (commits) the stream it holds and stops; a killed process loses only its
/// uncommitted transaction, whose jobs stay queued.
struct PipelineService: Service {
    let pipeline: Pipeline
    let alerts: ExternalAlertsService
    let workers: Int
    let pollInterval: Duration
    let maintenanceInterval: Duration
    let doorbell: Doorbell
    /// `SMC_SYNC_TOMBSTONE_DAYS`.
    let tombstoneDays: Int

    var logger: Logger { pipeline.logger }

    func run() async throws {
        guard workers > 0 else {
            try? await gracefulShutdown()
            return
        }
        await withDiscardingTaskGroup { group in
            for worker in 0..<workers {
                group.addTask { await workLoop(worker) }
            }
            group.addTask { await maintenanceLoop() }
        }
    }

    private func workLoop(_ worker: Int) async {
        await WorkerLoop(name: "pipeline worker", poll: pollInterval, wake: doorbell, logger: logger).run {
            guard let report = try await pipeline.processNext() else { return .idle }
            if report.candles > 0 {
                logger.debug("pipeline", metadata: [
                    "stream": "\(report.stream)", "candles": "\(report.candles)", "signals": "\(report.signals)",
                    "outcomes": "\(report.outcomes)", "tenants": "\(report.tenants)", "worker": "\(worker)",
                ])
            }
            return .worked
        }
    }

    private func maintenanceLoop() async {
        await WorkerLoop(name: "pipeline maintenance", poll: maintenanceInterval, wake: doorbell, retry: .poll, logger: logger).run {
            while try await alerts.parsePending() > 0 {}
            try await requeueClosedCandles()
            try await pruneHistory()
            return .idle
        }
    }

    /// Streams whose stored candles have closed since their analyzers last ran (candles fed while still forming)
    /// get a job.
    func requeueClosedCandles() async throws {
        try await pipeline.database.withWorker { connection in
            let streams = try await pipeline.analysedStreams(connection)
            let idle = try await PipelineJobs.idle(streams.map { ($0.symbol, $0.timeframe) }, connection, logger: logger)
            let since = Dictionary(uniqueKeysWithValues: streams.map { ("\($0.symbol)/\($0.timeframe)", $0.processedUntil) })
            let due = try await MarketDataService.closedSince(
                idle.map { ($0.symbol, $0.timeframe, since["\($0.symbol)/\($0.timeframe)"] ?? nil) }, connection, logger: logger)
            try await PipelineJobs.enqueue(due.map { "\($0.symbol)/\($0.timeframe)" }, connection, logger: logger)
        }
    }

    /// Signals issued longer ago than the tenant's plan keeps are deleted (`SignalStore.pruneExpired`, at most 10,000
    /// a pass); tombstones older than `SMC_SYNC_TOMBSTONE_DAYS` are purged (raising the streams' horizons).
    func pruneHistory() async throws {
        let store = SignalStore(logger: logger), plans = PlansService(database: pipeline.database)
        _ = try await pipeline.database.withWorker { connection in
            let days = try await plans.plans(forTenants: nil, connection).mapValues(\.historyDays)
            return try await store.pruneExpired(historyDays: days, limit: 10_000, connection)
        }
        _ = try await SyncService.purgeTombstones(pipeline.database, olderThan: tombstoneDays)
    }
}

