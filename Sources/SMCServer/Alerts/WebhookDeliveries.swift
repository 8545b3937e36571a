import Foundation
import Logging
import PostgresNIO
import SMCEngine

/// The webhook queue, as the worker role: claims due deliveries with their targets and opened signing secrets, and
/// records each attempt through `DeliveryLifecycle` — the delivery's change, the endpoint's health (an endpoint
/// answering 410 or failing for `disableAfter` is disabled, its queue cancelled and its owner told elsewhere).
struct WebhookDeliveries: Sendable {
    let database: Database
    let queue: DeliveryQueue
    let endpoints: WebhookEndpoints
    let notices: ChannelNotices
    let policy: RetryPolicy
    let disableAfter: Duration
    let metrics: AlertMetrics
    /// Opens the endpoints' stored signing secrets.
    let secretBox: SecretBox
    let now: @Sendable () -> Date
    var logger: Logger { database.logger }

    /// Up to `limit` due deliveries, leased, with where they go; those whose endpoint went away are cancelled.
    func claim(limit: Int) async throws -> [ClaimedDelivery] {
        try await database.withWorker { connection in
            var claimed = try await queue.claimWebhooks(limit: limit, connection)
            guard !claimed.isEmpty else { return [] }
            let targets = try await endpoints.targets(claimed.compactMap { c in c.endpoint.map { (c.tenant, $0) } }, connection)
            var gone: [(tenant: UUID, id: UUID)] = []
            claimed = claimed.compactMap { delivery in
                guard let endpoint = delivery.endpoint, let target = targets[endpoint] else {
                    gone.append((delivery.tenant, delivery.id))
                    return nil
                }
                var d = delivery
                d.url = target.url
                d.failingSince = target.failingSince
                // A secret that does not open (its key is not configured) leaves none: the attempt then fails unsent
                // and is retried, rather than going out unsigned.
                for stored in target.secrets {
                    do {
                        d.secrets.append(try secretBox.open(stored, endpoint: endpoint))
                    } catch {
                        logger.error("cannot open a webhook signing secret",
                                     metadata: ["error": "\(error)", "tenant": "\(d.tenant)", "endpoint": "\(endpoint)"])
                    }
                }
                return d
            }
            try await queue.cancel(.deliveries(gone), .endpointGone, connection)
            return claimed
        }
    }

    /// Records an attempt and applies the retry rules and the endpoint's health.
    func record(_ delivery: ClaimedDelivery, started: Date, _ report: AttemptReport) async throws {
        var lifecycle = delivery.lifecycle
        let actions = lifecycle.attempted(webhook: report, policy: policy, random: Double.random(in: 0...1))
        try await database.withWorker { connection in
            try await queue.perform(actions, for: delivery, started: started, report, connection)
            guard let endpoint = delivery.endpoint else { return }
            for action in actions {
                switch action {
                case .endpointHealthy where delivery.failingSince != nil:
                    try await endpoints.setFailingSince(delivery.tenant, endpoint, nil, connection)
                case .endpointFailed:
                    try await judge(delivery.tenant, endpoint, connection)
                case .disableEndpoint(let reason):
                    guard let health = try await endpoints.lockHealth(delivery.tenant, endpoint, connection), health.enabled else { break }
                    try await disable(delivery.tenant, endpoint, owner: health.owner, url: health.url, reason: reason, connection)
                default: break
                }
            }
        }
        if case .recordAttempt(let outcome)? = actions.first { metrics.attempt(channel: "webhook", outcome: outcome) }
    }

    /// After a failure: the endpoint has been failing since its first failure after its last success; once that is
    /// `disableAfter` old, it is disabled.
    private func judge(_ tenant: UUID, _ endpoint: UUID, _ connection: PostgresConnection) async throws {
        guard let row = try await endpoints.lockHealth(tenant, endpoint, connection), row.enabled else { return }
        var health = EndpointHealth(failingSince: row.failingSince)
        if health.record(success: false, at: now(), disableAfter: disableAfter) == .disable {
            try await disable(tenant, endpoint, owner: row.owner, url: row.url,
                              reason: "every delivery failed for \(Self.describe(disableAfter))", connection)
        } else if health.failingSince != row.failingSince {
            try await endpoints.setFailingSince(tenant, endpoint, health.failingSince, connection)
        }
    }

    /// Disables an endpoint, cancels what it had queued and tells its owner on their other channels.
    private func disable(_ tenant: UUID, _ endpoint: UUID, owner: UUID, url: String, reason: String, _ connection: PostgresConnection)
        async throws
    {
        try await endpoints.disable(tenant, endpoint, reason: reason, connection)
        try await queue.cancel(.endpoints(tenant: tenant, [endpoint]), .endpointDisabled, connection)
        let data = AlertData(endpointId: endpoint.uuidString.lowercased(), url: url,
                             message: "Alerts to this webhook stopped: \(reason). Fix the endpoint and enable it again.", silent: false)
        try await notices.notify(tenant: tenant, user: owner, type: "webhook.disabled", data: data, exceptEndpoint: endpoint, connection)
    }

    /// `5 days`, `36 hours`, `90 seconds`.
    static func describe(_ duration: Duration) -> String {
        let seconds = Int(duration.milliseconds / 1000)
        if seconds >= 2 * 86_400 { return "\(seconds / 86_400) days" }
        if seconds >= 2 * 3600 { return "\(seconds / 3600) hours" }
        return "\(seconds) seconds"
    }

    /// Deletes up to `batch` finished deliveries older than `days` (both channels); returns how many went.
    func pruneHistory(olderThanDays days: Int, batch: Int) async throws -> Int {
        try await database.withWorker { connection in
            let tenants = try await notices.plans.plans(forTenants: nil, connection).keys.sorted { $0.uuidString < $1.uuidString }
            return try await queue.pruneFinished(tenants: tenants, olderThanDays: days, batch: batch, connection)
        }
    }
}
