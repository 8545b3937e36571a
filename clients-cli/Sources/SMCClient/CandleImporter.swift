import Foundation
import HTTPTypes
import OpenAPIRuntime
import OpenAPIURLSession
import SMCAPI
import SMCEngine

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Sends candles to `POST /v1/market/candles` in batches, as a market-data feeder (a feeder key, `smcf_…`).
///
/// The endpoint is idempotent — the same candle again is `unchanged` — so a batch that failed in transit is simply
/// sent again: network errors, 5xx and 429 are retried with exponential back-off (429/503 honour `Retry-After`),
/// and an import that stopped half-way can be rerun from the start. A batch the server refuses (4xx) stops the
/// import; the server stores a batch whole or not at all, so the batches before it are stored and none after.
public struct CandleImporter: Sendable {
    public let serverURL: URL
    public var retry: RetryPolicy
    let client: Client

    /// The endpoint's limit per request.
    public static let maxBatch = 10_000
    public static let defaultBatch = 5_000

    /// - Parameter transport: how requests travel; URLSession unless given (tests wrap it to inject failures).
    public init(serverURL: URL, feederKey: String, timeout: TimeInterval = 120, retry: RetryPolicy = RetryPolicy(),
                transport: (any ClientTransport)? = nil)
    {
        self.serverURL = serverURL
        self.retry = retry
        self.client = Client(
            serverURL: serverURL,
            configuration: .init(dateTranscoder: .iso8601),
            transport: transport ?? Self.urlSessionTransport(timeout: timeout),
            middlewares: [BearerAuthentication(token: feederKey)])
    }

    /// URLSession, as a phone app would use it; `timeout` bounds each request.
    public static func urlSessionTransport(timeout: TimeInterval) -> any ClientTransport {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        return URLSessionTransport(configuration: .init(session: URLSession(configuration: configuration)))
    }

    /// When and how often a failed batch is sent again.
    public struct RetryPolicy: Sendable, Equatable {
        /// Tries after the first.
        public var retries: Int
        /// The first wait; each further one doubles (with ±20 % jitter), up to `maxDelay`.
        public var initialDelay: Duration
        public var maxDelay: Duration

        public init(retries: Int = 3, initialDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(30)) {
            self.retries = max(0, retries)
            self.initialDelay = initialDelay
            self.maxDelay = maxDelay
        }

        /// The wait before retry `n` (1-based); a server's `Retry-After` wins, up to twice `maxDelay`.
        func delay(beforeRetry n: Int, retryAfter: Duration?) -> Duration {
            if let retryAfter { return min(retryAfter, maxDelay * 2) }
            let base = initialDelay * (1 << min(n - 1, 20))
            return min(base * Double.random(in: 0.8...1.2), maxDelay)
        }
    }

    /// What an import did, summed over its batches (the fields of the endpoint's answer).
    public struct Totals: Sendable, Equatable, Codable {
        public var received = 0
        public var inserted = 0
        public var replaced = 0
        public var corrections = 0
        public var unchanged = 0
        public var aggregated = 0
        public var batches = 0

        public init() {}

        mutating func add(_ r: Components.Schemas.CandleIngestResult) {
            received += r.received
            inserted += r.inserted
            replaced += r.replaced
            corrections += r.corrections
            unchanged += r.unchanged
            aggregated += r.aggregated
            batches += 1
        }
    }

    /// What happens while an import runs, for a progress display.
    public enum Event: Sendable {
        /// A batch was stored: `sent` of `total` candles are now on the server.
        case stored(batch: Int, batches: Int, sent: Int, total: Int, totals: Totals)
        /// A batch failed in a way worth retrying; it is sent again after `delay`.
        case retrying(batch: Int, attempt: Int, delay: Duration, reason: String)
    }

    /// Sends `candles` (one symbol and timeframe, oldest first) in batches of `batchSize`.
    /// Throws `CandleImportError`.
    public func send(
        _ candles: CandleSeries, symbol: String, timeframe: SignalTimeframe, batchSize: Int = defaultBatch,
        source: String? = nil, onEvent: @Sendable (Event) -> Void = { _ in }
    ) async throws -> Totals {
        precondition((1...Self.maxBatch).contains(batchSize), "batch size must be 1–\(Self.maxBatch)")
        guard let tf = Components.Schemas.Timeframe(rawValue: timeframe.label) else {
            throw CandleImportError.rejected(.init(
                status: 0, code: "unsupported_timeframe", message: "the server has no \(timeframe.label) timeframe",
                candle: nil, field: nil, batch: 1, storedBefore: 0))
        }
        var totals = Totals()
        let batches = (candles.count + batchSize - 1) / batchSize
        for (number, start) in stride(from: 0, to: candles.count, by: batchSize).enumerated() {
            let range = start..<min(start + batchSize, candles.count)
            let body = Components.Schemas.CandleBatch(source: source, candles: range.map { i in
                .init(symbol: symbol, timeframe: tf, openTime: Date(timeIntervalSince1970: TimeInterval(candles.time[i])),
                      open: candles.open[i], high: candles.high[i], low: candles.low[i], close: candles.close[i],
                      volume: candles.volume[i])
            })
            let result = try await sendBatch(body, batch: number + 1, offset: start, onEvent: onEvent)
            totals.add(result)
            onEvent(.stored(batch: number + 1, batches: batches, sent: range.upperBound, total: candles.count, totals: totals))
        }
        return totals
    }

