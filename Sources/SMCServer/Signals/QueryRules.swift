import Crypto
import Foundation
import SMCEngine

extension PageCursor {
    private static let checkKey = SymmetricKey(data: Data("smc page cursor v1".utf8))

    /// `scope` names the list and its filters; a cursor only decodes under the same scope.
    func encoded(scope: String) -> String {
        encoded(scope: scope, check: Self.hmacCheck)
    }

    /// The cursor, or 400 `invalid_cursor`.
    static func decode(_ text: String, scope: String) throws -> PageCursor {
        guard let cursor = decode(text, scope: scope, check: hmacCheck) else {
            throw Problem(.invalidCursor,
                detail: "the cursor is not one this list issued for these filters; start again without it",
                fieldErrors: [.init(field: "cursor", message: "is not valid for this list and these filters")])
        }
        return cursor
    }

    /// HMAC-SHA256 over the payload, a zero byte and the scope, cut to `checkSize` bytes.
    private static func hmacCheck(_ payload: [UInt8], scope: String) -> [UInt8] {
        var message = payload
        message.append(0)
        message.append(contentsOf: Array(scope.utf8))
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: checkKey).prefix(checkSize))
    }
}

/// Checks and parses list query parameters, collecting every problem before answering 400.
struct QueryRules {
    var errors: [Problem.FieldError] = []

    mutating func fail(_ field: String, _ message: String) {
        errors.append(.init(field: field, message: message))
    }

    /// RFC 3339 (`2025-03-01T09:30:00Z`, fractional seconds and offsets allowed) → microseconds since 1970.
    mutating func time(_ text: String?, _ field: String) -> Int64? {
        guard let text else { return nil }
        guard let micros = RFC3339.micros(text) else {
            fail(field, "is not an RFC 3339 date-time (e.g. 2025-03-01T09:30:00Z)")
            return nil
        }
        return micros
    }

    /// A date-time the runtime already parsed (the spec says `format: date-time`) → microseconds since 1970.
    mutating func time(_ date: Date?, _ field: String) -> Int64? {
        date.map { Int64(($0.timeIntervalSince1970 * 1_000_000).rounded()) }
    }

    mutating func limit(_ value: Int?) -> Int {
        guard let value else { return 50 }
        guard (1...500).contains(value) else {
            fail("limit", "must be between 1 and 500")
            return 50
        }
        return value
    }

    /// A symbol filter, normalised like watchlist symbols.
    mutating func symbol(_ text: String?, _ field: String = "symbol") -> String? {
        guard let text else { return nil }
        let symbol = Watchlist.normalise(text)
        guard symbol.range(of: "^[A-Z0-9]{3,20}$", options: .regularExpression) != nil else {
            fail(field, "is not a symbol (3–20 letters and digits)")
            return nil
        }
        return symbol
    }

    func throwIfAny() throws {
        guard errors.isEmpty else {
            throw Problem.badRequest(errors.map { "\($0.field) \($0.message)" }.joined(separator: "; "), fieldErrors: errors)
        }
    }
}
