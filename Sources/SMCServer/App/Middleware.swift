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
                // An operation whose body is optional, called without one: the same as `{}` (the OpenAPI runtime would
                // otherwise try to decode the empty body as JSON and fail).
                if body.readableBytes == 0, request.headers[.contentType] == nil, let key = context.operation,
                    SpecTables.optionalRequestBodies.contains(key)
                {
                    var head = request.head
                    head.headerFields[.contentType] = "application/json"
                    request = Request(head: head, body: RequestBody(buffer: ByteBuffer(string: "{}")))
                }
                if body.readableBytes > 0, request.headers[.contentType] == nil {
                    throw Problem.unsupportedMediaType("a request body needs a Content-Type (application/json)")
                }
                // JSON is UTF-8 (RFC 8259); some decoders would quietly repair broken bytes instead of refusing them.
                if let type = request.headers[.contentType]?.lowercased(), type.contains("json"),
                    body.readableBytesView.withContiguousStorageIfAvailable({ String(validating: $0, as: UTF8.self) == nil }) ?? false
                {
                    throw Problem.malformedJSON("the body is not valid UTF-8")
                }
                // Only for a request some operation takes: anything else is answered 404 or 405 by the router.
                if let operation = context.operation {
                    let contentType = request.headers[.contentType]
                    try StorableText.checkBody(body, contentType: contentType)
                    try JSONNulls.check(body, contentType: contentType, operation: operation)
                    if let type = contentType?.lowercased(), type.contains("json") {
                        if let field = JSONNumbers.firstUnrepresentable(in: body.readableBytesView) {
                            throw Problem.validation([.init(field: field, message: "is not a number this field can hold (too large)")])
                        }
                        if let integers = SpecTables.integerFields[operation] {
                            try JSONNumbers.checkIntegers(body.readableBytesView, at: integers)
                        }
                    }
                }
            } catch let error as HTTPError where error.status == .contentTooLarge {
                throw Problem.payloadTooLarge(limit: limit)
            } catch is NIOTooManyBytesError {
                throw Problem.payloadTooLarge(limit: limit)
            }
        }
        try StorableText.checkTarget(path: request.uri.path, raw: request.uri.description)
        return try await next(request, context)
    }
}

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

