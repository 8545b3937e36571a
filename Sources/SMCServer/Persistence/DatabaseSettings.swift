import Foundation
import NIOSSL
import PostgresNIO

/// Where and how to connect to PostgreSQL: parsed from `DATABASE_URL`, or given by the embedded cluster.
public struct DatabaseSettings: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unixSocket(path: String)
    }

    /// libpq's `sslmode` values that we honour.
    public enum TLSMode: String, Sendable, Equatable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    public var endpoint: Endpoint
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(endpoint: Endpoint, username: String, password: String?, database: String, tls: TLSMode) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
    }

    public struct InvalidURL: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses `postgres://user:password@host:port/database?sslmode=…`; `?host=/path` (libpq's form)
    /// selects a Unix-socket folder. The password is percent-decoded.
    public init(url string: String) throws {
        guard let components = URLComponents(string: string),
            let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme)
        else {
            throw InvalidURL(description: "DATABASE_URL must look like postgres://user:password@host:5432/database")
        }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        let database = String(components.percentEncodedPath.dropFirst()).removingPercentEncoding ?? ""
        guard !database.isEmpty else { throw InvalidURL(description: "DATABASE_URL names no database (…/database)") }
        guard let user = components.user, !user.isEmpty else {
            throw InvalidURL(description: "DATABASE_URL names no user (postgres://user@…)")
        }
        if let socketDir = query["host"], socketDir.hasPrefix("/") {
            let port = components.port ?? 5432
            self.endpoint = .unixSocket(path: "\(socketDir)/.s.PGSQL.\(port)")
        } else {
            guard let host = components.host, !host.isEmpty else { throw InvalidURL(description: "DATABASE_URL names no host") }
            self.endpoint = .tcp(host: host, port: components.port ?? 5432)
        }
        self.username = user
        self.password = components.password
        self.database = database
        let mode = query["sslmode"] ?? (Self.isLocal(endpoint) ? "disable" : "prefer")
        guard let tls = TLSMode(rawValue: mode) else {
            throw InvalidURL(description: "sslmode=\(mode) is not supported; use disable, prefer, require or verify-full")
        }
        self.tls = tls
    }

    private static func isLocal(_ endpoint: Endpoint) -> Bool {
        switch endpoint {
        case .unixSocket: return true
        case .tcp(let host, _): return host == "localhost" || host == "127.0.0.1" || host == "::1"
        }
    }

    /// postgres-nio's client configuration for these settings.
    public func clientConfiguration(maxConnections: Int = 20) throws -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch endpoint {
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: username, password: password, database: database)
        case .tcp(let host, let port):
            let tlsSetting: PostgresClient.Configuration.TLS
            switch tls {
            case .disable: tlsSetting = .disable
            case .prefer: tlsSetting = .prefer(.makeClientConfiguration())
            case .require:
                var config = TLSConfiguration.makeClientConfiguration()
                config.certificateVerification = .none
                tlsSetting = .require(config)
            case .verifyFull: tlsSetting = .require(.makeClientConfiguration())
            }
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: tlsSetting)
        }
        configuration.options.maximumConnections = maxConnections
        configuration.options.minimumConnections = 0
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(30))
        return configuration
    }

    /// postgres-nio's configuration for one connection outside the pool, for work that must own its session (the
    /// exchange connectors' advisory locks: closing the connection is what guarantees they are released).
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        switch endpoint {
        case .unixSocket(let path):
            return .init(unixSocketPath: path, username: username, password: password, database: database)
        case .tcp(let host, let port):
            let tlsSetting: PostgresConnection.Configuration.TLS
            switch tls {
            case .disable: tlsSetting = .disable
            case .prefer: tlsSetting = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require:
                var config = TLSConfiguration.makeClientConfiguration()
                config.certificateVerification = .none
                tlsSetting = .require(try NIOSSLContext(configuration: config))
            case .verifyFull: tlsSetting = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            return .init(host: host, port: port, username: username, password: password, database: database, tls: tlsSetting)
        }
    }

    /// A description safe to log: never the password.
    public var redacted: String {
        switch endpoint {
        case .unixSocket(let path): return "\(username)@unix:\(path)/\(database)"
        case .tcp(let host, let port): return "\(username)@\(host):\(port)/\(database) (sslmode=\(tls.rawValue))"
        }
    }
}
