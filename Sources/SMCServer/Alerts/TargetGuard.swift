import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IP address as its bytes (4 for IPv4, 16 for IPv6).
struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    var bytes: [UInt8]

    init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// A literal (`10.0.0.1`, `::1`, `[::1]`); nil for anything else (a host name).
    init?(_ text: String) {
        var literal = text
        if literal.hasPrefix("["), literal.hasSuffix("]") { literal = String(literal.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, literal, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, literal, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    var description: String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var raw = in6_addr()
        withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes) }
        guard inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Why a user-supplied URL may not reach this address, or nil when it may (a public unicast address).
    var forbiddenReason: String? {
        if bytes.count == 4 { return Self.v4Reason(bytes) }
        let b = bytes
        if b.allSatisfy({ $0 == 0 }) { return "the unspecified address" }
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return "loopback" }
        // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96): judge the IPv4 inside.
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF { return Self.v4Reason(Array(b[12...])) }
        if b[0..<12].allSatisfy({ $0 == 0 }) { return Self.v4Reason(Array(b[12...])) ?? "an IPv4-compatible address" }
        if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B { return Self.v4Reason(Array(b[12...])) }
        if b[0] == 0x20 && b[1] == 0x02 { return Self.v4Reason(Array(b[2..<6])) }  // 6to4 2002::/16
        if b[0] & 0xFE == 0xFC { return "a unique-local (private) address" }           // fc00::/7
        if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return "link-local" }                  // fe80::/10
        if b[0] == 0xFE && b[1] & 0xC0 == 0xC0 { return "site-local" }                  // fec0::/10
        if b[0] == 0xFF { return "multicast" }
        if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8 { return "a documentation address" }
        if b[0] == 0x01 && b[1..<8].allSatisfy({ $0 == 0 }) { return "a discard-only address" }  // 100::/64
        return nil
    }

    private static func v4Reason(_ b: [UInt8]) -> String? {
        switch (b[0], b[1]) {
        case (0, _): return "the unspecified network (0.0.0.0/8)"
        case (10, _): return "private (10.0.0.0/8)"
        case (100, 64...127): return "shared address space (100.64.0.0/10)"
        case (127, _): return "loopback"
        case (169, 254): return b[2] == 169 && b[3] == 254 ? "the cloud metadata address" : "link-local"
        case (172, 16...31): return "private (172.16.0.0/12)"
        case (192, 0) where b[2] == 0 || b[2] == 2: return "reserved (192.0.0.0/24, 192.0.2.0/24)"
        case (192, 168): return "private (192.168.0.0/16)"
        case (198, 18...19): return "benchmarking (198.18.0.0/15)"
        case (198, 51) where b[2] == 100: return "a documentation address"
        case (203, 0) where b[2] == 113: return "a documentation address"
        case (224...239, _): return "multicast"
        case (240...255, _): return "reserved (240.0.0.0/4, broadcast)"
        default: return nil
        }
    }
}

/// Where a user-supplied URL may go (SSRF guard, DESIGN.md §6). A URL must be https (plain http only with
/// `SMC_ALLOW_PRIVATE_TARGETS`), without credentials, on a host whose every address is public unicast: no loopback,
/// private, shared, link-local (the 169.254.169.254 metadata service among them), multicast, reserved or unspecified
/// address, IPv4 or IPv6, mapped or embedded forms included. The check runs when the URL is saved and again before
/// every request, on the addresses then resolved; the request then connects to the address that was checked (not a
/// second lookup), so a name that re-resolves to an inside address between check and connect (DNS rebinding) cannot
/// slip through. `allowPrivate` (on-premise installs, tests) lifts the address rules and allows http.
struct TargetGuard: Sendable {
    let allowPrivate: Bool

    struct Refusal: Error, Sendable, CustomStringConvertible {
        var field = "/url"
        var reason: String
        var description: String { reason }
    }

    /// The URL's parts, checked for shape only (no lookup).
    struct Target: Sendable {
        var url: URL
        var scheme: String
        var host: String
        var port: Int
    }

    func parse(_ text: String) throws(Refusal) -> Target {
        guard text.utf8.count <= 2000, !text.contains(where: { $0.isWhitespace }), let components = URLComponents(string: text),
              let url = components.url, let scheme = components.scheme?.lowercased()
        else { throw Refusal(reason: "is not a URL") }
        guard scheme == "https" || (scheme == "http" && allowPrivate) else {
            throw Refusal(reason: allowPrivate ? "must be an http or https URL" : "must be an https URL")
        }
        guard components.user == nil && components.password == nil else { throw Refusal(reason: "must not carry credentials") }
        guard var host = components.host?.lowercased(), !host.isEmpty else { throw Refusal(reason: "has no host") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.hasSuffix(".") { host.removeLast() }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        guard (1...65535).contains(port) else { throw Refusal(reason: "has an invalid port") }
        return Target(url: url, scheme: scheme, host: host, port: port)
    }

    /// Resolves the host and checks every address; returns the first acceptable one to connect to.
    func vet(_ target: Target) async throws(Refusal) -> IPAddress {
        let addresses: [IPAddress]
        if let literal = IPAddress(target.host) {
            addresses = [literal]
        } else {
            do {
                addresses = try await Self.resolve(target.host)
            } catch {
                throw Refusal(reason: "\(target.host) does not resolve (\(error))")
            }
        }
        guard let first = addresses.first else { throw Refusal(reason: "\(target.host) has no address") }
        if !allowPrivate {
            for address in addresses {
                if let why = address.forbiddenReason {
                    throw Refusal(reason: "\(target.host) resolves to \(address), \(why): not allowed for webhooks")
                }
            }
        }
        return first
    }

    struct LookupFailed: Error, CustomStringConvertible {
        var code: Int32
        var description: String { String(cString: gai_strerror(code)) }
    }

    /// Every address `getaddrinfo` gives for `host` (on NIO's blocking-I/O pool).
    static func resolve(_ host: String) async throws -> [IPAddress] {
        try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            #else
            hints.ai_socktype = SOCK_STREAM
            #endif
            var result: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, nil, &hints, &result)
            guard status == 0 else { throw LookupFailed(code: status) }
            defer { freeaddrinfo(result) }
            var addresses: [IPAddress] = []
            var cursor = result
            while let info = cursor?.pointee {
                if info.ai_family == AF_INET, let raw = info.ai_addr {
                    let address = raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    if let ip = IPAddress(bytes: withUnsafeBytes(of: address) { Array($0) }) { addresses.append(ip) }
                } else if info.ai_family == AF_INET6, let raw = info.ai_addr {
                    let address = raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    if let ip = IPAddress(bytes: withUnsafeBytes(of: address) { Array($0) }) { addresses.append(ip) }
                }
                cursor = info.ai_next
            }
            var seen = Set<IPAddress>()
            return addresses.filter { seen.insert($0).inserted }
        }
    }
}
