import Foundation
import SMCAPI
import SMCSync
import SMCTestSupport
import Testing

@testable import SMCClient

/// A client home signed in as one device of an account: its own SQLite store, talking real HTTP to the server.
struct Device {
    let store: LocalStore
    let engine: SyncEngine
    let session: ClientSession

    @discardableResult
    func sync(pageSize: Int = 500) async throws -> SyncReport {
        var engine = engine
        engine.pageSize = pageSize
        return try await engine.run()
    }

    func note(_ id: String) throws -> String? { try store.trade(id).note }
}

/// Sync between several client homes and a real server over a real PostgreSQL: the ten properties of issue 7.
@Suite("delta sync")
struct SyncTests {
    static let password = "correct horse battery"

    /// A new account on the Team plan (enough devices and request budget for page-size-1 syncs).
    static func account(_ app: TestApp) async throws -> String {
        try await app.account(plan: "team", password: password).email
    }

    static func device(_ app: TestApp, _ email: String, clockSkewSeconds: Int64 = 0) async throws -> Device {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("smc-client-\(UUID().uuidString)")
        let store = try LocalStore(home: home, wallClock: { HLC.millis(Date()) + clockSkewSeconds * 1000 })
        let session = try await SyncEngine.login(
            store: store, server: URL(string: app.baseURL)!, email: email, password: password, deviceName: "test device")
        return Device(store: store, engine: try SyncEngine.forStore(store, attempts: 3), session: session)
    }

    static func trade(_ device: Device, note: String? = nil, entry: Double = 1.1) throws -> String {
        var input = TradeInput(symbol: "EURUSD", direction: "long", entry: entry, stop: entry - 0.01)
        input.targets = [entry + 0.03]
        input.note = note
        return try device.store.addTrade(input)
    }

    /// The server's live trade ids of a tenant.
    static func serverTrades(_ app: TestApp, _ email: String) async throws -> Int {
        try await app.sqlInt(
            "SELECT count(*)::int FROM trades t JOIN users u USING (tenant_id) WHERE u.email = '\(email)' AND t.deleted_at IS NULL")
    }

    // MARK: 1. Concurrent writers

