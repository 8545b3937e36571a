import Crypto
import Foundation

/// Webhook signing secrets at rest. The server needs each secret itself to sign (a hash would not do), so with
/// `SMC_SECRETS_KEY` set they are stored sealed with AES-256-GCM: `enc:v1:<key id>:<base64 nonce‖ciphertext‖tag>`,
/// bound to their endpoint (the endpoint's id is the authenticated data, so a sealed secret copied to another row does
/// not open). The key id is the first 8 hex digits of the key's SHA-256, so `SMC_SECRETS_KEY_PREVIOUS` (comma-separated)
/// keeps secrets sealed under an older key readable while the key is rotated; a rotation of the webhook's secret seals
/// it under the current key. Without a key, secrets are stored as they are (`whsec_…`), and those stay readable after
/// a key is configured.
struct SecretBox: Sendable {
    struct Key: Sendable {
        var id: String
        var key: SymmetricKey
    }

    struct Unreadable: Error, CustomStringConvertible {
        var description: String
    }

    let current: Key?
    let previous: [Key]

    static let prefix = "enc:v1:"

    init(current: [UInt8]?, previous: [[UInt8]] = []) {
        self.current = current.map(Self.key)
        self.previous = previous.map(Self.key)
    }

    private static func key(_ bytes: [UInt8]) -> Key {
        let digest = SHA256.hash(data: bytes).prefix(4).map { String(format: "%02x", $0) }.joined()
        return Key(id: digest, key: SymmetricKey(data: bytes))
    }

    /// What to store for `secret` of `endpoint`.
    func seal(_ secret: String, endpoint: UUID) throws -> String {
        guard let current else { return secret }
        let box = try AES.GCM.seal(Data(secret.utf8), using: current.key, authenticating: Self.context(endpoint))
        guard let combined = box.combined else { throw Unreadable(description: "AES-GCM gave no combined form") }
        return Self.prefix + current.id + ":" + combined.base64EncodedString()
    }

    /// The secret stored as `stored` for `endpoint`.
    func open(_ stored: String, endpoint: UUID) throws -> String {
        guard stored.hasPrefix(Self.prefix) else { return stored }
        let parts = stored.dropFirst(Self.prefix.count).split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let data = Data(base64Encoded: String(parts[1])) else {
            throw Unreadable(description: "a sealed webhook secret is malformed")
        }
        guard let key = ([current].compactMap { $0 } + previous).first(where: { $0.id == parts[0] }) else {
            throw Unreadable(description: "a webhook secret is sealed under key \(parts[0]), which is neither SMC_SECRETS_KEY nor in SMC_SECRETS_KEY_PREVIOUS")
        }
        do {
            let plain = try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: key.key, authenticating: Self.context(endpoint))
            return String(decoding: plain, as: UTF8.self)
        } catch {
            throw Unreadable(description: "a sealed webhook secret does not open under key \(key.id) for its endpoint")
        }
    }

    private static func context(_ endpoint: UUID) -> Data {
        Data("smc webhook secret \(endpoint.uuidString.lowercased())".utf8)
    }

    /// A key as configured (already trimmed): base64 of 32 random bytes (`openssl rand -base64 32`).
    static func parseKey(_ text: String, name: String) throws -> [UInt8] {
        guard let data = Data(base64Encoded: text), data.count == 32 else {
            throw AppConfiguration.Invalid(description: "\(name) must be base64 of 32 bytes (e.g. `openssl rand -base64 32`)")
        }
        return Array(data)
    }
}