    /// One batch, with retries.
    private func sendBatch(
        _ body: Components.Schemas.CandleBatch, batch: Int, offset: Int, onEvent: @Sendable (Event) -> Void
    ) async throws -> Components.Schemas.CandleIngestResult {
        var attempt = 0
        while true {
            let failure: Transient
            do {
                switch try await client.ingestCandles(body: .json(body)) {
                case .ok(let ok):
                    return try ok.body.json
                case .unauthorized(let response):
                    let problem = try response.body.applicationProblemJson
                    throw CandleImportError.unauthorized(problem.detail ?? problem.title)
                case .unprocessableContent(let response):
                    throw CandleImportError.rejected(.init(
                        try response.body.applicationProblemJson, status: 422, batch: batch, offset: offset))
                case .contentTooLarge(let response):
                    var rejection = CandleImportError.Rejection(
                        try response.body.applicationProblemJson, status: 413, batch: batch, offset: offset)
                    rejection.message += " (send smaller batches)"
                    throw CandleImportError.rejected(rejection)
                case .badRequest(let response):
                    throw CandleImportError.rejected(.init(
                        try response.body.applicationProblemJson, status: 400, batch: batch, offset: offset))
                case .unsupportedMediaType(let response):
                    throw CandleImportError.rejected(.init(
                        try response.body.applicationProblemJson, status: 415, batch: batch, offset: offset))
                case .tooManyRequests(let response):
                    let problem = try? response.body.applicationProblemJson
                    failure = .status(
                        429, problem?.detail ?? problem?.title ?? "HTTP 429",
                        retryAfter: response.headers.retryAfter.map { Duration.seconds(max(0, $0)) })
                case .undocumented(let status, let payload):
                    let problem = await Self.problem(in: payload.body)
                    if status == 429 || (500...599).contains(status) {
                        let after = payload.headerFields[.retryAfter].flatMap(Int.init).map { Duration.seconds(max(0, $0)) }
                        failure = .status(status, problem?.detail ?? problem?.title ?? "HTTP \(status)", retryAfter: after)
                    } else if status == 401 || status == 403 {
                        throw CandleImportError.unauthorized(problem?.detail ?? "HTTP \(status)")
                    } else if let problem {
                        throw CandleImportError.rejected(.init(problem, status: status, batch: batch, offset: offset))
                    } else {
                        throw CandleImportError.rejected(.init(
                            status: status, code: nil, message: "the server answered HTTP \(status)", candle: nil, field: nil,
                            batch: batch, storedBefore: offset))
                    }
                }
            } catch let error as CandleImportError {
                throw error
            } catch let error as OpenAPIRuntime.ClientError where error.response == nil {
                // No answer at all: refused, reset, timed out, DNS — worth another try.
                failure = .network(Self.describe(error.underlyingError))
            } catch let error as OpenAPIRuntime.ClientError {
                // An answer we cannot read is not going to improve by asking again.
                throw CandleImportError.rejected(.init(
                    status: error.response.map { Int($0.status.code) } ?? 0, code: nil,
                    message: "unreadable answer: \(error.causeDescription)", candle: nil, field: nil, batch: batch,
                    storedBefore: offset))
            }
            attempt += 1
            guard attempt <= retry.retries else {
                switch failure {
                case .network(let reason): throw CandleImportError.network(reason, attempts: attempt, storedBefore: offset)
                case .status(let status, let reason, _):
                    throw CandleImportError.unavailable(status: status, reason, attempts: attempt, storedBefore: offset)
                }
            }
            let delay: Duration
            switch failure {
            case .network(let reason):
                delay = retry.delay(beforeRetry: attempt, retryAfter: nil)
                onEvent(.retrying(batch: batch, attempt: attempt, delay: delay, reason: reason))
            case .status(let status, let reason, let after):
                delay = retry.delay(beforeRetry: attempt, retryAfter: after)
                onEvent(.retrying(batch: batch, attempt: attempt, delay: delay, reason: "HTTP \(status): \(reason)"))
            }
            try await Task.sleep(for: delay)
        }
    }

