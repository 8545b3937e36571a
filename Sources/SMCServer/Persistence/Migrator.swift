import Crypto
import Foundation
import Logging
import PostgresNIO

/// One forward-only migration file, `migrations/NNNN_name.sql`.
public struct Migration: Sendable, Equatable {
    public var version: Int
    /// The file name without `.sql`, e.g. `0001_tenancy`.
    public var name: String
    public var sql: String
    /// SHA-256 of the file's bytes, hex.
    public var checksum: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// A migration recorded in the database as applied.
public struct AppliedMigration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var checksum: String
}

/// Why migrating or starting is refused; each says what to do.
public enum MigrationError: Error, CustomStringConvertible, Equatable {
    case directoryNotFound(searched: [String])
    case badFileName(String)
    case duplicateVersion(Int, [String])
    case edited(name: String, recorded: String, onDisk: String)
    case unknownApplied(name: String)
    case renamed(version: Int, recorded: String, onDisk: String)
    case gap(missing: String, laterApplied: String)
    case pending([String])

    public var description: String {
        switch self {
        case .directoryNotFound(let searched):
            return "no migrations folder found (looked in \(searched.joined(separator: ", "))); set SMC_MIGRATIONS_DIR"
        case .badFileName(let name):
            return "migration file \(name) is not named NNNN_name.sql (four digits, lower-case letters, digits, underscores)"
        case .duplicateVersion(let version, let names):
            return "migration number \(String(format: "%04d", version)) is used by more than one file: \(names.joined(separator: ", "))"
        case .edited(let name, let recorded, let onDisk):
            return
                "migration \(name) was edited after it was applied (recorded checksum \(recorded.prefix(12))…, file now \(onDisk.prefix(12))…); applied migrations are immutable: restore the file and put the change in a new migration"
        case .unknownApplied(let name):
            return
                "the database has migration \(name) applied, which this build does not have: the database is ahead of (or diverged from) this code; run the matching build"
        case .renamed(let version, let recorded, let onDisk):
            return
                "migration number \(String(format: "%04d", version)) was applied as \(recorded) but the file is now \(onDisk): diverged history; restore the original name"
        case .gap(let missing, let laterApplied):
            return
                "migration \(missing) is not applied but the later \(laterApplied) is: diverged history (a migration was added below the newest applied one); renumber it after the newest"
        case .pending(let names):
            return
                "\(names.count) migration(s) pending: \(names.joined(separator: ", ")); run `smc-server migrate` or start with `serve --migrate`"
        }
    }
}

/// Reads the migration files and applies them: all pending ones in one transaction, under an advisory
/// lock so that concurrent migrators (several server replicas starting at once) run one after another.
public struct Migrator: Sendable {
    public let migrations: [Migration]
    public let logger: Logger

    /// A fixed key for `pg_advisory_xact_lock`: "smc-migr" in ASCII.
    static let advisoryLockKey: Int64 = 0x736D_632D_6D69_6772

    public init(migrations: [Migration], logger: Logger) {
        self.migrations = migrations
        self.logger = logger
    }

