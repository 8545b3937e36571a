import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore

/// The Bot API over async-http-client: `POST {base}/bot{token}/{method}` with a JSON body.
struct TelegramAPI: Sendable {
    let http: HTTPClient
    let baseURL: String
    let token: String

    struct Answer: Sendable {
        var status: Int
        var body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var ok: Bool { status == 200 && (json["ok"] as? Bool ?? false) }
        var description: String { json["description"] as? String ?? "HTTP \(status)" }
        /// `parameters.retry_after` of a 429.
        var retryAfter: Duration? {
            ((json["parameters"] as? [String: Any])?["retry_after"] as? NSNumber).map { .milliseconds(Int64($0.doubleValue * 1000)) }
        }
    }

    /// The bot's id: the numeric part of its token.
    static func botID(_ token: String) -> Int64 {
        if let id = token.split(separator: ":").first.flatMap({ Int64($0) }) { return id }
        return SHA256.hash(data: Data(token.utf8)).prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) } & Int64.max
    }

    func call(_ method: String, _ body: Data, contentType: String = "application/json", timeout: Duration) async throws -> Answer {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        var request = HTTPClientRequest(url: "\(base)/bot\(token)/\(method)")
        request.method = .POST
        request.headers.add(name: "content-type", value: contentType)
        request.body = .bytes(ByteBuffer(bytes: body))
        let http = self.http, prepared = request
        return try await withDeadline(timeout) {
            let response = try await http.execute(prepared, timeout: timeout.timeAmount)
            let bytes = try await response.body.collect(upTo: 4 * 1024 * 1024)
            return Answer(status: Int(response.status.code), body: Data(buffer: bytes))
        }
    }

    func call(_ method: String, _ object: [String: Any], timeout: Duration = .seconds(15)) async throws -> Answer {
        try await call(method, try JSONSerialization.data(withJSONObject: object), timeout: timeout)
    }

    func sendMessage(chat: Int64, html: String, silent: Bool) async throws -> Answer {
        try await call("sendMessage", [
            "chat_id": chat, "text": html, "parse_mode": "HTML", "disable_notification": silent,
            "link_preview_options": ["is_disabled": true],
        ])
    }

    /// A photo (PNG) with an HTML caption of at most 1,024 characters: `multipart/form-data`, as the Bot API takes uploads.
    func sendPhoto(chat: Int64, png: [UInt8], caption: String, silent: Bool) async throws -> Answer {
        var form = MultipartForm()
        form.field("chat_id", "\(chat)")
        form.field("caption", caption)
        form.field("parse_mode", "HTML")
        form.field("disable_notification", silent ? "true" : "false")
        form.file("photo", filename: "chart.png", contentType: "image/png", png)
        return try await call("sendPhoto", form.body(), contentType: form.contentType, timeout: .seconds(30))
    }

    /// The bot's `@username` (from `getMe`).
    func username() async throws -> String {
        let answer = try await call("getMe", [:])
        guard answer.ok, let name = (answer.json["result"] as? [String: Any])?["username"] as? String else {
            throw TelegramError(description: "getMe failed: \(answer.description)")
        }
        return name
    }
}

struct TelegramError: Error, CustomStringConvertible {
    var description: String
}

/// A `multipart/form-data` body (RFC 7578): text fields and files, CRLF line ends, a random boundary.
struct MultipartForm {
    let boundary = "smc-" + UUID().uuidString.lowercased()
    private var data = Data()

    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    /// Field names and file names are ours (ASCII, no quotes); values are sent as UTF-8.
    mutating func field(_ name: String, _ value: String) {
        data.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n".utf8))
        data.append(Data(value.utf8))
        data.append(Data("\r\n".utf8))
    }

    mutating func file(_ name: String, filename: String, contentType: String, _ bytes: [UInt8]) {
        data.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(filename)\"\r\nContent-Type: \(contentType)\r\n\r\n".utf8))
        data.append(contentsOf: bytes)
        data.append(Data("\r\n".utf8))
    }

    func body() -> Data {
        var out = data
        out.append(Data("--\(boundary)--\r\n".utf8))
        return out
    }
}
