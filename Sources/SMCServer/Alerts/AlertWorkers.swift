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
    let webhooks: WebhookDeliveries
    let guardrail: TargetGuard
    let settings: AlertSettings
    let doorbell: Doorbell
    var logger: Logger { webhooks.logger }

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

    private func loop(_ name: String, poll: Duration, retry: WorkerLoop.Retry = .backoff) -> WorkerLoop {
        WorkerLoop(name: name, poll: poll, wake: doorbell, retry: retry, logger: logger)
    }

    private func fanoutLoop() async {
        await loop("alert fan-out", poll: settings.poll).run {
            let events = try await fanout.processNext()
            guard events > 0 else { return .idle }
            webhooks.metrics.fannedOut(events)
            doorbell.ring()
            return .worked
        }
    }

    /// Prunes finished deliveries older than `historyDays`, a batch at a time, every `historyPruneInterval`.
    private func retentionLoop() async {
        await WorkerLoop(name: "alert history pruning", poll: settings.historyPruneInterval, retry: .poll, logger: logger).run {
            while try await webhooks.pruneHistory(olderThanDays: settings.historyDays, batch: 10_000) == 10_000 {}
            return .idle
        }
    }

    private func webhookLoop(_ sender: WebhookSender) async {
        let inFlight = InFlightCount()
        let concurrency = settings.concurrency
        await withDiscardingTaskGroup { group in
            await loop("webhook claim", poll: settings.poll).run {
                let free = concurrency - inFlight.value
                // Claim in batches: with most slots busy, wait for a quarter of them to free up (each finished request
                // rings the doorbell) rather than pay a claim transaction per slot.
                guard free >= max(1, concurrency / 4) else { return (free, []) }
                return (free, try await webhooks.claim(limit: free))
            } then: { (free: Int, claimed: [ClaimedDelivery]) in
                for delivery in claimed {
                    inFlight.add(1)
                    group.addTask {
                        await deliver(delivery, sender)
                        inFlight.add(-1)
                        doorbell.ring()
                    }
                }
                return claimed.isEmpty || claimed.count == free ? .idle : .worked
            }
        }
    }

    private func deliver(_ delivery: ClaimedDelivery, _ sender: WebhookSender) async {
        let started = Date()
        let report = await sender.send(
            url: delivery.url ?? "", messageID: delivery.messageID, body: delivery.payload, secrets: delivery.secrets, now: webhooks.now)
        // Recording must not be lost to a transient database error: retry a few times (the lease covers it).
        for attempt in 1...5 {
            do {
                try await webhooks.record(delivery, started: started, report)
                return
            } catch {
                logger.warning("could not record a webhook attempt", metadata: [
                    "error": "\(String(reflecting: error))", "delivery": "\(delivery.id)", "try": "\(attempt)",
                ])
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
    }

}

/// Requests in flight in one loop (shared with the tasks that finish them).
final class InFlightCount: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func add(_ n: Int) { count.add(n, ordering: .relaxed) }
}
