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
/// A step takes up to `limit` events of any tenants (rows claimed with SKIP LOCKED, so processes share the outbox) and
/// loads what it needs for all their tenants in a handful of statements: one candle's signals for a thousand tenants
/// fan out in one transaction, not a thousand. Each tenant of the step is held by a transaction-level advisory lock
/// (taken in tenant order, so two workers cannot deadlock), so the daily cap is counted exactly.
struct AlertFanout: Sendable {
    let database: Database
    /// Signals and outcomes committed later than this after their candle closed are history, not alerted.
    var liveWindow = LiveWindow()
    let now: @Sendable () -> Date
    var logger: Logger { database.logger }

    struct Channels: Sendable {
        var webhooks: [(id: UUID, user: UUID, eventTypes: [String])] = []
        var telegramUsers: Set<UUID> = []
        var users: [UUID] { Array(Set(webhooks.map(\.user)).union(telegramUsers)).sorted { $0.uuidString < $1.uuidString } }
    }

    struct Event: Sendable {
        var tenant: UUID
        var id: UUID
        var type: String
        var signal: UUID?
        var at: Date
    }

    struct Plan: Sendable {
        var dailyCap: Int
        var telegram: Bool
        var maxWebhooks: Int
    }

    /// Fans out up to `limit` queued events; returns how many (0: none queued).
    func processNext(limit: Int = 500) async throws -> Int {
        try await database.withWorker { connection in
            var events: [Event] = []
            let rows = try await connection.query(
                """
                SELECT tenant_id, event_id, event_type, signal_id, created_at FROM alert_outbox
                ORDER BY created_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
                """, logger: logger)
            for try await (tenant, id, type, signal, at) in rows.decode((UUID, UUID, String, UUID?, Date).self) {
                events.append(Event(tenant: tenant, id: id, type: type, signal: signal, at: at))
            }
            guard !events.isEmpty else { return 0 }
            let tenants = Array(Set(events.map(\.tenant))).sorted { $0.uuidString < $1.uuidString }
            try await connection.query(
                """
                SELECT count(pg_advisory_xact_lock(hashtextextended('smc.alerts.fanout:' || t::text, 0)))
                FROM (SELECT t FROM unnest(\(tenants)::uuid[]) t ORDER BY t::text OFFSET 0) s
                """, logger: logger)
            try await fanOut(tenants: tenants, events: events, connection)
            try await connection.query(
                """
                DELETE FROM alert_outbox o USING unnest(\(events.map(\.tenant))::uuid[], \(events.map(\.id))::uuid[]) AS u(t, e)
                WHERE o.tenant_id = u.t AND o.event_id = u.e
                """, logger: logger)
            return events.count
        }
    }

