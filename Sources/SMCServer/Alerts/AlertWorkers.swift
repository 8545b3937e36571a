import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The alert work of one server process (any number of processes may run it on one database): fan-out of outbox
/// events into deliveries, and webhook delivery with up to `concurrency` requests in flight, so a receiver that
/// hangs holds one slot for at most the timeout while the others keep going (and at most `perEndpointConcurrency`
/// slots across processes go to one endpoint). Telegram is sent by `TelegramBot`, in one process per bot.
///
/// On graceful shutdown the loops stop claiming and the requests in flight finish (bounded by the timeout); a killed
/// process's leased deliveries become due again when their lease ends, and are sent with the same `webhook-id`.
struct AlertWorkers: Service {
    let fanout: AlertFanout
    let store: DeliveryStore
    let guardrail: TargetGuard
    let settings: AlertSettings
    let doorbell: Doorbell
    var logger: Logger { store.logger }

    func run() async throws {
        guard settings.workers > 0 else {
            try? await gracefulShutdown()
            return
        }
        let sender = WebhookSender(
            guardrail: guardrail, timeout: settings.webhookTimeout, shared: WebhookSender.makeClient(timeout: settings.webhookTimeout, connections: settings.concurrency * settings.workers),
            logger: logger)
        await withDiscardingTaskGroup { group in
            group.addTask { await fanoutLoop() }
            group.addTask { await retentionLoop() }
            for _ in 0..<settings.workers {
                group.addTask { await webhookLoop(sender) }
            }
        }
        try? await sender.shared.shutdown()
    }

    private func fanoutLoop() async {
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let events = try await cancelWhenGracefulShutdown { try await fanout.processNext() }
                failures = 0
                if events > 0 {
                    store.metrics.fannedOut(events)
                    doorbell.ring()
                    continue
                }
            } catch {
                failures += 1
                logger.log(level: failures < 5 ? .debug : .warning, "alert fan-out failed; retrying",
                           metadata: ["error": "\(String(reflecting: error))"])
            }
            await pause(failures == 0 ? settings.poll : .milliseconds(min(5000, 200 * (1 << min(failures, 5)))))
        }
    }

    /// Prunes finished deliveries older than `historyDays`, a batch at a time, every `historyPruneInterval`.
    private func retentionLoop() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown {
                    while try await store.pruneHistory(olderThanDays: settings.historyDays, batch: 10_000) == 10_000 {}
                }
            } catch {
                logger.warning("alert history pruning failed; retrying", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: settings.historyPruneInterval) }
        }
    }

    private func webhookLoop(_ sender: WebhookSender) async {
        let inFlight = InFlightCount()
        var failures = 0
        await withDiscardingTaskGroup { group in
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let free = settings.concurrency - inFlight.value
                // Claim in batches: with most slots busy, wait for a quarter of them to free up (each finished request
                // rings the doorbell) rather than pay a claim transaction per slot.
                if free < max(1, settings.concurrency / 4) {
                    await pause(settings.poll)
                    continue
                }
                var claimed: [ClaimedDelivery] = []
                if free > 0 {
                    do {
                        claimed = try await cancelWhenGracefulShutdown { try await store.claimWebhooks(limit: free) }
                        failures = 0
                    } catch {
                        failures += 1
                        logger.log(level: failures < 5 ? .debug : .warning, "webhook claim failed; retrying",
                                   metadata: ["error": "\(String(reflecting: error))"])
                    }
                }
                for delivery in claimed {
                    inFlight.add(1)
                    group.addTask {
                        await deliver(delivery, sender)
                        inFlight.add(-1)
                        doorbell.ring()
                    }
                }
                if claimed.isEmpty || claimed.count == free {
                    await pause(failures == 0 ? settings.poll : .milliseconds(min(5000, 200 * (1 << min(failures, 5)))))
                }
            }
        }
    }

    private func deliver(_ delivery: ClaimedDelivery, _ sender: WebhookSender) async {
        let started = Date()
        let report = await sender.send(
            url: delivery.url ?? "", messageID: delivery.messageID, body: delivery.payload, secrets: delivery.secrets, now: store.now)
        // Recording must not be lost to a transient database error: retry a few times (the lease covers it).
        for attempt in 1...5 {
            do {
                try await store.recordWebhook(delivery, started: started, report)
                return
            } catch {
                logger.warning("could not record a webhook attempt", metadata: [
                    "error": "\(String(reflecting: error))", "delivery": "\(delivery.id)", "try": "\(attempt)",
                ])
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
    }

    private func pause(_ duration: Duration) async {
        try? await cancelWhenGracefulShutdown { try await doorbell.wait(upTo: duration) }
    }
}

/// Requests in flight in one loop (shared with the tasks that finish them).
final class InFlightCount: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func add(_ n: Int) { count.add(n, ordering: .relaxed) }
}
