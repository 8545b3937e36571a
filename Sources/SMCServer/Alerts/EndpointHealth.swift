import Foundation

/// An endpoint's health across deliveries: failing since the first failure after its last success; once that is
/// `disableAfter` old, the next failure disables it (and the owner is told on another channel).
struct EndpointHealth: Sendable, Equatable {
    var failingSince: Date?

    enum Verdict: Sendable, Equatable {
        case healthy
        case failing
        case disable
    }

    mutating func record(success: Bool, at now: Date, disableAfter: Duration) -> Verdict {
        if success {
            failingSince = nil
            return .healthy
        }
        let since = failingSince ?? now
        failingSince = since
        return now.timeIntervalSince(since) >= disableAfter.milliseconds / 1000 ? .disable : .failing
    }
}
