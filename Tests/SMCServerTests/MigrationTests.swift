import Foundation
import Logging
import PostgresNIO
import SMCTestSupport
import Testing

@testable import SMCServer

@Suite("Migrations")
struct MigrationTests {
    let logger = TestDatabase.logger

    /// A scratch copy of the repository's migrations folder that a test may change.
    func scratchMigrations() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smc-migr-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: TestDatabase.migrationsDirectory) {
            try FileManager.default.copyItem(atPath: TestDatabase.migrationsDirectory + "/" + file, toPath: dir + "/" + file)
        }
        return dir
    }

    func migrator(_ dir: String) throws -> Migrator {
        Migrator(migrations: try Migrator.load(directory: dir), logger: logger)
    }

    func tables(_ client: PostgresClient) async throws -> Set<String> {
        var names = Set<String>()
        let rows = try await client.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", logger: logger)
        for try await name in rows.decode(String.self) { names.insert(name) }
        return names
    }

    @Test("applies every migration once, records name and checksum, and a re-run applies nothing")
    func applyAndRerun() async throws {
        let settings = try await TestDatabase.makeEmpty()
        let migrator = try migrator(TestDatabase.migrationsDirectory)
        try await PostgresClient.withRunning(settings, logger: logger) { client in
            let first = try await migrator.migrate(client: client)
            #expect(first.map(\.name) == migrator.migrations.map(\.name))
            #expect(first.first?.name == "0001_tenancy")
            #expect(try await tables(client).isSuperset(of: ["tenants", "users", "smc_schema_migrations"]))
            let recorded = try await client.withConnection { try await migrator.applied(on: $0) }
            #expect(recorded.map(\.checksum) == migrator.migrations.map(\.checksum))
            let second = try await migrator.migrate(client: client)
            #expect(second.isEmpty)
            let status = try await migrator.status(client: client)
            #expect(status.pending.isEmpty)
            #expect(status.applied.count == migrator.migrations.count)
        }
    }

    @Test("an edited, already-applied migration is refused with a clear message")
    func editedChecksumRefused() async throws {
        let settings = try await TestDatabase.makeMigrated()
        let dir = try scratchMigrations()
        let path = dir + "/0001_tenancy.sql"
        try (try String(contentsOfFile: path, encoding: .utf8) + "\n-- a harmless-looking edit\n")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let edited = try migrator(dir)
        try await PostgresClient.withRunning(settings, logger: logger) { client in
            await #expect {
                try await edited.migrate(client: client)
            } throws: { error in
                guard case MigrationError.edited(let name, _, _) = error else { return false }
                return name == "0001_tenancy" && "\(error)".contains("edited after it was applied")
            }
        }
    }

    @Test("a database with a migration this build lacks is refused as diverged")
    func unknownAppliedRefused() async throws {
        let settings = try await TestDatabase.makeMigrated()
        try await PostgresClient.withRunning(settings, logger: logger) { client in
            try await client.query(
                "INSERT INTO smc_schema_migrations (version, name, checksum, duration_ms) VALUES (9999, '9999_from_the_future', 'x', 0)",
                logger: logger)
            await #expect(throws: MigrationError.unknownApplied(name: "9999_from_the_future")) {
                try await migrator(TestDatabase.migrationsDirectory).migrate(client: client)
            }
        }
    }

    @Test("a new file numbered below the newest applied one is refused as a gap")
    func gapRefused() async throws {
        let settings = try await TestDatabase.makeEmpty()
        let dir = try scratchMigrations()
        try "CREATE TABLE later_one (id int);".write(toFile: dir + "/0900_later.sql", atomically: true, encoding: .utf8)
        try await PostgresClient.withRunning(settings, logger: logger) { client in
            try await migrator(dir).migrate(client: client)
            try "CREATE TABLE sneaked_in (id int);".write(toFile: dir + "/0500_sneaked.sql", atomically: true, encoding: .utf8)
            await #expect(throws: MigrationError.gap(missing: "0500_sneaked", laterApplied: "0900_later")) {
                try await migrator(dir).migrate(client: client)
            }
        }
    }

    @Test("a failing migration applies nothing at all, not even the migrations before it in the run")
    func failureRollsBackEverything() async throws {
        let settings = try await TestDatabase.makeEmpty()
        let dir = try scratchMigrations()
        try """
            CREATE TABLE first_half (id int);
            INSERT INTO first_half VALUES (1);
            SELECT this_function_does_not_exist();
            """.write(toFile: dir + "/0901_broken.sql", atomically: true, encoding: .utf8)
        try await PostgresClient.withRunning(settings, logger: logger) { client in
            await #expect {
                try await migrator(dir).migrate(client: client)
            } throws: { error in
                "\(error)".contains("0901_broken") && "\(error)".contains("this_function_does_not_exist")
            }
            let tables = try await tables(client)
            #expect(!tables.contains("first_half"))
            #expect(!tables.contains("tenants"))
        }
    }

    @Test("two migrators racing apply each migration exactly once")
    func concurrentMigrators() async throws {
        let settings = try await TestDatabase.makeEmpty()
        let migrator = try migrator(TestDatabase.migrationsDirectory)
        let applied = try await withThrowingTaskGroup(of: [Migration].self) { group in
            for _ in 0..<3 {
                group.addTask {
                    try await PostgresClient.withRunning(settings, logger: logger) { try await migrator.migrate(client: $0) }
                }
            }
            return try await group.reduce(into: [Migration]()) { $0 += $1 }
        }
        #expect(applied.map(\.name) == migrator.migrations.map(\.name))
    }

    @Test("badly named and duplicate-numbered files are refused")
    func fileRules() throws {
        let dir = try scratchMigrations()
        try "SELECT 1;".write(toFile: dir + "/0002_Bad-Name.sql", atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.badFileName("0002_Bad-Name.sql")) { try Migrator.load(directory: dir) }
        try FileManager.default.removeItem(atPath: dir + "/0002_Bad-Name.sql")
        try "SELECT 1;".write(toFile: dir + "/0001_again.sql", atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.duplicateVersion(1, ["0001_again", "0001_tenancy"])) { try Migrator.load(directory: dir) }
    }

    @Test("a configured migrations folder that does not exist is an error, not a silent fallback")
    func configuredFolderMustExist() {
        #expect(throws: MigrationError.directoryNotFound(searched: ["/nonexistent/migrations"])) {
            try Migrator.locateDirectory(configured: "/nonexistent/migrations")
        }
    }
}