    private enum Transient {
        case network(String)
        case status(Int, String, retryAfter: Duration?)
    }

    static func problem(in body: HTTPBody?) async -> Components.Schemas.Problem? {
        guard let body, let data = try? await Data(collecting: body, upTo: 1 << 20) else { return nil }
        return try? JSONDecoder().decode(Components.Schemas.Problem.self, from: data)
    }

    static func describe(_ error: any Error) -> String {
        if let url = error as? URLError {
            switch url.code {
            case .cannotConnectToHost: return "connection refused"
            case .timedOut: return "timed out"
            case .cannotFindHost, .dnsLookupFailed: return "host not found"
            case .networkConnectionLost: return "connection lost"
            case .notConnectedToInternet: return "not connected to a network"
            case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
                 .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot:
                return "TLS failed (\(url.code.rawValue))"
            default: return "network error \(url.code.rawValue)"
            }
        }
        return String(describing: error)
    }
}

/// Why an import stopped. Every case says how many candles the server had stored before the batch that failed
/// (the failed batch itself stored nothing).
public enum CandleImportError: Error, Sendable, CustomStringConvertible {
    /// 401: no feeder key, or not a valid one.
    case unauthorized(String)
    /// The server refused a batch (4xx): the input is at fault and sending it again will not help.
    case rejected(Rejection)
    /// No answer after every retry.
    case network(String, attempts: Int, storedBefore: Int)
    /// 5xx or 429 after every retry.
    case unavailable(status: Int, String, attempts: Int, storedBefore: Int)

    /// A refused batch, with the candle the server named translated from its index in the request to its index
    /// in the whole import.
    public struct Rejection: Sendable, Equatable {
        public var status: Int
        public var code: String?
        public var message: String
        /// Index of the offending candle in what was sent (0-based), when the server named one.
        public var candle: Int?
        /// The offending field of that candle (`high`, `open_time`, …), when named.
        public var field: String?
        /// The 1-based batch that was refused.
        public var batch: Int
        /// Candles stored by the batches before it.
        public var storedBefore: Int

        public init(status: Int, code: String?, message: String, candle: Int?, field: String?, batch: Int, storedBefore: Int) {
            self.status = status
            self.code = code
            self.message = message
            self.candle = candle
            self.field = field
            self.batch = batch
            self.storedBefore = storedBefore
        }

        init(_ problem: Components.Schemas.Problem, status: Int, batch: Int, offset: Int) {
            let first = problem.errors?.first
            self.init(status: status, code: problem.code, message: first?.message ?? problem.detail ?? problem.title,
                      candle: nil, field: first?.field, batch: batch, storedBefore: offset)
            // `/candles/<i>/<field>` names candle i of this batch.
            if let pointer = first?.field, pointer.hasPrefix("/candles/") {
                let parts = pointer.dropFirst("/candles/".count).split(separator: "/", maxSplits: 1)
                if let i = parts.first.flatMap({ Int($0) }) {
                    candle = offset + i
                    field = parts.count > 1 ? String(parts[1]) : nil
                }
            }
        }
    }

    public var description: String {
        switch self {
        case .unauthorized(let detail): return "the server refused the feeder key: \(detail)"
        case .rejected(let r):
            var text = "the server refused batch \(r.batch)"
            if let candle = r.candle { text += " at candle \(candle + 1)" }
            if let field = r.field { text += " (\(field))" }
            return text + ": \(r.message)" + (r.code.map { " [\($0)]" } ?? "")
        case .network(let reason, let attempts, _):
            return "cannot reach the server (\(reason); \(attempts) \(attempts == 1 ? "try" : "tries"))"
        case .unavailable(let status, let reason, let attempts, _):
            return "the server kept failing (HTTP \(status): \(reason); \(attempts) \(attempts == 1 ? "try" : "tries"))"
        }
    }

    /// Candles the server had stored before the import stopped.
    public var storedBefore: Int {
        switch self {
        case .unauthorized: 0
        case .rejected(let r): r.storedBefore
        case .network(_, _, let n), .unavailable(_, _, _, let n): n
        }
    }
}

/// `Authorization: Bearer <token>` on every request.
struct BearerAuthentication: ClientMiddleware {
    let token: String

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[.authorization] = "Bearer \(token)"
        return try await next(request, body, baseURL)
    }
}
