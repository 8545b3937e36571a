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

    func call(_ method: String, _ body: Data, timeout: Duration) async throws -> Answer {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        var request = HTTPClientRequest(url: "\(base)/bot\(token)/\(method)")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
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
