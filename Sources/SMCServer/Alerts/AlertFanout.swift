import Foundation
import Logging
import PostgresNIO
import SMCAPI
import SMCEngine
import SMCSync

/// Turns outbox events (written by the pipeline with each signal) into deliveries: for every user of the tenant,
/// one per enabled webhook endpoint that takes the event type and one for their linked Telegram chat, each judged by
/// the user's alert preferences and the plan's daily cap (suppressed ones are stored with their reason). The events
/// are deleted in the same transaction, so a crash repeats the whole step or none of it; `UNIQUE (tenant, event,
/// target)` makes a repeat harmless anyway.
///
/// One tenant per step (its outbox rows claimed with SKIP LOCKED, the tenant serialised by a transaction-level
/// advisory lock): the daily cap is counted exactly even with several processes fanning out.
struct AlertFanout: Sendable {
    let database: Database
    let now: @Sendable () -> Date
    var logger: Logger { database.logger }

    struct Channels: Sendable {
        var webhooks: [(id: UUID, user: UUID, eventTypes: [String])] = []
        var telegramUsers: Set<UUID> = []
        var users: [UUID] { Array(Set(webhooks.map(\.user)).union(telegramUsers)).sorted { $0.uuidString < $1.uuidString } }
    }

    /// Fans out up to `limit` queued events of one tenant; returns how many events (0: none queued).
    func processNext(limit: Int = 200) async throws -> Int {
        try await database.withWorker { connection in
            let first = try await connection.query(
                "SELECT tenant_id FROM alert_outbox ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED", logger: logger
            ).collect().first?.decode(UUID.self)
            guard let tenant = first else { return 0 }
            try await connection.query(
                "SELECT pg_advisory_xact_lock(hashtextextended('smc.alerts.fanout:' || \(tenant.uuidString.lowercased()), 0))",
                logger: logger)
            var events: [(id: UUID, type: String, signal: UUID?, at: Date)] = []
            let rows = try await connection.query(
                """
                SELECT event_id, event_type, signal_id, created_at FROM alert_outbox WHERE tenant_id = \(tenant)
                ORDER BY created_at, event_id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                """, logger: logger)
            for try await (id, type, signal, at) in rows.decode((UUID, String, UUID?, Date).self) { events.append((id, type, signal, at)) }
            guard !events.isEmpty else { return 0 }
            try await fanOut(tenant: tenant, events: events, connection)
            try await connection.query(
                "DELETE FROM alert_outbox WHERE tenant_id = \(tenant) AND event_id = ANY(\(events.map(\.id)))", logger: logger)
            return events.count
        }
    }

