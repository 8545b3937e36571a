import Foundation

/// The rules for what a user may type: emails, passwords, names. Each failure is a field error.
enum AccountRules {
    /// Trimmed, lower-cased and checked; nil plus an error when it is not an email address.
    static func email(_ raw: String, field: String = "/email", into errors: inout [Problem.FieldError]) -> String {
        let email = raw.trimmingWhitespace().lowercased()
        if email.utf8.count < 3 || email.utf8.count > 320 {
            errors.append(.init(field: field, message: "must be 3–320 characters"))
        } else if email.range(of: #"^[^@\s]+@[^@\s]+\.[^@\s.]+$"#, options: .regularExpression) == nil
            || containsControl(email)
        {
            errors.append(.init(field: field, message: "is not an email address"))
        }
        return email
    }

    static func newPassword(_ password: String, email: String, field: String = "/password", into errors: inout [Problem.FieldError]) {
        let length = password.count
        if length < 10 || length > 1024 {
            errors.append(.init(field: field, message: "must be 10–1024 characters"))
            return
        }
        if password.unicodeScalars.contains(where: { $0.value == 0 }) {
            errors.append(.init(field: field, message: "must not contain the NUL character (U+0000)"))
            return
        }
        let lowered = password.lowercased()
        let localPart = email.split(separator: "@").first.map(String.init) ?? email
        if commonPasswords.contains(lowered) || lowered == email || (localPart.count >= 4 && lowered == localPart) {
            errors.append(.init(field: field, message: "is too common or too easy to guess; choose another"))
        } else if Set(password).count < 4 {
            errors.append(.init(field: field, message: "uses too few different characters"))
        }
    }

    /// An optional free-text name: trimmed, 1…`max` characters, no control characters.
    static func name(_ raw: String?, field: String, max: Int, into errors: inout [Problem.FieldError]) -> String? {
        guard let raw else { return nil }
        let name = raw.trimmingWhitespace()
        // Lengths count Unicode code points, as JSON Schema's maxLength does, of what was sent.
        if name.isEmpty || raw.unicodeScalars.count > max {
            errors.append(.init(field: field, message: "must be 1–\(max) characters"))
        } else if containsControl(name) {
            errors.append(.init(field: field, message: "must not contain control characters"))
        }
        return name
    }

    static func containsControl(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }

    /// Passwords of 10+ characters that appear near the top of every breach list.
    static let commonPasswords: Set<String> = [
        "1234567890", "12345678910", "123456789a", "0123456789", "1234567890a", "1111111111", "0000000000",
        "1234512345", "1q2w3e4r5t", "1qaz2wsx3edc", "qwertyuiop", "qwertyuiop123", "qwerty12345", "qwerty123456",
        "asdfghjkl1", "zxcvbnm123", "password12", "password123", "password1234", "password12345", "passw0rd123",
        "password!1", "p@ssw0rd123", "iloveyou123", "iloveyou12", "princess123", "sunshine123", "football123",
        "baseball123", "superman123", "starwars123", "welcome123", "welcome1234", "changeme123", "letmein123",
        "trustno1trustno1", "abcdefghij", "abcdefgh12", "abc1234567", "abcd123456", "a1b2c3d4e5", "aaaaaaaaaa",
        "administrator", "admin12345", "admin123456", "monkey1234", "dragon1234", "master1234", "shadow1234",
        "michael123", "jennifer123", "computer123", "internet123", "whatever123", "trading123", "trader12345",
        "bitcoin123", "crypto12345", "forex12345", "money12345", "makemoney123", "qazwsxedc123", "1q2w3e4r5t6y",
        "987654321a", "9876543210", "zaq12wsxcde", "q1w2e3r4t5", "q1w2e3r4t5y6", "passwordpassword", "mypassword1",
        "secret12345", "letmein12345", "hello12345", "helloworld", "helloworld1", "iloveyou1234", "loveyou123",
        "summer2024", "summer2025", "summer2026", "winter2024", "winter2025", "winter2026", "spring2025", "autumn2025",
        "password2024", "password2025", "password2026",
    ]
}
