import Foundation
import Logging
import PostgresNIO
import SMCEngine
import SMCSync

/// A delivery taken for one attempt (its lease held until `leaseToken` is released by recording the attempt).
struct ClaimedDelivery: Sendable {
    var tenant: UUID
    var id: UUID
    var eventType: String
    var user: UUID
    var endpoint: UUID?
    var payload: String
    var silent: Bool
    /// The attempt's number over the delivery's life (1-based), and within the current round (the schedule's position).
    var attempt: Int
    var roundAttempt: Int
    var leaseToken: UUID
    /// Webhooks: where and with what to sign. Telegram: the chat.
    var url: String?
    var secrets: [String] = []
    var chat: Int64?

    var messageID: String { StandardWebhooks.messageID(id) }
}

/// The SQL of the delivery queue, as the worker role: claims with FOR UPDATE SKIP LOCKED and a lease, the attempt
/// record, retries, endpoint health and the notices that tell a user about a channel that stopped working.
struct DeliveryStore: Sendable {
    let database: Database
    let policy: RetryPolicy
    let disableAfter: Duration
    /// How long a claimed delivery is ours before another worker may try it (a crashed process's leases expire).
    let lease: Duration
    let perEndpoint: Int
    let metrics: AlertMetrics
    /// Opens the endpoints' stored signing secrets.
    let secretBox: SecretBox
    let now: @Sendable () -> Date
    var logger: Logger { database.logger }

    var leaseInterval: String { "\(Int64(lease.milliseconds)) milliseconds" }

    // MARK: webhooks