    @Test("1. no change is missed while writers commit in random order and a client pulls concurrently")
    func concurrentWriters() async throws {
        try await TestApp.run { app in
            let email = try await Self.account(app)
            let tenant = try await app.tenantID(email: email)
            let writer = try await Self.device(app, email)
            let reader = try await Self.device(app, email)
            let token = writer.session.token
            let done = ManagedAtomicFlag()
            let (created, signals) = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                // K REST writers of the journal, with random delays between commits.
                for k in 0..<6 {
                    group.addTask {
                        for i in 0..<15 {
                            try await Task.sleep(for: .milliseconds(Int.random(in: 0...40)))
                            let response = try await app.json(
                                .POST, "/v1/journal/trades", token: token,
                                ["symbol": "GBPUSD", "direction": "long", "entry_price": 1.25, "stop_price": 1.24,
                                 "entry_time": "2025-01-0\(k + 1)T10:\(String(format: "%02d", i)):00Z", "notes": "w\(k)-\(i)"])
                            guard response.status == 201 else { throw TestFailure("create: \(response.status) \(response.body)") }
                        }
                        return (15, 0)
                    }
                }
                // Pipeline-like writers of signals that hold their versions uncommitted for a while.
                for _ in 0..<3 {
                    group.addTask {
                        var n = 0
                        for _ in 0..<5 {
                            let count = Int.random(in: 1...4)
                            try await app.insertSignals(tenant: tenant, count: count, holdMillis: Int.random(in: 0...120))
                            n += count
                        }
                        return (0, n)
                    }
                }
                // The client pulls in small pages all the while.
                group.addTask {
                    while !done.isSet { try await reader.sync(pageSize: 7) }
                    return (0, 0)
                }
                var created = 0, signals = 0, writers = 9
                while writers > 0, let (c, s) = try await group.next() {
                    created += c
                    signals += s
                    writers -= 1
                }
                done.set()
                try await group.waitForAll()
                return (created, signals)
            }
            try await reader.sync(pageSize: 7)
            #expect(created == 90)
            #expect(try reader.store.trades().count == 90, "every committed trade reached the concurrently pulling client")
            #expect(try reader.store.signals().count == signals)
            #expect(Set(try reader.store.trades().compactMap(\.note)).count == 90)
        }
    }

    // MARK: 2. Push idempotence

    @Test("2. a push retried sequentially or concurrently is applied once; a lost push answer is recovered")
    func retriedPush() async throws {
        try await TestApp.run { app in
            let email = try await Self.account(app)
            let device = try await Self.device(app, email)
            let a = try Self.trade(device, note: "a")
            _ = try device.store.editTrade(a, ["notes": .string("a2")])
            _ = try Self.trade(device, note: "b")
            let mutations = try device.store.outbox(limit: 10).map(SyncEngine.mutation)
            #expect(mutations.map(\.id) == [1, 2, 3])

            // Sequentially: the second push is all duplicates and changes nothing.
            let first = try await device.engine.connection.push(deviceID: device.session.deviceID, mutations)
            #expect(first.results.map(\.status) == [.applied, .applied, .applied] && first.lastMutationId == 3)
            let journalVersion = try await app.sqlInt("SELECT version::int FROM sync_counters WHERE stream = 'journal'")
            let again = try await device.engine.connection.push(deviceID: device.session.deviceID, mutations)
            #expect(again.results.map(\.status) == [.duplicate, .duplicate, .duplicate] && again.lastMutationId == 3)
            #expect(try await app.sqlInt("SELECT version::int FROM sync_counters WHERE stream = 'journal'") == journalVersion)

            // Concurrently: five copies of the next three mutations; each is applied by exactly one of them.
            _ = try device.store.editTrade(a, ["notes": .string("a3")])
            _ = try Self.trade(device, note: "c")
            _ = try Self.trade(device, note: "d")
            let next = try device.store.outbox(limit: 10).map(SyncEngine.mutation).filter { $0.id > 3 }
            #expect(next.map(\.id) == [4, 5, 6])
            let answers = try await withThrowingTaskGroup(of: Components.Schemas.SyncPushResponse.self) { group in
                for _ in 0..<5 { group.addTask { try await device.engine.connection.push(deviceID: device.session.deviceID, next) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for id in Int64(4)...6 {
                let statuses = answers.flatMap(\.results).filter { $0.id == id }.map(\.status)
                #expect(statuses.filter { $0 == .applied }.count == 1 && statuses.filter { $0 == .duplicate }.count == 4)
            }
            #expect(try await Self.serverTrades(app, email) == 4)

            // The answers were "lost": the device still holds mutations 1–6 and pushes them again on its next sync.
            let report = try await device.sync()
            #expect(report.applied == 0 && report.duplicates == 6 && report.pending == 0)
            #expect(try await Self.serverTrades(app, email) == 4)
            #expect(try device.note(a) == "a3")
            let other = try await Self.device(app, email)
            try await other.sync()
            #expect(try other.store.snapshot() == device.store.snapshot())
        }
    }

    // MARK: 3. Rejections do not block

    @Test("3. a mutation the server rejects does not block the ones after it")
    func rejectionDoesNotBlock() async throws {
        try await TestApp.run { app in
            let email = try await Self.account(app)
            let phone = try await Self.device(app, email)
            let laptop = try await Self.device(app, email)
            let gone = try Self.trade(phone, note: "to delete")
            try await phone.sync()
            try await laptop.sync()
            _ = try phone.store.deleteTrade(gone)
            try await phone.sync()

            // Offline, the laptop edits the trade the phone deleted, then records two new ones.
            _ = try laptop.store.editTrade(gone, ["notes": .string("too late")])
            let kept1 = try Self.trade(laptop, note: "after 1")
            let kept2 = try Self.trade(laptop, note: "after 2")
            let report = try await laptop.sync()
            #expect(report.rejected.map(\.code) == ["deleted"], "\(report.rejected)")
            #expect(report.applied == 2 && report.pending == 0)
            #expect(try laptop.store.trades().map(\.id).sorted() == [kept1, kept2].sorted())
            #expect(try laptop.store.rejections().first?.entityID == gone)

            // Raw mutations: an unknown entity, a bad field and a bad value are each rejected; the next is applied.
            let c = laptop.engine.connection
            let hlc = HLC(wall: HLC.millis(Date()), counter: 0, device: laptop.session.deviceID).description
            let id = UUIDv7.generate().uuidString.lowercased()
            func write(_ value: JSONValue) -> Components.Schemas.SyncFieldWrite { .init(value: value.valueContainer, hlc: hlc) }
            let answer = try await c.push(
                deviceID: laptop.session.deviceID,
                [
                    .init(id: 4, op: "create", entity: "users", entityId: id, fields: .init(additionalProperties: ["symbol": write(.string("X"))])),
                    .init(id: 5, op: "create", entity: "trade", entityId: id, fields: .init(additionalProperties: ["pnl": write(.number(5))])),
                    .init(id: 6, op: "create", entity: "trade", entityId: id,
                          fields: .init(additionalProperties: [
                            "symbol": write(.string("EURUSD")), "direction": write(.string("long")), "entry_price": write(.number(1.1)),
                            "stop_price": write(.number(1.2)), "entry_time": write(.string("2025-01-01T00:00:00Z")),
                          ])),
                    .init(id: 7, op: "create", entity: "trade", entityId: id,
                          fields: .init(additionalProperties: [
                            "symbol": write(.string("EURUSD")), "direction": write(.string("long")), "entry_price": write(.number(1.1)),
                            "stop_price": write(.number(1.0)), "entry_time": write(.string("2025-01-01T00:00:00Z")),
                          ])),
                    .init(id: 9, op: "delete", entity: "trade", entityId: id, hlc: hlc),
                ])
            #expect(answer.results.map(\.status) == [.rejected, .rejected, .rejected, .applied, .notProcessed])
            #expect(answer.results.map(\.code) == ["unknown_entity", "invalid", "invalid", nil, nil])
            #expect(answer.results[2].reason?.contains("stop_price") == true, "\(answer.results[2])")
            #expect(answer.lastMutationId == 7, "a rejected mutation counts as processed; processing stops at the gap")
        }
    }

    // MARK: 4. Field-level merge

    @Test("4. two devices editing different fields offline both keep their edits")
    func differentFields() async throws {
        try await TestApp.run { app in
            let email = try await Self.account(app)
            let a = try await Self.device(app, email)
            let b = try await Self.device(app, email)
            let id = try Self.trade(a, note: "plan")
            try await a.sync()
            try await b.sync()
            _ = try a.store.editTrade(id, ["notes": .string("moved stop to breakeven")])
            _ = try b.store.editTrade(id, ["stop_price": .number(1.095), "tags": .array([.string("london")])])
            try await a.sync()
            try await b.sync()
            try await a.sync()
            for device in [a, b] {
                let trade = try device.store.trade(id)
                #expect(trade.note == "moved stop to breakeven" && trade.stop == 1.095 && trade.tags == ["london"])
            }
            // The server's REST view agrees.
            let rest = try await app.json(.GET, "/v1/journal/trades/\(id)", token: a.session.token).decode(Components.Schemas.Trade.self)
            #expect(rest.notes == "moved stop to breakeven" && rest.stopPrice == 1.095)
        }
    }

    @Test("4. the same field converges to one value whatever the order of syncs (3 devices, every order)")
    func sameFieldPermutations() async throws {
        try await TestApp.run { app in
            let email = try await Self.account(app)
            let devices = [try await Self.device(app, email), try await Self.device(app, email), try await Self.device(app, email)]
            let orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]
            var finals: [String] = []
            for order in orders {
                let id = try Self.trade(devices[0], note: "start")
                for d in devices { try await d.sync() }
                // Each device edits the note offline, in turn (so device 2's edit is the latest).
                for (i, d) in devices.enumerated() {
                    _ = try d.store.editTrade(id, ["notes": .string("device \(i) in \(order)")])
                    try await Task.sleep(for: .milliseconds(3))
                }
                for i in order { try await devices[i].sync() }
                for d in devices { try await d.sync() }
                let notes = try devices.map { try $0.note(id) }
                #expect(Set(notes).count == 1, "converged: \(notes)")
                #expect(notes[0] == "device 2 in \(order)", "the latest edit wins, whatever the order of syncs")
                finals.append(try devices[0].store.snapshot())
                #expect(try devices[1].store.snapshot() == finals.last && devices[2].store.snapshot() == finals.last)
            }
        }
    }

    // MARK: 5. Deletes win

    @Test("5. a delete wins over a concurrent edit; a later edit does not bring the entry back")
    func deletesWin() async throws {
        try await TestApp.run { app in
            let email = try await Self.account(app)
            let a = try await Self.device(app, email)
            let b = try await Self.device(app, email)
            // Edit synced first, delete second.
            let first = try Self.trade(a, note: "one")
            try await a.sync()
            try await b.sync()
            _ = try a.store.deleteTrade(first)
            _ = try b.store.editTrade(first, ["notes": .string("edited while deleted elsewhere")])
            try await b.sync()
            try await a.sync()
            try await b.sync()
            #expect(try a.store.trades().isEmpty && b.store.trades().isEmpty)

            // Delete synced first, edit second: the edit is rejected, and the entry stays gone everywhere.
            let second = try Self.trade(a, note: "two")
            try await a.sync()
            try await b.sync()
            _ = try b.store.deleteTrade(second)
            _ = try a.store.editTrade(second, ["notes": .string("late edit")])
            try await b.sync()
            let report = try await a.sync()
            #expect(report.rejected.map(\.code) == ["deleted"])
            #expect(try a.store.trades().isEmpty && b.store.trades().isEmpty)
            #expect(try await Self.serverTrades(app, email) == 0)
            // Over REST too: gone, and a PATCH cannot revive it.
            #expect(try await app.json(.GET, "/v1/journal/trades/\(second)", token: a.session.token).status == 404)
            let patch = try await app.json(.PATCH, "/v1/journal/trades/\(second)", token: a.session.token, ["notes": "revive"])
            #expect(patch.status == 404)
            let c = try await Self.device(app, email)
            try await c.sync()
            #expect(try c.store.trades().isEmpty)
        }
    }

    // MARK: 6. Page sizes and interruption

    @Test("6. page size 1 and page size 10,000 give the same state")
    func pageSizes() async throws {
        try await TestApp.run { app in
            let email = try await Self.account(app)
            let tenant = try await app.tenantID(email: email)
            let writer = try await Self.device(app, email)
            for i in 0..<40 { _ = try Self.trade(writer, note: "t\(i)", entry: 1.1 + Double(i) / 1000) }
            try await writer.sync()
            try await app.insertSignals(tenant: tenant, count: 25)
            let ids = try writer.store.trades().map(\.id)
            for id in ids.prefix(5) { _ = try writer.store.deleteTrade(id) }
            for id in ids.suffix(5) { _ = try writer.store.editTrade(id, ["notes": .string("edited")]) }
            try await writer.sync()
            let small = try await Self.device(app, email)
            let large = try await Self.device(app, email)
            let smallReport = try await small.sync(pageSize: 1)
            let largeReport = try await large.sync(pageSize: 10_000)
            #expect(largeReport.pages == 1 && smallReport.pages > 60)
            #expect(try small.store.snapshot() == large.store.snapshot())
            #expect(try small.store.trades().count == 35 && small.store.signals().count == 25)
            #expect(try writer.store.snapshot() == large.store.snapshot())
        }
    }

    @Test("6. a sync killed (kill -9) mid-page resumes without duplicates or misses")
    func killedSync() async throws {
        try await TestApp.run { app in
            let email = try await Self.account(app)
            let tenant = try await app.tenantID(email: email)
            let writer = try await Self.device(app, email)
            for i in 0..<150 { _ = try Self.trade(writer, note: "t\(i)", entry: 1.0 + Double(i) / 1000) }
            try await writer.sync()
            try await app.insertSignals(tenant: tenant, count: 100)
            let reference = try await Self.device(app, email)
            try await reference.sync()

            let victim = try await Self.device(app, email)
            var kills = 0
            for delay in [150, 250, 350, 450] {
                let pid = try Executables.start("smc-client", ["sync", "--page-size", "2", "--home", victim.store.home.path])
                try await Task.sleep(for: .milliseconds(delay))
                if await Executables.killIfRunning(pid) { kills += 1 }
            }
            #expect(kills > 0, "at least one sync was killed mid-way")
            let partial = try victim.store.status()
            #expect(partial.trades + partial.signals < 250, "the killed syncs had not finished")
            try await victim.sync(pageSize: 2)
            #expect(try victim.store.snapshot() == reference.store.snapshot())
            #expect(try victim.store.trades().count == 150 && victim.store.signals().count == 100)
        }
    }

    // MARK: 7. Reset

    @Test("7. a reset (cursor beyond the tombstone horizon) ends in the state of an incremental sync and keeps the outbox")
    func reset() async throws {
        try await TestApp.run(configure: {
            $0.pipelineWorkers = 1
            $0.maintenanceInterval = .milliseconds(100)
        }) { app in
            let email = try await Self.account(app)
            let a = try await Self.device(app, email)
            let offline = try await Self.device(app, email)
            let incremental = try await Self.device(app, email)
            for i in 0..<10 { _ = try Self.trade(a, note: "t\(i)") }
            try await a.sync()
            try await offline.sync()
            try await incremental.sync()
            // While `offline` is away: deletes whose tombstones age past the horizon, and other edits.
            let ids = try a.store.trades().map(\.id)
            for id in ids.prefix(3) { _ = try a.store.deleteTrade(id) }
            _ = try a.store.editTrade(ids[5], ["notes": .string("edited while away")])
            try await a.sync()
            try await incremental.sync()
            try await app.sql("UPDATE trades SET deleted_at = now() - interval '40 days' WHERE deleted_at IS NOT NULL")
            var purged = false
            for _ in 0..<100 where !purged {
                try await Task.sleep(for: .milliseconds(100))
                purged = try await app.sqlInt("SELECT count(*)::int FROM trades WHERE deleted_at IS NOT NULL") == 0
            }
            #expect(purged, "maintenance purged the old tombstones")
            #expect(try await app.sqlInt("SELECT horizon::int FROM sync_counters WHERE stream = 'journal'") > 0)

            // The offline device made an edit of its own before coming back.
            _ = try offline.store.editTrade(ids[7], ["notes": .string("offline edit")])
            let pulled = try await offline.engine.pullOnly()
            #expect(pulled.resets == ["journal"])
            #expect(pulled.pending == 1, "the outbox survives the reset")
            #expect(try offline.note(ids[7]) == "offline edit", "an entry with a pending edit keeps it through the reset")
            #expect(try offline.store.trades().count == 7, "the deleted entries are gone although their tombstones were purged")
            try await offline.sync()
            try await incremental.sync()
            #expect(try offline.store.snapshot() == incremental.store.snapshot())
            #expect(try incremental.note(ids[7]) == "offline edit")
        }
    }

    // MARK: 8. Clock skew

    @Test("8. a device whose clock runs a day ahead cannot win every later merge")
    func clockAhead() async throws {
        try await TestApp.run { app in
            let email = try await Self.account(app)
            let honest = try await Self.device(app, email)
            let ahead = try await Self.device(app, email, clockSkewSeconds: 86_400)
            let id = try Self.trade(honest, note: "plan")
            try await honest.sync()
            try await ahead.sync()
            _ = try ahead.store.editTrade(id, ["notes": .string("from the future")])
            let report = try await ahead.sync()
            #expect(report.rejected.map(\.code) == ["clock_ahead"])
            #expect(try ahead.note(id) == "plan", "the refused edit is undone locally: the server's value is back")
            _ = try honest.store.editTrade(id, ["notes": .string("later, honest")])
            try await honest.sync()
            try await ahead.sync()
            #expect(try ahead.note(id) == "later, honest" && honest.note(id) == "later, honest")
            // A stamp within the allowed drift is accepted.
            let near = try await Self.device(app, email, clockSkewSeconds: 60)
            try await near.sync()
            _ = try near.store.editTrade(id, ["notes": .string("a minute fast")])
            #expect(try await near.sync().rejected.isEmpty)
        }
    }

    // MARK: 9. Tenant isolation

    @Test("9. tenants stay apart under forged cursors, device ids and stream names")
    func isolation() async throws {
        try await TestApp.run { app in
            let alice = try await Self.account(app)
            let bob = try await Self.account(app)
            let a = try await Self.device(app, alice)
            let b = try await Self.device(app, bob)
            let secret = try Self.trade(a, note: "alice's secret")
            try await a.sync()
            try await app.insertSignals(tenant: try await app.tenantID(email: alice), count: 5)
            try await Self.trade(b, note: "bob's")
            try await b.sync()

            func pull(_ token: String, _ body: [String: Any]) async throws -> TestResponse {
                try await app.json(.POST, "/v1/sync/pull", token: token, body)
            }
            // Forged cursors: version 0 of every stream, a huge version, another tenant's cursor — only bob's rows.
            let zero = ["signals": SyncCursor(stream: .signals, epoch: 1, version: 0).encoded,
                        "journal": SyncCursor(stream: .journal, epoch: 1, version: 0).encoded]
            let aliceCursors = try a.store.cursors()
            for (cursors, full) in [(zero, true), (aliceCursors, false), (["journal": SyncCursor(stream: .journal, epoch: 1, version: 1 << 40).encoded], true)] {
                let r = try await pull(b.session.token, ["protocol": 1, "schema": 1, "device_id": b.session.deviceID, "cursors": cursors])
                #expect(r.status == 200, "\(r.body)")
                #expect(!r.body.contains(secret) && !r.body.contains("alice"), "\(r.body)")
                // Alice's cursor only moves bob's own position (here: past his one change); it reads nothing of hers.
                #expect(r.body.contains("bob's") == full, "\(r.body)")
            }
            // A cursor of another stream, garbage, or an unknown stream name.
            for cursors in [["journal": zero["signals"]!], ["signals": "not-a-cursor"]] as [[String: String]] {
                let r = try await pull(b.session.token, ["protocol": 1, "schema": 1, "device_id": b.session.deviceID, "cursors": cursors])
                #expect(r.status == 400 && r.problemCode == "invalid_cursor", "\(r.body)")
            }
            let unknown = try await pull(
                b.session.token, ["protocol": 1, "schema": 1, "device_id": b.session.deviceID, "cursors": ["trades": zero["journal"]!]])
            #expect(unknown.status == 422 && unknown.body.contains("/cursors/trades"), "an unknown stream is not a field: \(unknown.body)")
            // Another device's id (alice's), with bob's token.
            let forged = try await pull(b.session.token, ["protocol": 1, "schema": 1, "device_id": a.session.deviceID])
            #expect(forged.status == 403 && forged.problemCode == "device_mismatch")
            // Bob's device editing and deleting alice's trade id: not found in his tenant; alice's trade unchanged.
            let hlc = HLC(wall: HLC.millis(Date()), counter: 0, device: b.session.deviceID).description
            let push = try await app.json(
                .POST, "/v1/sync/push", token: b.session.token,
                ["protocol": 1, "schema": 1, "device_id": b.session.deviceID,
                 "mutations": [
                    ["id": 2, "op": "update", "entity": "trade", "entity_id": secret, "fields": ["notes": ["value": "pwned", "hlc": hlc]]],
                    ["id": 3, "op": "delete", "entity": "trade", "entity_id": secret, "hlc": hlc],
                    ["id": 4, "op": "create", "entity": "trade", "entity_id": secret,
                     "fields": ["symbol": ["value": "EURUSD", "hlc": hlc], "direction": ["value": "long", "hlc": hlc],
                                "entry_price": ["value": 1.1, "hlc": hlc], "entry_time": ["value": "2025-01-01T00:00:00Z", "hlc": hlc]]],
                 ]])
            #expect(push.status == 200, "\(push.body)")
            let statuses = try push.decode(Components.Schemas.SyncPushResponse.self).results.map { "\($0.status.rawValue)/\($0.code ?? "")" }
            #expect(statuses.prefix(2) == ["rejected/not_found", "rejected/not_found"], "\(push.body)")
            try await a.sync()
            #expect(try a.note(secret) == "alice's secret")
            let aliceTenant = try await app.tenantID(email: alice)
            #expect(try await app.sqlInt("SELECT count(*)::int FROM trades WHERE trade_id = '\(secret)' AND tenant_id = '\(aliceTenant)' AND notes = 'alice''s secret'") == 1,
                    "bob's create with alice's id made his own row at most, never touched hers")
            // A revoked device syncs nothing.
            #expect(try await app.json(.POST, "/v1/auth/logout", token: b.session.token).status == 204)
            let revoked = try await pull(b.session.token, ["protocol": 1, "schema": 1, "device_id": b.session.deviceID])
            #expect(revoked.status == 401)
            await #expect(throws: SyncFailure.self) { try await b.sync() }
        }
    }

    @Test("an unsupported protocol or schema is 426 with the supported range, and nothing is applied")
    func versions() async throws {
        try await TestApp.run { app in
            let email = try await Self.account(app)
            let d = try await Self.device(app, email)
            let hlc = HLC(wall: HLC.millis(Date()), counter: 0, device: d.session.deviceID).description
            for (p, s) in [(2, 1), (1, 7), (0, 1)] {
                let r = try await app.json(
                    .POST, "/v1/sync/push", token: d.session.token,
                    ["protocol": p, "schema": s, "device_id": d.session.deviceID,
                     "mutations": [["id": 1, "op": "delete", "entity": "trade", "entity_id": UUID().uuidString, "hlc": hlc]]])
                #expect(r.status == 426 && r.problemCode == "unsupported_version", "\(r.body)")
                let supported = try r.json()["supported"] as? [String: [String: Int]]
                #expect(supported?["protocol"] == ["min": 1, "max": 1] && supported?["schema"] == ["min": 1, "max": 1])
            }
            let pulled = try await app.json(.POST, "/v1/sync/pull", token: d.session.token, ["protocol": 1, "schema": 1, "device_id": d.session.deviceID])
            #expect(try pulled.decode(Components.Schemas.SyncPullResponse.self).lastMutationId == 0, "nothing was processed")
            let limit = try await app.json(
                .POST, "/v1/sync/pull", token: d.session.token, ["protocol": 1, "schema": 1, "device_id": d.session.deviceID, "limit": 0])
            #expect(limit.status == 422)
        }
    }

    @Test("REST journal writes and sync edits merge field by field; annotations sync both ways; pruned signals leave")
    func restAndAnnotations() async throws {
        try await TestApp.run(configure: {
            $0.pipelineWorkers = 1
            $0.maintenanceInterval = .milliseconds(100)
        }) { app in
            let email = try await Self.account(app)
            let tenant = try await app.tenantID(email: email)
            let d = try await Self.device(app, email)
            let e = try await Self.device(app, email)
            let signal = try await app.insertSignals(tenant: tenant, count: 1)[0].uuidString.lowercased()
            let id = try Self.trade(d, note: "from the phone")
            try await d.sync()
            try await e.sync()
            // REST changes the stop; the device (offline) changes the note: both stay.
            let patched = try await app.json(.PATCH, "/v1/journal/trades/\(id)", token: d.session.token, ["stop_price": 1.085])
            #expect(patched.status == 200, "\(patched.body)")
            _ = try d.store.editTrade(id, ["notes": .string("device note")])
            try await d.sync()
            #expect(try d.store.trade(id).stop == 1.085 && d.note(id) == "device note")
            // Annotations: offline on one device, seen on the other and over REST; cleared again.
            _ = try d.store.annotate(signal, note: "took it", tags: ["a+"], taken: true)
            try await d.sync()
            try await e.sync()
            #expect(try e.store.signal(signal).annotation?["note"] == .string("took it"))
            // A trade linked to the signal (by id prefix, offline): the server fills in the setup type and timeframe
            // from the signal, and the device receives them.
            var linked = TradeInput(symbol: "EURUSD", direction: "long", entry: 1.1, stop: 1.09)
            linked.signalID = String(signal.prefix(13))
            let linkedID = try d.store.addTrade(linked)
            #expect(throws: StoreError.self) {
                var unknown = TradeInput(symbol: "EURUSD", direction: "long", entry: 1.1, stop: 1.09)
                unknown.signalID = "ffffffff"
                _ = try d.store.addTrade(unknown)
            }
            try await d.sync()
            let filled = try d.store.trade(linkedID)
            #expect(filled.signalID == signal && filled.setupType == "fair_value_gap" && filled.timeframe == "15m", "\(filled)")
            // Offline filters, as on the server.
            var open = LocalStore.SignalFilter()
            open.outcome = "open"
            open.symbol = "eurusd"
            #expect(try e.store.signals(open).map(\.id) == [signal])
            var target = LocalStore.SignalFilter()
            target.outcome = "target"
            #expect(try e.store.signals(target).isEmpty)
            var later = LocalStore.SignalFilter()
            later.since = "2100-01-01T00:00:00.000Z"
            #expect(try e.store.signals(later).isEmpty)
            let rest = try await app.json(.GET, "/v1/signals/\(signal)", token: d.session.token).decode(Components.Schemas.SignalDetail.self)
            #expect(rest.value1.annotation?.taken == true)
            _ = try e.store.annotate(signal, note: nil, tags: nil, taken: nil, clear: true)
            try await e.sync()
            try await d.sync()
            #expect(try d.store.signal(signal).annotation?["note"] == nil)
            #expect(try d.store.snapshot() == e.store.snapshot())
            // A signal the plan's history no longer keeps is pruned by maintenance and leaves a tombstone: devices drop it.
            try await app.sql("UPDATE signals SET created_at = now() - interval '2000 days'")
            var pruned = false
            for _ in 0..<100 where !pruned {
                try await Task.sleep(for: .milliseconds(100))
                pruned = try await app.sqlInt("SELECT count(*)::int FROM signal_tombstones WHERE signal_id = '\(signal)'") == 1
            }
            #expect(pruned)
            try await d.sync()
            #expect(try d.store.signals().isEmpty)
        }
    }
}

