import Foundation

/// Where a delivery is in its life (`alert_deliveries.status`).
enum DeliveryStatus: String, Sendable, CaseIterable, Codable {
    /// Queued, due at `next_attempt_at`.
    case pending
    /// Leased by a worker until `next_attempt_at` (a crashed worker's lease runs out and it is pending again).
    case sending
    case delivered
    /// No attempt succeeded (or the receiver said never again).
    case dead
    /// Never queued: the user's preferences, the daily cap, or history (a backfill) kept it back.
    case suppressed
    /// Taken off the queue: its channel went away.
    case cancelled

    var isQueued: Bool { self == .pending || self == .sending }

    /// As an SQL literal, for predicates that must stay literal (partial indexes).
    var literal: String { "'\(rawValue)'" }

    /// Literal SQL predicates (not bound parameters), so PostgreSQL uses the partial indexes written with them.
    static let queuedSQL = "status IN ('pending', 'sending')"
    static let finishedSQL = "status IN ('delivered', 'dead', 'suppressed', 'cancelled')"
}

/// Why queued deliveries were taken off the queue, in the words the delivery record shows.
enum CancelReason: Sendable, Equatable {
    case endpointDisabledByOwner
    case endpointRemoved
    /// Found at claim time: the endpoint was disabled or removed meanwhile.
    case endpointGone
    /// Disabled by us (410 Gone, or failing for days).
    case endpointDisabled
    case endpointOverPlan
    case planWithoutTelegram
    /// The user unlinked Telegram in the app.
    case telegramUnlinkedByUser
    /// The chat went away (`/stop`, blocked the bot); why.
    case telegramUnlinked(String)
    /// Found at claim time: no chat is linked any more.
    case telegramNotLinked

    var text: String {
        switch self {
        case .endpointDisabledByOwner, .endpointDisabled: "endpoint disabled"
        case .endpointRemoved: "endpoint removed"
        case .endpointGone: "endpoint disabled or removed"
        case .endpointOverPlan: "endpoint disabled by a plan change"
        case .planWithoutTelegram: "the plan no longer includes Telegram"
        case .telegramUnlinkedByUser: "Telegram unlinked"
        case .telegramUnlinked(let why): "Telegram unlinked: " + why
        case .telegramNotLinked: "Telegram is no longer linked"
        }
    }
}

/// How a Telegram `sendMessage` ended, as far as the delivery cares.
enum TelegramOutcome: Sendable, Equatable {
    case sent
    /// 429: wait, then the same message again (not counted against the schedule: nothing is dropped).
    case throttled(Duration)
    /// 403: the user blocked the bot.
    case blocked
    /// 400: Telegram will never take this message.
    case rejected
    case failed

    /// From the Bot API's answer.
    init(status: Int, ok: Bool, retryAfter: Duration?) {
        switch status {
        case 200 where ok: self = .sent
        case 429: self = .throttled(retryAfter ?? .seconds(1))
        case 403: self = .blocked
        case 400: self = .rejected
        default: self = .failed
        }
    }
}

/// One delivery's lifecycle as a value: each transition checks it is allowed from the current status, moves the
/// status, and returns the actions that persist it (`DeliveryQueue.perform` runs them in the caller's transaction).
/// No I/O, no clock, randomness passed in: every rule is tested directly (`DeliveryLifecycleTests`).
struct DeliveryLifecycle: Sendable, Equatable {
    private(set) var status: DeliveryStatus
    /// Attempts in the current round (a redelivery starts a new round): the retry schedule's position.
    private(set) var roundAttempts: Int

    init(status: DeliveryStatus, roundAttempts: Int = 0) {
        self.status = status
        self.roundAttempts = roundAttempts
    }

    /// The row change a transition writes. `retryAfter` nil: no next attempt.
    struct Change: Sendable, Equatable {
        var status: DeliveryStatus
        var reason: String?
        var retryAfter: Duration?
        /// A throttled attempt does not use up a place in the schedule.
        var keepRound = false
        /// A redelivery starts the schedule again.
        var newRound = false
    }

