import Foundation

/// Short forms of ids for people: the shortest prefix that names one id among those known locally.
///
/// UUIDv7 ids begin with their millisecond timestamp (12 hex digits) and, from one generator, a counter, so ids
/// minted together share 13 or more hex digits: a fixed-length prefix is not unique. Each id's prefix is
/// computed against its neighbours in sorted order instead. Hyphens do not count: `0197a3c25e4f` and
/// `0197a3c2-5e4f` name the same id, so a prefix copied from a table works as typed.
public enum IDPrefix {
    /// The shortest prefix printed (8 hex digits: the id's first group).
    public static let minimumShown = 8
    /// The shortest prefix accepted, so that a stray digit cannot name (and delete) an entry by accident.
    public static let minimumAccepted = 4

    /// The hex digits of an id or prefix, lower-cased, hyphens dropped.
    public static func key(_ text: String) -> String {
        String(text.lowercased().filter { $0 != "-" })
    }

    /// Whether `text` can be (the start of) an id: hex digits and hyphens only.
    public static func isPlausible(_ text: String) -> Bool {
        !text.isEmpty && text.allSatisfy { $0 == "-" || $0.isHexDigit }
    }

    /// The shortest unique prefix (at least `minimumShown` hex digits) of each id among `ids`, as printed: the
    /// id's own text up to that many hex digits.
    public static func shortest(_ ids: some Sequence<String>, minimum: Int = minimumShown) -> [String: String] {
        let sorted = Set(ids).map { (id: $0, key: key($0)) }.sorted { $0.key < $1.key }
        var result: [String: String] = [:]
        result.reserveCapacity(sorted.count)
        for (i, entry) in sorted.enumerated() {
            var digits = minimum
            if i > 0 { digits = max(digits, commonLength(entry.key, sorted[i - 1].key) + 1) }
            if i + 1 < sorted.count { digits = max(digits, commonLength(entry.key, sorted[i + 1].key) + 1) }
            result[entry.id] = prefix(of: entry.id, hexDigits: digits)
        }
        return result
    }

    /// `id` up to its `hexDigits`-th hex digit (the whole id when it has fewer).
    static func prefix(of id: String, hexDigits: Int) -> String {
        var count = 0
        var end = id.startIndex
        while end < id.endIndex, count < hexDigits {
            if id[end] != "-" { count += 1 }
            end = id.index(after: end)
        }
        return String(id[..<end])
    }

    private static func commonLength(_ a: String, _ b: String) -> Int {
        zip(a.utf8, b.utf8).prefix { $0 == $1 }.count
    }
}
