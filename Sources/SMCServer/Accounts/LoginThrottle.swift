import Foundation
import HTTPTypes
import Logging
import PostgresNIO

/// Slows down password guessing, per account and per client address, with exponential back-off.
///
/// State lives in PostgreSQL so that every server process enforces the same limits. After `freeFailures`
/// failures a key is locked for `firstLock` (1 s), then twice that, four times … up to `maxLock`; a success clears
/// the account key;
/// failures older than an hour are forgotten.
struct LoginThrottle: Sendable {
    let database: Database
    /// Per-key failures allowed before back-off starts: accounts get few, addresses (shared NATs) more.
    var freeFailuresPerAccount = 5
    var freeFailuresPerAddress = 20
    var maxLock: Duration = .seconds(900)
    /// The first lock (`SMC_LOGIN_FIRST_LOCK_SECONDS`); each further failure doubles it.
    var firstLock: Duration = .seconds(1)

    /// Throws 429 `too_many_attempts` (with `Retry-After`) while any of `keys` is locked.
    func check(_ keys: [String]) async throws {
        let wait = try await database.withShared(readOnly: true) { connection in
            try await connection.query(
                """
                SELECT ceil(extract(epoch FROM max(locked_until) - now()))::int
                FROM login_throttle WHERE key = ANY(\(keys)) AND locked_until > now()
                """, logger: database.logger
            ).collect().first?.decode(Int?.self)
        }
        if let wait, wait > 0 {
            var headers = HTTPFields()
            headers[.retryAfter] = String(wait)
            throw Problem(.tooManyAttempts,
                detail: "too many failed sign-ins; try again in \(wait) s", headers: headers,
                extensions: ["retry_after_seconds": .int(wait)])
        }
    }

    func recordFailure(_ keys: [String]) async throws {
        let maxSeconds = Int(maxLock.components.seconds)
        let firstSeconds = Int(firstLock.components.seconds)
        try await database.withShared { connection in
            for key in keys {
                let free = key.hasPrefix("ip:") ? freeFailuresPerAddress : freeFailuresPerAccount
                try await connection.query(
                    """
                    INSERT INTO login_throttle AS t (key, failures, locked_until, updated_at)
                    VALUES (\(key), 1, NULL, now())
                    ON CONFLICT (key) DO UPDATE SET
                        failures = CASE WHEN t.updated_at < now() - interval '1 hour' THEN 1 ELSE t.failures + 1 END,
                        locked_until = CASE
                            WHEN t.updated_at >= now() - interval '1 hour' AND t.failures + 1 > \(free)
                            THEN now() + make_interval(secs => least(\(firstSeconds) * power(2, t.failures + 1 - \(free) - 1), \(maxSeconds)))
                            ELSE NULL END,
                        updated_at = now()
                    """, logger: database.logger)
            }
        }
    }

    func recordSuccess(_ key: String) async throws {
        try await database.withShared { connection in
            try await connection.query("DELETE FROM login_throttle WHERE key = \(key)", logger: database.logger)
        }
    }
}
