import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// A request as a stub server received it.
public struct StubRequest: Sendable {
    public let method: String
    public let path: String
    /// Query parameters (the last value of a repeated name).
    public let query: [String: String]
    public let headers: [(String, String)]
    /// The request body (up to 1 MiB) as text.
    public var body: String = ""
    /// The request body (up to 1 MiB) as it came (a multipart upload is not text).
    public var bytes: [UInt8] = []
    /// When the request arrived.
    public var receivedAt = Date()

    public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
}

/// What a stub server answers.
public struct StubResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: String

    public init(status: Int = 200, headers: [(String, String)] = [("content-type", "application/json")], body: String = "") {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// A loopback HTTP server on a random port that answers every request with `handler`, standing in for a third-party
/// API (an exchange, Telegram) in tests. The handler may wait (slow or hanging upstreams).
public enum StubHTTPServer {
    /// Runs the server for the duration of `body`, which gets its base URL (`http://127.0.0.1:PORT`).
    public static func run<Result: Sendable>(
        handler: @escaping @Sendable (StubRequest) async -> StubResponse,
        _ body: @Sendable (_ baseURL: String) async throws -> Result
    ) async throws -> Result {
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            var query: [String: String] = [:]
            for item in URLComponents(string: "http://stub\(request.uri.description)")?.queryItems ?? [] {
                query[item.name] = item.value ?? ""
            }
            var stubRequest = StubRequest(
                method: request.method.rawValue, path: request.uri.path, query: query,
                headers: request.headers.map { ($0.name.canonicalName, $0.value) })
            let buffer = (try? await request.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
            stubRequest.body = String(buffer: buffer)
            stubRequest.bytes = Array(buffer.readableBytesView)
            let answer = await handler(stubRequest)
            var fields = HTTPFields()
            for (name, value) in answer.headers {
                if let field = HTTPFields.Element.Name(name) { fields.append(HTTPFields.Element(name: field, value: value)) }
            }
            return Response(
                status: .init(code: answer.status), headers: fields,
                body: .init(byteBuffer: ByteBuffer(string: answer.body)))
        }
        var logger = Logger(label: "stub-http")
        logger.logLevel = .warning
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                defer { portContinuation.finish() }
                try await group.run()
            }
            guard let port = await ports.first(where: { _ in true }) else {
                try await tasks.next()
                throw TestFailure("the stub server stopped before it served")
            }
            do {
                let result = try await body("http://127.0.0.1:\(port)")
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }
}
