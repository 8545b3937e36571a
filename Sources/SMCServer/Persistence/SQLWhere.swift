import PostgresNIO

/// A WHERE clause built from optional filters, with bound parameters.
struct SQLWhere {
    private(set) var parts: [String] = []
    private(set) var binds = PostgresBindings()

    /// Binds `value` and returns its placeholder.
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    /// A `timestamptz` from microseconds since 1970, exactly.
    mutating func time(_ micros: Int64) -> String {
        "(timestamptz 'epoch' + \(bind(micros))::int8 * interval '1 microsecond')"
    }

    mutating func add(_ clause: String) { parts.append(clause) }

    var clauses: String { parts.joined(separator: " AND ") }

    func query(_ sql: String) -> PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}
