import Foundation
import Logging
import PostgresNIO
import SMCSync

/// A filter's value for a cursor scope ("" when absent).
func scopeText<Value>(_ value: Value?) -> String {
    value.map { "\($0)" } ?? ""
}

/// Who reads signals: a signed-in device, or a machine key with the `signals_read` scope.
struct SignalReader: Sendable, Equatable {
    var tenantID: UUID
    var userID: UUID
    /// Machine keys are held to the plan's request budget here (device tokens are, when they authenticate).
    var viaAPIKey: Bool
}

struct SignalFilters: Sendable, Equatable {
    var symbol: String?
    var timeframe: String?
    var direction: Int?
    var minConfidence: Double?
    var since: Int64?
    var until: Int64?
    /// `open`, `target`, `stop`, `expired`.
    var outcome: String?
    /// `order_block`, `fair_value_gap`.
    var setupType: String?
    /// `HIGH`, `MEDIUM`, `LOW`, `NEUTRAL`.
    var level: String?
    /// A killzone's name, matched without regard to case.
    var killzone: String?
    var limit = 50
    var cursor: String?

    /// What a cursor is bound to: the filters (not the page size, which may change from page to page).
    var scope: String {
        let parts: [String] = [
            "signals", scopeText(symbol), scopeText(timeframe), scopeText(direction), scopeText(minConfidence),
            scopeText(since), scopeText(until), scopeText(outcome), scopeText(setupType), scopeText(level),
            scopeText(killzone?.lowercased()),
        ]
        return parts.joined(separator: "|")
    }
}

struct SignalOutcomeRecord: Sendable, Equatable {
    var kind: String
    var time: Date
    var r: Double?
    var exitPrice: Double?
}

/// An annotation's values: as sync fields (`note` absent when there is none) and back, checked.
struct AnnotationValues: Sendable, Equatable {
    var note: String?
    var tags: [String]
    var taken: Bool

    var fields: [String: JSONValue] {
        var f: [String: JSONValue] = ["tags": .array(tags.map(JSONValue.string)), "taken": .bool(taken)]
        f["note"] = note.map(JSONValue.string)
        return f
    }

    /// The values of merged fields; 422 naming the field when one is not acceptable. Absent fields take their
    /// defaults (no note, no tags, not taken), so a cleared annotation is a write of every field.
    static func checked(_ fields: [String: JSONValue]) throws -> AnnotationValues {
        var p = FieldErrors()
        var values = AnnotationValues(note: nil, tags: [], taken: false)
        switch fields["note"] ?? .null {
        case .null: break
        case .string(let text):
            p.check(text.count <= 10_000, "/note", "must be at most 10000 characters")
            p.check(!text.contains("\u{0}"), "/note", "must not contain the NUL character (U+0000)")
            values.note = text.isEmpty ? nil : text
        default: p.check(false, "/note", "must be a string")
        }
        switch fields["tags"] ?? .null {
        case .null: break
        case .array(let items):
            let texts = items.compactMap { if case .string(let t) = $0 { t } else { nil } }
            p.check(texts.count == items.count, "/tags", "must be an array of strings")
            values.tags = JournalRules.tags(texts, into: &p)
        default: p.check(false, "/tags", "must be an array of strings")
        }
        switch fields["taken"] ?? .null {
        case .null: break
        case .bool(let taken): values.taken = taken
        default: p.check(false, "/taken", "must be true or false")
        }
        try p.throwIfAny()
        return values
    }
}

struct AnnotationRecord: Sendable, Equatable {
    var note: String?
    var tags: [String]
    var taken: Bool
    var updatedAt: Date
}

/// The engine's `Signal` as the pipeline stores it in `signals.detail` (JSONEncoder, snake_case keys), read
/// leniently: a field the engine stops writing leaves a gap in the detail, not an error.
struct EngineSignalDetail: Sendable, Decodable, Equatable {
    struct Zone: Sendable, Decodable, Equatable {
        var kind: String?
        var direction: Int?
        var top: Double?
        var bottom: Double?
        var time: Int64?
        var formedIndex: Int?
        var formedTime: Int64?
    }
    struct Setup: Sendable, Decodable, Equatable {
        var zone: Zone?
    }
    struct Vote: Sendable, Decodable, Equatable {
        var member: String
        var vote: Double
        var weight: Double
        var gate: Double
        var abstained: Bool
        var reason: String
    }
    struct Bias: Sendable, Decodable, Equatable {
        var timeframe: String
        var score: Double
        var level: String
    }
    var setup: Setup?
    var votes: [Vote]?
    var biases: [Bias]?

    static func decode(_ json: String) -> EngineSignalDetail? {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try? decoder.decode(EngineSignalDetail.self, from: Data(json.utf8))
    }
}

struct SignalRecord: Sendable {
    var id: UUID
    var symbol: String
    var timeframe: String
    var direction: Int
    var setupType: String
    var confidence: Double
    var level: String
    var candleTime: Date
    var closeTime: Date
    var entry: Double
    var stop: Double
    var targets: [Double]
    var rewardRisk: Double
    var regime: String?
    var killzone: String?
    var confluence: Double
    /// The symbol's costs in R as issued.
    var costR: Double
    var outcome: SignalOutcomeRecord?
    var annotation: AnnotationRecord?
    /// The page position of this row (candle time in microseconds).
    var candleMicros: Int64
    /// Only read for the detail view.
    var detail: EngineSignalDetail?
    /// How people read its prices: the symbol's tick (`SymbolRegistry`), set by `SignalsService.withTicks`.
    var format = PriceFormat.fallback
}

