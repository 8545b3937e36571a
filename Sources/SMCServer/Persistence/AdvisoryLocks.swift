import Logging
import PostgresNIO

/// Session advisory locks held on one PostgreSQL connection of their own, for work that outlives a transaction (a
/// Binance pair's stream, the Telegram bot's poller): a lock is gone when its connection is, which `isHeld` tells.
actor AdvisoryLocks {
    /// Proof of a lock taken on one particular connection: a lock is gone when its connection is.
    struct Token: Sendable, Equatable {
        let connectionID: Int
    }

    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private var connection: PostgresConnection?
    private var connecting: Task<PostgresConnection, any Error>?
    private var nextID = 1

    init(configuration: PostgresConnection.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Takes the lock unless another session holds it (nil).
    func tryLock(_ key: Int64) async throws -> Token? {
        let connection = try await connected()
        do {
            let taken = try await connection.query("SELECT pg_try_advisory_lock(\(key))", logger: logger)
                .collect().first?.decode(Bool.self) ?? false
            return taken ? Token(connectionID: connection.id) : nil
        } catch {
            await drop(connection)  // we cannot know whether the lock was taken: closing releases it either way
            throw error
        }
    }

    /// Whether the lock is still ours: its connection is the current one and open.
    func isHeld(_ token: Token) -> Bool {
        guard let connection, !connection.isClosed else { return false }
        return connection.id == token.connectionID
    }

    func unlock(_ key: Int64, _ token: Token) async {
        guard let connection, connection.id == token.connectionID else { return }  // gone with its connection
        do {
            let released = try await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger)
                .collect().first?.decode(Bool.self) ?? false
            if !released { await drop(connection) }
        } catch {
            await drop(connection)
        }
    }

    /// Closes the connection, releasing whatever it still holds (also one that was being opened).
    func close() async {
        if let connecting {
            connecting.cancel()
            if let opened = try? await connecting.value { try? await opened.close() }
        }
        if let connection { await drop(connection) }
    }

    private func connected() async throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        connection = nil
        if let connecting { return try await connecting.value }
        let id = nextID
        nextID += 1
        let configuration = self.configuration, logger = self.logger
        let task = Task { try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger) }
        connecting = task
        defer { connecting = nil }
        let connection = try await task.value
        self.connection = connection
        return connection
    }

    private func drop(_ connection: PostgresConnection) async {
        if self.connection?.id == connection.id { self.connection = nil }
        try? await connection.close()
    }
}
