import Foundation
import Hummingbird
import Logging
import OpenAPIHummingbird
import OpenAPIRuntime
import PostgresNIO
import Prometheus
import SMCAPI
import SMCEngine
import ServiceLifecycle

/// Keeps the embedded cluster's lifetime inside the service group: it stops after everything that
/// was started after it (the pool, the server) has shut down.
struct EmbeddedPostgresService: Service {
    let cluster: EmbeddedPostgres

    func run() async throws {
        try? await gracefulShutdown()
        await cluster.stop()
    }
}
