import Foundation
import SMCSync
import SMCTestSupport
import Testing

@testable import SMCClient

/// Short ids (issue 13): tables print the shortest prefix that is unique among the ids known locally, and every
/// command that takes an id takes any unique prefix; an ambiguous one lists its candidates (exit 5).
@Suite("id prefixes")
struct IDPrefixTests {
    @Test("ids minted in one millisecond get prefixes that are unique, at least 8 hex digits, and only as long as needed")
    func shortestPrefixes() {
        let ids = sameMillisecondIDs(50)
        #expect(Set(ids.map { $0.prefix(13) }).count == 1, "the premise: a 13-character prefix is the same for all")
        let prefixes = IDPrefix.shortest(ids)
        #expect(prefixes.count == 50)
        #expect(Set(prefixes.values).count == 50, "unique")
        for (id, prefix) in prefixes {
            #expect(id.hasPrefix(prefix) && IDPrefix.key(prefix).count >= 8)
            #expect(ids.filter { IDPrefix.key($0).hasPrefix(IDPrefix.key(prefix)) } == [id], "\(prefix) names only \(id)")
            // One hex digit fewer names another id too (unless it is the 8-digit minimum).
            let shorter = String(IDPrefix.key(prefix).dropLast())
            #expect(shorter.count < 8 || ids.filter { IDPrefix.key($0).hasPrefix(shorter) }.count > 1, "\(prefix) is the shortest")
        }
        // Ids far apart keep the 8-digit minimum, which stops at the first hyphen.
        let apart = ["01970000-0000-7000-8000-000000000000", "01980000-0000-7000-8000-000000000000"]
        #expect(IDPrefix.shortest(apart) == [apart[0]: "01970000", apart[1]: "01980000"])
        #expect(IDPrefix.shortest(["01970000-0000-7000-8000-000000000000", "01970000-1000-7000-8000-000000000000"]).values.sorted()
            == ["01970000-0", "01970000-1"])
    }

    @Test("signals list prints a unique prefix for each of 5 signals of one millisecond; signals show and annotate take it")
    func signalPrefixes() async throws {
        try await TestApp.run { app in
            let home = try await ClientHome.signedIn(app)
            let ids = sameMillisecondIDs(5)
            try await TestSignal.insert(app, email: home.email, ids.map { TestSignal(id: $0) })
            #expect(try await home.run(["sync"]).status == 0)

            let list = try await home.run(["signals", "list"])
            #expect(list.status == 0, "\(list.stderr)")
            let shown = ClientHome.ids(list.stdout)
            #expect(shown.count == 5 && Set(shown).count == 5, "unique prefixes: \(list.stdout)")
            for prefix in shown {
                #expect(IDPrefix.key(prefix).count >= 8 && prefix.count < 36, "\(prefix)")
                let id = try #require(ids.first { $0.hasPrefix(prefix) }, "\(prefix) is the start of an id")
                let show = try await home.run(["signals", "show", prefix])
                #expect(show.status == 0 && show.stdout.contains(id), "\(prefix): \(show.stderr)")
                // Without hyphens, or in capitals, it is the same prefix.
                let plain = try await home.run(["signals", "show", prefix.replacingOccurrences(of: "-", with: "").uppercased()])
                #expect(plain.status == 0 && plain.stdout.contains(id), "\(plain.stderr)")
            }
            let annotated = try await home.run(["signals", "annotate", shown[2], "--note", "took it", "--taken"])
            #expect(annotated.status == 0 && ids.contains(annotated.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(annotated.stderr)")

            // The 13-character prefix the table used to print names all five: refused with the candidates, exit 5.
            let common = String(ids[0].prefix(13))
            let ambiguous = try await home.run(["signals", "show", common])
            #expect(ambiguous.status == 5, "\(ambiguous.stderr)")
            #expect(ambiguous.stderr.contains("matches 5 entries"), "\(ambiguous.stderr)")
            for id in ids { #expect(ambiguous.stderr.contains(id), "every candidate is listed: \(ambiguous.stderr)") }
            #expect(ambiguous.stdout.isEmpty)
            // A trade can follow a signal named by its prefix too.
            let linked = try await home.run(["journal", "add", "--symbol", "EURUSD", "--direction", "long", "--entry", "1.1", "--signal", shown[0]])
            #expect(linked.status == 0, "\(linked.stderr)")
            let nowhere = try await home.run(["journal", "add", "--symbol", "EURUSD", "--direction", "long", "--entry", "1.1", "--signal", common])
            #expect(nowhere.status == 5 && nowhere.stderr.contains("matches 5 entries"), "\(nowhere.stderr)")
        }
    }

    @Test("journal list prints unique prefixes; show, edit, close and delete take them; unknown, too short or deleted: exit 5")
    func tradePrefixes() async throws {
        try await TestApp.run { app in
            let home = try await ClientHome.signedIn(app)
            let token = try home.token
            // Five trades with ids minted in one millisecond (a client may mint its trade's id), created over REST.
            let ids = sameMillisecondIDs(5)
            for (i, id) in ids.enumerated() {
                let created = try await app.json(
                    .POST, "/v1/journal/trades", token: token,
                    ["id": id, "symbol": "EURUSD", "direction": "long", "entry_price": 1.1 + Double(i) / 1000, "stop_price": 1.09,
                     "entry_time": "2025-06-02T08:1\(i):00Z"])
                #expect(created.status == 201, "\(created.body)")
            }
            #expect(try await home.run(["sync"]).status == 0)
            let list = try await home.run(["journal", "list"])
            let shown = ClientHome.ids(list.stdout)
            #expect(shown.count == 5 && Set(shown).count == 5, "unique prefixes: \(list.stdout)")
            func id(_ prefix: String) -> String? { ids.first { $0.hasPrefix(prefix) } }
            for prefix in shown {
                let full = try #require(id(prefix))
                let show = try await home.run(["journal", "show", prefix])
                #expect(show.status == 0 && show.stdout.contains(full), "\(prefix): \(show.stderr)")
            }
            let first = try #require(id(shown[0]))
            let edit = try await home.run(["journal", "edit", shown[0], "--note", "moved"])
            #expect(edit.status == 0 && edit.stdout.contains(first), "\(edit.stderr)")
            let close = try await home.run(["journal", "close", shown[1], "--exit", "1.12", "--time", "2025-06-02T09:00:00Z"])
            #expect(close.status == 0 && close.stdout.contains("closed: win"), "\(close.stderr)")
            let delete = try await home.run(["journal", "delete", shown[2]])
            #expect(delete.status == 0, "\(delete.stderr)")

            let common = String(ids[0].prefix(13))
            for command in [["journal", "show", common], ["journal", "edit", common, "--note", "x"], ["journal", "close", common, "--exit", "1.2"],
                            ["journal", "delete", common]]
            {
                let run = try await home.run(command)
                #expect(run.status == 5, "\(command): \(run.stderr)")
                #expect(run.stderr.contains("matches 4 entries") && run.stderr.contains("give more of the id"), "\(run.stderr)")
                #expect(run.stderr.contains("EURUSD long"), "candidates say what they are: \(run.stderr)")
            }
            let deleted = try await home.run(["journal", "show", shown[2]])
            #expect(deleted.status == 5 && deleted.stderr.contains("was deleted"), "\(deleted.stderr)")
            let unknown = try await home.run(["journal", "show", "ffffffff"])
            #expect(unknown.status == 5 && unknown.stderr.contains("no trade ffffffff"), "\(unknown.stderr)")
            let short = try await home.run(["journal", "show", "019"])
            #expect(short.status == 5 && short.stderr.contains("at least 4"), "\(short.stderr)")
            let junk = try await home.run(["journal", "show", "EURUSD"])
            #expect(junk.status == 5 && junk.stderr.contains("hex digits"), "\(junk.stderr)")
        }
    }
}