/// A flag set once, read from other tasks.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// The `smc-client` binary as a person or a script runs it: sign-in, offline journal, sync, exit codes.
@Suite("smc-client sync commands")
struct SyncCommandTests {
    static func client(_ home: String, _ arguments: [String], input: String? = nil) async throws -> Executables.Run {
        try await Executables.run("smc-client", arguments + ["--home", home], input: input)
    }

    @Test("login, journal add/edit/close/list/show/stats offline, sync to a second home, status, logout")
    func journalRoundTrip() async throws {
        try await TestApp.run { app in
            let email = try await SyncTests.account(app)
            let one = FileManager.default.temporaryDirectory.appendingPathComponent("smc-cli-\(UUID().uuidString)").path
            let two = FileManager.default.temporaryDirectory.appendingPathComponent("smc-cli-\(UUID().uuidString)").path
            for home in [one, two] {
                let login = try await Self.client(
                    home, ["login", "--server", app.baseURL, "--email", email, "--password-stdin"], input: SyncTests.password + "\n")
                #expect(login.status == 0, "\(login.stderr)")
            }
            let added = try await Self.client(
                one, ["journal", "add", "--symbol", "eurusd", "--direction", "long", "--entry", "1.1012", "--stop", "1.0990",
                      "--target", "1.1080", "--note", "NY open FVG", "--tag", "fvg", "--tag", "ny"])
            #expect(added.status == 0, "\(added.stderr)")
            let id = added.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(UUID(uuidString: id) != nil, "journal add prints the new id: \(added.stdout)")
            #expect(try await Self.client(one, ["journal", "edit", String(id.prefix(18)), "--note", "moved stop", "--stop", "1.1"]).status == 0)
            let bad = try await Self.client(one, ["journal", "edit", id, "--stop", "1.2"])
            #expect(bad.status == 4 && bad.stderr.contains("--stop"), "a stop above a long's entry is refused offline: \(bad.stderr)")
            let closed = try await Self.client(one, ["journal", "close", id, "--exit", "1.1080"])
            #expect(closed.status == 0 && closed.stdout.contains("win"), "\(closed.stdout) \(closed.stderr)")

            let status = try await Self.client(one, ["status", "--json"])
            let pending = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
            #expect(pending?["pending_changes"] as? Int == 3 && pending?["signed_in"] as? Bool == true)

            let sync = try await Self.client(one, ["sync", "--json"])
            #expect(sync.status == 0, "\(sync.stderr)")
            let report = try JSONSerialization.jsonObject(with: Data(sync.stdout.utf8)) as? [String: Any]
            #expect(report?["applied"] as? Int == 3 && report?["pending"] as? Int == 0)
            let plain = try await Self.client(two, ["sync"])
            #expect(plain.status == 0 && plain.stdout.contains("1 received"), "\(plain.stdout)")
            #expect(plain.stderr.contains("pull  1 change(s) received in 1 page(s)"), "plain progress lines when not on a terminal: \(plain.stderr)")

            let list = try await Self.client(two, ["journal", "list", "--json"])
            let entries = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]], "\(list.stdout)")
            #expect(entries.count == 1)
            let entry = entries[0]
            #expect(entry["id"] as? String == id && entry["symbol"] as? String == "EURUSD" && entry["direction"] as? String == "long")
            #expect(entry["entry"] as? Double == 1.1012 && entry["stop"] as? Double == 1.1 && entry["note"] as? String == "moved stop")
            #expect(entry["tags"] as? [String] == ["fvg", "ny"] && entry["outcome"] as? String == "win" && entry["exit"] as? Double == 1.108)
            let table = try await Self.client(two, ["journal", "list"])
            #expect(table.stdout.contains("EURUSD") && table.stdout.contains("moved stop"))
            let stats = try await Self.client(two, ["journal", "stats", "--json"])
            let figures = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any]
            #expect(figures?["wins"] as? Int == 1 && figures?["win_rate"] as? Double == 1)

            #expect(try await Self.client(two, ["journal", "delete", id]).status == 0)
            #expect(try await Self.client(two, ["journal", "show", id]).status == 5, "a deleted trade: no such id here")
            let refused = try await Self.client(two, ["logout"])
            #expect(refused.status == 4, "logout refuses while a change is not synced: \(refused.stderr)")
            #expect(try await Self.client(two, ["sync"]).status == 0)
            #expect(try await Self.client(two, ["logout"]).status == 0)
            #expect(try await Self.client(two, ["sync"]).status == 2, "signed out: an authentication failure")
            #expect(try await Self.client(one, ["sync"]).status == 0)
            #expect(try await Self.client(one, ["journal", "list", "--json"]).stdout.contains(id) == false)
        }
    }

    @Test("exit codes: 3 when the server cannot be reached, 2 when the device was revoked")
    func exitCodes() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("smc-cli-\(UUID().uuidString)").path
        let token: String = try await TestApp.run { app in
            let email = try await SyncTests.account(app)
            let login = try await Self.client(
                home, ["login", "--server", app.baseURL, "--email", email, "--password-stdin"], input: SyncTests.password + "\n")
            #expect(login.status == 0, "\(login.stderr)")
            let wrong = try await Self.client(
                FileManager.default.temporaryDirectory.appendingPathComponent("smc-cli-\(UUID().uuidString)").path,
                ["login", "--server", app.baseURL, "--email", email, "--password-stdin"], input: "wrong password\n")
            #expect(wrong.status == 2)
            let token = try #require(try LocalStore(home: URL(fileURLWithPath: home)).session()).token
            // Signed out from elsewhere (e.g. DELETE /v1/devices/{id} from another device): authentication.
            #expect(try await app.json(.POST, "/v1/auth/logout", token: token).status == 204)
            let revoked = try await Self.client(home, ["sync"])
            #expect(revoked.status == 2, "\(revoked.stderr)")
            #expect(revoked.stderr.contains("token_revoked"))
            let again = try await Self.client(
                home, ["login", "--server", app.baseURL, "--email", email, "--password-stdin"], input: SyncTests.password + "\n")
            #expect(again.status == 0)
            return token
        }
        // The server is gone: offline commands still work; sync says network.
        let add = try await Self.client(home, ["journal", "add", "--symbol", "GBPUSD", "--direction", "short", "--entry", "1.25", "--stop", "1.26"])
        #expect(add.status == 0)
        let offline = try await Self.client(home, ["sync", "--attempts", "2"])
        #expect(offline.status == 3, "\(offline.stderr)")
        #expect(!token.isEmpty)
    }
}
