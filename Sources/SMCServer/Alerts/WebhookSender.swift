import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// One attempt's observable facts, for the attempt record and the retry rules.
struct AttemptReport: Sendable {
    var result: AttemptResult
    var statusCode: Int?
    var latency: Duration
    var error: String?
}

/// Sends one signed webhook request. The target is checked by `TargetGuard` right before the request and the
/// connection goes to the address that was checked (async-http-client's DNS override keeps the URL's host for the
/// `Host` header, SNI and certificate checks). Redirects are never followed (a 3xx is a failed attempt), the whole
/// exchange is bounded by `timeout`, and at most 64 KiB of the answer is read.
struct WebhookSender: Sendable {
    let guardrail: TargetGuard
    let timeout: Duration
    /// For targets that need no address pinning (IP literals, or any target when private targets are allowed).
    let shared: HTTPClient
    let logger: Logger

    /// `connections`: per host (several endpoints often share one host; async-http-client's default is 8).
    static func makeClient(timeout: Duration, dnsOverride: [String: String] = [:], connections: Int = 8) -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: timeout.timeAmount, read: timeout.timeAmount))
        configuration.dnsOverride = dnsOverride
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, connections))
        // A connection that cannot be made fails the attempt at once (our retry schedule tries again later) instead of
        // being retried inside the client until the timeout, which turned a refused connection into "no answer".
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    func send(url: String, messageID: String, body: String, secrets: [String], now: @Sendable () -> Date) async -> AttemptReport {
        let clock = ContinuousClock()
        let began = clock.now
        func report(_ result: AttemptResult, status: Int? = nil, error: String?) -> AttemptReport {
            AttemptReport(result: result, statusCode: status, latency: clock.now - began, error: error.map { String($0.prefix(500)) })
        }
        guard !secrets.isEmpty else {
            return report(.transportFailed("unsigned"), error: "not sent: the endpoint's signing secret cannot be opened (SMC_SECRETS_KEY)")
        }
        let target: TargetGuard.Target
        let address: IPAddress
        do {
            target = try guardrail.parse(url)
            address = try await guardrail.vet(target)
        } catch {
            return report(.refused(error.reason), error: "refused: \(error.reason)")
        }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "smc-webhooks/\(SMCServerInfo.version)")
        let timestamp = Int64(now().timeIntervalSince1970)
        for (name, value) in StandardWebhooks.headers(id: messageID, timestamp: timestamp, body: body, secrets: secrets) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(string: body))

        // Pin the connection to the checked address unless the host is already one (or no check applies).
        let pinned = guardrail.allowPrivate || IPAddress(target.host) != nil ? nil
            : Self.makeClient(timeout: timeout, dnsOverride: [target.host: address.description])
        let client = pinned ?? shared
        defer { if let pinned { Task { try? await pinned.shutdown() } } }
        let prepared = request, limit = timeout
        do {
            let (status, retryAfter, snippet) = try await withDeadline(limit) {
                let response = try await client.execute(prepared, timeout: limit.timeAmount)
                var collected = ByteBuffer()
                for try await var part in response.body {
                    if collected.readableBytes < 65_536 { collected.writeBuffer(&part) }
                }
                return (Int(response.status.code), response.headers.first(name: "retry-after"), String(buffer: collected).prefix(200))
            }
            let after = retryAfter.flatMap(BinanceKlineClient.retryAfter)
            let error = (200..<300).contains(status) ? nil : "HTTP \(status)" + (snippet.isEmpty ? "" : ": \(snippet)")
            return report(.answered(status: status, retryAfter: after), status: status, error: error)
        } catch {
            let failure = TransportFailure(error, timeout: limit)
            return report(.transportFailed(failure.code), error: failure.description)
        }
    }
}

/// Why a request got no answer, as a stable code first (`connection_refused`, `timeout`, …) and words after it.
struct TransportFailure: Sendable, Equatable, CustomStringConvertible {
    var code: String
    var detail: String

    var description: String { "\(code): \(detail)" }

    init(code: String, detail: String) {
        self.code = code
        self.detail = detail
    }

    init(_ error: any Error, timeout: Duration) {
        let seconds = String(format: "%g", timeout.milliseconds / 1000)
        if error is DeadlineExceeded {
            self.init(code: "timeout", detail: "no answer within \(seconds) s")
        } else if let http = error as? HTTPClientError, [.readTimeout, .deadlineExceeded, .connectTimeout].contains(http) {
            self.init(code: http == .connectTimeout ? "connect_timeout" : "timeout", detail: "no answer within \(seconds) s")
        } else if let errno = Self.errno(in: error) {
            switch errno {
            case ECONNREFUSED: self.init(code: "connection_refused", detail: "the endpoint refused the connection")
            case ECONNRESET, EPIPE: self.init(code: "connection_reset", detail: "the endpoint closed the connection")
            case EHOSTUNREACH, ENETUNREACH: self.init(code: "unreachable", detail: "no route to the endpoint")
            case ETIMEDOUT: self.init(code: "connect_timeout", detail: "the connection could not be made in time")
            default: self.init(code: "transport_error", detail: String(describing: error))
            }
        } else if let http = error as? HTTPClientError, [.remoteConnectionClosed, .cancelled].contains(http) {
            self.init(code: "connection_reset", detail: "the endpoint closed the connection before answering")
        } else if String(reflecting: error).contains("NIOSSL") || String(reflecting: error).contains("BoringSSL") {
            self.init(code: "tls_error", detail: String(describing: error))
        } else {
            self.init(code: "transport_error", detail: String(describing: error))
        }
    }

    /// The POSIX error number somewhere inside `error` (NIO wraps it in connection errors of its own).
    static func errno(in error: any Error, depth: Int = 0) -> CInt? {
        if let io = error as? IOError { return io.errnoCode }
        guard depth < 6 else { return nil }
        for child in Mirror(reflecting: error).children {
            if let nested = child.value as? (any Error), let found = errno(in: nested, depth: depth + 1) { return found }
            if let list = child.value as? [Any] {
                for item in list {
                    for inner in Mirror(reflecting: item).children {
                        if let nested = inner.value as? (any Error), let found = errno(in: nested, depth: depth + 1) { return found }
                    }
                }
            }
        }
        return nil
    }
}
