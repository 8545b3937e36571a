import Foundation
import Synchronization

/// Holds every pair of a process after a 429/418 until `Retry-After` has passed: Binance counts weight per IP.
final class ThrottleGate: Sendable {
    private let until = Mutex<ContinuousClock.Instant?>(nil)

    init() {}

    func hold(for duration: Duration) {
        let end = ContinuousClock.now + duration
        until.withLock { current in
            if current.map({ $0 < end }) ?? true { current = end }
        }
    }

    func wait() async throws {
        guard let end = until.withLock({ $0 }), end > .now else { return }
        try await Task.sleep(until: end, clock: .continuous)
    }
}
