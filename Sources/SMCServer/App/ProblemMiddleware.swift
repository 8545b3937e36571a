import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenAPIRuntime

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
                    return Problem(.badRequest, detail: httpError.body, status: httpError.status)
                }
                return .internalError
            }
        case let decoding as DecodingError:
            return DecodingProblem.body(decoding)
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
                if [.get, .head, .delete].contains(error.request.method) || error.request.headerFields[.contentLength] == nil
                    && error.request.headerFields[.transferEncoding] == nil
                {
                    return Self.badParameter(decoding, path: error.request.path ?? "")
                }
                return DecodingProblem.body(decoding)
            }
            return .badRequest(error.causeDescription + ": " + "\(error.underlyingError)")
        case 404:
            return .notFound()
        case 406:
            return Problem(.notAcceptable, detail: "\(error.underlyingError)")
        case 422:
            return Problem(.validationFailed, detail: "\(error.underlyingError)")
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
            if let (type, value) = DecodingProblem.invalidEnum(context.debugDescription) {
                candidates = items.filter { $0.value == value }
                expected = DecodingProblem.allowed(type).map { "one of " + $0.joined(separator: ", ") } ?? "one of the values the API lists"
            } else if context.debugDescription.contains("RFC 3339"), let open = context.debugDescription.firstIndex(of: "'"),
                let close = context.debugDescription[context.debugDescription.index(after: open)...].firstIndex(of: "'")
            {
                // Our date transcoder quotes (up to 40 characters of) the text it could not read.
                let shown = String(context.debugDescription[context.debugDescription.index(after: open)..<close])
                candidates = items.filter { ($0.value ?? "").hasPrefix(shown) }
                expected = "an RFC 3339 date-time (e.g. 2025-03-01T09:30:00Z)"
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
}

/// A body that is JSON but not what the operation takes: 422 `validation_failed` naming the field and what it must be
/// (the allowed values of an enum, the JSON type), in words a person can act on — never a Swift type name. Only a body
/// that is not JSON at all is 400 `malformed_json`.
enum DecodingProblem {
    static func body(_ error: DecodingError) -> Problem {
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            if let (type, value) = invalidEnum(context.debugDescription) {
                return .validation([.init(field: "/", message: enumMessage(type, value))])
            }
            return .malformedJSON("the body is not valid JSON")
        case .dataCorrupted(let context):
            let field = pointer(context.codingPath)
            let text = context.debugDescription
            if let (type, value) = invalidEnum(text) {
                return .validation([.init(field: field, message: enumMessage(type, value))])
            }
            if text.hasPrefix("Additional properties are disabled") {
                return .validation([.init(field: field, message: "is not a field of this object")])
            }
            if text.contains("does not fit") || text.contains("out of range") || text.contains("Number") {
                return .validation([.init(field: field, message: "is not a number this field can hold")])
            }
            if text.contains("RFC 3339") || text.contains("ISO8601") {
                return .validation([.init(field: field, message: "must be an RFC 3339 date-time, e.g. 2025-03-01T09:30:00Z")])
            }
            if text.contains("OpenAPIValueContainer") {
                return .validation([.init(field: field, message: "must be a JSON value")])
            }
            return .validation([.init(field: field, message: "has a value this field does not take")])
        case .keyNotFound(let key, let context):
            return .validation([.init(field: pointer(context.codingPath + [key]), message: "is required")])
        case .typeMismatch(let type, let context):
            return .validation([.init(field: pointer(context.codingPath), message: "must be \(jsonType(type))")])
        case .valueNotFound(let type, let context):
            return .validation([.init(field: pointer(context.codingPath), message: "must be \(jsonType(type)), not null")])
        @unknown default:
            return .malformedJSON("the body could not be decoded")
        }
    }

    /// `/entries/0/symbol` from a coding path.
    static func pointer(_ path: [any CodingKey]) -> String {
        let keys = path.map { key in
            JSONPointer.escape(key.intValue.map { "\($0)" } ?? key.stringValue)
        }
        return keys.isEmpty ? "/" : "/" + keys.joined(separator: "/")
    }

    /// `("Timeframe", "15min")` from "Cannot initialize Timeframe from invalid String value 15min".
    static func invalidEnum(_ text: String) -> (type: String, value: String)? {
        guard let start = text.range(of: "Cannot initialize "), let middle = text.range(of: " from invalid ", range: start.upperBound..<text.endIndex)
        else { return nil }
        let type = String(text[start.upperBound..<middle.lowerBound]).split(separator: ".").last.map(String.init) ?? ""
        let rest = text[middle.upperBound...]
        let value = rest.range(of: " value ").map { String(rest[$0.upperBound...]) } ?? ""
        return (type, value)
    }

    static func allowed(_ type: String) -> [String]? { SpecTables.enumValues[type] }

    static func enumMessage(_ type: String, _ value: String) -> String {
        let shown = value.count > 40 ? String(value.prefix(40)) + "…" : value
        guard let values = allowed(type) else { return "\(shown) is not one of the allowed values" }
        return "\(shown) is not allowed; one of \(values.joined(separator: ", "))"
    }

    /// What a Swift type is in JSON's words.
    static func jsonType(_ type: Any.Type) -> String {
        let name = String(describing: type)
        switch name {
        case "Int", "Int64", "Int32", "Int16", "UInt", "UInt64", "UInt32": return "an integer"
        case "Double", "Float", "Decimal": return "a number"
        case "String", "Substring": return "a string"
        case "Bool": return "true or false"
        default:
            if name.hasPrefix("Array") || name.hasPrefix("[") { return "an array" }
            if let values = allowed(name.split(separator: ".").last.map(String.init) ?? name) {
                return "one of " + values.joined(separator: ", ")
            }
            return "an object"
        }
    }
}