    private func fanOut(tenants: [UUID], events: [Event], _ connection: PostgresConnection) async throws {
        var plans: [UUID: Plan] = [:]
        for try await (tenant, cap, telegram, webhooks) in try await connection.query(
            """
            SELECT t.tenant_id, p.alerts_per_day, p.telegram, p.max_webhooks FROM tenants t JOIN plans p USING (plan_id)
            WHERE t.tenant_id = ANY(\(tenants))
            """, logger: logger
        ).decode((UUID, Int, Bool, Int).self) {
            plans[tenant] = Plan(dailyCap: cap, telegram: telegram, maxWebhooks: webhooks)
        }
        let channels = try await Self.channels(tenants: tenants, plans: plans, connection, logger: logger)
        guard !channels.isEmpty else { return }
        var preferences: [UUID: AlertPreferences] = [:]
        for try await (user, body) in try await connection.query(
            "SELECT user_id, body::text FROM user_settings WHERE tenant_id = ANY(\(tenants)) AND kind = 'alerts'", logger: logger
        ).decode((UUID, String).self) {
            preferences[user] = try? JSONDecoder().decode(AlertPreferences.self, from: Data(body.utf8))
        }
        var sentToday: [UUID: Int] = [:]
        for try await (tenant, n) in try await connection.query(
            """
            SELECT tenant_id, count(DISTINCT event_id)::int FROM alert_deliveries
            WHERE tenant_id = ANY(\(tenants)) AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
              AND status <> 'suppressed' AND event_type IN ('signal.created', 'signal.outcome')
            GROUP BY tenant_id
            """, logger: logger
        ).decode((UUID, Int).self) {
            sentToday[tenant] = n
        }
        let withSignal = events.filter { $0.signal != nil && channels[$0.tenant] != nil }
        let signals = try await Self.signalData(
            tenants: withSignal.map(\.tenant), ids: withSignal.map { $0.signal! }, connection, logger: logger)

        var batch = DeliveryBatch()
        let now = now()
        for event in events {
            guard let tenantChannels = channels[event.tenant], let plan = plans[event.tenant] else { continue }
            var data: AlertData
            var confidence: Double?
            var historical = false
            if let id = event.signal {
                guard let signal = signals[id] else { continue }  // pruned since: nothing to tell
                data = signal.data
                confidence = signal.data.confidence
                // The candle the event is about: the signal's for `signal.created`, the deciding one for an outcome.
                let candleClose = event.type == "signal.outcome"
                    ? signal.outcomeTime.map { $0.addingTimeInterval(Double(signal.timeframeSeconds)) } ?? signal.closeTime
                    : signal.closeTime
                historical = liveWindow.isHistorical(candleClose: candleClose, committed: event.at, timeframeSeconds: signal.timeframeSeconds)
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
            for user in tenantChannels.users {
                let verdict: AlertRules.Verdict = historical ? .suppress(reason: "historical") : AlertRules.decide(
                    eventType: event.type, confidence: confidence, preferences: preferences[user] ?? AlertPreferences.defaults,
                    now: now, sentToday: sentToday[event.tenant, default: 0], dailyCap: plan.dailyCap)
                var userData = data
                if case .deliver(let silent) = verdict { userData.silent = silent }
                let payload = try AlertEvent(type: event.type, timestamp: CivilTime.rfc3339(Int64(event.at.timeIntervalSince1970)), data: userData).encoded()
                for webhook in tenantChannels.webhooks where webhook.user == user && webhook.eventTypes.contains(event.type) {
                    batch.add(tenant: event.tenant, event: event.id, type: event.type, user: user, endpoint: webhook.id, signal: event.signal,
                              payload: payload, verdict: verdict)
                    if case .deliver = verdict { delivered = true }
                }
                if tenantChannels.telegramUsers.contains(user) {
                    batch.add(tenant: event.tenant, event: event.id, type: event.type, user: user, endpoint: nil, signal: event.signal,
                              payload: payload, verdict: verdict)
                    if case .deliver = verdict { delivered = true }
                }
            }
            if delivered && event.type != "alert.test" { sentToday[event.tenant, default: 0] += 1 }
        }
        try await batch.insert(connection, logger: logger)
    }

    /// The tenants' live channels: enabled endpoints within each plan's count (oldest first) and linked chats where the
    /// plan has Telegram. Tenants without any are absent.
    static func channels(tenants: [UUID], plans: [UUID: Plan], _ connection: PostgresConnection, logger: Logger)
        async throws -> [UUID: Channels]
    {
        var channels: [UUID: Channels] = [:]
        let rows = try await connection.query(
            """
            SELECT tenant_id, endpoint_id, user_id, event_types,
                   row_number() OVER (PARTITION BY tenant_id ORDER BY created_at, endpoint_id)::int
            FROM webhook_endpoints WHERE tenant_id = ANY(\(tenants)) AND enabled
            """, logger: logger)
        for try await (tenant, id, user, types, rank) in rows.decode((UUID, UUID, UUID, [String], Int).self)
        where rank <= plans[tenant]?.maxWebhooks ?? 0 {
            channels[tenant, default: Channels()].webhooks.append((id, user, types))
        }
        for try await (tenant, user) in try await connection.query(
            "SELECT tenant_id, user_id FROM telegram_links WHERE tenant_id = ANY(\(tenants))", logger: logger
        ).decode((UUID, UUID).self) where plans[tenant]?.telegram == true {
            channels[tenant, default: Channels()].telegramUsers.insert(user)
        }
        return channels
    }

    /// A signal as an alert tells it, and the candle times that say whether it is live.
    struct SignalFacts: Sendable {
        var data: AlertData
        var closeTime: Date
        var outcomeTime: Date?
        var timeframeSeconds: Int64
    }

    /// The `data` of the signals the events are about.
    static func signalData(tenants: [UUID], ids: [UUID], _ connection: PostgresConnection, logger: Logger) async throws -> [UUID: SignalFacts] {
        guard !ids.isEmpty else { return [:] }
        var out: [UUID: SignalFacts] = [:]
        let rows = try await connection.query(
            """
            SELECT s.signal_id, s.symbol, s.timeframe, s.direction, s.setup_type, s.confidence, s.level, s.candle_time, s.close_time,
                   s.entry, s.stop, s.targets, s.reward_risk, s.regime, s.killzone, s.outcome, s.outcome_time, s.outcome_r, s.exit_price
            FROM signals s JOIN unnest(\(tenants)::uuid[], \(ids)::uuid[]) AS u(t, id) ON s.tenant_id = u.t AND s.signal_id = u.id
            """, logger: logger)
        for try await row in rows {
            let r = row.makeRandomAccess()
            let id = try r[0].decode(UUID.self)
            func time(_ i: Int) throws -> String? {
                try r[i].decode(Date?.self).map { CivilTime.rfc3339(Int64($0.timeIntervalSince1970)) }
            }
            let timeframe = try r[2].decode(String.self)
            let data = AlertData(
                signalId: id.uuidString.lowercased(), symbol: try r[1].decode(String.self), timeframe: timeframe,
                direction: try r[3].decode(Int16.self) > 0 ? "long" : "short", setupType: try r[4].decode(String.self),
                confidence: try r[5].decode(Double.self), level: try r[6].decode(String.self), candleTime: try time(7),
                closeTime: try time(8), entry: try r[9].decode(Double.self), stop: try r[10].decode(Double.self),
                targets: try r[11].decode([Double].self), rewardRisk: try r[12].decode(Double.self),
                regime: try r[13].decode(String?.self), killzone: try r[14].decode(String?.self), outcome: try r[15].decode(String?.self),
                outcomeTime: try time(16), outcomeR: try r[17].decode(Double?.self), exitPrice: try r[18].decode(Double?.self),
                silent: false)
            out[id] = SignalFacts(
                data: data, closeTime: try r[8].decode(Date.self), outcomeTime: try r[16].decode(Date?.self),
                timeframeSeconds: SignalTimeframe(label: timeframe)?.seconds ?? 60)
        }
        return out
    }
}

/// Delivery rows to insert in one statement.
struct DeliveryBatch {
    var tenants: [UUID?] = []
    var ids: [UUID] = [], events: [UUID] = [], types: [String] = [], users: [UUID] = [], channels: [String] = []
    var targets: [String] = [], endpoints: [String] = [], signals: [String] = [], payloads: [String] = []
    var silent: [Int16] = [], statuses: [String] = [], reasons: [String] = []

