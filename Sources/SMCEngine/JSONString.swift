/// A JSON string literal for `text`, quotes included: the one escaper for everything we write by hand
/// (analyze output here, log lines in the server).
public enum JSONString {
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// A finite number with round-trip digits, else `null`.
    static func number(_ value: Double) -> String {
        value.isFinite ? ReferenceTable.format(value, kind: .float64) : "null"
    }
}
