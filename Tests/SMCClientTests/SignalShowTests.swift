import Foundation
import SMCTestSupport
import Testing

/// `smc-client signals show` reads like a trade idea: prices at the tick, the zone, the biases, the votes and reasons,
/// the outcome before and after costs — from the synced mirror, offline.
@Suite("Client: signals show", .serialized)
struct SignalShowTests {
    @Test("signals show prints the zone, biases, votes with reasons and the outcome after costs, prices at the symbol's tick")
    func showReadsLikeATradeIdea() async throws {
        try await TestApp.run { app in
            let home = try await ClientHome.signedIn(app)
            var row = SignalRow(candleTime: SignalRow.time(ago: 7200))
            row.entry = 1.085_004_9
            row.stop = 1.083
            row.outcome = "stop"
            row.outcomeR = -1
            row.exitPrice = 1.082_99
            try await app.insertSignals([row], tenant: try await app.tenantID(email: home.email))
            #expect(try await home.run(["sync"]).status == 0)

            let show = try await home.run(["signals", "show", row.id.uuidString.lowercased()])
            #expect(show.status == 0, "\(show.stderr)")
            let out = show.stdout
            #expect(out.contains("EURUSD 15m long fair value gap, confidence 57.1 (MEDIUM)"), "\(out)")
            #expect(out.contains("entry       1.08500"), "the entry at EURUSD's 5 decimals: \(out)")
            #expect(out.contains("targets     1.09100, 1.09500"), "\(out)")
            #expect(out.contains("zone        fair value gap 1.08360–1.08460"), "\(out)")
            #expect(out.contains("biases      15m  NEUTRAL  +15.2") && out.contains("4h  HIGH  -80.0"), "\(out)")
            #expect(out.contains("smc") && out.contains("fair_value_gap retest, R:R 3.14"), "the member's reason: \(out)")
            #expect(out.contains("learned") && out.contains("abstained") && out.contains("not trained yet"), "\(out)")
            // EURUSD's default costs (1 pip spread + 0.7 pip commission) over a 20.05-pip risk: 0.0848 R.
            #expect(out.contains("R:R         2.99; costs 0.08 R"), "\(out)")
            #expect(out.contains("outcome     stop at") && out.contains("-1.00 R (-1.08 R after costs), exit 1.08299"), "\(out)")
            #expect(!out.contains("{\""), "no raw JSON: \(out)")

            let json = try await home.run(["signals", "show", row.id.uuidString.lowercased(), "--json"])
            let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            #expect((object?["votes"] as? [Any])?.count == 4 && object?["zone"] != nil && object?["price_decimals"] as? Int == 5)
        }
    }
}
