/// Collects field errors; throws them all at once.
struct FieldErrors {
    var errors: [Problem.FieldError] = []
    mutating func check(_ ok: Bool, _ field: String, _ message: String) {
        if !ok { errors.append(.init(field: field, message: message)) }
    }
    func throwIfAny() throws {
        if !errors.isEmpty { throw Problem.validation(errors) }
    }
}
