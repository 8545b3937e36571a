import Foundation
import HTTPTypes
import Logging
import PostgresNIO
import SMCSync

/// Who is making a request: resolved from a device token on every request (no caching, so a revoked
/// device is refused at once).
public struct Principal: Sendable, Equatable {
    public var tenantID: UUID
    public var userID: UUID
    public var deviceID: UUID
}

struct UserRecord: Sendable {
    var id: UUID
    var email: String
    var name: String?
    var role: String
    var createdAt: Date
}

struct TenantRecord: Sendable {
    var id: UUID
    var name: String
    var plan: String
}

struct DeviceRecord: Sendable {
    var id: UUID
    var name: String
    var createdAt: Date
    var lastSeenAt: Date
    var expiresAt: Date
}

struct SessionRecord: Sendable {
    var token: String
    var user: UserRecord
    var tenant: TenantRecord
    var device: DeviceRecord
}

/// Sign-up, sign-in, devices and the account itself.
struct AccountsService: Sendable {
    let database: Database
    let hasher: PasswordHasher
    let plans: PlansService
    let throttle: LoginThrottle
    let rateLimiter: RateLimiter
    /// How long a device token lives without being used (sliding).
    let sessionTTL: Duration
    var logger: Logger { database.logger }

    private var ttlSeconds: Double { Double(sessionTTL.components.seconds) }

    // MARK: Sign-up and sign-in

