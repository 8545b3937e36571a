import Foundation
import Testing

@testable import SMCSync

@Suite("UUIDv7")
struct UUIDv7Tests {
    @Test("version and variant bits, and the embedded timestamp")
    func layout() throws {
        var generator = UUIDv7Generator()
        let id = generator.next(now: Date(timeIntervalSince1970: 1_790_000_000.123))
        let bytes = id.uuid
        #expect(bytes.6 >> 4 == 7)
        #expect(bytes.8 >> 6 == 0b10)
        let stamp = try #require(UUIDv7.timestamp(of: id))
        #expect(abs(stamp.timeIntervalSince1970 - 1_790_000_000.123) < 0.001)
        #expect(UUIDv7.timestamp(of: UUID()) == nil)  // v4
    }

    @Test("ids are strictly increasing, even many in one millisecond and when the clock steps back")
    func monotonic() {
        var generator = UUIDv7Generator()
        let base = Date()
        var previous = generator.next(now: base).uuidString.lowercased()
        for i in 0..<20_000 {
            let when = i == 10_000 ? base.addingTimeInterval(-5) : base
            let next = generator.next(now: when).uuidString.lowercased()
            #expect(next > previous)
            previous = next
        }
    }

    @Test("ids minted concurrently are unique")
    func unique() async {
        let ids = await withTaskGroup(of: [UUID].self) { group in
            for _ in 0..<8 { group.addTask { (0..<2_000).map { _ in UUIDv7.generate() } } }
            return await group.reduce(into: [UUID]()) { $0 += $1 }
        }
        #expect(Set(ids).count == ids.count)
    }
}
