import Foundation
import Logging
import OpenAPIRuntime
import PostgresNIO

/// A per-user configuration document: its storage kind, its defaults, and how to check and normalise it.
protocol SettingsDocument: Codable, Sendable {
    static var kind: String { get }
    static var defaults: Self { get }
    /// Checks the whole document (throws `validation_failed` or `plan_limit_exceeded`) and returns it
    /// normalised, as it will be stored and shown.
    func validated(_ context: SettingsContext) async throws -> Self
    /// Derived, read-only fields for display (recomputed on every read).
    func annotated(_ context: SettingsContext) async throws -> Self
    /// Runs in the writing transaction after the document is stored (e.g. queue what it affects).
    func stored(_ context: SettingsContext) async throws
}

/// What validation may consult: the tenant's plan and the shared registries, inside the write transaction.
struct SettingsContext: Sendable {
    let connection: PostgresConnection
    let plan: PlanRecord
    let plans: PlansService
    let logger: Logger
}

/// Versioned documents with optimistic concurrency: every write names the version it is based on
/// (`If-Match`), a stale one is 412 and a missing one 428, so that two devices cannot silently overwrite
/// each other. Version 0 is "never written": the defaults.
struct SettingsService: Sendable {
    let database: Database
    let plans: PlansService
    var logger: Logger { database.logger }

    static func etag(_ version: Int) -> String { "\"\(version)\"" }

    func read<D: SettingsDocument>(_ type: D.Type, _ principal: Principal) async throws -> (D, Int) {
        try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            let stored = try await load(D.self, principal, connection, lock: false)
            guard let (document, version) = stored else { return (D.defaults, 0) }
            // Recompute derived fields (e.g. which entries the plan allows) on read: the plan may have changed.
            let plan = try await plans.plan(forTenant: principal.tenantID, connection)
            let context = SettingsContext(connection: connection, plan: plan, plans: plans, logger: logger)
            return ((try? await document.annotated(context)) ?? document, version)
        }
    }

    func replace<D: SettingsDocument>(_ document: D, _ principal: Principal, ifMatch: String?) async throws -> (D, Int) {
        try await write(D.self, principal, ifMatch: ifMatch) { _ in document }
    }

    /// Applies a JSON Merge Patch (RFC 7386) to the current document, then validates the result whole.
    func patch<D: SettingsDocument>(_ type: D.Type, _ patch: OpenAPIObjectContainer, _ principal: Principal, ifMatch: String?)
        async throws -> (D, Int)
    {
        let patchData = try JSONEncoder().encode(patch)
        return try await write(D.self, principal, ifMatch: ifMatch) { current in
            let base = try JSONSerialization.jsonObject(with: JSONEncoder().encode(current))
            let patchObject = try JSONSerialization.jsonObject(with: patchData)
            let merged = MergePatch.apply(patchObject, to: base)
            let result: D
            do {
                result = try JSONDecoder().decode(D.self, from: JSONSerialization.data(withJSONObject: merged))
            } catch let error as DecodingError {
                throw DecodingProblem.body(error)
            }
            // A patch may only name fields the document has: an unknown one is a mistake, not a no-op.
            let unknown = MergePatch.unknownFields(patchObject, in: try JSONSerialization.jsonObject(with: JSONEncoder().encode(result)))
            guard unknown.isEmpty else {
                throw Problem.validation(unknown.map { .init(field: $0, message: "is not a field of the \(D.kind) settings") })
            }
            return result
        }
    }

    private func write<D: SettingsDocument>(
        _ type: D.Type, _ principal: Principal, ifMatch: String?, _ change: @Sendable (D) throws -> D
    ) async throws -> (D, Int) {
        guard let ifMatch else {
            throw Problem(.preconditionRequired,
                detail: "send If-Match with the ETag of the version you changed (GET it first), or If-Match: * to overwrite")
        }
        return try await database.withTenant(principal.tenantID) { connection in
            let stored = try await load(D.self, principal, connection, lock: true)
            let (current, version) = stored ?? (D.defaults, 0)
            guard try Self.matches(ifMatch, version: version) else {
                throw Problem(.preconditionFailed,
                    detail: "the \(D.kind) settings changed since version \(ifMatch); GET them again and reapply your change",
                    extensions: ["current_etag": .string(Self.etag(version))])
            }
            let plan = try await plans.plan(forTenant: principal.tenantID, connection)
            let context = SettingsContext(connection: connection, plan: plan, plans: plans, logger: logger)
            let next = try await change(current).validated(context)
            let body = String(decoding: try JSONEncoder().encode(next), as: UTF8.self)
            let newVersion = version + 1
            try await connection.query(
                """
                INSERT INTO user_settings (tenant_id, user_id, kind, version, body)
                VALUES (\(principal.tenantID), \(principal.userID), \(D.kind), \(newVersion), \(body)::jsonb)
                ON CONFLICT (tenant_id, user_id, kind) DO UPDATE SET version = EXCLUDED.version, body = EXCLUDED.body, updated_at = now()
                """, logger: logger)
            try await next.stored(context)
            return (next, newVersion)
        }
    }

    private func load<D: SettingsDocument>(_ type: D.Type, _ principal: Principal, _ connection: PostgresConnection, lock: Bool)
        async throws -> (D, Int)?
    {
        let sql: PostgresQuery =
            lock
            ? "SELECT version, body::text FROM user_settings WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID) AND kind = \(D.kind) FOR UPDATE"
            : "SELECT version, body::text FROM user_settings WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID) AND kind = \(D.kind)"
        guard let row = try await connection.query(sql, logger: logger).collect().first else { return nil }
        let (version, body) = try row.decode((Int, String).self)
        return (try JSONDecoder().decode(D.self, from: Data(body.utf8)), version)
    }

    /// `If-Match` against a version: `*`, `"N"` or `W/"N"`, possibly a list.
    /// Whether `If-Match` names `version` (or `*`); 400 `bad_request` when the header is not `*` or a list of entity
    /// tags (RFC 9110: `"3"`, `W/"3"`, comma-separated) — `If-Match: 3` instead of `"3"` is a mistake to explain, not a
    /// stale version to answer 412 for. The grammar is the spec's pattern for the header.
    static func matches(_ header: String, version: Int) throws -> Bool {
        guard let tags = entityTags(header) else {
            throw Problem.badRequest(
                "If-Match takes entity tags in double quotes, as the ETag header gives them (If-Match: \"\(version)\"), or *",
                fieldErrors: [.init(field: "If-Match", message: "is not a quoted entity tag such as \"3\"")])
        }
        return tags == ["*"] || tags.contains(etag(version))
    }

    /// `["*"]`, or the opaque tags (with their quotes, without `W/`); nil when the text is neither.
    static func entityTags(_ header: String) -> [String]? {
        let text = Array(header.unicodeScalars)
        var i = 0
        func skipSpace() { while i < text.count, text[i].properties.isWhitespace { i += 1 } }
        skipSpace()
        if i < text.count, text[i] == "*" {
            i += 1
            skipSpace()
            return i == text.count ? ["*"] : nil
        }
        var tags: [String] = []
        while true {
            if i + 1 < text.count, text[i] == "W", text[i + 1] == "/" { i += 2 }
            guard i < text.count, text[i] == "\"" else { return nil }
            var j = i + 1
            while j < text.count, text[j] != "\"", text[j] != "," { j += 1 }
            guard j < text.count, text[j] == "\"" else { return nil }
            tags.append(String(String.UnicodeScalarView(text[i...j])))
            i = j + 1
            skipSpace()
            if i == text.count { return tags }
            guard text[i] == "," else { return nil }
            i += 1
            skipSpace()
        }
    }
}

