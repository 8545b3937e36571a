import AsyncHTTPClient
import Foundation
import NIOCore

/// `GET {base}/api/v3/klines` over async-http-client.
struct BinanceKlineClient: Sendable {
    let http: HTTPClient
    let baseURL: String
    let timeout: Duration

    func fetch(_ pair: BinancePair, startTime: Int64, limit: Int) async throws -> [BinanceKline] {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        var request = HTTPClientRequest(
            url: "\(base)/api/v3/klines?symbol=\(pair.symbol)&interval=\(pair.interval)"
                + "&startTime=\(startTime * 1000)&limit=\(limit)")
        request.headers.add(name: "accept", value: "application/json")
        request.headers.add(name: "user-agent", value: "smc-server")
        let http = self.http, timeout = self.timeout, prepared = request
        let (status, retryAfter, body) = try await withTimeout(timeout) {
            do {
                let response = try await http.execute(prepared, timeout: timeout.timeAmount)
                let body = try await response.body.collect(upTo: 8 * 1024 * 1024)
                return (Int(response.status.code), response.headers.first(name: "retry-after"), body)
            } catch let error as HTTPClientError where [.readTimeout, .deadlineExceeded, .connectTimeout].contains(error) {
                throw BinanceFetchError.timeout(timeout)
            }
        }
        switch status {
        case 200:
            return try BinanceKline.parse(body, timeframe: pair.timeframe)
        case 418, 429:
            throw BinanceFetchError.throttled(status: status, retryAfter: retryAfter.flatMap(Self.retryAfter))
        default:
            throw BinanceFetchError.status(status, String(String(buffer: body).prefix(200)))
        }
    }

    /// `Retry-After` in seconds (Binance's form); an HTTP date is read too.
    static func retryAfter(_ value: String) -> Duration? {
        let text = value.trimmingWhitespace()
        if let seconds = Double(text), seconds.isFinite, seconds >= 0 { return .milliseconds(Int64(seconds * 1000)) }
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "GMT")
        format.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = format.date(from: text) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSinceNow) * 1000))
    }

    /// The request and its body within `limit` (async-http-client's own deadline stops at the response head).
    private func withTimeout<T: Sendable>(
        _ limit: Duration, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        do {
            return try await withDeadline(limit, body)
        } catch is DeadlineExceeded {
            throw BinanceFetchError.timeout(limit)
        }
    }
}