    /// Up to `limit` due webhook deliveries, oldest first, never more than `perEndpoint` in flight per endpoint (across
    /// processes): an endpoint at its limit is skipped in the query itself, so its backlog cannot crowd the others out.
    func claimWebhooks(limit: Int) async throws -> [ClaimedDelivery] {
        guard limit > 0 else { return [] }
        return try await database.withWorker { connection in
            var candidates: [(UUID, UUID, UUID)] = []
            let rows = try await connection.query(
                """
                WITH busy AS (
                    SELECT tenant_id, endpoint_id FROM alert_deliveries
                    WHERE status = 'sending' AND next_attempt_at > now() AND channel = 'webhook'
                    GROUP BY tenant_id, endpoint_id HAVING count(*) >= \(perEndpoint)
                )
                SELECT d.tenant_id, d.delivery_id, d.endpoint_id FROM alert_deliveries d
                WHERE d.status IN ('pending', 'sending') AND d.next_attempt_at <= now() AND d.channel = 'webhook'
                  AND NOT EXISTS (SELECT 1 FROM busy b WHERE b.tenant_id = d.tenant_id AND b.endpoint_id = d.endpoint_id)
                ORDER BY d.next_attempt_at LIMIT \(limit * 4) FOR UPDATE OF d SKIP LOCKED
                """, logger: logger)
            for try await row in rows.decode((UUID, UUID, UUID).self) { candidates.append(row) }
            guard !candidates.isEmpty else { return [] }
            var busy: [UUID: Int] = [:]
            let endpoints = Array(Set(candidates.map(\.2)))
            let tenants = endpoints.map { e in candidates.first { $0.2 == e }!.0 }
            for try await (endpoint, n) in try await connection.query(
                """
                SELECT d.endpoint_id, count(*)::int FROM alert_deliveries d
                JOIN unnest(\(tenants)::uuid[], \(endpoints)::uuid[]) AS u(t, e) ON d.tenant_id = u.t AND d.endpoint_id = u.e
                WHERE d.status = 'sending' AND d.next_attempt_at > now()
                GROUP BY d.endpoint_id
                """, logger: logger
            ).decode((UUID, Int).self) {
                busy[endpoint] = n
            }
            var chosen: [(UUID, UUID)] = []
            for (tenant, id, endpoint) in candidates where chosen.count < limit && busy[endpoint, default: 0] < perEndpoint {
                busy[endpoint, default: 0] += 1
                chosen.append((tenant, id))
            }
            guard !chosen.isEmpty else { return [] }
            let token = UUIDv7.generate()
            var claimed: [ClaimedDelivery] = []
            var gone: [(UUID, UUID)] = []
            let updated = try await connection.query(
                """
                UPDATE alert_deliveries d SET status = 'sending', next_attempt_at = now() + \(leaseInterval)::interval,
                    lease_token = \(token), attempts = d.attempts + 1, round_attempts = d.round_attempts + 1
                FROM unnest(\(chosen.map(\.0))::uuid[], \(chosen.map(\.1))::uuid[]) AS u(t, id)
                WHERE d.tenant_id = u.t AND d.delivery_id = u.id
                RETURNING d.tenant_id, d.delivery_id, d.event_type, d.user_id, d.endpoint_id, d.payload, d.silent, d.attempts,
                    d.round_attempts,
                    (SELECT CASE WHEN e.enabled THEN e.url END FROM webhook_endpoints e
                      WHERE e.tenant_id = d.tenant_id AND e.endpoint_id = d.endpoint_id),
                    (SELECT array_remove(ARRAY[e.secret, CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END], NULL)
                       FROM webhook_endpoints e WHERE e.tenant_id = d.tenant_id AND e.endpoint_id = d.endpoint_id)
                """, logger: logger)
            for try await (tenant, id, type, user, endpoint, payload, silent, attempt, round, url, secrets) in updated.decode(
                (UUID, UUID, String, UUID, UUID?, String, Bool, Int, Int, String?, [String]?).self)
            {
                guard let url else {
                    gone.append((tenant, id))
                    continue
                }
                // A secret that does not open (its key is not configured) leaves none: the attempt then fails unsent
                // and is retried, rather than going out unsigned.
                var opened: [String] = []
                if let endpoint {
                    for stored in secrets ?? [] {
                        do {
                            opened.append(try secretBox.open(stored, endpoint: endpoint))
                        } catch {
                            logger.error("cannot open a webhook signing secret",
                                         metadata: ["error": "\(error)", "tenant": "\(tenant)", "endpoint": "\(endpoint)"])
                        }
                    }
                }
                claimed.append(ClaimedDelivery(
                    tenant: tenant, id: id, eventType: type, user: user, endpoint: endpoint, payload: payload, silent: silent,
                    attempt: attempt, roundAttempt: round, leaseToken: token, url: url, secrets: opened))
            }
            if !gone.isEmpty {
                try await connection.query(
                    """
                    UPDATE alert_deliveries d SET status = 'cancelled', reason = 'endpoint disabled or removed', next_attempt_at = NULL,
                        lease_token = NULL
                    FROM unnest(\(gone.map(\.0))::uuid[], \(gone.map(\.1))::uuid[]) AS u(t, id)
                    WHERE d.tenant_id = u.t AND d.delivery_id = u.id
                    """, logger: logger)
            }
            return claimed
        }
    }

