import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenAPIRuntime

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
