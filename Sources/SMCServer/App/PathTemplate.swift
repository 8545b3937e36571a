/// A route's path template (`/v1/signals/{id}`, `/v1/signals/:id`, `*`), matched segment by segment: a placeholder
/// matches any one segment. The spec's operations (`SpecOperations`) and the router's routes (`RouteTable`) both match
/// request paths with it. Where several match (`/v1/signals/stats` and `/v1/signals/{signal_id}`), the one with more
/// literal segments is the path's, as the router decides.
struct PathTemplate: Sendable, Equatable {
    let segments: [Substring]

    init(_ path: String) {
        segments = path.split(separator: "/")
    }

    /// How many segments are literal: of two templates matching a path, the higher is the path's.
    var specificity: Int { segments.filter { !Self.isPlaceholder($0) }.count }

    private static func isPlaceholder(_ segment: Substring) -> Bool {
        segment.hasPrefix(":") || (segment.hasPrefix("{") && segment.hasSuffix("}")) || segment == "*"
    }

    func matches(_ path: [Substring]) -> Bool {
        segments.count == path.count && zip(segments, path).allSatisfy { template, actual in
            template == actual || Self.isPlaceholder(template)
        }
    }
}
