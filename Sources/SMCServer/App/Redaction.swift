import Foundation
import Synchronization

/// Keeps credentials out of log lines and error responses, wherever a request path, a query string, a URL or an
/// error's description could carry one.
///
/// What it recognises: the secrets we issue by their prefix (`smcd_` device tokens, `smck_` API keys — also inside a
/// TradingView hook path —, `smcf_` feeder keys, `whsec_` signing secrets), Telegram bot tokens (`123456:AA…`), the
/// password in a URL's user info (`postgres://smc:…@db`), the value after `Bearer `, the values of query parameters
/// named like a credential, and the operator's configured secrets, registered at start-up whatever their shape (the
/// admin token, the bot token, the database password, the secrets key). A credential is shown as its prefix and last
/// four characters at most (`smck_…Xy3Q`); a password not at all.
public enum Redaction {
    private static let known = Mutex<[String]>([])
    private static let issuedPrefixes = ["smcd_", "smck_", "smcf_", "whsec_"]
    private static let credentialParameters: Set<String> = [
        "token", "key", "api_key", "apikey", "secret", "password", "passwd", "access_token", "code", "hook_token", "sslpassword",
    ]

    /// Registers a configured secret (at start-up): any text equal to it is redacted from then on. Values shorter than
    /// 8 characters are ignored (they would blank out ordinary words).
    public static func register(_ secret: String?) {
        guard let secret, secret.utf8.count >= 8 else { return }
        known.withLock { list in
            if !list.contains(secret) { list.append(secret) }
        }
    }

    /// The bytes of a short ASCII word as the redactor's shift register holds them.
    private static func word(_ text: StaticString) -> UInt64 {
        var value: UInt64 = 0
        text.withUTF8Buffer { for byte in $0 { value = value << 8 | UInt64(byte) } }
        return value
    }

    /// `smck_…Xy3Q`: the kind and the last four characters, enough to recognise a key in a list or a log.
    public static func hint(_ secret: String) -> String {
        let prefix = issuedPrefixes.first { secret.hasPrefix($0) } ?? ""
        guard secret.count > prefix.count + 8 else { return prefix + "…" }
        return prefix + "…" + secret.suffix(4)
    }

    /// `text` with every credential in it redacted. One pass over the bytes decides which rules can apply, so that
    /// most log values (trace logging writes thousands a second) go through untouched and cheaply.
    public static func redact(_ text: String) -> String {
        var out = text
        let secrets = known.withLock { $0 }
        for secret in secrets where out.contains(secret) {
            out = out.replacingOccurrences(of: secret, with: "[redacted]")
        }
        // The last eight bytes, lower-cased, newest in the low byte: enough to see `smck_`, `whsec_` and `bearer `.
        var recent: UInt64 = 0
        var issued = false, at = false, equals = false, digitColon = false, slashes = false, bearer = false
        for byte in out.utf8 {
            let lower = byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
            switch byte {
            case UInt8(ascii: "_"):
                let four = recent & 0xFFFF_FFFF, five = recent & 0xFF_FFFF_FFFF
                if four == Self.word("smcd") || four == Self.word("smck") || four == Self.word("smcf") || five == Self.word("whsec") {
                    issued = true
                }
            case UInt8(ascii: " "): if recent & 0xFFFF_FFFF_FFFF == Self.word("bearer") { bearer = true }
            case UInt8(ascii: "@"): at = true
            case UInt8(ascii: "="):
                // Only after a credential's name (`token=`, `api_key=`, `password=`, …).
                if recent & 0xFF_FFFF == Self.word("key") || recent & 0xFFFF_FFFF == Self.word("code")
                    || recent & 0xFF_FFFF_FFFF == Self.word("token") || recent & 0xFFFF_FFFF_FFFF == Self.word("secret")
                    || recent & 0xFFFF_FFFF_FFFF == Self.word("passwd") || recent == Self.word("password")
                {
                    equals = true
                }
            case UInt8(ascii: ":"): if recent & 0xFF >= 0x30 && recent & 0xFF <= 0x39 { digitColon = true }
            case UInt8(ascii: "/"): if recent & 0xFF == UInt64(UInt8(ascii: "/")) { slashes = true }
            default: break
            }
            recent = recent << 8 | UInt64(lower)
        }
        let underscore = issued
        if underscore { out = redactIssued(out) }
        if digitColon { out = redactTelegramTokens(out) }
        if slashes && at { out = redactUserInfo(out) }
        if bearer { out = redactBearer(out) }
        if equals { out = redactQuery(out) }
        return out
    }

