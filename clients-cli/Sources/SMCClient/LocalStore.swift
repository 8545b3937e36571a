import Foundation
import GRDB
import SMCSync

/// The signed-in account a client home belongs to.
public struct ClientSession: Sendable, Equatable, Codable {
    public var server: String
    public var email: String
    public var userID: String
    public var tenantID: String
    public var plan: String
    public var deviceID: String
    public var deviceName: String
    public var token: String

    public init(
        server: String, email: String, userID: String, tenantID: String, plan: String, deviceID: String, deviceName: String,
        token: String
    ) {
        self.server = server
        self.email = email
        self.userID = userID
        self.tenantID = tenantID
        self.plan = plan
        self.deviceID = deviceID
        self.deviceName = deviceName
        self.token = token
    }
}

/// A local mutation waiting to be pushed.
public struct OutboxEntry: Sendable, Equatable {
    public var id: Int64
    public var entity: String
    public var entityID: String
    public var op: String
    /// Field writes (create, update).
    public var writes: [String: FieldWrite]
    /// A delete's stamp.
    public var hlc: HLC?
}

/// A mutation the server refused, kept for the user to see.
public struct Rejection: Sendable, Equatable, Codable {
    public var mutationID: Int64
    public var entity: String
    public var entityID: String
    public var op: String
    public var code: String
    public var reason: String
    public var at: String
}

/// Failures of the local store, each with a message fit for a terminal.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    case notSignedIn
    /// Nothing here has this id (`what` is e.g. `trade 0197a3c2`).
    case notFound(String)
    /// Text that cannot name an entry, and why.
    case notAnID(String, String)
    /// A prefix that names several entries; `candidates` are the first of them (of `count`), oldest first.
    case ambiguous(String, candidates: [IDCandidate], count: Int)
    /// The input breaks the rules the server applies (the same fields and messages as its 422).
    case invalid([FieldProblem])
    /// The entry was deleted (here, or on another device and synced).
    case deleted(String)
    /// The client home cannot be opened, created or migrated.
    case unusableHome(String, reason: String)

    public var description: String {
        switch self {
        case .notSignedIn: return "not signed in: run smc-client login --server URL --email E"
        case .notFound(let what): return "no \(what) here (run smc-client sync to fetch the newest)"
        case .notAnID(let text, let why): return "\(text) cannot name an entry: \(why)"
        case .ambiguous(let prefix, let candidates, let count):
            var lines = ["\(prefix) matches \(count) entries; give more of the id:"]
            lines += candidates.map { "  \($0.id)  \($0.summary)" }
            if count > candidates.count { lines.append("  … and \(count - candidates.count) more") }
            return lines.joined(separator: "\n")
        case .invalid(let problems): return problems.map(\.description).joined(separator: "\n")
        case .deleted(let id): return "\(id) was deleted"
        case .unusableHome(let path, let reason): return "cannot use the client home \(path): \(reason)"
        }
    }
}

/// One of the entries an ambiguous id prefix names.
public struct IDCandidate: Sendable, Equatable {
    public var id: String
    /// What it is, for a person to tell them apart (symbol, direction, time…).
    public var summary: String
}

/// The client's state in SQLite (GRDB) under `$SMC_CLIENT_HOME`: the session, the local copies of the signals and
/// journal streams, their cursors, the hybrid logical clock, the next mutation id and the outbox of mutations not
/// yet acknowledged. An offline edit writes its row and its outbox mutation in one transaction; a pulled page and its
/// cursors are committed in one transaction, so a process killed at any point leaves a consistent store.
public final class LocalStore: Sendable {
    public let home: URL
    let pool: DatabasePool
    /// The wall clock (milliseconds since 1970) edits are stamped with; tests give a device a clock that is off.
    let wallClock: @Sendable () -> Int64