@Suite("Row-level security")
struct RowLevelSecurityTests {
    let logger = TestDatabase.logger

    func insertTenant(_ db: Database, _ tenant: UUID, email: String) async throws {
        try await db.withTenant(tenant) { connection in
            try await connection.query("INSERT INTO tenants (tenant_id, name) VALUES (\(tenant), 'T')", logger: logger)
            try await connection.query(
                "INSERT INTO users (tenant_id, user_id, email, password_hash) VALUES (\(tenant), \(UUID()), \(email), '')", logger: logger)
        }
    }

    func count(_ db: Database, _ tenant: UUID?, _ table: String) async throws -> Int {
        let body: (PostgresConnection) async throws -> Int = { connection in
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(table)"), logger: logger)
            return try await rows.collect().first!.decode(Int.self)
        }
        if let tenant { return try await db.withTenant(tenant, body) }
        return try await db.withShared(body)
    }

    @Test("a tenant sees only its own rows; no tenant set sees none; writing another tenant's row is refused")
    func isolation() async throws {
        let settings = try await TestDatabase.makeMigrated()
        try await PostgresClient.withRunning(settings, logger: logger) { client in
            let db = Database(client: client, logger: logger)
            let a = UUID(), b = UUID()
            try await insertTenant(db, a, email: "a@example.com")
            try await insertTenant(db, b, email: "b@example.com")
            #expect(try await count(db, a, "users") == 1)
            #expect(try await count(db, b, "tenants") == 1)
            #expect(try await count(db, nil, "users") == 0)
            #expect(try await count(db, nil, "tenants") == 0)
            // Even without a WHERE clause, tenant B's view holds only B.
            let emails = try await db.withTenant(b) { connection in
                try await connection.query("SELECT email FROM users", logger: logger).collect().map { try $0.decode(String.self) }
            }
            #expect(emails == ["b@example.com"])
            await #expect(throws: PSQLError.self) {
                try await db.withTenant(a) { connection in
                    try await connection.query(
                        "INSERT INTO users (tenant_id, user_id, email, password_hash) VALUES (\(b), \(UUID()), 'sneak@example.com', '')",
                        logger: logger)
                }
            }
            // Updates cannot reach the other tenant's rows either.
            let updated = try await db.withTenant(a) { connection in
                try await connection.query("UPDATE users SET display_name = 'x' WHERE tenant_id = \(b) RETURNING 1", logger: logger)
                    .collect().count
            }
            #expect(updated == 0)
        }
    }

    @Test("the application role cannot bypass row-level security, own tables, or switch back")
    func applicationRoleIsRestricted() async throws {
        let settings = try await TestDatabase.makeMigrated()
        try await PostgresClient.withRunning(settings, logger: logger) { client in
            let row = try await client.query(
                """
                SELECT rolsuper, rolbypassrls,
                       (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public' AND tableowner = 'smc_app')
                FROM pg_roles WHERE rolname = 'smc_app'
                """, logger: logger
            ).collect().first!
            let (isSuper, bypass, owned) = try row.decode((Bool, Bool, Int).self)
            #expect(!isSuper && !bypass && owned == 0)
            let forced = try await client.query(
                "SELECT bool_and(relrowsecurity AND relforcerowsecurity) FROM pg_class WHERE relname IN ('tenants', 'users')",
                logger: logger
            ).collect().first!.decode(Bool.self)
            #expect(forced)
            let db = Database(client: client, logger: logger)
            await #expect(throws: PSQLError.self) {
                try await db.withShared { connection in
                    try await connection.query("ALTER TABLE users DISABLE ROW LEVEL SECURITY", logger: logger)
                }
            }
        }
    }

    @Test("the tenant setting does not leak from one transaction to the next on a pooled connection")
    func settingIsTransactionLocal() async throws {
        let settings = try await TestDatabase.makeMigrated()
        try await PostgresClient.withRunning(settings, logger: logger, maxConnections: 1) { client in
            let db = Database(client: client, logger: logger)
            let a = UUID()
            try await insertTenant(db, a, email: "a@example.com")
            #expect(try await count(db, a, "users") == 1)
            // Same (only) connection, no tenant: nothing visible, and we are back to smc_app only inside.
            #expect(try await count(db, nil, "users") == 0)
            let role = try await client.query("SELECT current_user::text", logger: logger).collect().first!.decode(String.self)
            #expect(role != "smc_app")
        }
    }
}

@Suite("SQL script splitting")
struct SQLScriptTests {
    @Test("semicolons inside strings, identifiers, dollar quotes and comments do not split")
    func quoting() {
        let sql = """
            -- comment; with a semicolon
            CREATE TABLE "odd;name" (a text DEFAULT 'x;y''z');
            /* block; /* nested; */ still comment */
            DO $$ BEGIN PERFORM 1; END $$;
            CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;
            SELECT E'it\\'s; fine', $1;
            ;;
            """
        let statements = SQLScript.statements(sql)
        #expect(statements.count == 4)
        #expect(statements[0].hasSuffix(#"CREATE TABLE "odd;name" (a text DEFAULT 'x;y''z')"#))
        #expect(statements[1].hasSuffix("DO $$ BEGIN PERFORM 1; END $$"))
        #expect(statements[2] == "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$")
        #expect(statements[3] == #"SELECT E'it\'s; fine', $1"#)
    }

    @Test("a file of only comments has no statements; a last statement needs no semicolon")
    func edges() {
        #expect(SQLScript.statements("-- nothing here\n/* nor here */\n").isEmpty)
        #expect(SQLScript.statements("SELECT 1; SELECT 2") == ["SELECT 1", "SELECT 2"])
    }
}
