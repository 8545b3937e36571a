import Foundation
import Logging
import OpenAPIRuntime
import PostgresNIO
import SMCAPI
import SMCSync

typealias SyncChange = Components.Schemas.SyncChange
typealias SyncMutation = Components.Schemas.SyncMutation
typealias SyncMutationResult = Components.Schemas.SyncMutationResult

/// Operator settings of sync.
public struct SyncSettings: Sendable, Equatable {
    /// `SMC_SYNC_MAX_DRIFT_SECONDS`: how far ahead of the server's clock a device's stamp may be.
    public var maxDriftSeconds = 300
    /// `SMC_SYNC_TOMBSTONE_DAYS`: how long tombstones are kept; a cursor older than that re-downloads its stream.
    public var tombstoneDays = 30

    public init() {}
}

/// The delta-sync protocol's server side (api-spec/sync-protocol.md): pages of changes to the signals and journal
/// streams after a device's cursors, and pushes of a device's journal mutations, applied once each, merged field
/// by field with the REST journal's writes.
struct SyncService: Sendable {
    let database: Database
    let plans: PlansService
    let journal: JournalService
    let signals: SignalsService
    let settings: SyncSettings

    var logger: Logger { database.logger }

    static let defaultPageSize = 500

    // MARK: Checks common to pull and push

    /// 426 with the supported ranges when the client speaks another protocol or schema; nothing is applied.
    static func checkVersions(protocol: Int, schema: Int) throws {
        guard SyncProtocol.protocolVersions.contains(`protocol`), SyncProtocol.schemaVersions.contains(schema) else {
            func range(_ r: ClosedRange<Int>) -> ProblemValue { .object(["min": .int(r.lowerBound), "max": .int(r.upperBound)]) }
            throw Problem(.unsupportedVersion,
                detail: "this server speaks sync protocol \(SyncProtocol.protocolVersions) and schema \(SyncProtocol.schemaVersions); "
                    + "the request was protocol \(`protocol`), schema \(schema): update the client",
                headers: [.upgrade: "smc-sync/\(SyncProtocol.protocolVersions.upperBound)"],
                extensions: [
                    "supported": .object([
                        "protocol": range(SyncProtocol.protocolVersions), "schema": range(SyncProtocol.schemaVersions),
                    ])
                ])
        }
    }

    /// The body's `device_id` must be the token's device.
    static func checkDevice(_ principal: Principal, _ deviceID: String) throws {
        guard UUID(uuidString: deviceID) == principal.deviceID else {
            throw Problem(.deviceMismatch, detail: "device_id is not the device of this token")
        }
    }

    // MARK: Pull

    struct Page: Sendable {
        var changes: [SyncChange] = []
        var cursors: [SyncProtocol.Stream: String] = [:]
        var hasMore: [SyncProtocol.Stream: Bool] = [:]
        var reset: [SyncProtocol.Stream] = []
        var lastMutationID: Int64 = 0
    }

