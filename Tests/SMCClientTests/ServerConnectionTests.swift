import Foundation
import SMCTestSupport
import Testing

@testable import SMCClient

@Suite("Client: server connection over real HTTP")
struct ServerConnectionTests {
    @Test("status reports the server's version and readiness through the generated client")
    func status() async throws {
        try await TestApp.run { app in
            let connection = ServerConnection(serverURL: URL(string: app.baseURL)!)
            let status = try await connection.status()
            #expect(status.ready)
            #expect(status.detail == TestDatabase.latestMigration)
            #expect(!status.version.isEmpty)
        }
    }

    @Test("an unreachable server is an error, not a hang")
    func unreachable() async throws {
        let connection = ServerConnection(serverURL: URL(string: "http://127.0.0.1:9")!, timeout: 5)
        await #expect(throws: (any Error).self) { try await connection.status() }
    }
}
