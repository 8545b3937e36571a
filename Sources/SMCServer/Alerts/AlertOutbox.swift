import Foundation
import Logging
import PostgresNIO
import SMCSync

/// The owner of `alert_outbox`: alert events written in the transaction of the fact that caused them (a signal, an
/// outcome), taken by the fan-out with `FOR UPDATE SKIP LOCKED` and deleted in the fan-out's transaction.
enum AlertOutbox {
    struct Event: Sendable {
        var tenant: UUID
        var id: UUID
        var type: String
        var signal: UUID?
        /// When it was queued (the live window judges from it).
        var at: Date

        init(tenant: UUID, id: UUID = UUIDv7.generate(), type: String, signal: UUID?, at: Date = Date()) {
            self.tenant = tenant
            self.id = id
            self.type = type
            self.signal = signal
            self.at = at
        }
    }

    static func enqueue(_ events: [Event], _ connection: PostgresConnection, logger: Logger) async throws {
        guard !events.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO alert_outbox (tenant_id, event_id, event_type, signal_id)
            SELECT t, e, ty, nullif(s, '')::uuid
            FROM unnest(\(events.map(\.tenant))::uuid[], \(events.map(\.id))::uuid[], \(events.map(\.type))::text[],
                        \(events.map { $0.signal?.uuidString ?? "" })::text[]) AS u(t, e, ty, s)
            """, logger: logger)
    }

    /// Up to `limit` events, oldest first, locked (other processes skip them).
    static func take(limit: Int, _ connection: PostgresConnection, logger: Logger) async throws -> [Event] {
        var events: [Event] = []
        let rows = try await connection.query(
            """
            SELECT tenant_id, event_id, event_type, signal_id, created_at FROM alert_outbox
            ORDER BY created_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
            """, logger: logger)
        for try await (tenant, id, type, signal, at) in rows.decode((UUID, UUID, String, UUID?, Date).self) {
            events.append(Event(tenant: tenant, id: id, type: type, signal: signal, at: at))
        }
        return events
    }

    static func remove(_ events: [Event], _ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            DELETE FROM alert_outbox o USING unnest(\(events.map(\.tenant))::uuid[], \(events.map(\.id))::uuid[]) AS u(t, e)
            WHERE o.tenant_id = u.t AND o.event_id = u.e
            """, logger: logger)
    }
}