    private func fanOut(tenant: UUID, events: [(id: UUID, type: String, signal: UUID?, at: Date)], _ connection: PostgresConnection)
        async throws
    {
        let plan = try await connection.query(
            "SELECT p.alerts_per_day, p.telegram, p.max_webhooks FROM tenants t JOIN plans p USING (plan_id) WHERE t.tenant_id = \(tenant)",
            logger: logger
        ).collect().first?.decode((Int, Bool, Int).self)
        guard let (dailyCap, telegramAllowed, maxWebhooks) = plan else { return }  // the tenant is gone
        let channels = try await Self.channels(tenant: tenant, telegram: telegramAllowed, maxWebhooks: maxWebhooks, connection, logger: logger)
        guard !channels.users.isEmpty else { return }
        var preferences: [UUID: AlertPreferences] = [:]
        for try await (user, body) in try await connection.query(
            "SELECT user_id, body::text FROM user_settings WHERE tenant_id = \(tenant) AND kind = 'alerts'", logger: logger
        ).decode((UUID, String).self) {
            preferences[user] = try? JSONDecoder().decode(AlertPreferences.self, from: Data(body.utf8))
        }
        var sentToday = try await connection.query(
            """
            SELECT count(DISTINCT event_id)::int FROM alert_deliveries
            WHERE tenant_id = \(tenant) AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
              AND status <> 'suppressed' AND event_type IN ('signal.created', 'signal.outcome')
            """, logger: logger
        ).collect().first!.decode(Int.self)
        let signals = try await Self.signalData(tenant: tenant, ids: events.compactMap(\.signal), connection, logger: logger)

        var batch = DeliveryBatch()
        let now = now()
        for event in events {
            var data: AlertData
            var confidence: Double?
            if let id = event.signal {
                guard let signal = signals[id] else { continue }  // pruned since: nothing to tell
                data = signal
                confidence = signal.confidence
                if event.type == "signal.created" {
                    data.outcome = nil
                    data.outcomeTime = nil
                    data.outcomeR = nil
                    data.exitPrice = nil
                }
            } else {
                data = AlertData(message: "A test alert from smc.", silent: false)
            }
            var delivered = false
            for user in channels.users {
                let verdict = AlertRules.decide(
                    eventType: event.type, confidence: confidence, preferences: preferences[user] ?? AlertPreferences.defaults,
                    now: now, sentToday: sentToday, dailyCap: dailyCap)
                var userData = data
                if case .deliver(let silent) = verdict { userData.silent = silent }
                let payload = try AlertEvent(type: event.type, timestamp: CivilTime.rfc3339(Int64(event.at.timeIntervalSince1970)), data: userData).encoded()
                for webhook in channels.webhooks where webhook.user == user && webhook.eventTypes.contains(event.type) {
                    batch.add(event: event.id, type: event.type, user: user, endpoint: webhook.id, signal: event.signal,
                              payload: payload, verdict: verdict)
                    if case .deliver = verdict { delivered = true }
                }
                if channels.telegramUsers.contains(user) {
                    batch.add(event: event.id, type: event.type, user: user, endpoint: nil, signal: event.signal, payload: payload,
                              verdict: verdict)
                    if case .deliver = verdict { delivered = true }
                }
            }
            if delivered && event.type != "alert.test" { sentToday += 1 }
        }
        try await batch.insert(tenant: tenant, connection, logger: logger)
    }

    /// The tenant's live channels: enabled endpoints within the plan's count (oldest first) and linked chats.
    static func channels(tenant: UUID, telegram: Bool, maxWebhooks: Int, _ connection: PostgresConnection, logger: Logger)
        async throws -> Channels
    {
        var channels = Channels()
        let rows = try await connection.query(
            """
            SELECT endpoint_id, user_id, event_types FROM webhook_endpoints WHERE tenant_id = \(tenant) AND enabled
            ORDER BY created_at, endpoint_id LIMIT \(maxWebhooks)
            """, logger: logger)
        for try await (id, user, types) in rows.decode((UUID, UUID, [String]).self) { channels.webhooks.append((id, user, types)) }
        if telegram {
            for try await user in try await connection.query(
                "SELECT user_id FROM telegram_links WHERE tenant_id = \(tenant)", logger: logger
            ).decode(UUID.self) {
                channels.telegramUsers.insert(user)
            }
        }
        return channels
    }

