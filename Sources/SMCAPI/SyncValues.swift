import OpenAPIRuntime
import SMCSync

/// Sync carries field values as free JSON (`fields` of a change, `value` of a field write); these convert the
/// generated containers to and from `JSONValue`, which the merge works on, in one place for server and client.
extension JSONValue {
    /// The value of a generated container's member (`nil` is JSON null).
    public init(any value: (any Sendable)?) {
        switch value {
        case nil: self = .null
        case let v as Bool: self = .bool(v)
        case let v as Int: self = .number(Double(v))
        case let v as Int64: self = .number(Double(v))
        case let v as Double: self = .number(v)
        case let v as String: self = .string(v)
        case let v as [(any Sendable)?]: self = .array(v.map { JSONValue(any: $0) })
        case let v as [String: (any Sendable)?]: self = .object(v.mapValues { JSONValue(any: $0) })
        default: self = .null
        }
    }

    /// The plain value a generated container holds.
    public var anyValue: (any Sendable)? {
        switch self {
        case .null: return nil
        case .bool(let v): return v
        case .number(let v): return v.rounded() == v && abs(v) < 9e15 ? Int(v) as any Sendable : v
        case .string(let v): return v
        case .array(let v): return v.map(\.anyValue)
        case .object(let v): return v.mapValues(\.anyValue)
        }
    }

    public init(_ container: OpenAPIValueContainer?) { self.init(any: container?.value) }

    /// Members of a JSON object.
    public static func members(_ container: OpenAPIObjectContainer?) -> [String: JSONValue] {
        (container?.value ?? [:]).mapValues { JSONValue(any: $0) }
    }

    /// A generated object container of `members` (values that cannot be represented are dropped: none in practice).
    public static func container(_ members: [String: JSONValue]) -> OpenAPIObjectContainer {
        (try? OpenAPIObjectContainer(unvalidatedValue: members.mapValues(\.anyValue))) ?? OpenAPIObjectContainer()
    }

    public var valueContainer: OpenAPIValueContainer? {
        self == .null ? nil : try? OpenAPIValueContainer(unvalidatedValue: anyValue)
    }
}
