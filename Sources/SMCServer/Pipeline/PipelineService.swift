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
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                // Shutdown cancels a transaction in flight (it rolls back; its jobs stay queued for the next worker):
                // waiting instead could hang shutdown on a database that is not answering.
                if let report = try await cancelWhenGracefulShutdown({ try await pipeline.processNext() }) {
                    failures = 0
                    if report.candles > 0 {
                        logger.debug("pipeline", metadata: [
                            "stream": "\(report.stream)", "candles": "\(report.candles)", "signals": "\(report.signals)",
                            "outcomes": "\(report.outcomes)", "tenants": "\(report.tenants)", "worker": "\(worker)",
                        ])
                    }
                    continue
                }
                failures = 0
            } catch {
                failures += 1
                // Early in start-up the migrations may not be applied yet; later, errors are worth a warning.
                let level: Logger.Level = failures < 5 ? .debug : .warning
                logger.log(level: level, "pipeline worker failed; retrying", metadata: ["error": "\(String(reflecting: error))"])
            }
            await pause(failures == 0 ? pollInterval : .milliseconds(min(5000, 200 * (1 << min(failures, 5)))))
        }
    }

    private func maintenanceLoop() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown {
                    while try await alerts.parsePending() > 0 {}
                    try await requeueClosedCandles()
                    try await pruneHistory()
                }
            } catch {
                logger.warning("pipeline maintenance failed; retrying", metadata: ["error": "\(String(reflecting: error))"])
            }
            await pause(maintenanceInterval)
        }
    }

    /// Sleeps, but wakes at once on graceful shutdown, cancellation or a ring of the doorbell (work queued by
    /// this process).
    private func pause(_ duration: Duration) async {
        try? await cancelWhenGracefulShutdown { try await doorbell.wait(upTo: duration) }
    }

    /// Streams whose stored candles have closed since their analyzers last ran (candles fed while still forming)
    /// get a job.
    func requeueClosedCandles() async throws {
        try await pipeline.database.withWorker { connection in
            try await connection.query(
                """
                INSERT INTO pipeline_jobs (symbol, timeframe)
                SELECT a.symbol, a.timeframe FROM analysis_streams a
                WHERE NOT EXISTS (SELECT 1 FROM pipeline_jobs j WHERE j.symbol = a.symbol AND j.timeframe = a.timeframe)
                GROUP BY a.symbol, a.timeframe
                HAVING EXISTS (
                    SELECT 1 FROM candles c WHERE c.symbol = a.symbol AND c.timeframe = a.timeframe
                      AND c.open_time > coalesce(min(a.processed_until), '-infinity')
                      AND c.open_time + make_interval(secs => smc_timeframe_seconds(a.timeframe)) <= now())
                """, logger: logger)
        }
    }

    /// Signals issued (`created_at`) longer ago than the tenant's plan keeps are deleted (annotations with them),
    /// each leaving a tombstone in the tenant's signals stream, so synced devices drop it too; trades keep their
    /// `signal_id` as a plain reference. Tombstones older than `SMC_SYNC_TOMBSTONE_DAYS` are purged (raising the
    /// streams' horizons). At most 10,000 signals per pass, tenants locked in id order (as the pipeline does).
    func pruneHistory() async throws {
        try await pipeline.database.withWorker { connection in
            try await connection.query(
                """
                WITH doomed AS (
                    SELECT s.tenant_id, s.signal_id FROM signals s JOIN tenants t ON t.tenant_id = s.tenant_id
                    JOIN plans p ON p.plan_id = t.plan_id
                    WHERE s.created_at < now() - make_interval(days => p.history_days)
                    ORDER BY s.tenant_id, s.signal_id LIMIT 10000
                ), counts AS (
                    SELECT tenant_id, count(*) AS n FROM doomed GROUP BY tenant_id ORDER BY tenant_id
                ), bumped AS (
                    INSERT INTO sync_counters AS c (tenant_id, stream, version)
                    SELECT tenant_id, 'signals', n FROM counts
                    ON CONFLICT (tenant_id, stream) DO UPDATE SET version = c.version + EXCLUDED.version
                    RETURNING tenant_id, version
                ), numbered AS (
                    SELECT d.tenant_id, d.signal_id,
                           b.version - c.n + row_number() OVER (PARTITION BY d.tenant_id ORDER BY d.signal_id) AS version
                    FROM doomed d JOIN counts c USING (tenant_id) JOIN bumped b USING (tenant_id)
                ), gone AS (
                    DELETE FROM signals s USING numbered n WHERE s.tenant_id = n.tenant_id AND s.signal_id = n.signal_id
                )
                INSERT INTO signal_tombstones (tenant_id, signal_id, sync_version)
                SELECT tenant_id, signal_id, version FROM numbered
                """, logger: logger)
        }
        _ = try await SyncService.purgeTombstones(pipeline.database, olderThan: tombstoneDays)
    }
}

/// Wakes idle pipeline workers of this process when it queues work itself (an ingest), so a candle fed here is
/// analysed at once rather than at the next poll; other processes' workers find it by polling.
final class Doorbell: Sendable {
    private let rings = Atomic<Int>(0)

    init() {}

    func ring() { rings.add(1, ordering: .relaxed) }

    /// Returns when rung or after `duration`; checks every 10 ms (no database work while idle).
    func wait(upTo duration: Duration) async throws {
        let seen = rings.load(ordering: .relaxed)
        let clock = ContinuousClock()
        let deadline = clock.now + duration
        while clock.now < deadline, rings.load(ordering: .relaxed) == seen {
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