    var isEmpty: Bool { ids.isEmpty }

    /// A row; `tenant` nil: the one `insert(tenant:)` names.
    mutating func add(
        tenant: UUID? = nil, event: UUID, type: String, user: UUID, endpoint: UUID?, signal: UUID?, payload: String,
        verdict: AlertRules.Verdict
    ) {
        tenants.append(tenant)
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
    func insert(tenant: UUID? = nil, _ connection: PostgresConnection, logger: Logger) async throws -> [UUID] {
        guard !isEmpty else { return [] }
        let tenants = self.tenants.map { $0 ?? tenant! }
        return try await connection.query(
            """
            INSERT INTO alert_deliveries (tenant_id, delivery_id, event_id, event_type, user_id, channel, target, endpoint_id,
                signal_id, payload, silent, status, reason, next_attempt_at, created_at)
            SELECT u.tenant, u.id, u.event, u.type, u.usr, u.channel, u.target, nullif(u.endpoint, '')::uuid,
                   nullif(u.signal, '')::uuid, u.payload, u.silent = 1, u.status, nullif(u.reason, ''),
                   CASE WHEN u.status = 'pending' THEN now() END, clock_timestamp()
            FROM unnest(\(tenants)::uuid[], \(ids)::uuid[], \(events)::uuid[], \(types)::text[], \(users)::uuid[], \(channels)::text[],
                        \(targets)::text[], \(endpoints)::text[], \(signals)::text[], \(payloads)::text[], \(silent)::int2[],
                        \(statuses)::text[], \(reasons)::text[])
                 AS u(tenant, id, event, type, usr, channel, target, endpoint, signal, payload, silent, status, reason)
            ON CONFLICT (tenant_id, event_id, target) DO NOTHING
            RETURNING delivery_id
            """, logger: logger
        ).collect().map { try $0.decode(UUID.self) }
    }
}
