import Foundation

/// What one attempt at a delivery came to, as far as the retry rules care.
enum AttemptResult: Sendable, Equatable {
    /// The receiver answered with this status (`retryAfter` from its `Retry-After`, when it sent one).
    case answered(status: Int, retryAfter: Duration?)
    /// No answer: connection refused or reset, TLS failure, timeout.
    case transportFailed(String)
    /// We refused to send: the target resolves to an address user URLs may not reach (SSRF guard).
    case refused(String)
}

/// The retry rules of webhook deliveries as a value: each attempt's result goes in, what to do comes out. No I/O,
/// no clock of its own (times are passed in), randomness passed in, so every rule is testable directly.
///
/// Standard Webhooks' schedule: attempts immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h after the
/// previous failure, each delay ±20 % jitter; after the last, the delivery is dead. 2xx is delivered; 410 Gone
/// disables the endpoint (the receiver said it will never want these); 429, 502 and 504 wait at least `Retry-After`
/// (capped at a day); any other status (3xx included: redirects are not followed) and transport failures retry.
struct RetryPolicy: Sendable, Equatable {
    /// The delay before each attempt; `schedule[0]` is the first (normally 0).
    var schedule: [Duration]
    var jitter = 0.2
    var maxRetryAfter: Duration = .seconds(86_400)

    enum Action: Sendable, Equatable {
        case delivered
        /// Try again after this long.
        case retry(after: Duration)
        /// No attempts left.
        case dead
        /// The receiver answered 410: disable the endpoint, end the delivery.
        case disableEndpoint
    }

    static let honoursRetryAfter: Set<Int> = [429, 502, 504]

    /// What follows attempt number `attempt` (1-based, within the current round) that ended with `result`;
    /// `random` in 0…1 picks the jitter.
    func next(afterAttempt attempt: Int, _ result: AttemptResult, random: Double) -> Action {
        var retryAfter: Duration?
        switch result {
        case .answered(let status, let after):
            if (200..<300).contains(status) { return .delivered }
            if status == 410 { return .disableEndpoint }
            if Self.honoursRetryAfter.contains(status) { retryAfter = after.map { min(max($0, .zero), maxRetryAfter) } }
        case .transportFailed, .refused:
            break
        }
        guard attempt < schedule.count else { return .dead }
        let base = schedule[attempt]
        let factor = 1 + jitter * (2 * min(max(random, 0), 1) - 1)
        let jittered = base * factor
        return .retry(after: max(jittered, retryAfter ?? .zero))
    }
}
