import Crypto
import Foundation

/// The one-time code of a `/start` deep link: the tenant's id (so the bot knows where to look) and 16 random bytes,
/// base64url (43 characters, within Telegram's 64); only its SHA-256 is stored.
enum TelegramLinkCode {
    static func generate(tenant: UUID) -> (code: String, hash: [UInt8]) {
        var bytes = withUnsafeBytes(of: tenant.uuid) { Array($0) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<16 { bytes.append(generator.next()) }
        let code = Base64URL.encode(bytes)
        return (code, hash(code))
    }

    static func hash(_ code: String) -> [UInt8] { Array(SHA256.hash(data: Data(code.utf8))) }

    static func tenant(_ code: String) -> UUID? {
        guard code.utf8.count == 43, let bytes = Base64URL.decode(code), bytes.count == 32 else { return nil }
        return bytes.withUnsafeBytes { UUID(uuid: $0.loadUnaligned(as: uuid_t.self)) }
    }
}
