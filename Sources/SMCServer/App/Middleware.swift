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
                "path": .string(request.uri.path),
                "route": .string(route),
                "status": .stringConvertible(response.status.code),
                "duration_ms": .string(String(format: "%.2f", elapsed.milliseconds)),
            ])
        return response
    }
}

/// Turns every error into an RFC 9457 problem response with a stable code; nothing leaks as a bare 500.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let routes: RouteTable
    let bodyLimit: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let problem = classify(error, request: request, context: context)
            // Never log a ServerError whole: its description carries the request's headers (bearer tokens).
            var metadata: Logger.Metadata = ["code": .string(problem.code)]
            if let serverError = error as? ServerError {
                metadata["operation"] = .string(serverError.operationID)
                metadata["error"] = .string(String(reflecting: serverError.underlyingError))
            } else {
                metadata["error"] = .string(String(reflecting: error))
            }
            context.logger.log(level: problem.status.code >= 500 ? .error : .debug, "request failed", metadata: metadata)
            return problem.response(path: request.uri.path, requestID: context.requestID)
        }
    }

    func classify(_ error: any Error, request: Request, context: Context) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let serverError as ServerError:
            if let problem = serverError.underlyingError as? Problem { return problem }
            return classifyOpenAPI(serverError)
        case let httpError as HTTPError:
            switch httpError.status {
            case .notFound:
                let allowed = routes.methods(forPath: request.uri.path)
                if !allowed.isEmpty, !allowed.contains(request.method.rawValue) {
                    return .methodNotAllowed(request.method.rawValue, allowed: allowed)
                }
                return .notFound("no route for \(request.method.rawValue) \(request.uri.path)")
            case .contentTooLarge:
                return .payloadTooLarge(limit: bodyLimit)
            case .unsupportedMediaType:
                return .unsupportedMediaType(httpError.body ?? "unsupported Content-Type")
            default:
                if httpError.status.code < 500 {
                    return Problem(httpError.status, code: "bad_request", detail: httpError.body)
                }
                return .internalError
            }
        case let decoding as DecodingError:
            return .malformedJSON(Self.describe(decoding))
        default:
            return .internalError
        }
    }

    /// The OpenAPI runtime's own errors (bad content type, undecodable body, missing parameter…).
    func classifyOpenAPI(_ error: ServerError) -> Problem {
        let status = error.httpStatus
        switch status.code {
        case 415:
            return .unsupportedMediaType(
                "this operation takes a different Content-Type (\(error.request.headerFields[.contentType] ?? "none") was sent)")
        case 400:
            if let decoding = Self.decodingError(in: error.underlyingError) {
                // Requests without a body can only have failed on a parameter (the runtime decodes query items with
                // the same machinery as bodies, and says neither which nor where).
                if [.get, .head, .delete].contains(error.request.method) {
                    return Self.badParameter(decoding, path: error.request.path ?? "")
                }
                return .malformedJSON(Self.describe(decoding))
            }
            return .badRequest(error.causeDescription + ": " + "\(error.underlyingError)")
        case 404:
            return .notFound()
        case 406:
            return Problem(.notAcceptable, code: "not_acceptable", detail: "\(error.underlyingError)")
        case 422:
            return Problem(.unprocessableContent, code: "unprocessable_content", detail: "\(error.underlyingError)")
        default:
            return .internalError
        }
    }

    /// 400 `bad_request` for a query parameter of the wrong type or value, naming it when the error allows: an
    /// enum value by the value quoted in the error, a number by being the only item that is not one.
    static func badParameter(_ error: DecodingError, path: String) -> Problem {
        let items = URLComponents(string: path)?.queryItems ?? []
        var expected = "a valid value"
        var candidates: [URLQueryItem] = []
        switch error {
        case .typeMismatch(let type, _):
            expected = type == Int.self ? "an integer" : (type == Double.self ? "a number" : "a \(type)")
            candidates = items.filter { item in
                guard let value = item.value else { return true }
                return type == Int.self ? Int(value) == nil : (type == Double.self ? Double(value) == nil : false)
            }
        case .dataCorrupted(let context):
            if let range = context.debugDescription.range(of: "from invalid String value ") {
                let value = String(context.debugDescription[range.upperBound...])
                candidates = items.filter { $0.value == value }
                expected = "one of the values the API lists"
            }
        default:
            break
        }
        guard candidates.count == 1, let name = candidates.first?.name else {
            return .badRequest("a query parameter has the wrong type or value (\(expected) was expected)")
        }
        return .badRequest(
            "the query parameter \(name) must be \(expected)", fieldErrors: [.init(field: name, message: "must be \(expected)")])
    }

    /// The runtime wraps body decoding failures in an internal error type; find the `DecodingError` inside.
    static func decodingError(in error: any Error) -> DecodingError? {
        if let decoding = error as? DecodingError { return decoding }
        for child in Mirror(reflecting: error).children {
            if let decoding = child.value as? DecodingError { return decoding }
            if let nested = child.value as? (any Error), let found = decodingError(in: nested) { return found }
        }
        return nil
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "\($0)" } ?? $0.stringValue }
            return keys.isEmpty ? "the body" : "/" + keys.joined(separator: "/")
        }
        switch error {
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "the body is not valid JSON" }
            return "\(path(context)): \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "\(parent == "the body" ? "" : parent + "/")\(key.stringValue) is required"
        case .typeMismatch(let type, let context):
            return "\(path(context)) has the wrong type (expected \(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context)) must not be null (expected \(type))"
        @unknown default:
            return "the body could not be decoded"
        }
    }
}