    /// Loads `NNNN_name.sql` files from `directory`, sorted by number; refuses badly named or duplicate files.
    public static func load(directory: String) throws -> [Migration] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".sql") }
        var migrations: [Migration] = []
        for file in files {
            let name = String(file.dropLast(4))
            guard name.range(of: #"^[0-9]{4}_[a-z0-9_]+$"#, options: .regularExpression) != nil,
                let version = Int(name.prefix(4))
            else { throw MigrationError.badFileName(file) }
            let sql = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            migrations.append(Migration(version: version, name: name, sql: sql))
        }
        migrations.sort { $0.version < $1.version }
        for (version, group) in Dictionary(grouping: migrations, by: \.version) where group.count > 1 {
            throw MigrationError.duplicateVersion(version, group.map(\.name).sorted())
        }
        return migrations
    }

    /// The migrations folder: `SMC_MIGRATIONS_DIR`, else `./migrations`, else beside the executable
    /// (`migrations/` or `../share/smc/migrations`), else the source tree this was built from.
    public static func locateDirectory(configured: String?, sourceFile: String = #filePath) throws -> String {
        var candidates = [FileManager.default.currentDirectoryPath + "/migrations"]
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        candidates.append(executable.appendingPathComponent("migrations").path)
        candidates.append(executable.appendingPathComponent("../share/smc/migrations").standardizedFileURL.path)
        // Sources/SMCServer/Persistence/Migrations.swift → repository root.
        let root = URL(fileURLWithPath: sourceFile).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent("migrations").path)
        if let configured, !configured.isEmpty {
            // A configured folder must exist: falling back silently would hide a deployment mistake.
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: configured, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw MigrationError.directoryNotFound(searched: [configured])
            }
            return configured
        }
        for candidate in candidates {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), isDirectory.boolValue {
                return candidate
            }
        }
        throw MigrationError.directoryNotFound(searched: candidates)
    }

    /// Checks recorded history against the files: returns the pending migrations, or throws when the
    /// history was edited or has diverged.
    public func pending(given applied: [AppliedMigration]) throws -> [Migration] {
        let byVersion = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for record in applied {
            guard let file = byVersion[record.version] else { throw MigrationError.unknownApplied(name: record.name) }
            guard file.name == record.name else {
                throw MigrationError.renamed(version: record.version, recorded: record.name, onDisk: file.name)
            }
            guard file.checksum == record.checksum else {
                throw MigrationError.edited(name: record.name, recorded: record.checksum, onDisk: file.checksum)
            }
        }
        let appliedVersions = Set(applied.map(\.version))
        let newest = applied.map(\.version).max() ?? 0
        let pending = migrations.filter { !appliedVersions.contains($0.version) }
        if let below = pending.first(where: { $0.version < newest }), let later = applied.first(where: { $0.version == newest }) {
            throw MigrationError.gap(missing: below.name, laterApplied: later.name)
        }
        return pending
    }

    /// What the database has applied (empty when the bookkeeping table does not exist yet).
    public func applied(on connection: PostgresConnection) async throws -> [AppliedMigration] {
        let exists = try await connection.query(
            "SELECT to_regclass('public.smc_schema_migrations') IS NOT NULL", logger: logger
        ).collect().first?.decode(Bool.self) ?? false
        guard exists else { return [] }
        var result: [AppliedMigration] = []
        let rows = try await connection.query(
            "SELECT version, name, checksum FROM smc_schema_migrations ORDER BY version", logger: logger)
        for try await (version, name, checksum) in rows.decode((Int, String, String).self) {
            result.append(AppliedMigration(version: version, name: name, checksum: checksum))
        }
        return result
    }

    /// The migrations not yet applied; throws when history is edited or diverged.
    public func status(client: PostgresClient) async throws -> (applied: [AppliedMigration], pending: [Migration]) {
        try await client.withConnection { connection in
            let applied = try await applied(on: connection)
            return (applied, try pending(given: applied))
        }
    }

    /// Applies every pending migration in one transaction; returns what it applied (empty if none).
    @discardableResult
    public func migrate(client: PostgresClient) async throws -> [Migration] {
        try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.advisoryLockKey))", logger: logger)
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS smc_schema_migrations (
                        version integer PRIMARY KEY,
                        name text NOT NULL,
                        checksum text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now(),
                        duration_ms integer NOT NULL
                    )
                    """, logger: logger)
                let pending = try pending(given: try await applied(on: connection))
                for migration in pending {
                    let started = ContinuousClock.now
                    for statement in SQLScript.statements(migration.sql) {
                        do {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        } catch let error as PSQLError {
                            throw MigrationFailed(migration: migration.name, statement: statement, error: error)
                        }
                    }
                    let elapsed = ContinuousClock.now - started
                    let ms = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
                    try await connection.query(
                        """
                        INSERT INTO smc_schema_migrations (version, name, checksum, duration_ms)
                        VALUES (\(migration.version), \(migration.name), \(migration.checksum), \(ms))
                        """, logger: logger)
                    logger.info("migration applied", metadata: ["migration": "\(migration.name)", "duration_ms": "\(ms)"])
                }
                try await connection.query("COMMIT", logger: logger)
                return pending
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }
}

/// A statement of a migration failed; the whole migration run was rolled back.
public struct MigrationFailed: Error, CustomStringConvertible {
    public var migration: String
    public var statement: String
    public var error: PSQLError

    public var description: String {
        let message = error.serverInfo?[.message] ?? "\(error.code)"
        let position = error.serverInfo?[.position].map { " at character \($0)" } ?? ""
        return "migration \(migration) failed, nothing was applied: \(message)\(position) in:\n\(statement.prefix(500))"
    }
}
