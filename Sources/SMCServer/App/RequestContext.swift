import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SMCSync

/// Our Hummingbird request context; the request id travels with it and, for OpenAPI handlers (which
/// do not see the context), in the task-local `RequestScope.current`.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestID: String = ""
    /// The spec operation the request is for (`METHOD /path/{template}`), matched once by `SpecOperationMiddleware`;
    /// nil when none matches (the router answers 404 or 405).
    public var operation: String?
    /// The peer's IP address (the socket's: a proxy in front must be configured to pass the real one).
    public var clientAddress: String

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.clientAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}

/// What a handler knows about the request it serves, whatever layer it is in.
public struct RequestScope: Sendable {
    public var requestID: String
    public var logger: Logger
    /// The request's HTTP headers (for handlers of generated operations that need more than their inputs).
    public var headers: HTTPFields
    public var clientAddress: String

    @TaskLocal public static var current: RequestScope?
}

enum RequestID {
    /// The caller's id if it is sane (1–128 characters from a conservative set), else a fresh UUIDv7.
    static func accept(_ incoming: String?) -> String {
        if let incoming, (1...128).contains(incoming.utf8.count),
            incoming.utf8.allSatisfy({ byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == 0x2D || byte == 0x5F || byte == 0x2E || byte == 0x3A
            })
        {
            return incoming
        }
        return UUIDv7.generate().uuidString.lowercased()
    }
}

extension HTTPField.Name {
    static let requestID = Self("x-request-id")!
}
