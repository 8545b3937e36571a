import Foundation
import Testing

@testable import SMCServer

/// The page cursor's wire format, pinned by cursors minted outside this code (Python's hmac module, with the
/// key and framing that Paging.swift documents), so moving or rewriting the codec cannot change what clients hold.
@Suite("Page cursor wire format")
struct PageCursorTests {
    static let scope = "signals|symbol=EURUSD|timeframe=15m"
    static let minted = "AQAGL0SRKhYAAZOyxF5veoucDR4vOktcbe-ip1ncm0xA6qR__iE3bts"

    @Test("a cursor minted with the same HMAC decodes, and re-encodes to the same text")
    func decodesMinted() throws {
        let cursor = try PageCursor.decode(Self.minted, scope: Self.scope)
        #expect(cursor == PageCursor(micros: 1_740_821_400_000_000, id: UUID(uuidString: "0193b2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d")!))
        #expect(cursor.encoded(scope: Self.scope) == Self.minted)
        let trades = "AQAGL0SRK_hAAZOyxQAAcACAAAAAAAAAKgGla83bBF_8_6a_y4u3Zlg"
        #expect(try PageCursor.decode(trades, scope: "trades|")
            == PageCursor(micros: 1_740_821_400_123_456, id: UUID(uuidString: "0193b2c5-0000-7000-8000-00000000002a")!))
    }

    @Test("under other filters, padded, with other spare bits, or cut short, it is 400 invalid_cursor")
    func refuses() {
        let cases = [
            (Self.minted, "trades|"),
            (Self.minted + "==", Self.scope),
            (String(Self.minted.dropLast()) + "t", Self.scope),  // same bytes: only the spare bits differ
            (String(Self.minted.dropLast(4)), Self.scope),
        ]
        for (text, scope) in cases {
            let error = #expect(throws: Problem.self) { try PageCursor.decode(text, scope: scope) }
            #expect(error?.code == "invalid_cursor" && error?.status == .badRequest, "\(text)")
        }
    }
}