    /// The `data` of the signals the events are about.
    static func signalData(tenant: UUID, ids: [UUID], _ connection: PostgresConnection, logger: Logger) async throws -> [UUID: AlertData] {
        guard !ids.isEmpty else { return [:] }
        var out: [UUID: AlertData] = [:]
        let rows = try await connection.query(
            """
            SELECT signal_id, symbol, timeframe, direction, setup_type, confidence, level, candle_time, close_time, entry, stop,
                   targets, reward_risk, regime, killzone, outcome, outcome_time, outcome_r, exit_price
            FROM signals WHERE tenant_id = \(tenant) AND signal_id = ANY(\(ids))
            """, logger: logger)
        for try await row in rows {
            let r = row.makeRandomAccess()
            let id = try r[0].decode(UUID.self)
            func time(_ i: Int) throws -> String? {
                try r[i].decode(Date?.self).map { CivilTime.rfc3339(Int64($0.timeIntervalSince1970)) }
            }
            out[id] = AlertData(
                signalId: id.uuidString.lowercased(), symbol: try r[1].decode(String.self), timeframe: try r[2].decode(String.self),
                direction: try r[3].decode(Int16.self) > 0 ? "long" : "short", setupType: try r[4].decode(String.self),
                confidence: try r[5].decode(Double.self), level: try r[6].decode(String.self), candleTime: try time(7),
                closeTime: try time(8), entry: try r[9].decode(Double.self), stop: try r[10].decode(Double.self),
                targets: try r[11].decode([Double].self), rewardRisk: try r[12].decode(Double.self),
                regime: try r[13].decode(String?.self), killzone: try r[14].decode(String?.self), outcome: try r[15].decode(String?.self),
                outcomeTime: try time(16), outcomeR: try r[17].decode(Double?.self), exitPrice: try r[18].decode(Double?.self),
                silent: false)
        }
        return out
    }
}

/// Delivery rows to insert in one statement.
struct DeliveryBatch {
    var ids: [UUID] = [], events: [UUID] = [], types: [String] = [], users: [UUID] = [], channels: [String] = []
    var targets: [String] = [], endpoints: [String] = [], signals: [String] = [], payloads: [String] = []
    var silent: [Int16] = [], statuses: [String] = [], reasons: [String] = []

    var isEmpty: Bool { ids.isEmpty }

    mutating func add(
        event: UUID, type: String, user: UUID, endpoint: UUID?, signal: UUID?, payload: String, verdict: AlertRules.Verdict
    ) {
        ids.append(UUIDv7.generate())
        events.append(event)
        types.append(type)
        users.append(user)
        channels.append(endpoint == nil ? "telegram" : "webhook")
        targets.append(endpoint.map { "webhook:\($0.uuidString.lowercased())" } ?? "telegram:\(user.uuidString.lowercased())")
        endpoints.append(endpoint?.uuidString.lowercased() ?? "")
        signals.append(signal?.uuidString.lowercased() ?? "")
        payloads.append(payload)
        switch verdict {
        case .deliver(let quiet):
            silent.append(quiet ? 1 : 0)
            statuses.append("pending")
            reasons.append("")
        case .suppress(let reason):
            silent.append(0)
            statuses.append("suppressed")
            reasons.append(reason)
        }
    }

    /// Inserts the rows (pending ones due now); returns the ids inserted (a repeat of an event's target is skipped).
    @discardableResult
    func insert(tenant: UUID, _ connection: PostgresConnection, logger: Logger) async throws -> [UUID] {
        guard !isEmpty else { return [] }
        return try await connection.query(
            """
            INSERT INTO alert_deliveries (tenant_id, delivery_id, event_id, event_type, user_id, channel, target, endpoint_id,
                signal_id, payload, silent, status, reason, next_attempt_at, created_at)
            SELECT \(tenant), u.id, u.event, u.type, u.usr, u.channel, u.target, nullif(u.endpoint, '')::uuid,
                   nullif(u.signal, '')::uuid, u.payload, u.silent = 1, u.status, nullif(u.reason, ''),
                   CASE WHEN u.status = 'pending' THEN now() END, clock_timestamp()
            FROM unnest(\(ids)::uuid[], \(events)::uuid[], \(types)::text[], \(users)::uuid[], \(channels)::text[],
                        \(targets)::text[], \(endpoints)::text[], \(signals)::text[], \(payloads)::text[], \(silent)::int2[],
                        \(statuses)::text[], \(reasons)::text[])
                 AS u(id, event, type, usr, channel, target, endpoint, signal, payload, silent, status, reason)
            ON CONFLICT (tenant_id, event_id, target) DO NOTHING
            RETURNING delivery_id
            """, logger: logger
        ).collect().map { try $0.decode(UUID.self) }
    }
}