    /// Opens (creating and migrating) the store in `home`.
    public init(home: URL, wallClock: @escaping @Sendable () -> Int64 = { HLC.millis(Date()) }) throws {
        self.home = home
        self.wallClock = wallClock
        do {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: home.path, isDirectory: &isFolder), !isFolder.boolValue {
                throw StoreError.unusableHome(home.path, reason: "it is a file, not a folder")
            }
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            var configuration = Configuration()
            configuration.busyMode = .timeout(30)
            let path = home.appendingPathComponent("client.sqlite").path
            pool = try DatabasePool(path: path, configuration: configuration)
            // The token is in here: owner-only.
            try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
            try Self.migrator.migrate(pool)
        } catch let error as StoreError {
            throw error
        } catch let error as DatabaseError {
            throw StoreError.unusableHome(home.path, reason: error.message ?? error.description)
        } catch {
            throw StoreError.unusableHome(home.path, reason: error.localizedDescription)
        }
    }

    /// `$SMC_CLIENT_HOME`, else `~/.smc-client`.
    public static func defaultHome(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let home = environment["SMC_CLIENT_HOME"], !home.isEmpty { return URL(fileURLWithPath: home) }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".smc-client")
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    CREATE TABLE cursors (stream TEXT PRIMARY KEY, cursor TEXT NOT NULL);
                    CREATE TABLE signals (
                        id TEXT PRIMARY KEY, version INTEGER NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL,
                        direction TEXT NOT NULL, level TEXT NOT NULL, confidence REAL NOT NULL, candle_time TEXT NOT NULL,
                        fields TEXT NOT NULL);
                    CREATE INDEX signals_by_time ON signals (candle_time DESC, id DESC);
                    CREATE TABLE trades (
                        id TEXT PRIMARY KEY, version INTEGER NOT NULL DEFAULT 0,
                        fields TEXT NOT NULL, clocks TEXT NOT NULL, computed TEXT NOT NULL DEFAULT '{}', deleted_hlc TEXT,
                        symbol TEXT, entry_time TEXT);
                    CREATE INDEX trades_by_time ON trades (entry_time DESC, id DESC) WHERE deleted_hlc IS NULL;
                    CREATE TABLE annotations (
                        signal_id TEXT PRIMARY KEY, version INTEGER NOT NULL DEFAULT 0, fields TEXT NOT NULL, clocks TEXT NOT NULL);
                    CREATE TABLE outbox (
                        id INTEGER PRIMARY KEY, entity TEXT NOT NULL, entity_id TEXT NOT NULL, op TEXT NOT NULL,
                        writes TEXT NOT NULL, hlc TEXT, created_at TEXT NOT NULL);
                    CREATE INDEX outbox_by_entity ON outbox (entity, entity_id);
                    CREATE TABLE rejections (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT, mutation_id INTEGER NOT NULL, entity TEXT NOT NULL,
                        entity_id TEXT NOT NULL, op TEXT NOT NULL, code TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL);
                    """)
        }
        return migrator
    }

    // MARK: Meta and session

    static func meta(_ db: Database, _ key: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key])
    }

    static func setMeta(_ db: Database, _ key: String, _ value: String?) throws {
        if let value {
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                           arguments: [key, value])
        } else {
            try db.execute(sql: "DELETE FROM meta WHERE key = ?", arguments: [key])
        }
    }

    public func session() throws -> ClientSession? {
        try pool.read { db in
            guard let json = try Self.meta(db, "session") else { return nil }
            return try JSONDecoder().decode(ClientSession.self, from: Data(json.utf8))
        }
    }

    func requireSession() throws -> ClientSession {
        guard let session = try session() else { throw StoreError.notSignedIn }
        return session
    }

    /// Stores a new session. Signing in as another account (or on another server) starts from an empty store;
    /// signing in again as the same account keeps the local data and the outbox, renumbered for the new device
    /// (mutation ids are per device and start at 1).
    public func signIn(_ session: ClientSession) throws {
        try pool.write { db in
            let previous = try Self.meta(db, "session").flatMap { try? JSONDecoder().decode(ClientSession.self, from: Data($0.utf8)) }
            if let previous, previous.server != session.server || previous.userID != session.userID {
                try Self.wipe(db)
            }
            let pending = try Int64.fetchAll(db, sql: "SELECT id FROM outbox ORDER BY id")
            for (i, id) in pending.enumerated() {
                try db.execute(sql: "UPDATE outbox SET id = ? WHERE id = ?", arguments: [-(Int64(i) + 1), id])
            }
            try db.execute(sql: "UPDATE outbox SET id = -id")
            try Self.setMeta(db, "next_mutation_id", String(pending.count + 1))
            try Self.setMeta(db, "session", String(decoding: try JSONEncoder().encode(session), as: UTF8.self))
            // The clock keeps its (wall, counter) but stamps with the new device id.
            try Self.setMeta(db, "device", session.deviceID)
        }
    }

    /// Forgets the session and every local copy (the outbox too: the caller checks it is empty or was told to force).
    public func signOut() throws {
        try pool.write { db in try Self.wipe(db) }
    }

    private static func wipe(_ db: Database) throws {
        for table in ["meta", "cursors", "signals", "trades", "annotations", "outbox", "rejections"] {
            try db.execute(sql: "DELETE FROM \(table)")
        }
    }

    public struct Status: Sendable, Equatable, Codable {
        public var session: ClientSession?
        public var lastSync: String?
        public var pendingChanges: Int
        public var signals: Int
        public var trades: Int
        public var rejections: Int
    }

    public func status() throws -> Status {
        try pool.read { db in
            let session = try Self.meta(db, "session").flatMap { try? JSONDecoder().decode(ClientSession.self, from: Data($0.utf8)) }
            return Status(
                session: session, lastSync: try Self.meta(db, "last_sync"),
                pendingChanges: try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox") ?? 0,
                signals: try Int.fetchOne(db, sql: "SELECT count(*) FROM signals") ?? 0,
                trades: try Int.fetchOne(db, sql: "SELECT count(*) FROM trades WHERE deleted_hlc IS NULL") ?? 0,
                rejections: try Int.fetchOne(db, sql: "SELECT count(*) FROM rejections") ?? 0)
        }
    }

    // MARK: The clock

    private static func clock(_ db: Database) throws -> HybridClock {
        let device = try meta(db, "device") ?? "local"
        let wall = Int64(try meta(db, "hlc_wall") ?? "0") ?? 0
        let counter = UInt16(try meta(db, "hlc_counter") ?? "0") ?? 0
        return HybridClock(device: device, wall: wall, counter: counter)
    }

    private static func saveClock(_ db: Database, _ clock: HybridClock) throws {
        try setMeta(db, "hlc_wall", String(clock.wall))
        try setMeta(db, "hlc_counter", String(clock.counter))
    }

    // MARK: Local edits

    /// Records a local edit: applies it to the local row and appends its mutation to the outbox, in one transaction.
    /// `fields` are new values of writable fields (`.null` clears one).
    @discardableResult
    func record(entity: String, id: String, op: String, fields: [String: JSONValue]) throws -> Int64 {
        try pool.write { db in
            var clock = try Self.clock(db)
            let stamp = clock.tick(now: wallClock())
            try Self.saveClock(db, clock)
            var writes: [String: FieldWrite] = [:]
            for (name, value) in fields { writes[name] = FieldWrite(value: value, hlc: stamp) }
            switch entity {
            case "trade":
                var record = try Self.trade(db, id) ?? LocalRecord(id: id)
                if op == "delete" { record.merge.delete(stamp) } else { record.merge.apply(writes) }
                try Self.save(db, trade: record)
            default:
                var record = try Self.annotation(db, id) ?? LocalRecord(id: id)
                if op == "delete" {
                    record.merge.apply([
                        "note": FieldWrite(value: .null, hlc: stamp), "tags": FieldWrite(value: .array([]), hlc: stamp),
                        "taken": FieldWrite(value: .bool(false), hlc: stamp),
                    ])
                } else {
                    record.merge.apply(writes)
                }
                try Self.save(db, annotation: record)
            }
            let next = Int64(try Self.meta(db, "next_mutation_id") ?? "1") ?? 1
            try db.execute(
                sql: "INSERT INTO outbox (id, entity, entity_id, op, writes, hlc, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    next, entity, id, op, try Self.encode(writes.mapValues { WriteJSON(value: $0.value, hlc: $0.hlc) }),
                    op == "delete" ? stamp.description : nil, Self.rfc3339(Date()),
                ])
            try Self.setMeta(db, "next_mutation_id", String(next + 1))
            return next
        }
    }

    struct WriteJSON: Codable {
        var value: JSONValue
        var hlc: HLC
    }

    // MARK: Records

    /// A journal entity as stored locally: its merge registers (and, for trades, what the server computed).
    struct LocalRecord {
        var id: String
        var merge = MergeRecord()
        var computed: [String: JSONValue] = [:]
        var version: Int64 = 0
    }

    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decodeFields(_ text: String) -> [String: JSONValue] {
        (try? JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8))) ?? [:]
    }

    static func decodeClocks(_ text: String) -> [String: HLC] {
        (try? JSONDecoder().decode([String: HLC].self, from: Data(text.utf8))) ?? [:]
    }

    static func trade(_ db: Database, _ id: String) throws -> LocalRecord? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM trades WHERE id = ?", arguments: [id]) else { return nil }
        return LocalRecord(
            id: id,
            merge: MergeRecord(
                fields: decodeFields(row["fields"]), clocks: decodeClocks(row["clocks"]),
                deleted: (row["deleted_hlc"] as String?).flatMap(HLC.init)),
            computed: decodeFields(row["computed"]), version: row["version"])
    }

    static func save(_ db: Database, trade record: LocalRecord) throws {
        let entryTime: String? = if case .string(let t)? = record.merge.fields["entry_time"] { t } else { nil }
        let symbol: String? = if case .string(let s)? = record.merge.fields["symbol"] { s } else { nil }
        try db.execute(
            sql: """
                INSERT INTO trades (id, version, fields, clocks, computed, deleted_hlc, symbol, entry_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET version = excluded.version, fields = excluded.fields, clocks = excluded.clocks,
                    computed = excluded.computed, deleted_hlc = excluded.deleted_hlc, symbol = excluded.symbol,
                    entry_time = excluded.entry_time
                """,
            arguments: [
                record.id, record.version, try encode(record.merge.fields), try encode(record.merge.clocks), try encode(record.computed),
                record.merge.deleted?.description, symbol, entryTime,
            ])
    }

    static func annotation(_ db: Database, _ id: String) throws -> LocalRecord? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM annotations WHERE signal_id = ?", arguments: [id]) else { return nil }
        return LocalRecord(
            id: id, merge: MergeRecord(fields: decodeFields(row["fields"]), clocks: decodeClocks(row["clocks"])), version: row["version"])
    }

    static func save(_ db: Database, annotation record: LocalRecord) throws {
        try db.execute(
            sql: """
                INSERT INTO annotations (signal_id, version, fields, clocks) VALUES (?, ?, ?, ?)
                ON CONFLICT (signal_id) DO UPDATE SET version = excluded.version, fields = excluded.fields, clocks = excluded.clocks
                """,
            arguments: [record.id, record.version, try encode(record.merge.fields), try encode(record.merge.clocks)])
    }

    // MARK: Sync bookkeeping

    func outbox(limit: Int) throws -> [OutboxEntry] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM outbox ORDER BY id LIMIT ?", arguments: [limit]).map { row in
                let writes = (try? JSONDecoder().decode([String: WriteJSON].self, from: Data((row["writes"] as String).utf8))) ?? [:]
                return OutboxEntry(
                    id: row["id"], entity: row["entity"], entityID: row["entity_id"], op: row["op"],
                    writes: writes.mapValues { FieldWrite(value: $0.value, hlc: $0.hlc) }, hlc: (row["hlc"] as String?).flatMap(HLC.init))
            }
        }
    }

    public struct PushOutcome: Sendable {
        public var id: Int64
        public var status: String
        public var code: String?
        public var reason: String?
    }

    /// Settles pushed mutations: applied, duplicate and rejected ones leave the outbox (a rejected one is recorded,
    /// and its local effect undone so the server's state wins on the next pull); so does everything at or below the
    /// server's `last_mutation_id`.
    /// Returns the rejections it recorded.
    func settle(_ outcomes: [PushOutcome], lastMutationID: Int64) throws -> [Rejection] {
        try pool.write { db in
            var recorded: [Rejection] = []
            for outcome in outcomes where outcome.status == "rejected" {
                guard let row = try Row.fetchOne(db, sql: "SELECT * FROM outbox WHERE id = ?", arguments: [outcome.id]) else { continue }
                let rejection = Rejection(
                    mutationID: outcome.id, entity: row["entity"], entityID: row["entity_id"], op: row["op"],
                    code: outcome.code ?? "rejected", reason: outcome.reason ?? "", at: Self.rfc3339(Date()))
                try db.execute(
                    sql: "INSERT INTO rejections (mutation_id, entity, entity_id, op, code, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [rejection.mutationID, rejection.entity, rejection.entityID, rejection.op, rejection.code,
                                rejection.reason, rejection.at])
                try Self.undo(db, entity: rejection.entity, id: rejection.entityID, op: rejection.op, writes: row["writes"], hlc: row["hlc"])
                recorded.append(rejection)
            }
            try db.execute(sql: "DELETE FROM outbox WHERE id <= ?", arguments: [lastMutationID])
            return recorded
        }
    }

    /// Undoes a rejected mutation locally: a refused create that never reached the server goes; a refused edit's
    /// registers lose their stamps, so the server's state (which it sends again) wins.
    private static func undo(_ db: Database, entity: String, id: String, op: String, writes: String, hlc: String?) throws {
        let written = ((try? JSONDecoder().decode([String: WriteJSON].self, from: Data(writes.utf8))) ?? [:]).mapValues(\.hlc)
        guard var record = entity == "trade" ? try trade(db, id) : try annotation(db, id) else { return }
        if record.version == 0 && op != "update" {
            // It never came from the server: it only existed here. (Later mutations of it stay in the outbox: the
            // server refuses them too, and mutation ids must reach it without gaps.)
            try db.execute(sql: "DELETE FROM \(entity == "trade" ? "trades WHERE id" : "annotations WHERE signal_id") = ?", arguments: [id])
            return
        }
        if op == "delete", let hlc, record.merge.deleted?.description == hlc {
            record.merge.deleted = nil
        }
        for (name, stamp) in written where record.merge.clocks[name] == stamp {
            record.merge.clocks.removeValue(forKey: name)
        }
        if entity == "trade" { try save(db, trade: record) } else { try save(db, annotation: record) }
    }

    public func cursors() throws -> [String: String] {
        try pool.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT stream, cursor FROM cursors").map {
                ($0["stream"] as String, $0["cursor"] as String)
            })
        }
    }

    /// One pulled change, as the store applies it.
    public struct Change: Sendable {
        public var stream: String
        public var entity: String
        public var id: String
        public var version: Int64
        public var delete: Bool
        public var fields: [String: JSONValue]
        public var clocks: [String: HLC]
        public var deletedHLC: HLC?
    }

    /// Applies a pulled page and stores its cursors, in one transaction. A stream in `reset` is dropped first — but
    /// not the entities the outbox still has mutations for, which are pushed again and come back.
    func apply(page changes: [Change], cursors: [String: String], reset: [String], lastMutationID: Int64) throws {
        try pool.write { db in
            if reset.contains("signals") { try db.execute(sql: "DELETE FROM signals") }
            if reset.contains("journal") {
                try db.execute(sql: "DELETE FROM trades WHERE id NOT IN (SELECT entity_id FROM outbox WHERE entity = 'trade')")
                try db.execute(sql: "UPDATE trades SET version = 0")
                try db.execute(
                    sql: "DELETE FROM annotations WHERE signal_id NOT IN (SELECT entity_id FROM outbox WHERE entity = 'annotation')")
            }
            var clock = try Self.clock(db)
            for change in changes {
                switch change.entity {
                case "signal":
                    if change.delete {
                        try db.execute(sql: "DELETE FROM signals WHERE id = ?", arguments: [change.id])
                        try db.execute(sql: "DELETE FROM annotations WHERE signal_id = ?", arguments: [change.id])
                    } else {
                        func text(_ key: String) -> String { if case .string(let s)? = change.fields[key] { s } else { "" } }
                        let confidence: Double = if case .number(let n)? = change.fields["confidence"] { n } else { 0 }
                        try db.execute(
                            sql: """
                                INSERT INTO signals (id, version, symbol, timeframe, direction, level, confidence, candle_time, fields)
                                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                                ON CONFLICT (id) DO UPDATE SET version = excluded.version, symbol = excluded.symbol,
                                    timeframe = excluded.timeframe, direction = excluded.direction, level = excluded.level,
                                    confidence = excluded.confidence, candle_time = excluded.candle_time, fields = excluded.fields
                                """,
                            arguments: [
                                change.id, change.version, text("symbol"), text("timeframe"), text("direction"), text("level"), confidence,
                                text("candle_time"), try Self.encode(change.fields),
                            ])
                    }
                case "trade":
                    var record = try Self.trade(db, change.id) ?? LocalRecord(id: change.id)
                    if change.delete {
                        record.merge.merge(MergeRecord(deleted: change.deletedHLC ?? .zero))
                        record.computed = [:]
                    } else {
                        let writable = change.fields.filter { SyncProtocol.tradeFields.contains($0.key) }
                        record.merge.merge(MergeRecord(fields: writable, clocks: change.clocks), authoritative: true)
                        record.computed = change.fields.filter { !SyncProtocol.tradeFields.contains($0.key) }
                    }
                    record.version = change.version
                    try Self.save(db, trade: record)
                default:
                    var record = try Self.annotation(db, change.id) ?? LocalRecord(id: change.id)
                    record.merge.merge(
                        MergeRecord(fields: change.fields.filter { SyncProtocol.annotationFields.contains($0.key) }, clocks: change.clocks),
                        authoritative: true)
                    record.version = change.version
                    try Self.save(db, annotation: record)
                }
                for stamp in change.clocks.values { clock.observe(stamp) }
                if let stamp = change.deletedHLC { clock.observe(stamp) }
            }
            try Self.saveClock(db, clock)
            for (stream, cursor) in cursors {
                try db.execute(
                    sql: "INSERT INTO cursors (stream, cursor) VALUES (?, ?) ON CONFLICT (stream) DO UPDATE SET cursor = excluded.cursor",
                    arguments: [stream, cursor])
            }
            try db.execute(sql: "DELETE FROM outbox WHERE id <= ?", arguments: [lastMutationID])
        }
    }

    func markSynced(at date: Date = Date()) throws {
        try pool.write { db in try Self.setMeta(db, "last_sync", Self.rfc3339(date)) }
    }

    public func rejections() throws -> [Rejection] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM rejections ORDER BY seq").map {
                Rejection(mutationID: $0["mutation_id"], entity: $0["entity"], entityID: $0["entity_id"], op: $0["op"],
                          code: $0["code"], reason: $0["reason"], at: $0["at"])
            }
        }
    }

    /// A digest of the local copies of both streams (what two caught-up devices must agree on): signals, live
    /// trades with their fields, annotations. Clocks and versions are left out.
    public func snapshot() throws -> String {
        try pool.read { db in
            var lines: [String] = []
            for row in try Row.fetchAll(db, sql: "SELECT id, fields FROM signals ORDER BY id") {
                lines.append("signal \(row["id"] as String) \(row["fields"] as String)")
            }
            for row in try Row.fetchAll(db, sql: "SELECT id, fields FROM trades WHERE deleted_hlc IS NULL ORDER BY id") {
                lines.append("trade \(row["id"] as String) \(row["fields"] as String)")
            }
            for row in try Row.fetchAll(db, sql: "SELECT signal_id, fields FROM annotations ORDER BY signal_id") {
                lines.append("annotation \(row["signal_id"] as String) \(row["fields"] as String)")
            }
            return lines.joined(separator: "\n")
        }
    }
}
