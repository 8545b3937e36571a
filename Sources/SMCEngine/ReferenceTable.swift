/// A detector's output laid out as the reference `smartmoneyconcepts` returns it: named columns in the
/// reference's order, one row per candle. This is what conformance tests compare and what `smc-client analyze`
/// prints.
public struct ReferenceTable: Sendable, Hashable {
    /// How the reference stores a column; decides how a value is printed.
    public enum Kind: Sendable, Hashable {
        /// 64-bit float; NaN prints as an empty cell.
        case float64
        /// 32-bit float (the value is exactly a `Float`); printed with `Float`'s shortest round-trip digits.
        case float32
        /// Integer column (never NaN).
        case integer
    }

    public struct Column: Sendable, Hashable {
        public var name: String
        public var kind: Kind
        public var values: [Double]

        public init(name: String, kind: Kind, values: [Double]) {
            self.name = name
            self.kind = kind
            self.values = values
        }
    }

    public var columns: [Column]

    public init(columns: [Column]) {
        precondition(Set(columns.map(\.values.count)).count <= 1, "all columns must have the same length")
        self.columns = columns
    }

    public var rowCount: Int { columns.first?.values.count ?? 0 }
    public var columnNames: [String] { columns.map(\.name) }

    public func column(named name: String) -> Column? { columns.first { $0.name == name } }

    /// The text of one cell as pandas' `to_csv` writes it: empty for NaN, `1.0` for whole floats, digits that
    /// round-trip.
    public func cell(row: Int, column: Int) -> String {
        let c = columns[column]
        return Self.format(c.values[row], kind: c.kind)
    }

    public static func format(_ value: Double, kind: Kind) -> String {
        if value.isNaN { return "" }
        switch kind {
        case .integer:
            return String(Int64(value))
        case .float32:
            return pythonStyle(Float(value).description)
        case .float64:
            return pythonStyle(value.description)
        }
    }

    /// Swift and Python both print the shortest round-trip digits; only the spelling of infinities and of
    /// exponents differs.
    private static func pythonStyle(_ text: String) -> String {
        switch text {
        case "inf", "+inf": return "inf"
        case "-inf": return "-inf"
        default: return text
        }
    }

    /// The whole table as CSV: a header line, then one line per candle, no index column (as the reference's
    /// fixtures were written with `index=False`).
    public func csv(lineTerminator: String = "\n") -> String {
        var out = columnNames.joined(separator: ",") + lineTerminator
        out.reserveCapacity(rowCount * columns.count * 8)
        for row in 0..<rowCount {
            for column in columns.indices {
                if column > 0 { out += "," }
                out += cell(row: row, column: column)
            }
            out += lineTerminator
        }
        return out
    }
}

/// Results that can be shown as the reference's table.
public protocol ReferenceTableConvertible: Sendable {
    var referenceTable: ReferenceTable { get }
}

extension Double {
    /// The value as the reference stores it in a float32 array (rounded to nearest `Float`).
    @inline(__always)
    var float32Rounded: Double { Double(Float(self)) }
}