extension SettingsDocument {
    func annotated(_ context: SettingsContext) async throws -> Self { self }
    func stored(_ context: SettingsContext) async throws {}
}

/// The readers other rooms use (worker role or the caller's tenant transaction): `user_settings` is read only here.
extension SettingsService {
    /// The stored `D` documents of the tenants' users, by user; unreadable ones are left out (the defaults apply).
    static func stored<D: SettingsDocument>(_ type: D.Type, tenants: [UUID], _ connection: PostgresConnection, logger: Logger)
        async throws -> [UUID: D]
    {
        var out: [UUID: D] = [:]
        let decoder = JSONDecoder()
        for try await (user, body) in try await connection.query(
            "SELECT user_id, body::text FROM user_settings WHERE tenant_id = ANY(\(tenants)) AND kind = \(D.kind)", logger: logger
        ).decode((UUID, String).self) {
            out[user] = try? decoder.decode(D.self, from: Data(body.utf8))
        }
        return out
    }

    /// The tenant's watchlist as the plan counts it: distinct symbols, and the most timeframes of one symbol.
    static func watchlistUsage(_ tenant: UUID, _ connection: PostgresConnection, logger: Logger) async throws
        -> (symbols: Int, timeframesPerSymbol: Int)
    {
        try await connection.query(
            """
            SELECT
              (SELECT count(DISTINCT e->>'symbol')::int FROM user_settings s, jsonb_array_elements(s.body->'entries') e
                 WHERE s.tenant_id = \(tenant) AND s.kind = 'watchlist'),
              (SELECT coalesce(max(jsonb_array_length(e->'timeframes')), 0)::int
                 FROM user_settings s, jsonb_array_elements(s.body->'entries') e
                 WHERE s.tenant_id = \(tenant) AND s.kind = 'watchlist')
            """, logger: logger
        ).collect().first!.decode((Int, Int).self)
    }

    /// The owners whose watchlist has an active entry for (symbol, timeframe): when it last changed, and their
    /// strategy and killzones documents with versions (nil: never stored, the defaults apply).
    static func watchers(symbol: String, timeframe: String, _ connection: PostgresConnection, logger: Logger) async throws
        -> [(tenant: UUID, since: Date, strategy: String?, strategyVersion: Int?, killzones: String?, killzonesVersion: Int?)]
    {
        let filter = #"{"entries": [{"symbol": "\#(symbol)", "timeframes": ["\#(timeframe)"], "active": true}]}"#
        var out: [(tenant: UUID, since: Date, strategy: String?, strategyVersion: Int?, killzones: String?, killzonesVersion: Int?)] = []
        let rows = try await connection.query(
            """
            SELECT u.tenant_id, w.updated_at, s.body::text, s.version, k.body::text, k.version
            FROM users u
            JOIN user_settings w ON w.tenant_id = u.tenant_id AND w.user_id = u.user_id AND w.kind = 'watchlist'
            LEFT JOIN user_settings s ON s.tenant_id = u.tenant_id AND s.user_id = u.user_id AND s.kind = 'strategy'
            LEFT JOIN user_settings k ON k.tenant_id = u.tenant_id AND k.user_id = u.user_id AND k.kind = 'killzones'
            WHERE u.role = 'owner' AND w.body @> \(filter)::jsonb
            """, logger: logger)
        for try await row in rows.decode((UUID, Date, String?, Int?, String?, Int?).self) { out.append(row) }
        return out
    }
}
