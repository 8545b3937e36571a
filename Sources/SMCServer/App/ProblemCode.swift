import HTTPTypes

/// The closed catalogue of problem codes: every `Problem` the server answers with has one, and with it its HTTP status
/// and title. Clients switch on the code. `api-spec/openapi.yaml` names the same codes with the same statuses
/// (`x-problem-codes` on `Problem.code`); `ProblemCatalogueTests` holds the two equal.
public enum ProblemCode: String, CaseIterable, Sendable {
    // Any operation
    case malformedJSON = "malformed_json"
    /// A text body (a TradingView alert) that is not UTF-8.
    case invalidUTF8 = "invalid_utf8"
    case badRequest = "bad_request"
    case unauthenticated
    case validationFailed = "validation_failed"
    case notFound = "not_found"
    case methodNotAllowed = "method_not_allowed"
    case notAcceptable = "not_acceptable"
    case payloadTooLarge = "payload_too_large"
    case unsupportedMediaType = "unsupported_media_type"
    case internalError = "internal_error"
    case unavailable
    case rateLimited = "rate_limited"
    // Paging and conditional requests
    case invalidCursor = "invalid_cursor"
    case preconditionRequired = "precondition_required"
    case preconditionFailed = "precondition_failed"
    // Accounts and credentials
    case invalidCredentials = "invalid_credentials"
    case tooManyAttempts = "too_many_attempts"
    case tokenExpired = "token_expired"
    case tokenRevoked = "token_revoked"
    case wrongPassword = "wrong_password"
    case reauthenticationRequired = "reauthentication_required"
    case insufficientScope = "insufficient_scope"
    case emailTaken = "email_taken"
    case nameTaken = "name_taken"
    case planLimitExceeded = "plan_limit_exceeded"
    // Journal
    case conflict
    case alreadyClosed = "already_closed"
    // Market
    /// A symbol the registry does not know (the problem's `symbols` member points to `GET /v1/symbols`).
    case unknownSymbol = "unknown_symbol"
    /// A known symbol without candles on the timeframe asked for.
    case noCandles = "no_candles"
    // Sync
    case deviceMismatch = "device_mismatch"
    case unsupportedVersion = "unsupported_version"
    // Alerts
    case targetNotAllowed = "target_not_allowed"
    case endpointDisabled = "endpoint_disabled"
    case alreadyPending = "already_pending"
    case telegramNotConfigured = "telegram_not_configured"
    case telegramUnavailable = "telegram_unavailable"
    // Charts
    /// A signed chart link that was changed, is not this server's, or has expired.
    case invalidSignature = "invalid_signature"
    // Readiness (`/ready`)
    case databaseUnreachable = "database_unreachable"
    case migrationsPending = "migrations_pending"
    case migrationsDiverged = "migrations_diverged"

    public var status: HTTPResponse.Status {
        switch self {
        case .malformedJSON, .invalidUTF8, .badRequest, .invalidCursor: .badRequest
        case .unauthenticated, .invalidCredentials, .tokenExpired, .tokenRevoked: .unauthorized
        case .wrongPassword, .reauthenticationRequired, .insufficientScope, .planLimitExceeded, .deviceMismatch, .invalidSignature:
            .forbidden
        case .notFound, .unknownSymbol, .noCandles: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .notAcceptable: .notAcceptable
        case .emailTaken, .nameTaken, .conflict, .alreadyClosed, .endpointDisabled, .alreadyPending: .conflict
        case .preconditionFailed: .preconditionFailed
        case .payloadTooLarge: .contentTooLarge
        case .unsupportedMediaType: .unsupportedMediaType
        case .validationFailed, .targetNotAllowed: .unprocessableContent
        case .unsupportedVersion: .init(code: 426)
        case .preconditionRequired: .preconditionRequired
        case .rateLimited, .tooManyAttempts: .tooManyRequests
        case .internalError: .internalServerError
        case .unavailable, .telegramNotConfigured, .telegramUnavailable, .databaseUnreachable, .migrationsPending,
             .migrationsDiverged: .serviceUnavailable
        }
    }

    public var title: String {
        switch self {
        case .malformedJSON: "Malformed JSON"
        case .validationFailed: "Validation Failed"
        case .targetNotAllowed: "Target Not Allowed"
        case .payloadTooLarge: "Payload Too Large"
        case .unsupportedVersion: "Upgrade Required"
        default: status.reasonPhrase
        }
    }
}
