// libFuzzer target: PageCursor's wire format (Sources/SMCServer/Signals/PageCursor.swift), the `cursor` query
// parameter of the signal, trade and delivery lists. Built by scripts/fuzz with that file and App/Base64URL.swift.
//
// The server's check is an HMAC-SHA256 from swift-crypto (Paging.swift), passed in as a closure; here it is a
// keyed FNV-1a stand-in, which exercises the same framing: base64url, length, version, check, fields. (swift-crypto
// is BoringSSL underneath and far too heavy to build for a fuzz run; the HMAC is not what reads untrusted bytes.)
// Each input is tried as cursor text under two checks: the stand-in, and a check of zeros that the fuzzer can
// satisfy, so mutations also reach the field decoding.
//
// Besides "no crash", it checks:
// - a cursor that decodes re-encodes to exactly the same text (one spelling per cursor), and is refused under
//   another scope and with a character more;
// - the input's first 24 bytes as (micros, id) make a cursor that is at most 200 characters of base64url and
//   decodes to the same value, only under its own scope.
//
// Seeds: `FUZZ_WRITE_SEEDS=DIR .build-fuzz/page-cursor` writes cursors made by PageCursor.encoded into DIR.
import Foundation

private let scopes = ["signals|symbol=EURUSD|timeframe=15m", "trades|", "deliveries|channel=0193b2c4-0000-7000-8000-000000000001", ""]

/// Stand-in for the HMAC: two keyed FNV-1a hashes over the payload, a zero byte and the scope.
private func standInCheck(_ payload: [UInt8], _ scope: String) -> [UInt8] {
    var message = payload
    message.append(0)
    message.append(contentsOf: Array(scope.utf8))
    var out: [UInt8] = []
    for basis: UInt64 in [0xcbf2_9ce4_8422_2325, 0x6c62_272e_07bb_0142] {
        var h = basis
        for byte in message { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: h >> UInt64(shift))) }
    }
    return Array(out.prefix(PageCursor.checkSize))
}

private func zeroCheck(_ payload: [UInt8], _ scope: String) -> [UInt8] { [UInt8](repeating: 0, count: PageCursor.checkSize) }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPageCursor(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    for scope in scopes {
        if let cursor = PageCursor.decode(text, scope: scope, check: standInCheck) {
            checkDecoded(cursor, text: text, scope: scope, check: standInCheck)
            for other in scopes where other != scope {
                require(PageCursor.decode(text, scope: other, check: standInCheck) == nil, "'\(text)' decodes under '\(other)' too")
            }
        }
        if let cursor = PageCursor.decode(text, scope: scope, check: zeroCheck) {
            checkDecoded(cursor, text: text, scope: scope, check: zeroCheck)
        }
    }

    // The input as a cursor's values.
    var raw = Array(bytes.prefix(24))
    raw += [UInt8](repeating: 0, count: 24 - raw.count)
    let micros = Int64(bitPattern: raw[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    let id = UUID(uuid: (raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15],
                         raw[16], raw[17], raw[18], raw[19], raw[20], raw[21], raw[22], raw[23]))
    let cursor = PageCursor(micros: micros, id: id)
    let scope = scopes[bytes.count % scopes.count]
    let encoded = cursor.encoded(scope: scope, check: standInCheck)
    require(encoded.utf8.count <= 200, "an issued cursor of \(encoded.utf8.count) characters would be refused")
    require(encoded.utf8.allSatisfy { $0 == 0x2D || $0 == 0x5F || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) },
            "'\(encoded)' is not base64url")
    require(PageCursor.decode(encoded, scope: scope, check: standInCheck) == cursor, "\(cursor) does not survive '\(encoded)'")
    for other in scopes where other != scope {
        require(PageCursor.decode(encoded, scope: other, check: standInCheck) == nil, "\(cursor) decodes under another scope")
    }
    return 0
}

private func checkDecoded(_ cursor: PageCursor, text: String, scope: String, check: PageCursor.Check) {
    require(cursor.encoded(scope: scope, check: check) == text, "'\(text)' decodes but re-encodes differently")
    require(PageCursor.decode(text + "A", scope: scope, check: check) == nil, "'\(text)A' decodes too")
}

/// `FUZZ_WRITE_SEEDS=DIR`: write seed cursors made by the code itself, then exit.
@_cdecl("LLVMFuzzerInitialize")
public func initializePageCursor(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    guard let directory = ProcessInfo.processInfo.environment["FUZZ_WRITE_SEEDS"] else { return 0 }
    let ids = ["0193b2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d", "00000000-0000-0000-0000-000000000000", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"]
    let micros: [Int64] = [1_740_821_400_000_000, 0, -1, .max, .min]
    for (i, m) in micros.enumerated() {
        let cursor = PageCursor(micros: m, id: UUID(uuidString: ids[i % ids.count])!)
        let scope = scopes[i % scopes.count]
        write(cursor.encoded(scope: scope, check: standInCheck), to: "\(directory)/cursor-\(i)")
        write(cursor.encoded(scope: scope, check: zeroCheck), to: "\(directory)/cursor-zero-check-\(i)")
    }
    exit(0)
}

private func write(_ text: String, to path: String) {
    try! Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

/// `precondition` that prints its message in optimised builds too, so libFuzzer's report says what broke.
private func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String = "") {
    if !condition() { fatalError(message()) }
}
