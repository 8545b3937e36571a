import Crypto
import Foundation
import SMCEngine

/// A keyset position for lists ordered by (time DESC, id DESC): the last row of the page before.
///
/// On the wire it is opaque: version, time in microseconds, id, and a check over those and the list's
/// filters. The check is not a secret (there is no server key to sign with), so it stops corrupted and edited
/// cursors and cursors reused with other filters, not a forger; a forged one can only move within the caller's
/// own tenant-scoped, filtered rows.
struct PageCursor: Sendable, Equatable {
    /// Microseconds since 1970 (PostgreSQL's resolution).
    var micros: Int64
    var id: UUID

    private static let version: UInt8 = 1
    private static let checkKey = SymmetricKey(data: Data("smc page cursor v1".utf8))

    /// `scope` names the list and its filters; a cursor only decodes under the same scope.
    func encoded(scope: String) -> String {
        var bytes = payload
        bytes.append(contentsOf: Self.check(bytes, scope: scope))
        return Base64URL.encode(bytes)
    }

    static func decode(_ text: String, scope: String) throws -> PageCursor {
        let invalid = Problem(
            .badRequest, code: "invalid_cursor",
            detail: "the cursor is not one this list issued for these filters; start again without it",
            fieldErrors: [.init(field: "cursor", message: "is not valid for this list and these filters")])
        // Only the canonical spelling: base64 leaves spare bits in the last character, which must not pass.
        guard text.utf8.count <= 200, let bytes = Base64URL.decode(text), bytes.count == 1 + 8 + 16 + 16,
            Base64URL.encode(bytes) == text
        else { throw invalid }
        guard bytes[0] == version else { throw invalid }
        let body = Array(bytes[0..<25]), mac = Array(bytes[25...])
        guard mac == check(body, scope: scope) else { throw invalid }
        let micros = bytes[1..<9].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let u = Array(bytes[9..<25])
        let id = UUID(uuid: (u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]))
        return PageCursor(micros: Int64(bitPattern: micros), id: id)
    }

    private var payload: [UInt8] {
        var bytes: [UInt8] = [Self.version]
        let bits = UInt64(bitPattern: micros)
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        withUnsafeBytes(of: id.uuid) { bytes.append(contentsOf: $0) }
        return bytes
    }

    private static func check(_ payload: [UInt8], scope: String) -> [UInt8] {
        var message = payload
        message.append(0)
        message.append(contentsOf: Array(scope.utf8))
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: checkKey).prefix(16))
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

/// RFC 3339 date-times, exact to the microsecond (what PostgreSQL keeps).
enum RFC3339 {
    private static let pattern =
        #"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"#

    static func micros(_ text: String) -> Int64? {
        guard text.utf8.count <= 40, let match = text.wholeMatch(of: try! Regex(pattern)) else { return nil }
        func int(_ i: Int) -> Int? { match.output[i].substring.flatMap { Int($0) } }
        guard let year = int(1), let month = int(2), let day = int(3), let hour = int(4), let minute = int(5),
            let second = int(6), (1...9999).contains(year), (1...12).contains(month),
            (1...CivilTime.daysInMonth(year: year, month: month)).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        var fraction: Int64 = 0
        if let digits = match.output[7].substring?.dropFirst() {
            let six = String((digits + "000000").prefix(6))
            fraction = Int64(six)!
        }
        var offset: Int64 = 0
        if let zone = match.output[8].substring, zone != "Z", zone != "z" {
            let sign: Int64 = zone.first == "-" ? -1 : 1
            let parts = zone.dropFirst().split(separator: ":")
            guard let h = Int64(parts[0]), let m = Int64(parts[1]), h < 24, m < 60 else { return nil }
            offset = sign * (h * 3600 + m * 60)
        }
        let seconds = CivilTime.days(year: year, month: month, day: day) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - offset
        return seconds * 1_000_000 + fraction
    }

    static func date(micros: Int64) -> Date {
        Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }
}
