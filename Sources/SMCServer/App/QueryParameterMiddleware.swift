import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenAPIRuntime

/// Refuses query parameters the operation does not take (400 `bad_request` naming them), so that a misspelt filter is
/// not silently ignored; the names come from the spec (`SpecTables`).
struct QueryParameterMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let key = context.operation
        // A write that must say which version it changes: 428, as RFC 6585 has it, rather than the runtime's 400.
        if let key, SpecTables.requiredHeaders[key]?.contains("If-Match") == true, request.headers[.ifMatch] == nil {
            throw Problem(.preconditionRequired,
                detail: "send If-Match with the ETag of the version you changed (GET it first), or If-Match: * to overwrite")
        }
        if let query = request.uri.query, !query.isEmpty, let key, let allowed = SpecTables.queryParameters[key] {
            let names = query.split(separator: "&").map { item in
                let name = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                return String(name).removingPercentEncoding ?? String(name)
            }.filter { !$0.isEmpty }
            let unknown = names.filter { !allowed.contains($0) }
            if !unknown.isEmpty {
                let takes = allowed.isEmpty ? "this operation takes no query parameters" : "it takes \(allowed.sorted().joined(separator: ", "))"
                throw Problem.badRequest(
                    "unknown query parameter\(unknown.count > 1 ? "s" : "") \(unknown.joined(separator: ", ")); \(takes)",
                    fieldErrors: unknown.map { .init(field: $0, message: "is not a query parameter of this operation") })
            }
        }
        return try await next(request, context)
    }
}
