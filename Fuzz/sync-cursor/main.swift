// libFuzzer target: SyncCursor(encoded:) (Sources/SMCSync/SyncCursor.swift), the pull cursors a sync client sends
// back (base64url of compact JSON). Built by scripts/fuzz with that file alone.
//
// The format is not canonical (JSON may be spelt several ways), so the checks are on values:
// - a cursor that decodes has a non-negative epoch and version, and its own encoding (at most 200 characters,
//   the decoder's limit) decodes to the same cursor, spelt the same each time;
// - the input's bytes as (stream, epoch, version, id) make a cursor that survives encoding, and one with a negative
//   epoch or version is refused.
//
// Seeds: `FUZZ_WRITE_SEEDS=DIR .build-fuzz/sync-cursor` writes cursors made by SyncCursor.encoded into DIR.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSyncCursor(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    if let cursor = SyncCursor(encoded: text) {
        require(cursor.epoch >= 0 && cursor.version >= 0, "'\(text)' decodes to \(cursor)")
        checkEncoding(cursor)
    }

    // The input as a cursor's values.
    var raw = Array(bytes.prefix(34))
    raw += [UInt8](repeating: 0, count: 34 - raw.count)
    func int64(_ at: Int) -> Int64 { Int64(bitPattern: raw[at..<(at + 8)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) }
    let id = raw[1] & 1 == 0 ? nil : UUID(uuid: (raw[18], raw[19], raw[20], raw[21], raw[22], raw[23], raw[24], raw[25],
                                                 raw[26], raw[27], raw[28], raw[29], raw[30], raw[31], raw[32], raw[33]))
    let cursor = SyncCursor(stream: raw[0] & 1 == 0 ? .signals : .journal, epoch: int64(2), version: int64(10), id: id)
    if cursor.epoch >= 0 && cursor.version >= 0 {
        checkEncoding(cursor)
    } else {
        require(SyncCursor(encoded: cursor.encoded) == nil, "\(cursor), with a negative number, decodes")
    }
    return 0
}

private func checkEncoding(_ cursor: SyncCursor) {
    let encoded = cursor.encoded
    require(!encoded.isEmpty && encoded.utf8.count <= 200, "\(cursor) encodes to \(encoded.utf8.count) characters")
    require(encoded == cursor.encoded, "\(cursor) encodes differently each time")
    require(SyncCursor(encoded: encoded) == cursor, "\(cursor) does not survive '\(encoded)'")
}

/// `FUZZ_WRITE_SEEDS=DIR`: write seed cursors made by the code itself, then exit.
@_cdecl("LLVMFuzzerInitialize")
public func initializeSyncCursor(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    guard let directory = ProcessInfo.processInfo.environment["FUZZ_WRITE_SEEDS"] else { return 0 }
    let cursors = [
        SyncCursor(stream: .signals, epoch: 1, version: 0),
        SyncCursor(stream: .signals, epoch: 1, version: 42, id: UUID(uuidString: "0193b2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d")),
        SyncCursor(stream: .journal, epoch: 1_740_821_400, version: 7),
        SyncCursor(stream: .journal, epoch: .max, version: .max, id: UUID(uuidString: "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF")),
    ]
    for (i, cursor) in cursors.enumerated() {
        try! Data(cursor.encoded.utf8).write(to: URL(fileURLWithPath: "\(directory)/cursor-\(i)"))
    }
    exit(0)
}

/// `precondition` that prints its message in optimised builds too, so libFuzzer's report says what broke.
private func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String = "") {
    if !condition() { fatalError(message()) }
}