struct SignalPageRecord: Sendable {
    var signals: [SignalRecord]
    var nextCursor: String?
}

/// Reads the tenant's signals (never writes them: the pipeline does) and keeps the user's annotations on them.
///
/// A signal issued longer ago than the plan's `history_days` (by `created_at`: a backfill of old candles issues new signals) is invisible: not listed, 404 by id, not
/// annotatable, as if it did not exist.
struct SignalsService: Sendable {
    let database: Database
    let plans: PlansService
    let rateLimiter: RateLimiter
    var logger: Logger { database.logger }
    var store: SignalStore { SignalStore(logger: logger) }

    /// The plan's horizon for `tenant`, after charging a machine key's request to the plan's budget.
    private func historyDays(_ reader: SignalReader, _ connection: PostgresConnection) async throws -> Int {
        let plan = try await plans.plan(forTenant: reader.tenantID, connection)
        if reader.viaAPIKey { try rateLimiter.admit(tenant: reader.tenantID, limit: plan.apiRequestsPerMinute) }
        return plan.historyDays
    }

    /// Sets each record's price format from the registry (one query for the symbols among them).
    static func withTicks(_ records: [SignalRecord], _ connection: PostgresConnection, logger: Logger) async throws
        -> [SignalRecord]
    {
        guard !records.isEmpty else { return records }
        let specs = try await SymbolRegistry.specs(Array(Set(records.map(\.symbol))), connection, logger: logger)
        return records.map { record in
            var record = record
            if let spec = specs[record.symbol] { record.format = PriceFormat(decimals: spec.priceDecimals) }
            return record
        }
    }

    func list(_ reader: SignalReader, _ filters: SignalFilters) async throws -> SignalPageRecord {
        let after = try filters.cursor.map { try PageCursor.decode($0, scope: filters.scope) }
        return try await database.withTenant(reader.tenantID, readOnly: true) { connection in
            let days = try await historyDays(reader, connection)
            var signals = try await store.page(reader.tenantID, visibleDays: days, filters, after: after, connection)
            var next: String?
            if signals.count > filters.limit {
                signals.removeLast()
                next = signals.last.map { PageCursor(micros: $0.candleMicros, id: $0.id).encoded(scope: filters.scope) }
            }
            return SignalPageRecord(signals: try await Self.withTicks(signals, connection, logger: logger), nextCursor: next)
        }
    }

    /// The track record over the visible signals matching `filters` (one snapshot).
    func stats(_ reader: SignalReader, _ filters: SignalFilters) async throws -> SignalStatsRecord {
        try await database.withTenant(reader.tenantID, isolation: .repeatableRead, readOnly: true) { connection in
            let days = try await historyDays(reader, connection)
            return try await store.stats(reader.tenantID, visibleDays: days, filters, connection)
        }
    }

    func detail(_ reader: SignalReader, id: UUID) async throws -> SignalRecord {
        try await database.withTenant(reader.tenantID, readOnly: true) { connection in
            let days = try await historyDays(reader, connection)
            guard let signal = try await store.detail(reader.tenantID, id, visibleDays: days, connection) else {
                throw Problem.notFound("no such signal")
            }
            return try await Self.withTicks([signal], connection, logger: logger)[0]
        }
    }

    /// Upserts the annotation: members given replace the stored ones, the others keep their value.
    func annotate(_ principal: Principal, id: UUID, note: String?, tags: [String]?, taken: Bool?) async throws -> AnnotationRecord {
        var problems = FieldErrors()
        if let note {
            problems.check(note.unicodeScalars.count <= 10_000, "/note", "must be at most 10000 characters")
            problems.check(!note.contains("\u{0}"), "/note", "must not contain the NUL character (U+0000)")
        }
        // An empty note removes the note; an absent one keeps it.
        let newNote = note.flatMap { $0.isEmpty ? nil : $0 }
        let cleanTags = tags.map { JournalRules.tags($0, into: &problems) }
        try problems.throwIfAny()
        return try await database.withTenant(principal.tenantID) { connection in
            let days = try await plans.plan(forTenant: principal.tenantID, connection).historyDays
            let visible = try await store.isVisible(principal.tenantID, id, visibleDays: days, connection)
            guard visible else { throw Problem.notFound("no such signal") }
            var writes: [String: FieldWrite] = [:]
            let stamp = ServerClock.shared.tick()
            if note != nil { writes["note"] = FieldWrite(value: newNote.map(JSONValue.string) ?? .null, hlc: stamp) }
            if let cleanTags { writes["tags"] = FieldWrite(value: .array(cleanTags.map(JSONValue.string)), hlc: stamp) }
            if let taken { writes["taken"] = FieldWrite(value: .bool(taken), hlc: stamp) }
            return try await store.mergeAnnotation(principal.tenantID, id, writes, connection).record
        }
    }

}
