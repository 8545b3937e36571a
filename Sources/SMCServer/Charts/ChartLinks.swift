import Crypto
import Foundation

/// The links the server hands out: `{SMC_PUBLIC_URL}/v1/signals/{id}` for a signal, and a signed chart URL that
/// needs no bearer token (for webhook receivers, Discord, Slack, phones):
/// `{SMC_PUBLIC_URL}/v1/charts/{signal_id}.png?exp={unix seconds}&sig={base64url}`.
///
/// `sig` is opaque to the holder: the signal's tenant (16 bytes) and HMAC-SHA256 under `SMC_URL_SIGNING_KEY` of
/// `smc.chart.v1|{tenant}|{signal}|{exp}`. A link expires `lifetime` (7 days) after it is issued; one with a changed
/// id, `exp` or `sig` does not verify (403 `invalid_signature`).
struct ChartLinks: Sendable {
    let key: SymmetricKey
    /// Without a trailing slash.
    let publicURL: String
    static let lifetime: TimeInterval = 7 * 86_400

    init(key: [UInt8], publicURL: String) {
        self.key = SymmetricKey(data: key)
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
    }

    func signalURL(_ signal: UUID) -> String { "\(publicURL)/v1/signals/\(signal.uuidString.lowercased())" }

    /// The signed chart path and query (without the public base), valid until `now + lifetime`.
    func chartPath(tenant: UUID, signal: UUID, now: Date) -> String {
        let exp = Int64(now.timeIntervalSince1970 + Self.lifetime)
        let mac = HMAC<SHA256>.authenticationCode(for: Self.message(tenant, signal, exp), using: key)
        let sig = Base64URL.encode(Self.bytes(tenant) + Array(mac))
        return "/v1/charts/\(signal.uuidString.lowercased()).png?exp=\(exp)&sig=\(sig)"
    }

    func chartURL(tenant: UUID, signal: UUID, now: Date) -> String {
        publicURL + chartPath(tenant: tenant, signal: signal, now: now)
    }

    enum Failure: Error, Equatable {
        case invalid, expired
    }

    /// The tenant the link was issued for, when `sig` is ours for this signal and `exp`, and `exp` is still ahead.
    func verify(signal: UUID, exp: Int64, sig: String, now: Date) -> Result<UUID, Failure> {
        guard let bytes = Base64URL.decode(sig), bytes.count == 48 else { return .failure(.invalid) }
        let tenant = UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
                                 bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
        guard HMAC<SHA256>.isValidAuthenticationCode(Array(bytes[16...]), authenticating: Self.message(tenant, signal, exp), using: key)
        else { return .failure(.invalid) }
        guard Double(exp) > now.timeIntervalSince1970 else { return .failure(.expired) }
        return .success(tenant)
    }

    private static func message(_ tenant: UUID, _ signal: UUID, _ exp: Int64) -> Data {
        Data("smc.chart.v1|\(tenant.uuidString.lowercased())|\(signal.uuidString.lowercased())|\(exp)".utf8)
    }

    private static func bytes(_ id: UUID) -> [UInt8] {
        withUnsafeBytes(of: id.uuid) { Array($0) }
    }
}
