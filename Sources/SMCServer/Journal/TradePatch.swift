import Foundation
import OpenAPIRuntime
import SMCAPI
import SMCEngine
import SMCSync

/// PATCH of a trade: the stored fields as a `TradeCreate` document, the merge patch applied, the result
/// decoded and checked like a create.
enum TradePatch {
    /// Members a client may read but not write.
    static let readOnly: Set<String> = ["id", "user_id", "pnl", "r_multiple", "outcome", "version", "created_at", "updated_at"]

    static func apply(_ patch: OpenAPIObjectContainer, to current: TradeDraft) throws -> TradeCreate {
        let changes = try JSONDecoder().decode([String: JSONValue].self, from: JSONEncoder().encode(patch))
        var errors: [Problem.FieldError] = []
        for key in changes.keys.sorted() {
            if readOnly.contains(key) {
                errors.append(.init(field: "/" + key, message: "is read-only"))
            } else if !SyncProtocol.tradeFields.contains(key) {
                errors.append(.init(field: "/" + key, message: "is not a field of a trade"))
            }
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        return try decode(JSONValue.object(current.syncFields).merging(.object(changes)))
    }

    /// A `TradeCreate` from a JSON document; a member of the wrong type is a 422 naming it.
    static func decode(_ document: JSONValue) throws -> TradeCreate {
        do {
            return try JSONDecoder().decode(TradeCreate.self, from: JSONEncoder().encode(document))
        } catch let error as DecodingError {
            throw DecodingProblem.body(error)
        }
    }
}

extension TradeDraft {
    /// The draft as `TradeCreate`'s JSON members (dates as RFC 3339 strings; absent optionals left out): what a
    /// merge patch applies to, and a trade's writable fields in sync (each a last-writer-wins register).
    var syncFields: [String: JSONValue] {
        var f: [String: JSONValue] = [
            "symbol": .string(symbol), "direction": .string(direction > 0 ? "long" : "short"), "entry_price": .number(entryPrice),
            "targets": .array(targets.map(JSONValue.number)), "size": .number(size), "fees": .number(fees),
            "entry_time": .string(RFC3339.format(micros: entryTime)), "tags": .array(tags.map(JSONValue.string)),
            "screenshots": .array(screenshots.map(JSONValue.string)),
        ]
        f["stop_price"] = stopPrice.map(JSONValue.number)
        f["exit_price"] = exitPrice.map(JSONValue.number)
        f["exit_time"] = exitTime.map { .string(RFC3339.format(micros: $0)) }
        f["notes"] = notes.map(JSONValue.string)
        f["signal_id"] = signalID.map { .string($0.uuidString.lowercased()) }
        f["setup_type"] = setupType.map(JSONValue.string)
        f["killzone"] = killzone.map(JSONValue.string)
        f["timeframe"] = timeframe.map(JSONValue.string)
        return f
    }

    /// Checks and normalises `TradeCreate`-shaped fields (a sync merge's result) like a create.
    static func checked(_ fields: [String: JSONValue]) throws -> TradeDraft {
        try JournalRules.draft(try TradePatch.decode(.object(fields)))
    }
}

extension RFC3339 {
    /// `2025-03-01T09:30:00.123456Z` (fraction only when there is one).
    static func format(micros: Int64) -> String { CivilTime.rfc3339(micros: micros) }
}
