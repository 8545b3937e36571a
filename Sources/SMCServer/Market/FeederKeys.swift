import Foundation
import Logging
import PostgresNIO
import SMCSync

/// A market-data feeder key as the operator sees it (never the key itself).
struct FeederKey: Sendable {
    var id: UUID
    var name: String
    var hint: String?
    var createdAt: Date
    var revokedAt: Date?

    /// From `key_id, name, hint, created_at, revoked_at`.
    init(row: PostgresRow) throws {
        (id, name, hint, createdAt, revokedAt) = try row.decode((UUID, String, String?, Date, Date?).self)
    }
}

/// The owner of `feeder_keys`: operator-issued keys that may feed candles (`POST /v1/market/candles`). They belong to no
/// tenant, so they are read and written with the connecting (owner) role, not `smc_app`.
struct FeederKeys: Sendable {
    let database: Database
    var logger: Logger { database.logger }

    /// Issues a market-data feeder key; the key is returned once and only its hash is kept.
    func create(name rawName: String) async throws -> String {
        var errors: [Problem.FieldError] = []
        let name = AccountRules.name(rawName, field: "name", max: 100, into: &errors) ?? ""
        guard errors.isEmpty else { throw Problem.validation(errors) }
        let secret = BearerSecret.generate(.feeder, tenant: UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
        do {
            // Feeder keys are operator-owned: written with the connecting (owner) role, not smc_app.
            try await database.client.query(
                """
                INSERT INTO feeder_keys (key_id, name, key_hash, hint)
                VALUES (\(UUIDv7.generate()), \(name), \(secret.hashBytes), \(Redaction.hint(secret.text)))
                """,
                logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw Problem(.nameTaken, detail: "a feeder key named \(name) already exists")
        }
        return secret.text
    }

    /// Every feeder key, newest first, with its last characters (never the key).
    func all() async throws -> [FeederKey] {
        try await database.client.query(
            "SELECT key_id, name, hint, created_at, revoked_at FROM feeder_keys ORDER BY created_at DESC, key_id DESC", logger: logger
        ).collect().map(FeederKey.init(row:))
    }

    /// Revokes the feeder key with this id, or the key in use with this name; the feeder is refused from its next batch.
    func revoke(_ idOrName: String) async throws -> FeederKey {
        let id = UUID(uuidString: idOrName.trimmingWhitespace())
        let rows = try await database.client.query(
            """
            UPDATE feeder_keys SET revoked_at = coalesce(revoked_at, now())
            WHERE key_id = (SELECT key_id FROM feeder_keys
                            WHERE key_id = \(id) OR (\(id)::uuid IS NULL AND name = \(idOrName) AND revoked_at IS NULL) LIMIT 1)
            RETURNING key_id, name, hint, created_at, revoked_at
            """, logger: logger
        ).collect()
        guard let row = rows.first else { throw Problem.notFound("no feeder key with the id or name \(idOrName)") }
        return try FeederKey(row: row)
    }

    /// The name of the key with this hash, when it is valid (not revoked).
    func name(hash: ByteBuffer) async throws -> String? {
        try await database.withShared(readOnly: true) { connection in
            try await connection.query(
                "SELECT name FROM feeder_keys WHERE key_hash = \(hash) AND revoked_at IS NULL", logger: logger
            ).collect().first?.decode(String.self)
        }
    }
}
