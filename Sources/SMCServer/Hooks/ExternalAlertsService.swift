import Crypto
import Foundation
import Logging
import OpenAPIRuntime
import PostgresNIO
import SMCAPI
import SMCEngine
import SMCSync

/// TradingView alerts: stored at once (so the hook answers well within TradingView's 3 s), parsed afterwards by
/// `ExternalAlertParser` workers; parsed alerts vote as the tenant's external ensemble member.
struct ExternalAlertsService: Sendable {
    let database: Database
    let apiKeys: APIKeysService
    static let maxBody = 65_536

    var logger: Logger { database.logger }

    /// Stores an alert; `(id, duplicate)`. The same alert again — the same `id` field, or the same body on the same
    /// UTC day — is a duplicate and returns the first one's id.
    func receive(token: String, contentType: String, body: String, now: Date = Date()) async throws -> (UUID, Bool) {
        let key = try await apiKeys.authenticate(token, scope: "tradingview_hook")
        guard body.utf8.count <= Self.maxBody else { throw Problem.payloadTooLarge(limit: Self.maxBody) }
        let dedupe = Self.dedupeKey(body: body, now: now)
        return try await database.withTenant(key.tenantID) { connection in
            let id = UUIDv7.generate()
            let inserted = try await connection.query(
                """
                INSERT INTO external_alerts (tenant_id, alert_id, key_id, dedupe_key, content_type, body)
                VALUES (\(key.tenantID), \(id), \(key.keyID), \(ByteBuffer(bytes: dedupe)), \(contentType), \(body))
                ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
                RETURNING alert_id
                """, logger: logger
            ).collect().first?.decode(UUID.self)
            if let inserted { return (inserted, false) }
            let existing = try await connection.query(
                "SELECT alert_id FROM external_alerts WHERE tenant_id = \(key.tenantID) AND dedupe_key = \(ByteBuffer(bytes: dedupe))",
                logger: logger
            ).collect().first?.decode(UUID.self)
            return (existing ?? id, true)
        }
    }

    /// SHA-256 of the alert's own `id` when its JSON has one, else of the UTC day and the body.
    static func dedupeKey(body: String, now: Date) -> [UInt8] {
        if let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
           let id = ExternalAlertParser.scalarText(object["id"]), !id.isEmpty
        {
            return Array(SHA256.hash(data: Data(("id:" + id).utf8)))
        }
        let day = Int64(now.timeIntervalSince1970) / 86_400
        return Array(SHA256.hash(data: Data("day:\(day):".utf8) + Data(body.utf8)))
    }

    /// Parses up to `limit` stored alerts not yet parsed (any tenant; as the worker); returns how many.
    func parsePending(limit: Int = 100) async throws -> Int {
        try await database.withWorker { connection in
            let rows = try await connection.query(
                """
                SELECT tenant_id, alert_id, content_type, body FROM external_alerts WHERE parsed_at IS NULL
                ORDER BY received_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
                """, logger: logger)
            var pending: [(UUID, UUID, String, String)] = []
            for try await row in rows.decode((UUID, UUID, String, String).self) { pending.append(row) }
            guard !pending.isEmpty else { return 0 }
            let known = try await SymbolRegistry.names(connection, logger: logger)
            for (tenant, id, type, body) in pending {
                let parsed = ExternalAlertParser.parse(body: body, contentType: type, knownSymbols: known)
                try await connection.query(
                    """
                    UPDATE external_alerts SET symbol = \(parsed.symbol), direction = \(parsed.direction.map(Int16.init)),
                        strength = \(parsed.strength), message = \(parsed.message), parse_error = \(parsed.error), parsed_at = now()
                    WHERE tenant_id = \(tenant) AND alert_id = \(id)
                    """, logger: logger)
            }
            return pending.count
        }
    }
}

extension APIHandlers {
    func receiveTradingViewAlert(_ input: Operations.ReceiveTradingViewAlert.Input) async throws
        -> Operations.ReceiveTradingViewAlert.Output
    {
        let body: String
        let type: String
        switch input.body {
        case .json(let value):
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            body = String(decoding: try encoder.encode(value), as: UTF8.self)
            type = "application/json"
        case .plainText(let stream):
            let bytes = try await [UInt8](collecting: stream, upTo: ExternalAlertsService.maxBody)
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw Problem(.invalidUTF8, detail: "the alert text is not UTF-8")
            }
            body = text
            type = "text/plain"
        }
        let (id, duplicate) = try await externalAlerts.receive(token: input.path.hookToken, contentType: type, body: body)
        return .accepted(.init(body: .json(.init(id: id.uuidString.lowercased(), duplicate: duplicate))))
    }
}

extension ExternalAlertsService {
    /// The tenants' parsed alerts on `symbol` received in [`from`, `to`) (epoch seconds), oldest first: what the
    /// pipeline's ensembles take as the external member's votes (worker role).
    static func parsed(symbol: String, tenants: [UUID], from: Int64, to: Int64, _ connection: PostgresConnection, logger: Logger)
        async throws -> [UUID: [ExternalAlert]]
    {
        guard !tenants.isEmpty else { return [:] }
        let rows = try await connection.query(
            """
            SELECT tenant_id, received_at, direction, coalesce(strength, 1), coalesce(message, '') FROM external_alerts
            WHERE tenant_id = ANY(\(tenants)::uuid[]) AND symbol = \(symbol) AND direction IS NOT NULL
              AND received_at >= \(Date(timeIntervalSince1970: TimeInterval(from)))
              AND received_at < \(Date(timeIntervalSince1970: TimeInterval(to)))
            ORDER BY received_at
            """, logger: logger)
        var out: [UUID: [ExternalAlert]] = [:]
        for try await (tenant, at, direction, strength, message) in rows.decode((UUID, Date, Int16, Double, String).self) {
            out[tenant, default: []].append(ExternalAlert(time: Int64(at.timeIntervalSince1970), direction: Int(direction),
                                                          strength: strength, text: message))
        }
        return out
    }
}
