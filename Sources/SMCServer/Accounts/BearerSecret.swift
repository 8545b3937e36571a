import CArgon2
import Crypto
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// Bearer secrets: device tokens and API keys.
///
/// Format: a kind prefix, then base64url of the 16-byte tenant id followed by 32 random bytes (256 bits).
/// Carrying the tenant lets authentication set `smc.tenant_id` before it looks the token up, so token rows
/// stay under row-level security like every tenant-owned row. Only the SHA-256 of the whole token is stored.
public struct BearerSecret: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case device = "smcd_"
        case apiKey = "smck_"
        case feeder = "smcf_"
    }

    public let kind: Kind
    public let tenantID: UUID
    public let text: String

    /// A fresh secret for `tenant` (feeder keys use the nil tenant).
    public static func generate(_ kind: Kind, tenant: UUID) -> BearerSecret {
        var bytes = withUnsafeBytes(of: tenant.uuid) { Array($0) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<32 { bytes.append(generator.next()) }
        return BearerSecret(kind: kind, tenantID: tenant, text: kind.rawValue + Base64URL.encode(bytes))
    }

    /// Parses a presented secret; nil when it has the wrong shape (which is simply "not authenticated").
    public static func parse(_ text: String, expecting kind: Kind) -> BearerSecret? {
        guard text.hasPrefix(kind.rawValue), text.utf8.count == kind.rawValue.utf8.count + 64,
            let bytes = Base64URL.decode(String(text.dropFirst(kind.rawValue.count))), bytes.count == 48
        else { return nil }
        let tenant = bytes.withUnsafeBytes { UUID(uuid: $0.loadUnaligned(as: uuid_t.self)) }
        return BearerSecret(kind: kind, tenantID: tenant, text: text)
    }

    /// What the database stores: SHA-256 of the whole token.
    public var hash: [UInt8] { Array(SHA256.hash(data: Data(text.utf8))) }

    /// The hash as a `bytea` bind (postgres-nio binds `[UInt8]` as `"char"[]`).
    public var hashBytes: ByteBuffer { ByteBuffer(bytes: hash) }

    /// The kind and the last four characters (`smck_…Xy3Q`), to recognise a key in a list without revealing it.
    public var hint: String { Redaction.hint(text) }
}
