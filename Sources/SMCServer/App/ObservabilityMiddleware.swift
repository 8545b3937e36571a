import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenAPIRuntime

/// Outermost: request id (echoed or minted), the task-local scope, one access-log line and the HTTP
/// metrics for every request, whatever it turned into.
struct ObservabilityMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let metrics: HTTPMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let requestID = RequestID.accept(request.headers[.requestID])
        var context = context
        context.requestID = requestID
        context.logger[metadataKey: "request_id"] = .string(requestID)
        context.logger[metadataKey: "hb.request.id"] = nil
        let started = ContinuousClock.now
        let scope = RequestScope(
            requestID: requestID, logger: context.logger, headers: request.headers, clientAddress: context.clientAddress)
        var response: Response
        do {
            response = try await RequestScope.$current.withValue(scope) { try await next(request, context) }
        } catch {
            // ProblemMiddleware turns every error into a response; this is the last resort.
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            response = Problem.internalError.response(path: request.uri.path, requestID: requestID)
        }
        response.headers[.requestID] = requestID
        // The OpenAPI runtime serialises header parameters URI-style, turning the quotes every ETag must
        // have (RFC 9110) into %22; send them as written.
        if let etag = response.headers[.eTag], etag.contains("%"), let decoded = etag.removingPercentEncoding {
            response.headers[.eTag] = decoded
        }
        let elapsed = ContinuousClock.now - started
        let route = context.endpointPath.flatMap { $0 == "NotFound" ? nil : $0 } ?? "unmatched"
        metrics.record(method: request.method.rawValue, route: route, status: Int(response.status.code), duration: elapsed)
        let level: Logger.Level = response.status.code >= 500 ? .error : .info
        context.logger.log(
            level: level, "request",
            metadata: [
                "method": .string(request.method.rawValue),
                "path": .string(Redaction.redact(request.uri.path)),
                "route": .string(route),
                "status": .stringConvertible(response.status.code),
                "duration_ms": .string(String(format: "%.2f", elapsed.milliseconds)),
            ])
        return response
    }
}
