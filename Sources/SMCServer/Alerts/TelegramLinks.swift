import Foundation
import Logging
import PostgresNIO

/// The owner of `telegram_links` and `telegram_link_codes`: one-time link codes (only their hashes), which chat is
/// linked to which user, and what the fan-out, the Telegram worker and the bot's commands need of them.
struct TelegramLinks: Sendable {
    let logger: Logger

    // MARK: link codes

    /// Stores a new code's hash (and clears the tenant's expired ones); returns when it expires.
    func issueCode(_ tenant: UUID, user: UUID, hash: [UInt8], ttlSeconds: Int, _ connection: PostgresConnection) async throws -> Date {
        try await connection.query(
            "DELETE FROM telegram_link_codes WHERE tenant_id = \(tenant) AND expires_at < now()", logger: logger)
        return try await connection.query(
            """
            INSERT INTO telegram_link_codes (tenant_id, code_hash, user_id, expires_at)
            VALUES (\(tenant), \(ByteBuffer(bytes: hash)), \(user), now() + make_interval(secs => \(ttlSeconds)))
            RETURNING expires_at
            """, logger: logger
        ).collect().first!.decode(Date.self)
    }

    /// Uses up a code: whose it was and whether it was still valid; nil when there is no such code.
    func consumeCode(_ tenant: UUID, hash: [UInt8], _ connection: PostgresConnection) async throws -> (user: UUID, valid: Bool)? {
        try await connection.query(
            """
            DELETE FROM telegram_link_codes WHERE tenant_id = \(tenant) AND code_hash = \(ByteBuffer(bytes: hash))
            RETURNING user_id, expires_at > now()
            """, logger: logger
        ).collect().first?.decode((UUID, Bool).self)
    }

    // MARK: links

    /// Links the chat to the user (a chat belongs to one user: an earlier link of it goes).
    func link(_ tenant: UUID, user: UUID, chat: Int64, username: String?, _ connection: PostgresConnection) async throws {
        try await connection.query(
            "DELETE FROM telegram_links WHERE chat_id = \(chat) AND NOT (tenant_id = \(tenant) AND user_id = \(user))", logger: logger)
        try await connection.query(
            """
            INSERT INTO telegram_links (tenant_id, user_id, chat_id, username) VALUES (\(tenant), \(user), \(chat), \(username))
            ON CONFLICT (tenant_id, user_id) DO UPDATE SET chat_id = EXCLUDED.chat_id, username = EXCLUDED.username, linked_at = now()
            """, logger: logger)
    }

    func status(_ tenant: UUID, user: UUID, _ connection: PostgresConnection) async throws -> (username: String?, linkedAt: Date)? {
        try await connection.query(
            "SELECT username, linked_at FROM telegram_links WHERE tenant_id = \(tenant) AND user_id = \(user)", logger: logger
        ).collect().first?.decode((String?, Date).self)
    }

    /// The user's chat, when linked.
    func chat(_ tenant: UUID, user: UUID, _ connection: PostgresConnection) async throws -> Int64? {
        try await connection.query(
            "SELECT chat_id FROM telegram_links WHERE tenant_id = \(tenant) AND user_id = \(user)", logger: logger
        ).collect().first?.decode(Int64.self)
    }

    /// The chats of these users (absent: not linked).
    func chats(_ users: [(tenant: UUID, user: UUID)], _ connection: PostgresConnection) async throws -> [UUID: Int64] {
        guard !users.isEmpty else { return [:] }
        var out: [UUID: Int64] = [:]
        let rows = try await connection.query(
            """
            SELECT l.user_id, l.chat_id FROM telegram_links l
            JOIN unnest(\(users.map(\.tenant))::uuid[], \(users.map(\.user))::uuid[]) AS u(t, usr) ON l.tenant_id = u.t AND l.user_id = u.usr
            """, logger: logger)
        for try await (user, chat) in rows.decode((UUID, Int64).self) { out[user] = chat }
        return out
    }

    /// How many of the tenant's users have a chat linked.
    func count(_ tenant: UUID, _ connection: PostgresConnection) async throws -> Int {
        try await connection.query("SELECT count(*)::int FROM telegram_links WHERE tenant_id = \(tenant)", logger: logger)
            .collect().first!.decode(Int.self)
    }

    /// The tenants' linked users.
    func linked(tenants: [UUID], _ connection: PostgresConnection) async throws -> [(tenant: UUID, user: UUID)] {
        var out: [(tenant: UUID, user: UUID)] = []
        for try await row in try await connection.query(
            "SELECT tenant_id, user_id FROM telegram_links WHERE tenant_id = ANY(\(tenants))", logger: logger
        ).decode((UUID, UUID).self) {
            out.append(row)
        }
        return out
    }

    /// Unlinks the user's chat; false when none was linked.
    func unlink(_ tenant: UUID, user: UUID, _ connection: PostgresConnection) async throws -> Bool {
        try await connection.query(
            "DELETE FROM telegram_links WHERE tenant_id = \(tenant) AND user_id = \(user) RETURNING 1", logger: logger
        ).collect().count == 1
    }

    /// Unlinks a chat from whichever user it belongs to; returns whose it was.
    func unlink(chat: Int64, _ connection: PostgresConnection) async throws -> (tenant: UUID, user: UUID)? {
        try await connection.query(
            "DELETE FROM telegram_links WHERE chat_id = \(chat) RETURNING tenant_id, user_id", logger: logger
        ).collect().first?.decode((UUID, UUID).self)
    }

    /// Whose chat it is.
    func holder(chat: Int64, _ connection: PostgresConnection) async throws -> (tenant: UUID, user: UUID)? {
        try await connection.query(
            "SELECT tenant_id, user_id FROM telegram_links WHERE chat_id = \(chat) LIMIT 1", logger: logger
        ).collect().first?.decode((UUID, UUID).self)
    }
}
