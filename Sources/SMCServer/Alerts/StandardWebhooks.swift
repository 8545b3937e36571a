import Crypto
import Foundation

/// Signing per the Standard Webhooks specification (https://www.standardwebhooks.com): a secret `whsec_<base64>`
/// whose decoded bytes are the HMAC-SHA256 key; the signed content is `"<webhook-id>.<webhook-timestamp>.<body>"`;
/// `webhook-signature` is `v1,<base64 MAC>`, several space-separated while two secrets are valid (rotation).
enum StandardWebhooks {
    static let secretPrefix = "whsec_"

    /// A fresh secret: 32 random bytes.
    static func generateSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return secretPrefix + Data(bytes).base64EncodedString()
    }

    /// The HMAC key of a `whsec_…` secret (nil when it is not one).
    static func key(_ secret: String) -> SymmetricKey? {
        guard secret.hasPrefix(secretPrefix), let bytes = Data(base64Encoded: String(secret.dropFirst(secretPrefix.count))),
              !bytes.isEmpty
        else { return nil }
        return SymmetricKey(data: bytes)
    }

    /// `v1,<base64 HMAC-SHA256(id.timestamp.body)>`.
    static func signature(id: String, timestamp: Int64, body: String, secret: String) -> String? {
        guard let key = key(secret) else { return nil }
        let content = Data("\(id).\(timestamp).".utf8) + Data(body.utf8)
        return "v1," + Data(HMAC<SHA256>.authenticationCode(for: content, using: key)).base64EncodedString()
    }

    /// The three headers for one attempt, signed with every secret given (current first).
    static func headers(id: String, timestamp: Int64, body: String, secrets: [String]) -> [(String, String)] {
        let signatures = secrets.compactMap { signature(id: id, timestamp: timestamp, body: body, secret: $0) }
        return [
            ("webhook-id", id), ("webhook-timestamp", String(timestamp)),
            ("webhook-signature", signatures.joined(separator: " ")),
        ]
    }

    /// The `webhook-id` of a delivery: stable across its attempts and redeliveries.
    static func messageID(_ delivery: UUID) -> String {
        "msg_" + delivery.uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }
}
