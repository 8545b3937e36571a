import Foundation
import Testing

@testable import SMCServer

/// Every transition of a delivery's lifecycle, without I/O: what it allows, where it moves, what it asks to persist.
@Suite struct DeliveryLifecycleTests {
    let policy = RetryPolicy(schedule: [.zero, .seconds(5), .seconds(300)], jitter: 0)

    func report(_ result: AttemptResult, error: String? = nil) -> AttemptReport {
        AttemptReport(result: result, statusCode: nil, latency: .milliseconds(12), error: error)
    }

    func leased(round: Int = 0) -> DeliveryLifecycle {
        var d = DeliveryLifecycle(status: .pending, roundAttempts: round)
        let claimed = d.claimed()
        #expect(claimed)
        return d
    }

    @Test func claimOnlyWhatIsQueued() {
        for status in DeliveryStatus.allCases {
            var d = DeliveryLifecycle(status: status, roundAttempts: 1)
            let claimed = d.claimed()
            #expect(claimed == status.isQueued, "\(status)")
            if status.isQueued {
                #expect(d.status == .sending)
                #expect(d.roundAttempts == 2)
            } else {
                #expect(d.status == status)
            }
        }
        #expect(Set(DeliveryStatus.allCases.filter(\.isQueued)) == [.pending, .sending])
    }

    @Test func webhookDelivered() {
        var d = leased()
        let actions = d.attempted(webhook: report(.answered(status: 204, retryAfter: nil)), policy: policy, random: 0.5)
        #expect(d.status == .delivered)
        #expect(actions == [.recordAttempt(outcome: "delivered"), .update(.init(status: .delivered)), .endpointHealthy])
    }

    @Test func webhookRetriesOnTheScheduleThenDies() {
        var d = leased()
        var actions = d.attempted(webhook: report(.answered(status: 500, retryAfter: nil)), policy: policy, random: 0.5)
        #expect(d.status == .pending)
        #expect(actions == [.recordAttempt(outcome: "failed"), .update(.init(status: .pending, retryAfter: .seconds(5))), .endpointFailed])
        let claimed = d.claimed()
        #expect(claimed)
        actions = d.attempted(webhook: report(.transportFailed("reset")), policy: policy, random: 0.5)
        #expect(actions[1] == .update(.init(status: .pending, retryAfter: .seconds(300))))
        let again = d.claimed()
        #expect(again)
        actions = d.attempted(webhook: report(.transportFailed("reset"), error: "connection_reset"), policy: policy, random: 0.5)
        #expect(d.status == .dead)
        #expect(actions == [
            .recordAttempt(outcome: "failed"), .update(.init(status: .dead, reason: "no attempt succeeded: connection_reset")),
            .endpointFailed,
        ])
    }

    @Test func webhookGoneDisablesTheEndpoint() {
        var d = leased()
        let actions = d.attempted(webhook: report(.answered(status: 410, retryAfter: nil)), policy: policy, random: 0.5)
        #expect(d.status == .dead)
        #expect(actions == [
            .recordAttempt(outcome: "gone"),
            .update(.init(status: .dead, reason: "the endpoint answered 410 Gone and was disabled")),
            .disableEndpoint(reason: "the endpoint answered 410 Gone"),
        ])
    }

    @Test func webhookRefusedTargetIsRecordedAsRefused() {
        var d = leased()
        let actions = d.attempted(webhook: report(.refused("private address")), policy: policy, random: 0.5)
        #expect(actions.first == .recordAttempt(outcome: "refused"))
        #expect(d.status == .pending)
    }

    @Test func telegramOutcomes() {
        #expect(TelegramOutcome(status: 200, ok: true, retryAfter: nil) == .sent)
        #expect(TelegramOutcome(status: 200, ok: false, retryAfter: nil) == .failed)
        #expect(TelegramOutcome(status: 429, ok: false, retryAfter: nil) == .throttled(.seconds(1)))
        #expect(TelegramOutcome(status: 429, ok: false, retryAfter: .seconds(7)) == .throttled(.seconds(7)))
        #expect(TelegramOutcome(status: 403, ok: false, retryAfter: nil) == .blocked)
        #expect(TelegramOutcome(status: 400, ok: false, retryAfter: nil) == .rejected)
        #expect(TelegramOutcome(status: 502, ok: false, retryAfter: nil) == .failed)
    }

    @Test func telegramThrottleKeepsItsPlaceInTheSchedule() {
        var d = leased(round: 1)
        let actions = d.attempted(telegram: .throttled(.seconds(3)), report(.answered(status: 429, retryAfter: .seconds(3))),
                                  policy: policy, random: 0.5)
        #expect(d.status == .pending)
        #expect(d.roundAttempts == 1)
        #expect(actions == [
            .recordAttempt(outcome: "throttled"), .update(.init(status: .pending, retryAfter: .seconds(3), keepRound: true)),
        ])
    }

    @Test func telegramBlockedUnlinksTheChat() {
        var d = leased()
        let actions = d.attempted(telegram: .blocked, report(.answered(status: 403, retryAfter: nil), error: "Forbidden"),
                                  policy: policy, random: 0.5)
        #expect(d.status == .dead)
        #expect(actions == [
            .recordAttempt(outcome: "blocked"), .update(.init(status: .dead, reason: "no attempt succeeded: Forbidden")),
            .unlinkChat(reason: "the chat blocked the bot"),
        ])
    }

    @Test func telegramRejectedAndFailed() {
        var rejected = leased()
        #expect(rejected.attempted(telegram: .rejected, report(.answered(status: 400, retryAfter: nil)), policy: policy, random: 0)
            .first == .recordAttempt(outcome: "failed"))
        #expect(rejected.status == .dead)
        var failed = leased()
        _ = failed.attempted(telegram: .failed, report(.transportFailed("timeout")), policy: policy, random: 0.5)
        #expect(failed.status == .pending)
        var sent = leased()
        #expect(sent.attempted(telegram: .sent, report(.answered(status: 200, retryAfter: nil)), policy: policy, random: 0)
            == [.recordAttempt(outcome: "delivered"), .update(.init(status: .delivered))])
    }

    @Test func cancelTakesOnlyQueuedDeliveries() {
        for status in DeliveryStatus.allCases {
            var d = DeliveryLifecycle(status: status)
            let actions = d.cancel(.endpointRemoved)
            if status.isQueued {
                #expect(actions == [.update(.init(status: .cancelled, reason: "endpoint removed"))])
                #expect(d.status == .cancelled)
            } else {
                #expect(actions.isEmpty)
                #expect(d.status == status)
            }
        }
        #expect(CancelReason.telegramUnlinked("the chat blocked the bot").text == "Telegram unlinked: the chat blocked the bot")
        #expect(CancelReason.endpointOverPlan.text == "endpoint disabled by a plan change")
    }

    @Test func redeliverStartsANewRound() throws {
        for status in DeliveryStatus.allCases where !status.isQueued {
            var d = DeliveryLifecycle(status: status, roundAttempts: 8)
            #expect(try d.redeliver() == [.update(.init(status: .pending, retryAfter: .zero, newRound: true))])
            #expect(d.status == .pending)
            #expect(d.roundAttempts == 0)
        }
        let queued = DeliveryLifecycle(status: .sending, roundAttempts: 1)
        #expect(throws: DeliveryLifecycle.Refusal.stillQueued) {
            var d = queued
            _ = try d.redeliver()
        }
    }
}