    /// Records a webhook attempt and applies the retry rules and the endpoint's health.
    func recordWebhook(_ delivery: ClaimedDelivery, started: Date, _ report: AttemptReport) async throws {
        let action = policy.next(afterAttempt: delivery.roundAttempt, report.result, random: Double.random(in: 0...1))
        let outcome: String
        switch (action, report.result) {
        case (.delivered, _): outcome = "delivered"
        case (.disableEndpoint, _): outcome = "gone"
        case (_, .refused): outcome = "refused"
        default: outcome = "failed"
        }
        if action == .delivered, let endpoint = delivery.endpoint {
            // The common case in one statement: the attempt, the delivery, and a healthy endpoint that stays healthy
            // (its row is locked only when it was failing).
            let d = delivery, latency = Int(report.latency.milliseconds.rounded())
            try await database.withWorker { connection in
                try await connection.query(
                    """
                    WITH attempt AS (
                        INSERT INTO alert_attempts (tenant_id, delivery_id, attempt, started_at, outcome, status_code, latency_ms, error)
                        VALUES (\(d.tenant), \(d.id), \(d.attempt), \(started), 'delivered', \(report.statusCode), \(latency), NULL)
                        ON CONFLICT DO NOTHING
                    ), endpoint AS (
                        UPDATE webhook_endpoints SET failing_since = NULL
                        WHERE tenant_id = \(d.tenant) AND endpoint_id = \(endpoint) AND failing_since IS NOT NULL
                    )
                    UPDATE alert_deliveries SET status = 'delivered', reason = NULL, next_attempt_at = NULL, delivered_at = now(),
                        lease_token = NULL, last_status_code = \(report.statusCode), last_error = NULL, last_latency_ms = \(latency)
                    WHERE tenant_id = \(d.tenant) AND delivery_id = \(d.id) AND status = 'sending' AND lease_token = \(d.leaseToken)
                    """, logger: logger)
            }
            metrics.attempt(channel: "webhook", outcome: outcome)
            return
        }
        try await database.withWorker { connection in
            try await insertAttempt(delivery, started: started, outcome: outcome, report, connection)
            try await finish(delivery, action: action, report: report, connection)
            guard let endpoint = delivery.endpoint else { return }
            let row = try await connection.query(
                """
                SELECT failing_since, enabled, url, user_id FROM webhook_endpoints
                WHERE tenant_id = \(delivery.tenant) AND endpoint_id = \(endpoint) FOR UPDATE
                """, logger: logger
            ).collect().first
            guard let (since, enabled, url, owner) = try row?.decode((Date?, Bool, String, UUID).self), enabled else { return }
            var health = EndpointHealth(failingSince: since)
            let verdict = health.record(success: action == .delivered, at: now(), disableAfter: disableAfter)
            if action == .disableEndpoint || verdict == .disable {
                let why = action == .disableEndpoint
                    ? "the endpoint answered 410 Gone"
                    : "every delivery failed for \(Self.describe(disableAfter))"
                try await disableEndpoint(tenant: delivery.tenant, endpoint: endpoint, owner: owner, url: url, reason: why, connection)
            } else if health.failingSince != since {
                try await connection.query(
                    """
                    UPDATE webhook_endpoints SET failing_since = \(health.failingSince)
                    WHERE tenant_id = \(delivery.tenant) AND endpoint_id = \(endpoint)
                    """, logger: logger)
            }
        }
        metrics.attempt(channel: "webhook", outcome: outcome)
    }

    /// `5 days`, `36 hours`, `90 seconds`.
    static func describe(_ duration: Duration) -> String {
        let seconds = Int(duration.milliseconds / 1000)
        if seconds >= 2 * 86_400 { return "\(seconds / 86_400) days" }
        if seconds >= 2 * 3600 { return "\(seconds / 3600) hours" }
        return "\(seconds) seconds"
    }

