import Foundation
import OpenAPIRuntime
import SMCAPI
import SMCEngine

/// A JSON value, for applying merge patches without losing a number's exact value or a boolean's type.
indirect enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// RFC 7386: objects merge member by member, `null` removes, anything else replaces.
    func merging(_ patch: JSONValue) -> JSONValue {
        guard case .object(let changes) = patch else { return patch }
        var result: [String: JSONValue]
        if case .object(let current) = self { result = current } else { result = [:] }
        for (key, value) in changes {
            if value == .null {
                result.removeValue(forKey: key)
            } else {
                result[key] = (result[key] ?? .null).merging(value)
            }
        }
        return .object(result)
    }
}

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
            } else if Stored.Keys(rawValue: key) == nil {
                errors.append(.init(field: "/" + key, message: "is not a field of a trade"))
            }
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        let document = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(Stored(current)))
        let merged = document.merging(.object(changes))
        do {
            return try JSONDecoder().decode(TradeCreate.self, from: JSONEncoder().encode(merged))
        } catch let error as DecodingError {
            throw Problem.validation([.init(field: field(of: error), message: ProblemMiddleware.describe(error))])
        }
    }

    private static func field(of error: DecodingError) -> String {
        let context: DecodingError.Context
        switch error {
        case .dataCorrupted(let c), .typeMismatch(_, let c), .valueNotFound(_, let c): context = c
        case .keyNotFound(let key, let c):
            return "/" + (c.codingPath + [key]).map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: "/")
        @unknown default: return "body"
        }
        let path = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
        return path.isEmpty ? "body" : "/" + path.joined(separator: "/")
    }

    /// The stored draft in `TradeCreate`'s JSON shape (dates as RFC 3339 strings).
    private struct Stored: Encodable {
        let draft: TradeDraft
        init(_ draft: TradeDraft) { self.draft = draft }

        enum Keys: String, CodingKey, CaseIterable {
            case symbol, direction, entry_price, stop_price, targets, size, fees, entry_time, exit_price, exit_time, notes, tags,
                screenshots, signal_id, setup_type, killzone, timeframe
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(draft.symbol, forKey: .symbol)
            try c.encode(draft.direction > 0 ? "long" : "short", forKey: .direction)
            try c.encode(draft.entryPrice, forKey: .entry_price)
            try c.encodeIfPresent(draft.stopPrice, forKey: .stop_price)
            try c.encode(draft.targets, forKey: .targets)
            try c.encode(draft.size, forKey: .size)
            try c.encode(draft.fees, forKey: .fees)
            try c.encode(RFC3339.format(micros: draft.entryTime), forKey: .entry_time)
            try c.encodeIfPresent(draft.exitPrice, forKey: .exit_price)
            try c.encodeIfPresent(draft.exitTime.map(RFC3339.format(micros:)), forKey: .exit_time)
            try c.encodeIfPresent(draft.notes, forKey: .notes)
            try c.encode(draft.tags, forKey: .tags)
            try c.encode(draft.screenshots, forKey: .screenshots)
            try c.encodeIfPresent(draft.signalID?.uuidString.lowercased(), forKey: .signal_id)
            try c.encodeIfPresent(draft.setupType, forKey: .setup_type)
            try c.encodeIfPresent(draft.killzone, forKey: .killzone)
            try c.encodeIfPresent(draft.timeframe, forKey: .timeframe)
        }
    }
}

extension RFC3339 {
    /// `2025-03-01T09:30:00.123456Z` (fraction only when there is one).
    static func format(micros: Int64) -> String {
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = micros - seconds * 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let inDay = seconds - days * 86_400
        let (y, m, d) = CivilTime.date(days: days)
        var text = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, Int(inDay / 3600), Int(inDay % 3600 / 60), Int(inDay % 60))
        if fraction != 0 { text += String(format: ".%06d", Int(fraction)) }
        return text + "Z"
    }
}
