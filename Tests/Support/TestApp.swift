import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import SMCServer
import ServiceLifecycle

/// The whole application, started on a random loopback port against a fresh migrated database, for
/// tests that speak real HTTP to it.
public struct TestApp: TestServer {
    public let baseURL: String
    public let port: Int
    public let database: DatabaseSettings
    public let configuration: AppConfiguration

    /// Starts the application, runs `body`, then shuts it down gracefully (and waits for that). `now` is the clock
    /// the exchange connectors judge closed klines by.
    public static func run<Result: Sendable>(
        database: DatabaseSettings? = nil,
        configure: @Sendable (inout AppConfiguration) -> Void = { _ in },
        logger: Logger = TestDatabase.logger,
        hasher: PasswordHasher? = nil,
        now: @escaping @Sendable () -> Date = { Date() },
        _ body: @Sendable (TestApp) async throws -> Result
    ) async throws -> Result {
        let settings: DatabaseSettings
        if let database { settings = database } else { settings = try await TestDatabase.makeMigrated() }
        var configuration = AppConfiguration()
        configuration.port = 0
        configuration.databaseURL = TestDatabase.url(for: settings)
        configuration.migrationsDirectory = TestDatabase.migrationsDirectory
        configuration.databaseMaxConnections = 8
        configuration.logLevel = logger.logLevel
        // Dozens of apps run at once in one test process: background workers only where a test asks for them.
        configuration.pipelineWorkers = 0
        configuration.alerts.workers = 0
        // A fixed link-signing key, as a deployment sets one (the generated one is logged as missing).
        configuration.urlSigningKey = Array(repeating: 7, count: 32)
        configure(&configuration)

        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = try await buildApplication(
            configuration: configuration, logger: logger, hasher: hasher ?? PasswordHasher(), now: now,
            onServerRunning: { port in portContinuation.yield(port) })
        let group = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: [], cancellationSignals: [], logger: TestDatabase.logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                defer { portContinuation.finish() }
                try await group.run()
            }
            guard let port = await ports.first(where: { _ in true }) else {
                // The group ended before serving: surface its error.
                try await tasks.next()
                throw TestFailure("the application stopped before it served")
            }
            let testApp = TestApp(
                baseURL: "http://127.0.0.1:\(port)", port: port, database: settings, configuration: configuration)
            do {
                let result = try await body(testApp)
                try await shutDown(group, &tasks)
                return result
            } catch {
                try? await shutDown(group, &tasks)
                throw error
            }
        }
    }

    /// A graceful shutdown, waited for; one still going after two minutes fails the test and is cancelled (a test run
    /// that hangs there says nothing about why).
    private static func shutDown(_ group: ServiceGroup, _ tasks: inout ThrowingTaskGroup<Void, any Error>) async throws {
        await group.triggerGracefulShutdown()
        tasks.addTask {
            try await Task.sleep(for: .seconds(120))
            TestDatabase.logger.error("the application did not shut down within 120 s of a graceful shutdown; cancelling it")
            throw TestFailure("the application did not shut down within 120 s of a graceful shutdown")
        }
        defer { tasks.cancelAll() }
        _ = try await tasks.next()
    }
}

public enum TestHTTP {
    /// `chunked` streams the body in 1 KiB pieces with no Content-Length.
    public static func request(
        _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: String? = nil,
        chunked: Bool = false, rawBody: Data? = nil, timeout: TimeAmount = .seconds(30)
    ) async throws -> TestResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            if chunked {
                let bytes = Array(body.utf8)
                let pieces = stride(from: 0, to: bytes.count, by: 1024).map {
                    ByteBuffer(bytes: bytes[$0..<min($0 + 1024, bytes.count)])
                }
                request.body = .stream(pieces.async, length: .unknown)
            } else {
                request.body = .bytes(ByteBuffer(string: body))
            }
        }
        if let rawBody { request.body = .bytes(ByteBuffer(bytes: rawBody)) }
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return TestResponse(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes),
                            bytes: Array(bytes.readableBytesView))
    }
}

extension Array where Element: Sendable {
    /// The elements as an async sequence.
    var async: AsyncStream<Element> {
        AsyncStream { continuation in
            for element in self { continuation.yield(element) }
            continuation.finish()
        }
    }
}

public struct TestResponse: Sendable {
    public let status: Int
    public let headers: HTTPHeaders
    public let body: String
    /// The body as it came (an image is not text).
    public var bytes: [UInt8] = []

    /// The body decoded as one of the spec's generated types (`Components.Schemas.Trade`, …), the way the generated
    /// client decodes it: members the schema does not allow, a missing required one or a mistyped one fail the test.
    public func decode<Value: Decodable>(_ type: Value.Type = Value.self) throws -> Value {
        do { return try APIJSON.decoder.decode(type, from: Data(body.utf8)) } catch {
            throw TestFailure("\(status) body is not a \(type): \(error)\n\(body.prefix(2000))")
        }
    }

    /// The body as a JSON object (fails the test when it is not one); for bodies no schema describes.
    public func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
            throw TestFailure("body is not a JSON object: \(body)")
        }
        return object
    }

    /// The raw JSON value at `pointer` (RFC 6901, `/zone/time`, `/votes/0/reason`), for checks on the wire format
    /// itself: an exact date string, or an absent member (nil; a JSON null is `NSNull`). Fails when the body is not JSON.
    public func member(_ pointer: String) throws -> Any? {
        var value: Any? = try JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed])
        for token in pointer.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            switch value {
            case let object as [String: Any]: value = object[key]
            case let array as [Any]: value = Int(key).flatMap { array.indices.contains($0) ? array[$0] : nil }
            default: return nil
            }
        }
        return value
    }

    public func header(_ name: String) -> String? { headers.first(name: name) }

    /// `code` of a problem body (nil when the body is not a problem).
    public var problemCode: String? { (try? json())?["code"] as? String }
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