    func insertAttempt(_ d: ClaimedDelivery, started: Date, outcome: String, _ report: AttemptReport, _ connection: PostgresConnection)
        async throws
    {
        let latency = Int(report.latency.milliseconds.rounded())
        try await connection.query(
            """
            INSERT INTO alert_attempts (tenant_id, delivery_id, attempt, started_at, outcome, status_code, latency_ms, error)
            VALUES (\(d.tenant), \(d.id), \(d.attempt), \(started), \(outcome), \(report.statusCode), \(latency), \(report.error))
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }

    /// Moves the delivery on after an attempt (only while our lease holds: a lease that expired meanwhile belongs to
    /// whoever took it next).
    func finish(_ d: ClaimedDelivery, action: RetryPolicy.Action, report: AttemptReport, _ connection: PostgresConnection,
                keepRound: Bool = false) async throws
    {
        let latency = Int(report.latency.milliseconds.rounded())
        let status: String, next: String?, reason: String?
        switch action {
        case .delivered: (status, next, reason) = ("delivered", nil, nil)
        case .retry(let after): (status, next, reason) = ("pending", "\(Int64(after.milliseconds)) milliseconds", nil)
        case .dead: (status, next, reason) = ("dead", nil, "no attempt succeeded: \(report.error ?? "failed")")
        case .disableEndpoint: (status, next, reason) = ("dead", nil, "the endpoint answered 410 Gone and was disabled")
        }
        try await connection.query(
            """
            UPDATE alert_deliveries SET status = \(status), reason = \(reason),
                next_attempt_at = CASE WHEN \(next)::interval IS NULL THEN NULL ELSE now() + \(next)::interval END,
                delivered_at = CASE WHEN \(status) = 'delivered' THEN now() END, lease_token = NULL,
                round_attempts = round_attempts - \(keepRound ? 1 : 0),
                last_status_code = \(report.statusCode), last_error = \(report.error), last_latency_ms = \(latency)
            WHERE tenant_id = \(d.tenant) AND delivery_id = \(d.id) AND status = 'sending' AND lease_token = \(d.leaseToken)
            """, logger: logger)
    }

    /// Disables an endpoint, cancels what it had queued and tells its owner on their other channels.
    func disableEndpoint(tenant: UUID, endpoint: UUID, owner: UUID, url: String, reason: String, _ connection: PostgresConnection)
        async throws
    {
        try await connection.query(
            """
            UPDATE webhook_endpoints SET enabled = false, disabled_reason = \(reason), updated_at = now()
            WHERE tenant_id = \(tenant) AND endpoint_id = \(endpoint)
            """, logger: logger)
        try await connection.query(
            """
            UPDATE alert_deliveries SET status = 'cancelled', reason = 'endpoint disabled', next_attempt_at = NULL, lease_token = NULL
            WHERE tenant_id = \(tenant) AND endpoint_id = \(endpoint) AND status IN ('pending', 'sending')
            """, logger: logger)
        let data = AlertData(endpointId: endpoint.uuidString.lowercased(), url: url,
                             message: "Alerts to this webhook stopped: \(reason). Fix the endpoint and enable it again.", silent: false)
        try await notify(tenant: tenant, user: owner, type: "webhook.disabled", data: data, exceptEndpoint: endpoint, connection)
    }

    /// A notice to a user about one of their channels, on their others: Telegram when linked and the plan has it,
    /// else their other enabled webhooks.
    func notify(tenant: UUID, user: UUID, type: String, data: AlertData, exceptEndpoint: UUID? = nil, telegram: Bool = true,
                _ connection: PostgresConnection) async throws
    {
        let payload = try AlertEvent(type: type, timestamp: CivilTime.rfc3339(Int64(now().timeIntervalSince1970)), data: data).encoded()
        var batch = DeliveryBatch()
        let event = UUIDv7.generate()
        let linked = telegram ? try await connection.query(
            """
            SELECT 1 FROM telegram_links l JOIN tenants t USING (tenant_id) JOIN plans p USING (plan_id)
            WHERE l.tenant_id = \(tenant) AND l.user_id = \(user) AND p.telegram
            """, logger: logger
        ).collect().count > 0 : false
        if linked {
            batch.add(event: event, type: type, user: user, endpoint: nil, signal: nil, payload: payload, verdict: .deliver(silent: false))
        } else {
            for try await endpoint in try await connection.query(
                """
                SELECT endpoint_id FROM webhook_endpoints
                WHERE tenant_id = \(tenant) AND user_id = \(user) AND enabled AND endpoint_id <> \(exceptEndpoint ?? UUID())
                """, logger: logger
            ).decode(UUID.self) {
                batch.add(event: event, type: type, user: user, endpoint: endpoint, signal: nil, payload: payload,
                          verdict: .deliver(silent: false))
            }
        }
        if batch.isEmpty {
            logger.notice("no other channel to tell the user", metadata: ["tenant": "\(tenant)", "user": "\(user)", "notice": "\(type)"])
        }
        try await batch.insert(tenant: tenant, connection, logger: logger)
    }

    // MARK: Retention

    /// Deletes up to `batch` finished deliveries (their attempts cascade) queued more than `days` ago, tenant by tenant
    /// through `alert_deliveries_finished`; rows another process is pruning are skipped. Returns how many went.
    func pruneHistory(olderThanDays days: Int, batch: Int) async throws -> Int {
        try await database.withWorker { connection in
            try await connection.query(
                """
                WITH doomed AS (
                    SELECT d.tenant_id, d.delivery_id FROM tenants t CROSS JOIN LATERAL (
                        SELECT tenant_id, delivery_id FROM alert_deliveries
                        WHERE tenant_id = t.tenant_id AND status IN ('delivered', 'dead', 'suppressed', 'cancelled')
                          AND created_at < now() - make_interval(days => \(days)::int)
                        ORDER BY created_at LIMIT \(batch) FOR UPDATE SKIP LOCKED
                    ) d
                    LIMIT \(batch)
                ), gone AS (
                    DELETE FROM alert_deliveries d USING doomed x WHERE d.tenant_id = x.tenant_id AND d.delivery_id = x.delivery_id
                    RETURNING 1
                )
                SELECT count(*)::int FROM gone
                """, logger: logger
            ).collect().first?.decode(Int.self) ?? 0
        }
    }

    // MARK: Telegram

    /// The oldest unfinished Telegram delivery of each chat, when it is due: a chat's messages go one at a time, in
    /// order (a later one never overtakes an earlier one that waits for a retry).
    func telegramHeads(limit: Int) async throws -> [(tenant: UUID, id: UUID, chat: Int64?)] {
        try await database.withWorker { connection in
            var heads: [(UUID, UUID, Int64?)] = []
            let rows = try await connection.query(
                """
                SELECT h.tenant_id, h.delivery_id, l.chat_id FROM (
                    SELECT DISTINCT ON (tenant_id, target) tenant_id, delivery_id, user_id, next_attempt_at
                    FROM alert_deliveries WHERE channel = 'telegram' AND status IN ('pending', 'sending')
                    ORDER BY tenant_id, target, created_at, delivery_id
                ) h LEFT JOIN telegram_links l ON l.tenant_id = h.tenant_id AND l.user_id = h.user_id
                WHERE h.next_attempt_at <= now() ORDER BY h.next_attempt_at LIMIT \(limit)
                """, logger: logger)
            for try await row in rows.decode((UUID, UUID, Int64?).self) { heads.append(row) }
            return heads
        }
    }

    /// Leases one Telegram delivery (nil when it is no longer due, or its chat is gone: then it is cancelled).
    func claimTelegram(tenant: UUID, id: UUID) async throws -> ClaimedDelivery? {
        try await database.withWorker { connection in
            let token = UUIDv7.generate()
            let row = try await connection.query(
                """
                UPDATE alert_deliveries d SET status = 'sending', next_attempt_at = now() + \(leaseInterval)::interval,
                    lease_token = \(token), attempts = d.attempts + 1, round_attempts = d.round_attempts + 1
                WHERE d.tenant_id = \(tenant) AND d.delivery_id = \(id) AND d.status IN ('pending', 'sending')
                  AND d.next_attempt_at <= now()
                RETURNING d.event_type, d.user_id, d.payload, d.silent, d.attempts, d.round_attempts,
                    (SELECT l.chat_id FROM telegram_links l WHERE l.tenant_id = d.tenant_id AND l.user_id = d.user_id)
                """, logger: logger
            ).collect().first
            guard let (type, user, payload, silent, attempt, round, chat) = try row?.decode((String, UUID, String, Bool, Int, Int, Int64?).self)
            else { return nil }
            guard let chat else {
                try await connection.query(
                    """
                    UPDATE alert_deliveries SET status = 'cancelled', reason = 'Telegram is no longer linked', next_attempt_at = NULL,
                        lease_token = NULL WHERE tenant_id = \(tenant) AND delivery_id = \(id)
                    """, logger: logger)
                return nil
            }
            return ClaimedDelivery(
                tenant: tenant, id: id, eventType: type, user: user, endpoint: nil, payload: payload, silent: silent, attempt: attempt,
                roundAttempt: round, leaseToken: token, chat: chat)
        }
    }

    enum TelegramOutcome: Sendable {
        case sent
        /// 429: wait, then the same message again (not counted against the schedule: nothing is dropped).
        case throttled(Duration)
        /// 403: the user blocked the bot.
        case blocked
        /// 400: Telegram will never take this message.
        case rejected
        case failed
    }

    func recordTelegram(_ d: ClaimedDelivery, started: Date, _ outcome: TelegramOutcome, _ report: AttemptReport) async throws {
        switch outcome {
        case .sent: metrics.attempt(channel: "telegram", outcome: "delivered")
        case .throttled: metrics.attempt(channel: "telegram", outcome: "throttled")
        case .blocked: metrics.attempt(channel: "telegram", outcome: "blocked")
        case .rejected, .failed: metrics.attempt(channel: "telegram", outcome: "failed")
        }
        try await database.withWorker { connection in
            switch outcome {
            case .sent:
                try await insertAttempt(d, started: started, outcome: "delivered", report, connection)
                try await finish(d, action: .delivered, report: report, connection)
            case .throttled(let wait):
                try await insertAttempt(d, started: started, outcome: "throttled", report, connection)
                try await finish(d, action: .retry(after: wait), report: report, connection, keepRound: true)
            case .rejected:
                try await insertAttempt(d, started: started, outcome: "failed", report, connection)
                try await finish(d, action: .dead, report: report, connection)
            case .failed:
                try await insertAttempt(d, started: started, outcome: "failed", report, connection)
                let action = policy.next(afterAttempt: d.roundAttempt, report.result, random: Double.random(in: 0...1))
                try await finish(d, action: action, report: report, connection)
            case .blocked:
                try await insertAttempt(d, started: started, outcome: "blocked", report, connection)
                try await finish(d, action: .dead, report: report, connection)
                if let chat = d.chat {
                    try await unlink(chat: chat, reason: "the chat blocked the bot", notify: true, connection)
                }
            }
        }
    }

    /// Unlinks a chat (from whichever user it belongs to), cancels its queued messages and, when asked, tells the
    /// user on their webhooks. Returns the (tenant, user) it belonged to.
    @discardableResult
    func unlink(chat: Int64, reason: String, notify shouldNotify: Bool, _ connection: PostgresConnection) async throws -> (UUID, UUID)? {
        let row = try await connection.query(
            "DELETE FROM telegram_links WHERE chat_id = \(chat) RETURNING tenant_id, user_id", logger: logger
        ).collect().first
        guard let (tenant, user) = try row?.decode((UUID, UUID).self) else { return nil }
        try await connection.query(
            """
            UPDATE alert_deliveries SET status = 'cancelled', reason = \("Telegram unlinked: " + reason), next_attempt_at = NULL,
                lease_token = NULL
            WHERE tenant_id = \(tenant) AND user_id = \(user) AND channel = 'telegram' AND status IN ('pending', 'sending')
            """, logger: logger)
        if shouldNotify {
            let data = AlertData(message: "Telegram alerts stopped: \(reason). Link the chat again to resume them.", silent: false)
            try await notify(tenant: tenant, user: user, type: "telegram.unlinked", data: data, telegram: false, connection)
        }
        return (tenant, user)
    }
}