    private static func isTokenByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F || b == 0x2B
            || b == 0x2F || b == 0x3D || b == 0x7E || b == 0x2E || b == 0x25
    }

    /// Our own prefixed secrets: `smck_<64 chars>` → `smck_…last4`.
    private static func redactIssued(_ text: String) -> String {
        var bytes = Array(text.utf8)
        var changed = false
        for prefix in issuedPrefixes {
            let p = Array(prefix.utf8)
            var i = 0
            while i + p.count <= bytes.count {
                if bytes[i..<(i + p.count)].elementsEqual(p), i == 0 || !isTokenByte(bytes[i - 1]) || bytes[i - 1] == 0x2F || bytes[i - 1] == 0x3D {
                    var end = i + p.count
                    while end < bytes.count, isTokenByte(bytes[end]), bytes[end] != 0x2F || prefix == "whsec_" { end += 1 }
                    // A slash ends an issued token in a path; in base64 (whsec_) it belongs to the secret.
                    let body = end - (i + p.count)
                    if body >= 8 {
                        let tail = body > 16 ? Array(bytes[(end - 4)..<end]) : []
                        let replacement = p + Array("…".utf8) + tail
                        bytes.replaceSubrange(i..<end, with: replacement)
                        i += replacement.count
                        changed = true
                        continue
                    }
                }
                i += 1
            }
        }
        return changed ? String(decoding: bytes, as: UTF8.self) : text
    }

    /// Telegram bot tokens: `<bot id>:<35 characters>` → `<bot id>:…last4`.
    private static func redactTelegramTokens(_ text: String) -> String {
        var bytes = Array(text.utf8)
        var changed = false
        var i = 0
        while i < bytes.count {
            guard bytes[i] == 0x3A else { i += 1; continue }
            var start = i
            while start > 0, bytes[start - 1] >= 0x30, bytes[start - 1] <= 0x39 { start -= 1 }
            var end = i + 1
            while end < bytes.count, isTokenByte(bytes[end]), bytes[end] != 0x2F, bytes[end] != 0x2E, bytes[end] != 0x3D { end += 1 }
            let digits = i - start, body = end - i - 1
            if digits >= 5, body >= 30 {
                let replacement = Array("…".utf8) + Array(bytes[(end - 4)..<end])
                bytes.replaceSubrange((i + 1)..<end, with: replacement)
                i += 1 + replacement.count
                changed = true
                continue
            }
            i += 1
        }
        return changed ? String(decoding: bytes, as: UTF8.self) : text
    }

    /// `scheme://user:password@host` → `scheme://user:***@host`.
    private static func redactUserInfo(_ text: String) -> String {
        guard text.contains("://"), text.contains("@") else { return text }
        var out = ""
        var rest = Substring(text)
        while let scheme = rest.range(of: "://") {
            out += rest[..<scheme.upperBound]
            rest = rest[scheme.upperBound...]
            let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" || $0 == " " || $0 == "\"" } ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                out += authority[...colon] + "***" + authority[at...]
                rest = rest[authorityEnd...]
            }
        }
        return out + rest
    }

    /// `Bearer <anything>` → `Bearer …last4`.
    private static func redactBearer(_ text: String) -> String {
        guard let range = text.range(of: "bearer ", options: .caseInsensitive) else { return text }
        let after = text[range.upperBound...]
        let end = after.firstIndex { $0 == " " || $0 == "\"" || $0 == "," || $0 == "\n" } ?? after.endIndex
        let token = String(after[..<end])
        guard !token.isEmpty, !token.contains("…") else { return String(text[..<range.upperBound]) + redactBearer(String(after)) }
        return String(text[..<range.upperBound]) + hint(token) + redactBearer(String(after[end...]))
    }

    /// `?token=…&password=…` → the values of credential-named parameters replaced.
    private static func redactQuery(_ text: String) -> String {
        guard text.contains("=") else { return text }
        var out = ""
        var rest = Substring(text)
        while let equals = rest.firstIndex(of: "=") {
            let before = rest[..<equals]
            let nameStart = before.lastIndex { !($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }.map { before.index(after: $0) } ?? before.startIndex
            let name = before[nameStart...].lowercased()
            out += rest[...equals]
            rest = rest[rest.index(after: equals)...]
            if credentialParameters.contains(name) {
                let end = rest.firstIndex { $0 == "&" || $0 == " " || $0 == "\"" || $0 == "\n" || $0 == "#" } ?? rest.endIndex
                if rest.startIndex != end { out += "[redacted]" }
                rest = rest[end...]
            }
        }
        return out + rest
    }
}