    /// One page of changes after `cursors`, read in one REPEATABLE READ read-only transaction.
    func pull(_ principal: Principal, cursors: [SyncProtocol.Stream: String], limit: Int) async throws -> Page {
        var decoded: [SyncProtocol.Stream: SyncCursor] = [:]
        for (stream, text) in cursors {
            guard let cursor = SyncCursor(encoded: text), cursor.stream == stream else {
                throw Problem(.invalidCursor, detail: "the \(stream.rawValue) cursor is not one this server issued")
            }
            decoded[stream] = cursor
        }
        let tenant = principal.tenantID
        return try await database.withTenant(tenant, isolation: .repeatableRead, readOnly: true) { connection in
            var page = Page()
            let counters = try await SyncVersions.counters(tenant: tenant, connection, logger: logger)
            page.lastMutationID = try await AccountsService.lastMutationID(
                tenant, device: principal.deviceID, lock: false, connection, logger: logger) ?? 0
            let historyDays = try await plans.plan(forTenant: tenant, connection).historyDays

            for stream in SyncProtocol.Stream.allCases {
                let counter = counters[stream] ?? SyncVersions.Counter()
                var start = SyncPosition.start
                var reset = false
                if let cursor = decoded[stream] {
                    if cursor.epoch != counter.epoch || cursor.version < counter.horizon || cursor.version > counter.version {
                        reset = true
                    } else {
                        start = SyncPosition(version: cursor.version, id: cursor.id)
                    }
                }
                let room = limit - page.changes.count
                guard room > 0 else {
                    // No room left in this page: the stream keeps its cursor (a reset is announced with its first rows).
                    page.cursors[stream] = cursors[stream]
                    page.hasMore[stream] = reset || start.version < counter.version
                    continue
                }
                var changes: [(version: Int64, id: UUID, change: SyncChange)]
                switch stream {
                case .signals: changes = try await signalChanges(tenant, after: start, limit: room + 1, historyDays: historyDays, connection)
                case .journal: changes = try await journalChanges(tenant, after: start, limit: room + 1, connection)
                }
                if reset { page.reset.append(stream) }
                if changes.count > room {
                    changes.removeLast(changes.count - room)
                    let last = changes[changes.count - 1]
                    page.cursors[stream] = SyncCursor(stream: stream, epoch: counter.epoch, version: last.version, id: last.id).encoded
                    page.hasMore[stream] = true
                } else {
                    // Everything up to the counter, as this snapshot sees it, has been delivered.
                    page.cursors[stream] = SyncCursor(stream: stream, epoch: counter.epoch, version: counter.version).encoded
                    page.hasMore[stream] = false
                }
                page.changes += changes.map(\.change)
            }
            return page
        }
    }

    /// Merges per-table keyset results (each sorted) into one (version, id) order, at most `limit`.
    private func merged(_ parts: [[(version: Int64, id: UUID, change: SyncChange)]], limit: Int)
        -> [(version: Int64, id: UUID, change: SyncChange)]
    {
        // UUIDs compare byte by byte, as PostgreSQL orders them.
        let all = parts.joined().sorted { $0.version != $1.version ? $0.version < $1.version : $0.id < $1.id }
        return Array(all.prefix(limit))
    }

