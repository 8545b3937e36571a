import Foundation

/// A token bucket: `rate` tokens a second, holding at most `burst`. Times are passed in (seconds of a monotonic
/// clock), so the arithmetic is testable without sleeping. `reserve` takes a token even when none is left yet (the
/// bucket goes into debt) and says how long the caller must wait before using it, so waiting callers queue up in
/// order instead of racing.
struct TokenBucket: Sendable, Equatable {
    var rate: Double
    var burst: Double
    private(set) var tokens: Double
    private(set) var updated: Double?

    init(rate: Double, burst: Double = 1) {
        self.rate = rate
        self.burst = max(burst, 1)
        tokens = self.burst
    }

    private mutating func refill(_ now: Double) {
        if let updated { tokens = min(burst, tokens + max(0, now - updated) * rate) }
        updated = max(updated ?? now, now)
    }

    /// Seconds until a token is available (0: now), without taking it.
    func delay(now: Double) -> Double {
        var copy = self
        copy.refill(now)
        return copy.tokens >= 1 ? 0 : (1 - copy.tokens) / rate
    }

    /// Takes a token; returns the seconds to wait before using it (0: at once).
    mutating func reserve(now: Double) -> Double {
        refill(now)
        tokens -= 1
        return tokens >= 0 ? 0 : -tokens / rate
    }
}
