import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenAPIRuntime

/// Finds the spec operation a request is for, once, for the middleware after it (`context.operation`); and answers
/// 401 to a request for an operation that needs credentials and carries none, before anything reads its body, so a
/// stranger learns nothing about the body rules (and gets the answer that matters).
struct SpecOperationMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.operation = SpecOperations.shared.match(method: request.method.rawValue, path: request.uri.path)
        if request.headers[.authorization] == nil, let key = context.operation, !SpecTables.publicOperations.contains(key) {
            throw Problem.unauthenticated("send Authorization: Bearer <token> (a device token from sign-in, or an API key)")
        }
        return try await next(request, context)
    }
}

/// The spec's operations by `METHOD /path/{template}`, matched against a request's method and path.
struct SpecOperations: Sendable {
    static let shared = SpecOperations()
    private let operations: [(key: String, method: String, template: PathTemplate)]

    init() {
        // The most specific template first, so that a literal segment wins over a placeholder.
        operations = SpecTables.queryParameters.keys.map { key in
            let parts = key.split(separator: " ", maxSplits: 1)
            return (key, String(parts[0]), PathTemplate(String(parts[1])))
        }.sorted { ($0.template.specificity, $1.key) > ($1.template.specificity, $0.key) }
    }

    /// The key of the operation at `method` `path` (HEAD as GET); nil when none matches.
    func match(method: String, path: String) -> String? {
        let method = method == "HEAD" ? "GET" : method
        let segments = path.split(separator: "/")
        return operations.first { $0.method == method && $0.template.matches(segments) }?.key
    }
}

/// RFC 6901 JSON pointers, as every problem names a field.
enum JSONPointer {
    /// A member name as one pointer segment: `~` → `~0`, `/` → `~1`.
    static func escape(_ name: String) -> String {
        name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}