    private func signalChanges(
        _ tenant: UUID, after start: SyncPosition, limit: Int, historyDays: Int, _ connection: PostgresConnection
    ) async throws -> [(version: Int64, id: UUID, change: SyncChange)] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(RFC3339DateTranscoder.format(date))
        }
        var upserts: [(version: Int64, id: UUID, change: SyncChange)] = []
        let changed = try await SignalStore(logger: logger).changes(
            tenant, after: start, limit: limit, visibleDays: historyDays, connection)
        let formatted = try await SignalsService.withTicks(changed.map(\.signal), connection, logger: logger)
        for ((version, _), signal) in zip(changed, formatted) {
            var fields = try JSONDecoder().decode([String: JSONValue].self, from: encoder.encode(signal.detailSchema))
            fields.removeValue(forKey: "id")
            fields.removeValue(forKey: "annotation")
            upserts.append(
                (version, signal.id,
                 SyncChange(
                    stream: .signals, entity: .signal, id: signal.id.uuidString.lowercased(), version: version, op: .upsert,
                    fields: .init(additionalProperties: JSONValue.container(fields)))))
        }
        let deletes = try await SyncVersions.signalTombstones(tenant: tenant, after: start, limit: limit, connection, logger: logger).map {
            (version: $0.version, id: $0.id,
             change: SyncChange(stream: .signals, entity: .signal, id: $0.id.uuidString.lowercased(), version: $0.version, op: .delete))
        }
        return merged([upserts, deletes], limit: limit)
    }

    private func journalChanges(_ tenant: UUID, after start: SyncPosition, limit: Int, _ connection: PostgresConnection)
        async throws -> [(version: Int64, id: UUID, change: SyncChange)]
    {
        var tradeChanges: [(version: Int64, id: UUID, change: SyncChange)] = []
        for (version, trade) in try await journal.changes(tenant, after: start, limit: limit, connection) {
            let id = trade.id.uuidString.lowercased()
            if trade.deleted {
                tradeChanges.append(
                    (version, trade.id,
                     SyncChange(
                        stream: .journal, entity: .trade, id: id, version: version, op: .delete,
                        deletedHlc: trade.deletedHLC?.description)))
                continue
            }
            tradeChanges.append(
                (version, trade.id,
                 SyncChange(
                    stream: .journal, entity: .trade, id: id, version: version, op: .upsert,
                    fields: .init(additionalProperties: JSONValue.container(trade.syncFields)), clocks: Self.clocks(trade.clocks))))
        }
        let noteChanges = try await SignalStore(logger: logger).annotationChanges(tenant, after: start, limit: limit, connection).map { n in
            var fields = n.values.fields
            fields["updated_at"] = .string(RFC3339DateTranscoder.format(n.updatedAt))
            return (version: n.version, id: n.id,
                    change: SyncChange(
                        stream: .journal, entity: .annotation, id: n.id.uuidString.lowercased(), version: n.version, op: .upsert,
                        fields: .init(additionalProperties: JSONValue.container(fields)), clocks: Self.clocks(ServerClock.clocks(n.clocks))))
        }
        return merged([tradeChanges, noteChanges], limit: limit)
    }

    private static func clocks(_ clocks: [String: HLC]) -> SyncChange.ClocksPayload {
        .init(additionalProperties: clocks.mapValues(\.description))
    }

    // MARK: Push

    /// Why a mutation was rejected; it still counts as processed.
    struct Rejection: Error {
        /// The closed list of rejection codes (`SyncMutationResult.code` in the spec names the same).
        enum Code: String, CaseIterable, Sendable {
            case invalid
            case unknownEntity = "unknown_entity"
            case unknownOp = "unknown_op"
            case notFound = "not_found"
            case deleted
            case exists
            case clockAhead = "clock_ahead"
        }

        var code: Code
        var reason: String
        /// The entity exists: give it a new version so the device that sent the mutation pulls its state again.
        var restamp = true
    }

    /// Applies the device's mutations in order, once each, in one transaction (api-spec/sync-protocol.md §6).
    func push(_ principal: Principal, _ mutations: [SyncMutation]) async throws -> (results: [SyncMutationResult], last: Int64) {
        guard mutations.count <= SyncProtocol.maxMutations else {
            throw Problem(.payloadTooLarge,
                detail: "at most \(SyncProtocol.maxMutations) mutations per push; send the rest in the next one")
        }
        let tenant = principal.tenantID
        return try await database.withTenant(tenant) { connection in
            guard
                var last = try await AccountsService.lastMutationID(tenant, device: principal.deviceID, lock: true, connection, logger: logger)
            else { throw Problem(.tokenRevoked, detail: "this device was signed out; sign in again") }
            let historyDays = try await plans.plan(forTenant: tenant, connection).historyDays
            var results: [SyncMutationResult] = []
            var stopped = false
            for mutation in mutations {
                if stopped || mutation.id > last + 1 {
                    stopped = true
                    results.append(.init(id: mutation.id, status: .notProcessed, reason: "mutation \(last + 1) is missing; send it first"))
                    continue
                }
                if mutation.id <= last {
                    results.append(.init(id: mutation.id, status: .duplicate))
                    continue
                }
                try await connection.query("SAVEPOINT mutation", logger: logger)
                do {
                    try await apply(mutation, principal, historyDays: historyDays, connection)
                    try await connection.query("RELEASE SAVEPOINT mutation", logger: logger)
                    results.append(.init(id: mutation.id, status: .applied))
                } catch {
                    let rejection: Rejection
                    switch error {
                    case let r as Rejection: rejection = r
                    case let problem as Problem:
                        let detail = problem.fieldErrors.isEmpty
                            ? (problem.detail ?? problem.code) : problem.fieldErrors.map { "\($0.field) \($0.message)" }.joined(separator: "; ")
                        rejection = Rejection(code: problem.kind == .notFound ? .notFound : .invalid, reason: detail)
                    case let sql as PSQLError where sql.serverInfo != nil:
                        logger.warning("sync mutation refused by the database", metadata: ["error": "\(String(reflecting: sql))"])
                        rejection = Rejection(code: .invalid, reason: "the change breaks a rule of the journal")
                    default: throw error
                    }
                    try await connection.query("ROLLBACK TO SAVEPOINT mutation", logger: logger)
                    if rejection.restamp, let id = UUID(uuidString: mutation.entityId) {
                        try await restamp(mutation.entity, tenant, id, connection)
                    }
                    results.append(.init(id: mutation.id, status: .rejected, code: rejection.code.rawValue, reason: rejection.reason))
                }
                last = mutation.id
            }
            try await AccountsService.setLastMutationID(tenant, device: principal.deviceID, last, connection, logger: logger)
            return (results, last)
        }
    }

    /// After a rejection, the entity (when it exists) gets a new version, so the sender pulls the server's state.
    private func restamp(_ entity: String, _ tenant: UUID, _ id: UUID, _ connection: PostgresConnection) async throws {
        switch entity {
        case "trade": try await journal.restamp(tenant, id, connection)
        case "annotation": try await SignalStore(logger: logger).restampAnnotation(tenant, id, connection)
        default: break
        }
    }

    private func apply(_ mutation: SyncMutation, _ principal: Principal, historyDays: Int, _ connection: PostgresConnection)
        async throws
    {
        guard let id = UUID(uuidString: mutation.entityId) else {
            throw Rejection(code: .invalid, reason: "entity_id is not a UUID", restamp: false)
        }
        guard ["create", "update", "delete"].contains(mutation.op) else {
            throw Rejection(code: .unknownOp, reason: "op must be create, update or delete", restamp: false)
        }
        switch mutation.entity {
        case "trade": try await applyTrade(mutation, id, principal, connection)
        case "annotation": try await applyAnnotation(mutation, id, principal.tenantID, historyDays: historyDays, connection)
        default: throw Rejection(code: .unknownEntity, reason: "entity must be trade or annotation", restamp: false)
        }
    }

    /// A stamp a device sent: well-formed and not too far ahead of our clock (so a device whose clock runs ahead
    /// cannot win every later merge).
    private func stamp(_ text: String?, _ what: String) throws -> HLC {
        guard let text, let stamp = HLC(text) else { throw Rejection(code: .invalid, reason: "\(what) has no valid hlc stamp") }
        let limit = HLC.millis(Date()) + Int64(settings.maxDriftSeconds) * 1000
        guard stamp.wall <= limit else {
            throw Rejection(
                code: .clockAhead,
                reason: "\(what) is stamped \((stamp.wall - HLC.millis(Date())) / 1000) s ahead of the server's clock "
                    + "(at most \(settings.maxDriftSeconds) s allowed): set the device's clock right")
        }
        return stamp
    }

    /// The mutation's field writes, each a known field with a valid stamp.
    private func writes(_ mutation: SyncMutation, allowed: Set<String>) throws -> [String: FieldWrite] {
        var writes: [String: FieldWrite] = [:]
        for (name, write) in mutation.fields?.additionalProperties ?? [:] {
            guard allowed.contains(name) else {
                throw Rejection(code: .invalid, reason: "\(name) is not a writable field of a \(mutation.entity)")
            }
            writes[name] = FieldWrite(value: JSONValue(write.value), hlc: try stamp(write.hlc, name))
        }
        guard !writes.isEmpty else { throw Rejection(code: .invalid, reason: "the mutation writes no field") }
        return writes
    }

    private func applyTrade(_ mutation: SyncMutation, _ id: UUID, _ principal: Principal, _ connection: PostgresConnection) async throws {
        let tenant = principal.tenantID
        if mutation.op == "delete" {
            let deleteStamp = try stamp(mutation.hlc, "the delete")
            guard let current = try await journal.load(tenant, id, connection, includeDeleted: true, lock: true) else {
                throw Rejection(code: .notFound, reason: "no such trade", restamp: false)
            }
            guard !current.deleted else { throw Rejection(code: .deleted, reason: "the trade was already deleted") }
            try await journal.tombstone(tenant, id, stamp: deleteStamp, connection)
            ServerClock.shared.observe(deleteStamp)
            return
        }
        let writes = try writes(mutation, allowed: SyncProtocol.tradeFields)
        let current = try await journal.load(tenant, id, connection, includeDeleted: true, lock: true)
        if let current, current.deleted {
            throw Rejection(code: .deleted, reason: "the trade was deleted (deletes win over edits)")
        }
        var record = MergeRecord(fields: current?.draft.syncFields ?? [:], clocks: current?.clocks ?? [:])
        let changed = record.apply(writes)
        for write in writes.values { ServerClock.shared.observe(write.hlc) }
        if let current {
            guard !changed.isEmpty else { return }  // every write lost to a newer one: applied, nothing to change
            var draft = try TradeDraft.checked(record.fields)
            try await journal.checkSignal(&draft, previous: current.draft, tenant: tenant, connection)
            _ = try await journal.write(tenant, current, draft, clocks: filled(record.clocks, draft), connection)
            return
        }
        guard mutation.op == "create" else { throw Rejection(code: .notFound, reason: "no such trade", restamp: false) }
        guard UUIDv7.timestamp(of: id) != nil else {
            throw Rejection(code: .invalid, reason: "a new trade's id must be a UUIDv7", restamp: false)
        }
        var draft = try TradeDraft.checked(record.fields)
        try await journal.checkSignal(&draft, previous: nil, tenant: tenant, connection)
        guard
            try await journal.insert(
                tenant, id, user: principal.userID, draft, digest: nil, clocks: filled(record.clocks, draft), connection)
        else { throw Rejection(code: .exists, reason: "a trade with this id is being created", restamp: false) }
        _ = try await journal.recompute(tenant, id, connection)
    }

    /// Fields the server filled in (a linked signal's setup type, killzone, timeframe) get the server's stamp.
    private func filled(_ clocks: [String: HLC], _ draft: TradeDraft) -> [String: HLC] {
        let missing = draft.syncFields.keys.filter { clocks[$0] == nil }
        guard !missing.isEmpty else { return clocks }
        return clocks.merging(ServerClock.shared.stamp(missing)) { a, _ in a }
    }

    private func applyAnnotation(
        _ mutation: SyncMutation, _ id: UUID, _ tenant: UUID, historyDays: Int, _ connection: PostgresConnection
    ) async throws {
        let visible = try await SignalStore(logger: logger).isVisible(tenant, id, visibleDays: historyDays, connection)
        guard visible else { throw Rejection(code: .notFound, reason: "no such signal", restamp: false) }
        var writes: [String: FieldWrite]
        if mutation.op == "delete" {
            // Clearing an annotation writes every field (it is the signal's, not an entity of its own).
            let clear = try stamp(mutation.hlc, "the delete")
            writes = [
                "note": FieldWrite(value: .null, hlc: clear), "tags": FieldWrite(value: .array([]), hlc: clear),
                "taken": FieldWrite(value: .bool(false), hlc: clear),
            ]
        } else {
            writes = try self.writes(mutation, allowed: SyncProtocol.annotationFields)
        }
        for write in writes.values { ServerClock.shared.observe(write.hlc) }
        _ = try await SignalStore(logger: logger).mergeAnnotation(tenant, id, writes, connection)
    }

    // MARK: Horizon

    /// Purges tombstones older than the setting (deleted trades, and deleted signals' tombstones) and raises each
    /// stream's horizon to the newest purged version, so a cursor older than that re-downloads its stream. Runs in the
    /// maintenance loop, as the worker role.
    static func purgeTombstones(_ database: Database, olderThan days: Int) async throws -> Int {
        let logger = database.logger
        return try await database.withWorker { connection in
            let trades = try await JournalService.purgeDeleted(olderThanDays: days, connection, logger: logger)
            try await SyncVersions.raiseHorizons(.journal, tops: trades.mapValues(\.top), connection, logger: logger)
            let signals = try await SyncVersions.purgeSignalTombstones(olderThanDays: days, connection, logger: logger)
            try await SyncVersions.raiseHorizons(.signals, tops: signals.mapValues(\.top), connection, logger: logger)
            return trades.values.reduce(0) { $0 + $1.count } + signals.values.reduce(0) { $0 + $1.count }
        }
    }
}

extension TradeRecord {
    /// A trade's state in the journal stream: its writable fields and what the server computes.
    var syncFields: [String: JSONValue] {
        var fields = draft.syncFields
        fields["pnl"] = pnl.map(JSONValue.number)
        fields["r_multiple"] = rMultiple.map(JSONValue.number)
        fields["outcome"] = .string(outcome)
        fields["user_id"] = .string(userID.uuidString.lowercased())
        fields["created_at"] = .string(RFC3339DateTranscoder.format(createdAt))
        fields["updated_at"] = .string(RFC3339DateTranscoder.format(updatedAt))
        return fields
    }
}
