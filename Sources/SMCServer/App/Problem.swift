import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An RFC 9457 problem: the one error type handlers and services throw for a client to see.
///
/// `code` is the stable contract (clients switch on it); `title` and `detail` are for people.
/// Anything that is not a `Problem` reaches the client as a generic 500 `internal_error`, its detail
/// only in the log.
public struct Problem: Error, Sendable, CustomStringConvertible {
    public var kind: ProblemCode
    public var status: HTTPResponse.Status
    /// The stable code (`kind`'s).
    public var code: String { kind.rawValue }
    public var title: String
    public var detail: String?
    public var headers: HTTPFields
    public var fieldErrors: [FieldError]
    /// Extra members of the problem object (e.g. `limit`, `plan` for `plan_limit_exceeded`).
    public var extensions: [String: ProblemValue]

    public struct FieldError: Sendable, Equatable, Encodable {
        public var field: String
        public var message: String
        public init(field: String, message: String) {
            self.field = field
            self.message = message
        }
    }

    /// A problem of the catalogue, with its status and title (`status` overrides the status for the rare code that
    /// several statuses share, e.g. a 4xx the HTTP layer answered on its own as `bad_request`).
    public init(
        _ kind: ProblemCode,
        detail: String? = nil,
        headers: HTTPFields = [:],
        fieldErrors: [FieldError] = [],
        extensions: [String: ProblemValue] = [:],
        status: HTTPResponse.Status? = nil
    ) {
        self.kind = kind
        self.status = status ?? kind.status
        self.title = kind.title
        self.detail = detail
        self.headers = headers
        self.fieldErrors = fieldErrors
        self.extensions = extensions
    }

    public var description: String { "\(status.code) \(code)\(detail.map { ": \($0)" } ?? "")" }

    /// The `type` member: a stable URI per code.
    public var typeURI: String { "https://smc.dev/problems/\(code)" }

    /// The response for this problem at `path`, tagged with `requestID`.
    public func response(path: String, requestID: String?) -> Response {
        // A path can carry a credential (a TradingView hook key); so can a detail that quotes one.
        var body = ProblemBody(
            type: typeURI, title: title, status: Int(status.code), detail: detail.map(Redaction.redact), instance: Redaction.redact(path),
            code: code,
            request_id: requestID, errors: fieldErrors.isEmpty ? nil : fieldErrors, extensions: extensions)
        if body.detail?.isEmpty == true { body.detail = nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(body)) ?? Data(#"{"code":"internal_error","status":500}"#.utf8)
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// A JSON value for problem extensions.
public indirect enum ProblemValue: Sendable, Equatable, Encodable {
    case object([String: ProblemValue])
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case strings([String])

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let v): try container.encode(v)
        case .int(let v): try container.encode(v)
        case .double(let v): try container.encode(v)
        case .bool(let v): try container.encode(v)
        case .strings(let v): try container.encode(v)
        case .object(let v): try container.encode(v)
        }
    }
}

private struct ProblemBody: Encodable {
    var type: String
    var title: String
    var status: Int
    var detail: String?
    var instance: String
    var code: String
    var request_id: String?
    var errors: [Problem.FieldError]?
    var extensions: [String: ProblemValue]

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(type, forKey: Key("type"))
        try container.encode(title, forKey: Key("title"))
        try container.encode(status, forKey: Key("status"))
        try container.encodeIfPresent(detail, forKey: Key("detail"))
        try container.encode(instance, forKey: Key("instance"))
        try container.encode(code, forKey: Key("code"))
        try container.encodeIfPresent(request_id, forKey: Key("request_id"))
        try container.encodeIfPresent(errors, forKey: Key("errors"))
        let reserved: Set = ["type", "title", "status", "detail", "instance", "code", "request_id", "errors"]
        for (key, value) in extensions where !reserved.contains(key) {
            try container.encode(value, forKey: Key(key))
        }
    }
}

extension Problem {
    /// The common problems, one place for their codes and wording.
    public static func notFound(_ detail: String? = nil) -> Problem {
        Problem(.notFound, detail: detail)
    }
    public static func methodNotAllowed(_ method: String, allowed: [String]) -> Problem {
        var headers = HTTPFields()
        headers[.allow] = allowed.joined(separator: ", ")
        return Problem(
            .methodNotAllowed,
            detail: "\(method) is not allowed here; allowed: \(allowed.joined(separator: ", "))", headers: headers)
    }
    public static func payloadTooLarge(limit: Int) -> Problem {
        Problem(
            .payloadTooLarge,
            detail: "the request body exceeds the limit of \(limit) bytes", extensions: ["limit_bytes": .int(limit)])
    }
    public static func malformedJSON(_ detail: String) -> Problem {
        Problem(.malformedJSON, detail: detail)
    }
    public static func badRequest(_ detail: String, fieldErrors: [FieldError] = []) -> Problem {
        Problem(.badRequest, detail: detail, fieldErrors: fieldErrors)
    }
    public static func unsupportedMediaType(_ detail: String) -> Problem {
        Problem(.unsupportedMediaType, detail: detail)
    }
    public static func validation(_ fieldErrors: [FieldError]) -> Problem {
        Problem(
            .validationFailed,
            detail: fieldErrors.map { "\($0.field): \($0.message)" }.joined(separator: "; "), fieldErrors: fieldErrors)
    }
    public static let internalError = Problem(
        .internalError,
        detail: "an unexpected error occurred; quote the request id when reporting it")
    public static func unavailable(code: ProblemCode = .unavailable, _ detail: String) -> Problem {
        Problem(code, detail: detail)
    }
}
