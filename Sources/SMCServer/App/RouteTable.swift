import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenAPIRuntime

/// The registered routes by path template, to tell "no such path" (404) from "wrong method" (405).
struct RouteTable: Sendable {
    private var entries: [(template: PathTemplate, methods: Set<String>)] = []

    init(routes: [(path: String, method: String)]) {
        var byPath: [String: Set<String>] = [:]
        for route in routes {
            let path = route.path.hasPrefix("/") ? route.path : "/" + route.path
            byPath[path, default: []].insert(route.method)
        }
        for (path, methods) in byPath {
            var methods = methods
            if methods.contains("GET") { methods.insert("HEAD") }
            entries.append((PathTemplate(path), methods))
        }
    }

    /// The methods allowed on `path`; empty when no route template matches it.
    func methods(forPath path: String) -> [String] {
        let segments = path.split(separator: "/")
        let matching = entries.filter { $0.template.matches(segments) }
        // The path belongs to its most specific templates (`/v1/signals/stats` is not a `/v1/signals/{signal_id}`).
        guard let best = matching.map(\.template.specificity).max() else { return [] }
        var allowed = Set<String>()
        for entry in matching where entry.template.specificity == best { allowed.formUnion(entry.methods) }
        return allowed.sorted()
    }
}
