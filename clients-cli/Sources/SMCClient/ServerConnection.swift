import Foundation
import OpenAPIRuntime
import OpenAPIURLSession
import SMCAPI

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A connection to an smc server through the generated OpenAPI client over URLSession — the same
/// stack a phone app uses.
public struct ServerConnection: Sendable {
    public let serverURL: URL
    let client: Client

    public init(serverURL: URL, timeout: TimeInterval = 30) {
        self.serverURL = serverURL
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        let session = URLSession(configuration: configuration)
        self.client = Client(
            serverURL: serverURL,
            configuration: .init(dateTranscoder: .iso8601WithFractionalSeconds),
            transport: URLSessionTransport(configuration: .init(session: session)))
    }

    /// What `smc-client server-status` shows.
    public struct Status: Sendable, Equatable {
        public var version: String
        public var ready: Bool
        /// The newest applied migration when ready, else the server's problem code.
        public var detail: String
    }

    public func status() async throws -> Status {
        let health = try await client.getHealth()
        let version = try health.ok.body.json.version
        switch try await client.getReady() {
        case .ok(let ok):
            return Status(version: version, ready: true, detail: try ok.body.json.migrations.latest)
        case .serviceUnavailable(let unavailable):
            return Status(version: version, ready: false, detail: try unavailable.body.applicationProblemJson.code)
        case .badRequest:
            throw ClientError.unexpectedStatus(400)
        case .undocumented(let status, _):
            throw ClientError.unexpectedStatus(status)
        }
    }
}

/// Failures of the client library, each with a message fit for a terminal.
public enum ClientError: Error, CustomStringConvertible, Equatable {
    case unexpectedStatus(Int)
    case invalidServerURL(String)

    public var description: String {
        switch self {
        case .unexpectedStatus(let status): return "the server answered with unexpected status \(status)"
        case .invalidServerURL(let url): return "\(url) is not an http(s) URL"
        }
    }
}