    func signup(email rawEmail: String, password: String, name rawName: String?, deviceName rawDevice: String?) async throws
        -> SessionRecord
    {
        var errors: [Problem.FieldError] = []
        let email = AccountRules.email(rawEmail, into: &errors)
        AccountRules.newPassword(password, email: email, into: &errors)
        let name = AccountRules.name(rawName, field: "/name", max: 200, into: &errors)
        let deviceName = AccountRules.name(rawDevice ?? "signup", field: "/device_name", max: 100, into: &errors) ?? "signup"
        guard errors.isEmpty else { throw Problem.validation(errors) }

        let hash = try await hasher.hash(password)
        let tenantID = UUIDv7.generate()
        let userID = UUIDv7.generate()
        let tenantName = name ?? email
        do {
            return try await database.withTenant(tenantID) { connection in
                try await connection.query(
                    "INSERT INTO tenants (tenant_id, name) VALUES (\(tenantID), \(String(tenantName.prefix(200))))", logger: logger)
                let userRow = try await connection.query(
                    """
                    INSERT INTO users (tenant_id, user_id, email, display_name, role, password_hash)
                    VALUES (\(tenantID), \(userID), \(email), \(name), 'owner', \(hash))
                    RETURNING created_at
                    """, logger: logger
                ).collect()
                try await connection.query(
                    "INSERT INTO login_emails (email, tenant_id, user_id) VALUES (\(email), \(tenantID), \(userID))", logger: logger)
                let (token, device) = try await createDevice(connection, tenant: tenantID, user: userID, name: deviceName)
                let user = UserRecord(
                    id: userID, email: email, name: name, role: "owner", createdAt: try userRow.first!.decode(Date.self))
                return SessionRecord(
                    token: token, user: user, tenant: TenantRecord(id: tenantID, name: tenantName, plan: "free"), device: device)
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw Problem(.emailTaken, detail: "an account with this email already exists")
        }
    }

    func login(email rawEmail: String, password: String, deviceName rawDevice: String, clientAddress: String) async throws
        -> SessionRecord
    {
        var errors: [Problem.FieldError] = []
        let email = rawEmail.trimmingWhitespace().lowercased()
        if email.isEmpty || email.utf8.count > 320 { errors.append(.init(field: "/email", message: "must be 1–320 characters")) }
        if password.isEmpty || password.count > 1024 {
            errors.append(.init(field: "/password", message: "must be 1–1024 characters"))
        }
        let deviceName = AccountRules.name(rawDevice, field: "/device_name", max: 100, into: &errors) ?? ""
        guard errors.isEmpty else { throw Problem.validation(errors) }

        let keys = ["email:" + email, "ip:" + clientAddress]
        try await throttle.check(keys)

        let identity = try await database.withShared { connection in
            try await connection.query("SELECT tenant_id, user_id FROM login_emails WHERE email = \(email)", logger: logger)
                .collect().first.map { try $0.decode((UUID, UUID).self) }
        }
        var storedHash: String?
        if let (tenant, user) = identity {
            storedHash = try await database.withTenant(tenant) { connection in
                try await connection.query(
                    "SELECT password_hash FROM users WHERE tenant_id = \(tenant) AND user_id = \(user)", logger: logger
                ).collect().first?.decode(String.self)
            }
        }
        // Unknown email and wrong password take the same path: one argon2 verification, one failure recorded.
        let matches = try await hasher.verify(password, against: storedHash)
        guard matches, let (tenantID, userID) = identity else {
            try await throttle.recordFailure(keys)
            throw Problem(.invalidCredentials, detail: "the email or the password is wrong")
        }
        try await throttle.recordSuccess(keys[0])

        return try await database.withTenant(tenantID) { connection in
            let plan = try await plans.plan(forTenant: tenantID, connection)
            let active = try await connection.query(
                """
                SELECT count(*)::int FROM devices
                WHERE tenant_id = \(tenantID) AND user_id = \(userID) AND revoked_at IS NULL AND expires_at > now()
                """, logger: logger
            ).collect().first!.decode(Int.self)
            if active >= plan.maxDevices {
                throw try await plans.limitExceeded(
                    "devices", allowed: plan.maxDevices, plan: plan, connection,
                    detail: "the \(plan.name) plan allows \(plan.maxDevices) signed-in devices; sign one out (DELETE /v1/devices/{id}) or upgrade")
            }
            let (token, device) = try await createDevice(connection, tenant: tenantID, user: userID, name: deviceName)
            let (user, tenant) = try await loadMe(connection, tenant: tenantID, user: userID)
            return SessionRecord(token: token, user: user, tenant: tenant, device: device)
        }
    }

    private func createDevice(_ connection: PostgresConnection, tenant: UUID, user: UUID, name: String) async throws
        -> (String, DeviceRecord)
    {
        let secret = BearerSecret.generate(.device, tenant: tenant)
        let deviceID = UUIDv7.generate()
        let row = try await connection.query(
            """
            INSERT INTO devices (tenant_id, device_id, user_id, name, token_hash, expires_at)
            VALUES (\(tenant), \(deviceID), \(user), \(name), \(secret.hashBytes), now() + make_interval(secs => \(ttlSeconds)))
            RETURNING created_at, last_seen_at, expires_at
            """, logger: logger
        ).collect().first!
        let (created, seen, expires) = try row.decode((Date, Date, Date).self)
        return (secret.text, DeviceRecord(id: deviceID, name: name, createdAt: created, lastSeenAt: seen, expiresAt: expires))
    }

    // MARK: Authentication

    /// Resolves `Authorization: Bearer smcd_…`; slides the expiry forward (at most once a minute per device).
    func authenticate(authorization: String?) async throws -> Principal {
        guard let authorization, authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else {
            throw Problem.unauthenticated("send Authorization: Bearer <token>")
        }
        let text = String(authorization.dropFirst(7)).trimmingWhitespace()
        guard let secret = BearerSecret.parse(text, expecting: .device) else { throw Problem.unauthenticated("the token is not valid") }
        let tenant = secret.tenantID
        return try await database.withTenant(tenant) { connection in
            let row = try await connection.query(
                """
                SELECT d.device_id, d.user_id, d.revoked_at IS NOT NULL, d.expires_at <= now(),
                       d.last_seen_at < now() - interval '60 seconds', p.api_requests_per_minute
                FROM devices d JOIN tenants t ON t.tenant_id = d.tenant_id JOIN plans p ON p.plan_id = t.plan_id
                WHERE d.tenant_id = \(tenant) AND d.token_hash = \(secret.hashBytes)
                """, logger: logger
            ).collect().first
            guard let row else { throw Problem.unauthenticated("the token is not valid") }
            let (device, user, revoked, expired, stale, perMinute) = try row.decode((UUID, UUID, Bool, Bool, Bool, Int).self)
            if revoked { throw Problem(.tokenRevoked, detail: "this device was signed out; sign in again") }
            if expired { throw Problem(.tokenExpired, detail: "the session expired; sign in again") }
            try rateLimiter.admit(tenant: tenant, limit: perMinute)
            if stale {
                try await connection.query(
                    """
                    UPDATE devices SET last_seen_at = now(), expires_at = now() + make_interval(secs => \(ttlSeconds))
                    WHERE tenant_id = \(tenant) AND device_id = \(device)
                    """, logger: logger)
            }
            return Principal(tenantID: tenant, userID: user, deviceID: device)
        }
    }

    // MARK: Devices

    func devices(_ principal: Principal) async throws -> [DeviceRecord] {
        try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            var result: [DeviceRecord] = []
            let rows = try await connection.query(
                """
                SELECT device_id, name, created_at, last_seen_at, expires_at FROM devices
                WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID)
                  AND revoked_at IS NULL AND expires_at > now()
                ORDER BY created_at DESC
                """, logger: logger)
            for try await (id, name, created, seen, expires) in rows.decode((UUID, String, Date, Date, Date).self) {
                result.append(DeviceRecord(id: id, name: name, createdAt: created, lastSeenAt: seen, expiresAt: expires))
            }
            return result
        }
    }

