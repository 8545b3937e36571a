/// Splits a migration file into the statements PostgreSQL's extended protocol can run one at a time.
///
/// postgres-nio speaks only the extended query protocol, which takes one statement per query, while a
/// migration file holds many. The splitter understands what can hide a `;`: single-quoted strings
/// (with `''` and, for `E'…'`, backslash escapes), quoted identifiers, dollar-quoted bodies (`$$…$$`,
/// `$tag$…$tag$`), line comments and nested block comments.
public enum SQLScript {
    /// The statements of `sql`, trimmed, without empty ones; each keeps its comments.
    public static func statements(_ sql: String) -> [String] {
        let chars = Array(sql.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var hasCode = false  // anything but whitespace and comments since the last `;`
        var i = 0
        func flush() {
            let text = String(current).trimmingWhitespace()
            if hasCode, !text.isEmpty { statements.append(text) }
            current = String.UnicodeScalarView()
            hasCode = false
        }
        func append(_ from: Int, _ to: Int) {  // [from, to)
            current.append(contentsOf: chars[from..<min(to, chars.count)])
        }
        while i < chars.count {
            let c = chars[i]
            let next: Unicode.Scalar? = i + 1 < chars.count ? chars[i + 1] : nil
            switch c {
            case "-" where next == "-":
                var j = i
                while j < chars.count, chars[j] != "\n" { j += 1 }
                append(i, j)
                i = j
            case "/" where next == "*":
                var depth = 0
                var j = i
                while j < chars.count {
                    if chars[j] == "/", j + 1 < chars.count, chars[j + 1] == "*" {
                        depth += 1
                        j += 2
                    } else if chars[j] == "*", j + 1 < chars.count, chars[j + 1] == "/" {
                        depth -= 1
                        j += 2
                        if depth == 0 { break }
                    } else {
                        j += 1
                    }
                }
                append(i, j)
                i = j
            case "'":
                // E'…' strings also escape with backslashes.
                let escapes = i > 0 && (chars[i - 1] == "E" || chars[i - 1] == "e") && !isIdentifierChar(at: i - 2, chars)
                let end = quotedEnd(chars, from: i, quote: "'", backslashEscapes: escapes)
                append(i, end)
                hasCode = true
                i = end
            case "\"":
                let end = quotedEnd(chars, from: i, quote: "\"", backslashEscapes: false)
                append(i, end)
                hasCode = true
                i = end
            case "$" where !isIdentifierChar(at: i - 1, chars):
                // A dollar quote opens with $tag$ where tag is empty or an identifier; `$1` is a parameter.
                var j = i + 1
                while j < chars.count, isTagChar(chars[j], first: j == i + 1) { j += 1 }
                if j < chars.count, chars[j] == "$" {
                    let tag = Array(chars[i...j])
                    var k = j + 1
                    var end = chars.count
                    while k + tag.count <= chars.count {
                        if chars[k] == "$", Array(chars[k..<(k + tag.count)]) == tag {
                            end = k + tag.count
                            break
                        }
                        k += 1
                    }
                    append(i, end)
                    hasCode = true
                    i = end
                } else {
                    append(i, i + 1)
                    hasCode = true
                    i += 1
                }
            case ";":
                flush()
                i += 1
            default:
                current.append(c)
                if !c.properties.isWhitespace { hasCode = true }
                i += 1
            }
        }
        flush()
        return statements
    }

    /// The index just past the literal that opens at `start` with `quote`, where a doubled quote stands
    /// for itself (and, if asked, a backslash escapes the next character).
    private static func quotedEnd(_ chars: [Unicode.Scalar], from start: Int, quote: Unicode.Scalar, backslashEscapes: Bool) -> Int {
        var j = start + 1
        while j < chars.count {
            if backslashEscapes, chars[j] == "\\" {
                j += 2
                continue
            }
            if chars[j] == quote {
                if j + 1 < chars.count, chars[j + 1] == quote {
                    j += 2
                    continue
                }
                return j + 1
            }
            j += 1
        }
        return chars.count
    }

    private static func isIdentifierChar(at index: Int, _ chars: [Unicode.Scalar]) -> Bool {
        guard index >= 0, index < chars.count else { return false }
        let c = chars[index]
        return c == "_" || c == "$" || c.properties.isAlphabetic || ("0"..."9").contains(c)
    }

    private static func isTagChar(_ c: Unicode.Scalar, first: Bool) -> Bool {
        if c == "_" || c.properties.isAlphabetic { return true }
        return !first && ("0"..."9").contains(c)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[start...end])
    }
}
