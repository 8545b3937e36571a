/// A route's path template (`/v1/signals/{id}`, `/v1/signals/:id`, `/v1/charts/{id}.png`, `*`), matched segment by
/// segment: a placeholder matches any one segment; a placeholder with a fixed part before or after it
/// (`{id}.png`, `file-{n}`, `*.png`) matches a segment with that prefix and suffix and at least one character
/// between them, as Hummingbird's router does. The spec's operations (`SpecOperations`) and the router's routes
/// (`RouteTable`) both match request paths with it. Where several match (`/v1/signals/stats` and
/// `/v1/signals/{signal_id}`), the most specific is the path's, as the router decides (`specificity`).
struct PathTemplate: Sendable, Equatable {
    enum Segment: Sendable, Equatable {
        case literal(Substring)
        /// A placeholder (or `*`) between a fixed prefix and suffix (either may be empty).
        case placeholder(prefix: Substring, suffix: Substring)

        init(_ text: Substring) {
            if text == "*" || (text.hasPrefix(":") && text.count > 1) {
                self = .placeholder(prefix: "", suffix: "")
            } else if let open = text.firstIndex(of: "{"), let close = text[open...].firstIndex(of: "}"), close > text.index(after: open) {
                self = .placeholder(prefix: text[..<open], suffix: text[text.index(after: close)...])
            } else if text.hasPrefix("*") {
                self = .placeholder(prefix: "", suffix: text.dropFirst())
            } else if text.hasSuffix("*") {
                self = .placeholder(prefix: text.dropLast(), suffix: "")
            } else {
                self = .literal(text)
            }
        }

        func matches(_ actual: Substring) -> Bool {
            switch self {
            case .literal(let text):
                return text == actual
            case .placeholder(let prefix, let suffix):
                if prefix.isEmpty && suffix.isEmpty { return true }
                return actual.count > prefix.count + suffix.count && actual.hasPrefix(prefix) && actual.hasSuffix(suffix)
            }
        }
    }

    let segments: [Segment]

    init(_ path: String) {
        segments = path.split(separator: "/").map(Segment.init)
    }

    /// Of two templates matching a path, the higher is the path's: a literal segment counts 2, a placeholder with a
    /// fixed part (`{id}.png`) 1, a bare placeholder 0.
    var specificity: Int {
        segments.reduce(0) { total, segment in
            switch segment {
            case .literal: total + 2
            case .placeholder(let prefix, let suffix): total + (prefix.isEmpty && suffix.isEmpty ? 0 : 1)
            }
        }
    }

    func matches(_ path: [Substring]) -> Bool {
        segments.count == path.count && zip(segments, path).allSatisfy { template, actual in template.matches(actual) }
    }
}
