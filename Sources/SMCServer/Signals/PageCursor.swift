import Foundation

/// A keyset position for lists ordered by (time DESC, id DESC): the last row of the page before.
///
/// On the wire it is opaque: version, time in microseconds, id, and a check over those and the list's
/// filters. The check is not a secret (there is no server key to sign with), so it stops corrupted and edited
/// cursors and cursors reused with other filters, not a forger; a forged one can only move within the caller's
/// own tenant-scoped, filtered rows.
///
/// This file is the wire format alone, with the check passed in: the HMAC and the 400 live in Paging.swift, so
/// the decoder of untrusted text compiles without swift-crypto and Hummingbird (the fuzz harness, Fuzz/).
struct PageCursor: Sendable, Equatable {
    /// Microseconds since 1970 (PostgreSQL's resolution).
    var micros: Int64
    var id: UUID

    /// The check over a payload under a scope (the list and its filters).
    typealias Check = (_ payload: [UInt8], _ scope: String) -> [UInt8]

    private static let version: UInt8 = 1
    /// Bytes of the check on the wire.
    static let checkSize = 16

    /// `scope` names the list and its filters; a cursor only decodes under the same scope.
    func encoded(scope: String, check: Check) -> String {
        var bytes = payload
        bytes.append(contentsOf: check(bytes, scope))
        return Base64URL.encode(bytes)
    }

    /// The cursor, or nil when the text is not one that `encoded(scope:check:)` made under this scope.
    static func decode(_ text: String, scope: String, check: Check) -> PageCursor? {
        // Only the canonical spelling: base64 leaves spare bits in the last character, which must not pass.
        guard text.utf8.count <= 200, let bytes = Base64URL.decode(text), bytes.count == 1 + 8 + 16 + checkSize,
            Base64URL.encode(bytes) == text
        else { return nil }
        guard bytes[0] == version else { return nil }
        let body = Array(bytes[0..<25]), mac = Array(bytes[25...])
        guard mac == check(body, scope) else { return nil }
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
}