/// Refuses query parameters the operation does not take (400 `bad_request` naming them), so that a misspelt filter is
/// not silently ignored; the names come from the spec (`SpecTables`).
struct QueryParameterMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let key = context.operation
        // A write that must say which version it changes: 428, as RFC 6585 has it, rather than the runtime's 400.
        if let key, SpecTables.requiredHeaders[key]?.contains("If-Match") == true, request.headers[.ifMatch] == nil {
            throw Problem(
                .preconditionRequired, code: "precondition_required",
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

/// The spec's operations by `METHOD /path/{template}`, matched against a request's method and path.
struct SpecOperations: Sendable {
    static let shared = SpecOperations()
    private let operations: [(key: String, method: String, segments: [Substring])]

    init() {
        operations = SpecTables.queryParameters.keys.map { key in
            let parts = key.split(separator: " ", maxSplits: 1)
            return (key, String(parts[0]), parts[1].split(separator: "/"))
        }
    }

    /// The key of the operation at `method` `path` (HEAD as GET); nil when none matches.
    func match(method: String, path: String) -> String? {
        let method = method == "HEAD" ? "GET" : method
        let segments = path.split(separator: "/")
        return operations.first { op in
            op.method == method && op.segments.count == segments.count
                && zip(op.segments, segments).allSatisfy { $0 == $1 || ($0.hasPrefix("{") && $0.hasSuffix("}")) }
        }?.key
    }
}

/// RFC 6901 JSON pointers, as every problem names a field.
enum JSONPointer {
    /// A member name as one pointer segment: `~` → `~0`, `/` → `~1`.
    static func escape(_ name: String) -> String {
        name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}

/// Byte searches at C speed (`memchr` for the first byte, `memcmp` for the rest), for checks that run on every request
/// body: a Swift loop over a megabyte costs far more in a debug build, on the threads that serve requests.
enum RawScan {
    static func contains(_ bytes: ByteBufferView, _ text: StaticString) -> Bool {
        bytes.withContiguousStorageIfAvailable { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            return text.withUTF8Buffer { needle in find(needle, in: UnsafeBufferPointer(start: base, count: buffer.count), from: 0) != nil }
        } ?? true
    }

    /// The offset of the first `needle` in `haystack` at or after `from`.
    static func find(_ needle: UnsafeBufferPointer<UInt8>, in haystack: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard let base = haystack.baseAddress, let first = needle.first, needle.count <= haystack.count else { return nil }
        var offset = from
        while offset + needle.count <= haystack.count, let hit = memchr(base + offset, Int32(first), haystack.count - offset) {
            let i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if i + needle.count > haystack.count { return nil }
            if memcmp(base + i, needle.baseAddress!, needle.count) == 0 { return i }
            offset = i + 1
        }
        return nil
    }
}

/// No field of this API takes `null` in a JSON body (a merge patch's null removes, and is another media type): an
/// explicit null is refused, naming the field, rather than read as "absent" against what the spec says. The sync
/// protocol's nullable places are the exceptions the spec marks: a stream's cursor, and a written field's value.
enum JSONNulls {
    static func check(_ body: ByteBuffer, contentType: String?, operation: String) throws {
        guard let type = contentType?.lowercased(), type.contains("json"), !type.contains("merge-patch"),
            !SpecTables.mergePatchOperations.contains(operation)
        else { return }
        let bytes = body.readableBytesView
        guard bytes.count >= 4, containsNull(bytes),
            let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        else { return }
        var fields: [String] = []
        find(object, path: [], operation: operation, into: &fields)
        guard !fields.isEmpty else { return }
        throw Problem.validation(fields.prefix(20).map { .init(field: $0, message: "must not be null (leave it out instead)") })
    }

    private static func containsNull(_ bytes: ByteBufferView) -> Bool {
        RawScan.contains(bytes, "null")
    }

    static func allowsNull(_ path: [String], operation: String) -> Bool {
        switch operation {
        case "POST /v1/hooks/tradingview/{hook_token}": return true  // TradingView sends what the user typed
        case "POST /v1/sync/pull": return path.count == 2 && path[0] == "cursors"
        case "POST /v1/sync/push": return path.count >= 5 && path[0] == "mutations" && path[2] == "fields" && path[4] == "value"
        default: return false
        }
    }

    private static func find(_ value: Any, path: [String], operation: String, into fields: inout [String]) {
        if allowsNull(path, operation: operation) { return }
        switch value {
        case is NSNull:
            fields.append(path.isEmpty ? "/" : "/" + path.map {
                JSONPointer.escape($0)
            }.joined(separator: "/"))
        case let object as [String: Any]:
            for key in object.keys.sorted() { find(object[key]!, path: path + [key], operation: operation, into: &fields) }
        case let array as [Any]:
            for (i, item) in array.enumerated() { find(item, path: path + ["\(i)"], operation: operation, into: &fields) }
        default:
            break
        }
    }
}

/// Finds a JSON number that no Double can hold (`1e999`), by its JSON pointer: the decoder refuses such a body as a
/// whole without saying where, and a person needs to know which field.
enum JSONNumbers {
    /// Whether any number could overflow a Double: an exponent of three digits or more after a digit. Finds each `e`
    /// and `E` with `memchr`, so that a 10,000-candle batch costs microseconds even in a debug build (a byte loop on the
    /// cooperative threads held them long enough to stall a loaded test run).
    static func mayOverflow(_ bytes: ByteBufferView) -> Bool {
        bytes.withContiguousStorageIfAvailable { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            for letter in [UInt8(ascii: "e"), UInt8(ascii: "E")] {
                var offset = 0
                while offset < buffer.count, let hit = memchr(base + offset, Int32(letter), buffer.count - offset) {
                    let i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    offset = i + 1
                    guard i > 0, (buffer[i - 1] >= 0x30 && buffer[i - 1] <= 0x39) || buffer[i - 1] == UInt8(ascii: ".") else { continue }
                    var j = i + 1
                    if j < buffer.count, buffer[j] == UInt8(ascii: "+") || buffer[j] == UInt8(ascii: "-") { j += 1 }
                    var digits = 0
                    while j < buffer.count, buffer[j] >= 0x30, buffer[j] <= 0x39 { digits += 1; j += 1 }
                    if digits >= 3 { return true }
                }
            }
            return false
        } ?? true
    }

    /// 422 naming each member the spec types as integer that holds a number with a fraction or beyond 64 bits (the
    /// decoder refuses those as "not valid JSON", without saying where).
    static func checkIntegers(_ bytes: ByteBufferView, at patterns: [String]) throws {
        guard bytes.contains(UInt8(ascii: ".")) || bytes.contains(UInt8(ascii: "e")) || bytes.contains(UInt8(ascii: "E"))
            || bytes.count > 18,
            let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        else { return }
        let wanted = patterns.map { $0 == "/" ? [] : $0.split(separator: "/").map(String.init) }
        var bad: [String] = []
        func walk(_ value: Any, _ path: [String]) {
            if value is NSNumber, !(value is Bool), value as? Int == nil, wanted.contains(where: { pattern in
                pattern.count == path.count && zip(pattern, path).allSatisfy { $0 == "*" || $0 == $1 }
            }) {
                bad.append("/" + path.joined(separator: "/"))
            }
            if let object = value as? [String: Any] {
                for key in object.keys.sorted() { walk(object[key]!, path + [key]) }
            } else if let array = value as? [Any] {
                for (i, item) in array.enumerated() { walk(item, path + ["\(i)"]) }
            }
        }
        walk(object, [])
        guard !bad.isEmpty else { return }
        throw Problem.validation(bad.prefix(20).map { .init(field: $0, message: "must be a whole number (a 64-bit integer)") })
    }

    static func firstUnrepresentable(in bytes: ByteBufferView) -> String? {
        guard mayOverflow(bytes) else { return nil }
        var path: [String] = []
        var containers: [(isArray: Bool, index: Int)] = []
        var pendingKey: String?
        var expectingKey = false
        var i = bytes.startIndex
        func pointer() -> String { path.isEmpty ? "/" : "/" + path.joined(separator: "/") }
        while i < bytes.endIndex {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "{"):
                containers.append((false, 0))
                expectingKey = true
                path.append("")
            case UInt8(ascii: "["):
                containers.append((true, 0))
                path.append("0")
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                containers.removeLast()
                path.removeLast()
                expectingKey = false
            case UInt8(ascii: ","):
                if let last = containers.last {
                    if last.isArray {
                        containers[containers.count - 1].index += 1
                        path[path.count - 1] = "\(last.index + 1)"
                    } else {
                        expectingKey = true
                    }
                }
            case UInt8(ascii: ":"):
                if let key = pendingKey, !path.isEmpty {
                    path[path.count - 1] = JSONPointer.escape(key)
                }
                pendingKey = nil
                expectingKey = false
            case UInt8(ascii: "\""):
                var j = bytes.index(after: i)
                var escaped = false
                var text: [UInt8] = []
                while j < bytes.endIndex {
                    let c = bytes[j]
                    if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { break }
                    if expectingKey { text.append(c) }
                    j = bytes.index(after: j)
                }
                if expectingKey { pendingKey = String(decoding: text, as: UTF8.self) }
                i = j
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                var j = i
                while j < bytes.endIndex, [UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[j])
                    || (bytes[j] >= UInt8(ascii: "0") && bytes[j] <= UInt8(ascii: "9"))
                {
                    j = bytes.index(after: j)
                }
                // Only an exponent or a very long mantissa can overflow a Double.
                let span = bytes[i..<j]
                if span.count > 300 || span.contains(UInt8(ascii: "e")) || span.contains(UInt8(ascii: "E")),
                    let value = Double(String(decoding: span, as: UTF8.self)), !value.isFinite
                {
                    return pointer()
                }
                i = bytes.index(before: j)
            default:
                break
            }
            i = bytes.index(after: i)
        }
        return nil
    }
}

/// PostgreSQL's text cannot hold U+0000; a request that carries one anywhere it could reach SQL is refused up front,
/// naming where, instead of failing inside a query as a 500. (Invalid UTF-8 is refused with the body; lone surrogates
/// do not decode as JSON strings.)
enum StorableText {
    static let message = "must not contain the NUL character (U+0000)"

    /// A JSON body with a `\u0000` escape: 422 naming each field; a text body with a NUL byte: 422 on `/body`.
    static func checkBody(_ body: ByteBuffer, contentType: String?) throws {
        let type = contentType?.lowercased() ?? ""
        let bytes = body.readableBytesView
        if type.contains("json") {
            guard containsEscapedNUL(bytes) else { return }
            guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else { return }
            var fields: [String] = []
            find(object, path: "", into: &fields)
            guard !fields.isEmpty else { return }
            throw Problem.validation(fields.prefix(20).map { .init(field: $0.isEmpty ? "/" : $0, message: message) })
        } else if bytes.withContiguousStorageIfAvailable({ $0.baseAddress.map { memchr($0, 0, bytes.count) != nil } ?? false }) ?? bytes.contains(0) {
            throw Problem.validation([.init(field: "/body", message: message)])
        }
    }

    /// A path or query with `%00`: 400 naming the query parameter (or the path).
    static func checkTarget(path: String, raw: String) throws {
        guard raw.range(of: "%00", options: String.CompareOptions.caseInsensitive) != nil || raw.utf8.contains(0) else { return }
        if path.utf8.contains(0) || (path.removingPercentEncoding?.utf8.contains(0) ?? false)
            || path.range(of: "%00", options: String.CompareOptions.caseInsensitive) != nil
        {
            throw Problem.badRequest("the path \(message)")
        }
        let names = (URLComponents(string: raw)?.queryItems ?? []).filter { item in
            item.name.utf8.contains(0) || (item.value?.utf8.contains(0) ?? false)
        }.map { $0.name.replacingOccurrences(of: "\u{0}", with: "") }
        throw Problem.badRequest(
            "a query parameter \(message)", fieldErrors: (names.isEmpty ? ["query"] : names).map { .init(field: $0, message: message) })
    }

    /// Whether the raw JSON has a `\u0000` escape (not an escaped backslash followed by "u0000").
    static func containsEscapedNUL(_ bytes: ByteBufferView) -> Bool {
        bytes.withContiguousStorageIfAvailable { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            var offset = 0
            let needle: StaticString = "u0000"
            let haystack = UnsafeBufferPointer(start: base, count: buffer.count)
            while let i = needle.withUTF8Buffer({ RawScan.find($0, in: haystack, from: offset) }) {
                offset = i + 1
                var backslashes = 0, k = i - 1
                while k >= 0, buffer[k] == UInt8(ascii: "\\") { backslashes += 1; k -= 1 }
                if backslashes % 2 == 1 { return true }
            }
            return false
        } ?? true
    }

    private static func find(_ value: Any, path: String, into fields: inout [String]) {
        switch value {
        case let text as String:
            if text.utf8.contains(0) { fields.append(path) }
        case let object as [String: Any]:
            for key in object.keys.sorted() {
                let escaped = JSONPointer.escape(key)
                if key.utf8.contains(0) { fields.append(path + "/" + escaped.replacingOccurrences(of: "\u{0}", with: "\\u0000")) }
                find(object[key]!, path: path + "/" + escaped, into: &fields)
            }
        case let array as [Any]:
            for (i, item) in array.enumerated() { find(item, path: path + "/\(i)", into: &fields) }
        default:
            break
        }
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