/// Refuses bodies over the limit before any handler reads them: by `Content-Length` at once, and for
/// chunked bodies while collecting.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let limit: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw Problem.payloadTooLarge(limit: limit)
        }
        var request = request
        if request.method != .get, request.method != .head {
            do {
                let body = try await request.collectBody(upTo: limit)
                if body.readableBytes > 0, request.headers[.contentType] == nil {
                    throw Problem.unsupportedMediaType("a request body needs a Content-Type (application/json)")
                }
                // JSON is UTF-8 (RFC 8259); some decoders would quietly repair broken bytes instead of refusing them.
                if let type = request.headers[.contentType]?.lowercased(), type.contains("json"),
                    body.readableBytesView.withContiguousStorageIfAvailable({ String(validating: $0, as: UTF8.self) == nil }) ?? false
                {
                    throw Problem.malformedJSON("the body is not valid UTF-8")
                }
            } catch let error as HTTPError where error.status == .contentTooLarge {
                throw Problem.payloadTooLarge(limit: limit)
            } catch is NIOTooManyBytesError {
                throw Problem.payloadTooLarge(limit: limit)
            }
        }
        return try await next(request, context)
    }
}

/// The registered routes by path template, to tell "no such path" (404) from "wrong method" (405).
struct RouteTable: Sendable {
    private var entries: [(segments: [Substring], methods: Set<String>)] = []

    init(routes: [(path: String, method: String)]) {
        var byPath: [String: Set<String>] = [:]
        for route in routes {
            let path = route.path.hasPrefix("/") ? route.path : "/" + route.path
            byPath[path, default: []].insert(route.method)
        }
        for (path, methods) in byPath {
            var methods = methods
            if methods.contains("GET") { methods.insert("HEAD") }
            entries.append((path.split(separator: "/"), methods))
        }
    }

    /// The methods allowed on `path`; empty when no route template matches it.
    func methods(forPath path: String) -> [String] {
        let segments = path.split(separator: "/")
        var allowed = Set<String>()
        for entry in entries where entry.segments.count == segments.count {
            let matches = zip(entry.segments, segments).allSatisfy { template, actual in
                template == actual || template.hasPrefix(":") || template.hasPrefix("{") || template == "*"
            }
            if matches { allowed.formUnion(entry.methods) }
        }
        return allowed.sorted()
    }
}

extension Duration {
    var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}
