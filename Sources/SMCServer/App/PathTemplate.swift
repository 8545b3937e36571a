/// A route's path template (`/v1/signals/{id}`, `/v1/signals/:id`, `*`), matched segment by segment: a placeholder
/// matches any one segment. The spec's operations (`SpecOperations`) and the router's routes (`RouteTable`) both match
/// request paths with it.
struct PathTemplate: Sendable, Equatable {
    let segments: [Substring]

    init(_ path: String) {
        segments = path.split(separator: "/")
    }

    func matches(_ path: [Substring]) -> Bool {
        segments.count == path.count && zip(segments, path).allSatisfy { template, actual in
            template == actual || template.hasPrefix(":") || (template.hasPrefix("{") && template.hasSuffix("}")) || template == "*"
        }
    }
}