    enum Action: Sendable, Equatable {
        /// Write the attempt's row (`alert_attempts.outcome`) with the report.
        case recordAttempt(outcome: String)
        /// Update the delivery (only while the caller's lease holds, for attempts).
        case update(Change)
        /// The webhook answered: its endpoint is healthy again.
        case endpointHealthy
        /// The webhook failed: judge the endpoint's health (it may be disabled after failing for days).
        case endpointFailed
        /// The receiver answered 410 Gone: disable the endpoint.
        case disableEndpoint(reason: String)
        /// The chat blocked the bot: unlink it and tell the user elsewhere.
        case unlinkChat(reason: String)
    }

    enum Refusal: Error, Equatable {
        /// Redelivering a delivery that is still queued or being sent.
        case stillQueued
    }

    /// A worker leased it for one attempt.
    mutating func claimed() -> Bool {
        guard status.isQueued else { return false }
        status = .sending
        roundAttempts += 1
        return true
    }

    /// A webhook attempt ended as `report` says; `random` in 0…1 picks the retry's jitter.
    mutating func attempted(webhook report: AttemptReport, policy: RetryPolicy, random: Double) -> [Action] {
        precondition(status == .sending, "an attempt needs a lease")
        let next = policy.next(afterAttempt: roundAttempts, report.result, random: random)
        let outcome: String
        switch (next, report.result) {
        case (.delivered, _): outcome = "delivered"
        case (.disableEndpoint, _): outcome = "gone"
        case (_, .refused): outcome = "refused"
        default: outcome = "failed"
        }
        var actions: [Action] = [.recordAttempt(outcome: outcome), .update(change(after: next, report))]
        switch next {
        case .delivered: actions.append(.endpointHealthy)
        case .disableEndpoint: actions.append(.disableEndpoint(reason: "the endpoint answered 410 Gone"))
        case .retry, .dead: actions.append(.endpointFailed)
        }
        return actions
    }

    /// A Telegram attempt ended with `outcome`.
    mutating func attempted(telegram outcome: TelegramOutcome, _ report: AttemptReport, policy: RetryPolicy, random: Double) -> [Action] {
        precondition(status == .sending, "an attempt needs a lease")
        switch outcome {
        case .sent:
            return [.recordAttempt(outcome: "delivered"), .update(change(after: .delivered, report))]
        case .throttled(let wait):
            var change = change(after: .retry(after: wait), report)
            change.keepRound = true
            roundAttempts -= 1
            return [.recordAttempt(outcome: "throttled"), .update(change)]
        case .rejected:
            return [.recordAttempt(outcome: "failed"), .update(change(after: .dead, report))]
        case .failed:
            let next = policy.next(afterAttempt: roundAttempts, report.result, random: random)
            return [.recordAttempt(outcome: "failed"), .update(change(after: next, report))]
        case .blocked:
            return [.recordAttempt(outcome: "blocked"), .update(change(after: .dead, report)), .unlinkChat(reason: "the chat blocked the bot")]
        }
    }

    /// The channel went away: a queued delivery is cancelled; a finished one stays as it is.
    mutating func cancel(_ reason: CancelReason) -> [Action] {
        guard status.isQueued else { return [] }
        status = .cancelled
        return [.update(Change(status: .cancelled, reason: reason.text))]
    }

    /// The owner asked for it again: a finished delivery is queued anew (same payload and id), a fresh schedule.
    mutating func redeliver() throws(Refusal) -> [Action] {
        guard !status.isQueued else { throw .stillQueued }
        status = .pending
        roundAttempts = 0
        return [.update(Change(status: .pending, retryAfter: .zero, newRound: true))]
    }

    private mutating func change(after next: RetryPolicy.Action, _ report: AttemptReport) -> Change {
        switch next {
        case .delivered:
            status = .delivered
            return Change(status: .delivered)
        case .retry(let after):
            status = .pending
            return Change(status: .pending, retryAfter: after)
        case .dead:
            status = .dead
            return Change(status: .dead, reason: "no attempt succeeded: \(report.error ?? "failed")")
        case .disableEndpoint:
            status = .dead
            return Change(status: .dead, reason: "the endpoint answered 410 Gone and was disabled")
        }
    }
}