    /// Revokes one of the user's devices; 404 when it is not theirs (or does not exist).
    func revokeDevice(_ principal: Principal, device: UUID) async throws {
        let revoked = try await database.withTenant(principal.tenantID) { connection in
            try await connection.query(
                """
                UPDATE devices SET revoked_at = now()
                WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID) AND device_id = \(device)
                  AND revoked_at IS NULL
                RETURNING 1
                """, logger: logger
            ).collect().count
        }
        guard revoked == 1 else { throw Problem.notFound("no such device") }
    }

    func changePassword(_ principal: Principal, current: String, new: String) async throws {
        let (email, storedHash) = try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            try await connection.query(
                "SELECT email, password_hash FROM users WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID)",
                logger: logger
            ).collect().first!.decode((String, String).self)
        }
        var errors: [Problem.FieldError] = []
        AccountRules.newPassword(new, email: email, field: "/new_password", into: &errors)
        if new == current { errors.append(.init(field: "/new_password", message: "must differ from the current password")) }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        guard try await hasher.verify(current, against: storedHash) else {
            throw Problem(.wrongPassword, detail: "the current password is wrong")
        }
        let hash = try await hasher.hash(new)
        try await database.withTenant(principal.tenantID) { connection in
            try await connection.query(
                """
                UPDATE users SET password_hash = \(hash), password_changed_at = now(), updated_at = now()
                WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID)
                """, logger: logger)
            try await connection.query(
                """
                UPDATE devices SET revoked_at = now()
                WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID)
                  AND device_id <> \(principal.deviceID) AND revoked_at IS NULL
                """, logger: logger)
        }
    }

    func logout(_ principal: Principal) async throws {
        try await revokeDevice(principal, device: principal.deviceID)
    }

    // MARK: The account

    func me(_ principal: Principal) async throws -> (UserRecord, TenantRecord) {
        try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            try await loadMe(connection, tenant: principal.tenantID, user: principal.userID)
        }
    }

    private func loadMe(_ connection: PostgresConnection, tenant: UUID, user: UUID) async throws -> (UserRecord, TenantRecord) {
        let row = try await connection.query(
            """
            SELECT u.email, u.display_name, u.role, u.created_at, t.name, t.plan_id
            FROM users u JOIN tenants t ON t.tenant_id = u.tenant_id
            WHERE u.tenant_id = \(tenant) AND u.user_id = \(user)
            """, logger: logger
        ).collect().first
        guard let row else { throw Problem.unauthenticated("the account no longer exists") }
        let (email, name, role, created, tenantName, plan) = try row.decode((String, String?, String, Date, String, String).self)
        return (
            UserRecord(id: user, email: email, name: name, role: role, createdAt: created),
            TenantRecord(id: tenant, name: tenantName, plan: plan)
        )
    }

    func updateMe(_ principal: Principal, name rawName: String?, email rawEmail: String?) async throws -> (UserRecord, TenantRecord) {
        var errors: [Problem.FieldError] = []
        let name = AccountRules.name(rawName, field: "/name", max: 200, into: &errors)
        let email = rawEmail.map { AccountRules.email($0, into: &errors) }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        do {
            return try await database.withTenant(principal.tenantID) { connection in
                if let name {
                    try await connection.query(
                        """
                        UPDATE users SET display_name = \(name), updated_at = now()
                        WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID)
                        """, logger: logger)
                }
                if let email {
                    try await connection.query(
                        """
                        UPDATE users SET email = \(email), updated_at = now()
                        WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID)
                        """, logger: logger)
                    try await connection.query(
                        """
                        UPDATE login_emails SET email = \(email)
                        WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID)
                        """, logger: logger)
                }
                return try await loadMe(connection, tenant: principal.tenantID, user: principal.userID)
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw Problem(.emailTaken, detail: "an account with this email already exists")
        }
    }

    /// Deletes the user; an owner's deletion takes the whole tenant and all of its data with it.
    /// Deletes the caller's account once `password` confirms it is them (403 `reauthentication_required` otherwise).
    func deleteMe(_ principal: Principal, password: String) async throws {
        let storedHash = try await database.withTenant(principal.tenantID, readOnly: true) { connection in
            try await connection.query(
                "SELECT password_hash FROM users WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID)",
                logger: logger
            ).collect().first?.decode(String.self)
        }
        guard let storedHash, !password.isEmpty, password.utf8.count <= 1024, try await hasher.verify(password, against: storedHash) else {
            throw Problem(.reauthenticationRequired,
                detail: "deleting the account needs its password: send {\"password\": …}",
                fieldErrors: [.init(field: "/password", message: "is not the account's password")])
        }
        try await database.withTenant(principal.tenantID) { connection in
            let role = try await connection.query(
                "SELECT role FROM users WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID)", logger: logger
            ).collect().first?.decode(String.self)
            if role == "owner" {
                // Every tenant-owned table references tenants ON DELETE CASCADE.
                try await connection.query("DELETE FROM tenants WHERE tenant_id = \(principal.tenantID)", logger: logger)
            } else {
                try await connection.query(
                    "DELETE FROM login_emails WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID)", logger: logger)
                try await connection.query(
                    "DELETE FROM users WHERE tenant_id = \(principal.tenantID) AND user_id = \(principal.userID)", logger: logger)
            }
        }
        logger.info("account deleted", metadata: ["tenant_id": "\(principal.tenantID)", "user_id": "\(principal.userID)"])
    }

    /// The tenant's devices signed in and not expired (what the plan's `max_devices` counts).
    static func activeDevices(_ tenant: UUID, _ connection: PostgresConnection, logger: Logger) async throws -> Int {
        try await connection.query(
            "SELECT count(*)::int FROM devices WHERE tenant_id = \(tenant) AND revoked_at IS NULL AND expires_at > now()",
            logger: logger
        ).collect().first!.decode(Int.self)
    }

    /// The tenant an email signs in to.
    static func tenant(email: String, _ connection: PostgresConnection, logger: Logger) async throws -> UUID? {
        try await connection.query("SELECT tenant_id FROM login_emails WHERE email = \(email)", logger: logger)
            .collect().first?.decode(UUID.self)
    }

    /// Signs out the least recently used devices beyond `limit` (a downgrade); returns their names.
    static func signOutBeyond(_ tenant: UUID, limit: Int, _ connection: PostgresConnection, logger: Logger) async throws -> [String] {
        try await connection.query(
            """
            UPDATE devices SET revoked_at = now()
            WHERE tenant_id = \(tenant) AND device_id IN (
                SELECT device_id FROM devices
                WHERE tenant_id = \(tenant) AND revoked_at IS NULL AND expires_at > now()
                ORDER BY last_seen_at DESC OFFSET \(limit))
            RETURNING name
            """, logger: logger
        ).collect().map { try $0.decode(String.self) }
    }

    /// The device's last applied sync mutation (0: none); `lock` also requires it signed in and locks it for a push.
    static func lastMutationID(_ tenant: UUID, device: UUID, lock: Bool, _ connection: PostgresConnection, logger: Logger)
        async throws -> Int64?
    {
        let rows = lock
            ? try await connection.query(
                """
                SELECT last_mutation_id FROM devices
                WHERE tenant_id = \(tenant) AND device_id = \(device) AND revoked_at IS NULL FOR UPDATE
                """, logger: logger)
            : try await connection.query(
                "SELECT last_mutation_id FROM devices WHERE tenant_id = \(tenant) AND device_id = \(device)", logger: logger)
        return try await rows.collect().first?.decode(Int64.self)
    }

    static func setLastMutationID(_ tenant: UUID, device: UUID, _ id: Int64, _ connection: PostgresConnection, logger: Logger)
        async throws
    {
        try await connection.query(
            "UPDATE devices SET last_mutation_id = \(id) WHERE tenant_id = \(tenant) AND device_id = \(device)", logger: logger)
    }

    /// A user's email (worker role: the Telegram bot's replies).
    static func email(_ tenant: UUID, user: UUID, _ connection: PostgresConnection, logger: Logger) async throws -> String? {
        try await connection.query("SELECT email FROM users WHERE tenant_id = \(tenant) AND user_id = \(user)", logger: logger)
            .collect().first?.decode(String.self)
    }
}


extension Problem {
    static func unauthenticated(_ detail: String) -> Problem {
        var headers = HTTPFields()
        headers[.wwwAuthenticate] = #"Bearer realm="smc""#
        return Problem(.unauthenticated, detail: detail, headers: headers)
    }
}
