import Foundation
import SMCSync
import Testing

@Suite("HLC, merge and cursors")
struct MergeTests {
    @Test("stamps print and parse as <13-digit wall>-<4 hex>-<device>, and order by wall, counter, device")
    func stamps() throws {
        let a = HLC(wall: 1_732_190_400_123, counter: 4, device: "0192f1b2-aaaa-7bbb-8ccc-000000000001")
        #expect(a.description == "1732190400123-0004-0192f1b2-aaaa-7bbb-8ccc-000000000001")
        #expect(HLC(a.description) == a)
        #expect(HLC(wall: 5, counter: 0xbeef, device: "server").description == "0000000000005-beef-server")
        for bad in ["", "1732190400123-0004-", "173219040012-0004-x", "1732190400123-000g-x", "1732190400123-0004-X", "1732190400123_0004-x",
                    "1732190400123-00040-x"] {
            #expect(HLC(bad) == nil, "\(bad)")
        }
        let b = HLC(wall: a.wall, counter: 5, device: "0")
        let c = HLC(wall: a.wall + 1, counter: 0, device: "0")
        let d = HLC(wall: a.wall, counter: 4, device: "z")
        #expect(a < b && b < c && a < d && HLC.zero < a)
        #expect([c, d, b, a].sorted() == [a, d, b, c])
    }

    @Test("a clock stamps above every stamp it issued or saw, even when the wall clock steps back")
    func clock() {
        var clock = HybridClock(device: "dev")
        let first = clock.tick(now: 1000)
        let second = clock.tick(now: 900)  // the wall clock stepped back
        #expect(first < second && second.wall == 1000 && second.counter == 1)
        clock.observe(HLC(wall: 5000, counter: 7, device: "other"))
        let third = clock.tick(now: 1200)
        #expect(third.wall == 5000 && third.counter == 8 && third.device == "dev")
        let fourth = clock.tick(now: 6000)
        #expect(fourth == HLC(wall: 6000, counter: 0, device: "dev"))
        var full = HybridClock(device: "d", wall: 10, counter: .max)
        #expect(full.tick(now: 3) == HLC(wall: 11, counter: 0, device: "d"))
    }

    @Test("field registers: the greater stamp wins per field; deletes win; apply ignores older writes")
    func registers() {
        let early = HLC(wall: 1, counter: 0, device: "a"), late = HLC(wall: 2, counter: 0, device: "b")
        var record = MergeRecord()
        #expect(record.apply(["note": FieldWrite(value: .string("late"), hlc: late), "stop": FieldWrite(value: .number(1.09), hlc: early)])
            == ["note", "stop"])
        #expect(record.apply(["note": FieldWrite(value: .string("early"), hlc: early)]).isEmpty)
        #expect(record.fields["note"] == .string("late"))
        #expect(record.apply(["stop": FieldWrite(value: .null, hlc: late)]) == ["stop"])
        #expect(record.fields["stop"] == nil && record.clock("stop") == late)
        record.delete(early)
        #expect(record.apply(["note": FieldWrite(value: .string("after delete"), hlc: HLC(wall: 9, counter: 0, device: "c"))]).isEmpty)
        var other = MergeRecord(fields: ["note": .string("newer")], clocks: ["note": HLC(wall: 9, counter: 0, device: "c")])
        other.merge(record)
        #expect(other.deleted == early && other.fields.isEmpty, "a tombstone wins over a newer edit")
    }

    @Test("merge is commutative, associative and idempotent (random replicas, every order)")
    func mergeLaws() {
        var rng = SystemRandomNumberGenerator()
        let names = ["note", "stop", "tags", "size"]
        func random() -> MergeRecord {
            var r = MergeRecord()
            for name in names where Bool.random(using: &rng) {
                let stamp = HLC(wall: Int64.random(in: 1...5, using: &rng), counter: UInt16.random(in: 0...2, using: &rng),
                                device: ["a", "b", "c"].randomElement(using: &rng)!)
                // One stamp is one write: its value follows from it (a cleared field for some stamps).
                let cleared = (stamp.wall + Int64(stamp.counter)) % 3 == 0
                r.apply([name: FieldWrite(value: cleared ? .null : .string("\(name)@\(stamp)"), hlc: stamp)])
            }
            if Int.random(in: 0..<8, using: &rng) == 0 { r.delete(HLC(wall: Int64.random(in: 1...5, using: &rng), counter: 0, device: "d")) }
            return r
        }
        for _ in 0..<500 {
            let (x, y, z) = (random(), random(), random())
            var xy = x; xy.merge(y)
            var yx = y; yx.merge(x)
            #expect(xy == yx)
            var xyz1 = xy; xyz1.merge(z)
            var yz = y; yz.merge(z)
            var xyz2 = x; xyz2.merge(yz)
            #expect(xyz1 == xyz2)
            var twice = xy; twice.merge(y)
            #expect(twice == xy)
        }
    }

    @Test("cursors round-trip through their opaque text; anything else is refused")
    func cursors() {
        let cursor = SyncCursor(stream: .journal, epoch: 3, version: 812, id: UUID(uuidString: "0192f1b2-aaaa-7bbb-8ccc-000000000001"))
        #expect(SyncCursor(encoded: cursor.encoded) == cursor)
        #expect(!cursor.encoded.contains("=") && !cursor.encoded.contains("+") && !cursor.encoded.contains("/"))
        let plain = SyncCursor(stream: .signals, epoch: 1, version: 0)
        #expect(SyncCursor(encoded: plain.encoded) == plain)
        for bad in ["", "!!", "e30", Data(#"{"s":"trades","e":1,"v":0}"#.utf8).base64EncodedString(),
                    Data(#"{"s":"journal","e":1,"v":-4}"#.utf8).base64EncodedString(), String(repeating: "A", count: 500)] {
            #expect(SyncCursor(encoded: bad) == nil, "\(bad)")
        }
    }
}
