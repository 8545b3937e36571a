import Foundation
import HTTPTypes
import PostgresNIO
import Synchronization

/// The plan's API request budget per tenant: a fixed one-minute window, counted in this process.
///
/// Counting in memory keeps the check off the database on every request. With several server processes
/// behind a balancer each allows the full budget, so the effective limit is at most processes × budget;
/// SCALING notes say to move the counter to a shared store when that matters.
final class RateLimiter: Sendable {
    private struct Window {
        var minute: Int64
        var count: Int
    }
    private let windows = Mutex<[UUID: Window]>([:])

    /// Counts one request (`cost` for a heavy one); throws 429 `rate_limited` with `Retry-After` when the tenant is
    /// over `limit`.
    func admit(tenant: UUID, limit: Int, cost: Int = 1, now: Date = Date()) throws {
        let seconds = Int64(now.timeIntervalSince1970)
        let minute = seconds / 60
        let count = windows.withLock { windows -> Int in
            var window = windows[tenant] ?? Window(minute: minute, count: 0)
            if window.minute != minute { window = Window(minute: minute, count: 0) }
            window.count += Swift.max(cost, 1)
            windows[tenant] = window
            if windows.count > 100_000 { windows = windows.filter { $0.value.minute == minute } }  // forget idle tenants
            return window.count
        }
        guard count > limit else { return }
        let retryAfter = Int(60 - seconds % 60)
        var headers = HTTPFields()
        headers[.retryAfter] = String(retryAfter)
        throw Problem(.rateLimited,
            detail: "your plan allows \(limit) API requests a minute; retry in \(retryAfter) s", headers: headers,
            extensions: ["limit": .string("api_requests_per_minute"), "limit_value": .int(limit), "retry_after_seconds": .int(retryAfter)])
    }
}

extension RateLimiter {
    /// Charges a reader's request to its plan's budget: a machine key's own request (a device token's was counted when
    /// it authenticated) and `extra` more for a heavy one. The plan is read only when there is something to charge.
    func charge(_ reader: SignalReader, extra: Int = 0, plans: PlansService, _ connection: PostgresConnection) async throws {
        let units = (reader.viaAPIKey ? 1 : 0) + extra
        guard units > 0 else { return }
        let plan = try await plans.plan(forTenant: reader.tenantID, connection)
        try admit(tenant: reader.tenantID, limit: plan.apiRequestsPerMinute, cost: units)
    }
}
