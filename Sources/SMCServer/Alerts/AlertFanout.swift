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
    let queue: DeliveryQueue
    /// Signals and outcomes committed later than this after their candle closed are history, not alerted.
    var liveWindow = LiveWindow()
    /// Signs the charts' links (`chart_url`) and makes the signals' (`signal_url`); nil: alerts carry neither.
    var links: ChartLinks?
    let now: @Sendable () -> Date
    var logger: Logger { database.logger }

    struct Channels: Sendable {
        var webhooks: [(id: UUID, user: UUID, eventTypes: [String])] = []
        var telegramUsers: Set<UUID> = []
        var users: [UUID] { Array(Set(webhooks.map(\.user)).union(telegramUsers)).sorted { $0.uuidString < $1.uuidString } }
    }

    typealias Event = AlertOutbox.Event

    struct Plan: Sendable {
        var dailyCap: Int
        var telegram: Bool
        var maxWebhooks: Int
    }

    /// Fans out up to `limit` queued events; returns how many (0: none queued).
    func processNext(limit: Int = 500) async throws -> Int {
        try await database.withWorker { connection in
            let events = try await AlertOutbox.take(limit: limit, connection, logger: logger)
            guard !events.isEmpty else { return 0 }
            let tenants = Array(Set(events.map(\.tenant))).sorted { $0.uuidString < $1.uuidString }
            try await connection.query(
                """
                SELECT count(pg_advisory_xact_lock(hashtextextended('smc.alerts.fanout:' || t::text, 0)))
                FROM (SELECT t FROM unnest(\(tenants)::uuid[]) t ORDER BY t::text OFFSET 0) s
                """, logger: logger)
            try await fanOut(tenants: tenants, events: events, connection)
            try await AlertOutbox.remove(events, connection, logger: logger)
            return events.count
        }
    }

    private func fanOut(tenants: [UUID], events: [Event], _ connection: PostgresConnection) async throws {
        let plans = try await PlansService(database: database).plans(forTenants: tenants, connection).mapValues {
            Plan(dailyCap: $0.alertsPerDay, telegram: $0.telegram, maxWebhooks: $0.maxWebhooks)
        }
        let channels = try await Self.channels(tenants: tenants, plans: plans, connection, logger: logger)
        guard !channels.isEmpty else { return }
        let preferences = try await SettingsService.stored(AlertPreferences.self, tenants: tenants, connection, logger: logger)
        var sentToday = try await queue.sentToday(tenants: tenants, connection)
        let withSignal = events.filter { $0.signal != nil && channels[$0.tenant] != nil }
        let signals = try await Self.signalData(
            tenants: withSignal.map(\.tenant), ids: withSignal.map { $0.signal! }, links: links, connection, logger: logger)

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
                if let links, let signal = event.signal, (preferences[user] ?? AlertPreferences.defaults).wantsCharts {
                    userData.chartUrl = links.chartURL(tenant: event.tenant, signal: signal, now: now)
                }
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
        try await queue.insert(batch, connection)
    }

    /// The tenants' live channels: enabled endpoints within each plan's count (oldest first) and linked chats where the
    /// plan has Telegram. Tenants without any are absent.
    static func channels(tenants: [UUID], plans: [UUID: Plan], _ connection: PostgresConnection, logger: Logger)
        async throws -> [UUID: Channels]
    {
        var channels: [UUID: Channels] = [:]
        for e in try await WebhookEndpoints(logger: logger).live(tenants: tenants, connection) where e.rank <= plans[e.tenant]?.maxWebhooks ?? 0 {
            channels[e.tenant, default: Channels()].webhooks.append((e.id, e.user, e.eventTypes))
        }
        for (tenant, user) in try await TelegramLinks(logger: logger).linked(tenants: tenants, connection) where plans[tenant]?.telegram == true {
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

    /// The `data` of the signals the events are about: prices rounded to the symbol's tick, confidence to 0.1, R:R and
    /// R to 0.01, with their reasons (zone, biases, votes) and link.
    static func signalData(tenants: [UUID], ids: [UUID], links: ChartLinks? = nil, _ connection: PostgresConnection, logger: Logger)
        async throws -> [UUID: SignalFacts]
    {
        let signals = try await SignalStore(logger: logger).alerted(tenants: tenants, ids: ids, connection)
        let specs = try await SymbolRegistry.specs(Array(Set(signals.values.map(\.symbol))), connection, logger: logger)
        return signals.mapValues { s in
            func time(_ date: Date?) -> String? { date.map { CivilTime.rfc3339(Int64($0.timeIntervalSince1970)) } }
            let decimals = specs[s.symbol]?.priceDecimals ?? PriceFormat.fallback.decimals
            let price = PriceFormat(decimals: decimals)
            var data = AlertData(
                signalId: s.id.uuidString.lowercased(), symbol: s.symbol, timeframe: s.timeframe,
                direction: s.direction > 0 ? "long" : "short", setupType: s.setupType, confidence: PriceFormat.confidence(s.confidence),
                level: s.level, candleTime: time(s.candleTime), closeTime: time(s.closeTime), entry: price.round(s.entry),
                stop: price.round(s.stop), targets: s.targets.map(price.round), rewardRisk: PriceFormat.r(s.rewardRisk),
                regime: s.regime, killzone: s.killzone, outcome: s.outcome?.kind, outcomeTime: time(s.outcome?.time),
                outcomeR: s.outcome?.r.map(PriceFormat.r), exitPrice: s.outcome?.exitPrice.map(price.round), silent: false)
            data.priceDecimals = decimals
            if let z = s.detail?.setup?.zone, let kind = z.kind, let top = z.top, let bottom = z.bottom {
                data.zone = AlertZone(kind: kind, direction: (z.direction ?? s.direction) > 0 ? "long" : "short",
                                      top: price.round(top), bottom: price.round(bottom))
            }
            data.biases = s.detail?.biases.map { $0.map { AlertBias(timeframe: $0.timeframe, score: PriceFormat.round($0.score, 1), level: $0.level) } }
            data.votes = s.detail?.votes.map {
                $0.map { AlertVote(member: $0.member, vote: PriceFormat.r($0.vote), weight: PriceFormat.r($0.weight), abstained: $0.abstained,
                                   reason: String($0.reason.prefix(300))) }
            }
            data.signalUrl = links?.signalURL(s.id)
            return SignalFacts(
                data: data, closeTime: s.closeTime, outcomeTime: s.outcome?.time,
                timeframeSeconds: SignalTimeframe(label: s.timeframe)?.seconds ?? 60)
        }
    }
}
