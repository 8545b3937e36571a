import Foundation
import SMCSync
import SMCTestSupport
import Testing

@testable import SMCClient

/// Journal figures (issue 13): the client computes PnL, R, outcome and the statistics exactly as the server does
/// (PostgreSQL `numeric`), so a trade closed offline shows the figures it has on the server, to the digit.
@Suite("journal figures")
struct JournalFiguresTests {
    /// A closed trade's inputs.
    struct Case: CustomStringConvertible {
        var direction = "long"
        var entry: Double
        var stop: Double?
        var exit: Double
        var size = 1.0
        var fees = 0.0
        var description: String { "\(direction) \(entry) stop \(stop.map { "\($0)" } ?? "-") exit \(exit) size \(size) fees \(fees)" }
    }

    static let cases: [Case] = [
        Case(entry: 1.1, stop: 1.097, exit: 1.1381, size: 1000),  // pnl 38.1 (doubles: 38.0999999999998), R 12.7
        Case(entry: 1.1, stop: 1.097, exit: 1.105),  // pnl 0.005 exactly, R 1.666…67
        Case(entry: 1.1, stop: 1.097, exit: 1.101),  // R 1/3 (20 digits after the point)
        Case(direction: "short", entry: 1.25, stop: 1.2575, exit: 1.2425, size: 100_000, fees: 7),
        Case(direction: "short", entry: 1.3, stop: 1.307, exit: 1.285, size: 100_000, fees: 7),  // R 15/7
        Case(entry: 1.1, stop: 1.093, exit: 1.0951, size: 10_000, fees: 2.5),  // a loss, R −0.7
        Case(entry: 1.1, stop: 1.09, exit: 1.1001, size: 1e9, fees: 100_000),  // exactly breakeven (doubles: a loss)
        Case(entry: 4112.5, stop: 4100, exit: 4150.6, size: 2, fees: 1.3),
        Case(entry: 1.5, stop: nil, exit: 1.6, size: 10, fees: 0.25),  // no stop, no R
        Case(entry: 1.1, stop: 1.0999, exit: 1.3),  // R 2000
        Case(entry: 30123.45, stop: 29876.55, exit: 30456.78, size: 0.3),  // R 1.350060753341433…
        Case(entry: 0.00001234, stop: 0.00001201, exit: 0.00001299, size: 10_000_000),  // 1.234e-05: exponent text, R 65/33
        Case(direction: "short", entry: 152.37, stop: 153.01, exit: 152.8, size: 1000, fees: 0.7),  // a short loss, R −0.671875
        Case(entry: 1.0, stop: 0.7, exit: 2.0),  // "1.0": a scale of 1, R 3.333…
    ]

    /// What the server says about a trade.
    struct ServerTrade: Decodable, Equatable {
        var id: String
        var pnl: Double?
        var rMultiple: Double?
        var outcome: String
        enum CodingKeys: String, CodingKey { case id, pnl, outcome, rMultiple = "r_multiple" }
    }

    struct ServerStats: Decodable, Equatable {
        var count: Int
        var wins: Int
        var losses: Int
        var breakeven: Int
        var winRate: Double?
        var rCount: Int
        var averageR: Double?
        var expectancyR: Double?
        var profitFactor: Double?
        var totalPnl: Double
        enum CodingKeys: String, CodingKey {
            case count, wins, losses, breakeven
            case winRate = "win_rate", rCount = "r_count", averageR = "average_r", expectancyR = "expectancy_r",
                profitFactor = "profit_factor", totalPnl = "total_pnl"
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ body: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(body.utf8))
    }

    @Test("trades closed offline and over REST have the server's pnl, R and outcome to the digit; so do the statistics")
    func offlineFiguresAreTheServers() async throws {
        try await TestApp.run { app in
            let email = try await SyncTests.account(app)
            let device = try await SyncTests.device(app, email)
            let token = device.session.token
            var offline: [(id: String, entry: JournalEntry)] = []
            var rest: [ServerTrade] = []
            for c in Self.cases {
                // Offline, through the client's store.
                var input = TradeInput(symbol: "EURUSD", direction: c.direction, entry: c.entry, stop: c.stop)
                input.size = c.size
                input.fees = c.fees
                input.entryTime = Date(timeIntervalSince1970: 1_748_851_200)  // 2025-06-02T08:00:00Z
                let id = try device.store.addTrade(input)
                _ = try device.store.closeTrade(id, exit: c.exit, at: Date(timeIntervalSince1970: 1_748_854_800))
                offline.append((id, try device.store.trade(id)))
                // The same trade over REST: created open, then closed.
                var body: [String: Any] = [
                    "symbol": "EURUSD", "direction": c.direction, "entry_price": c.entry, "size": c.size, "fees": c.fees,
                    "entry_time": "2025-06-02T08:00:00Z",
                ]
                if let stop = c.stop { body["stop_price"] = stop }
                let created = try await app.json(.POST, "/v1/journal/trades", token: token, body)
                #expect(created.status == 201, "\(c): \(created.body)")
                let restID = try Self.decode(ServerTrade.self, created.body).id
                let closed = try await app.json(
                    .POST, "/v1/journal/trades/\(restID)/close", token: token, ["exit_price": c.exit, "exit_time": "2025-06-02T09:00:00Z"])
                #expect(closed.status == 200, "\(c): \(closed.body)")
                rest.append(try Self.decode(ServerTrade.self, closed.body))
            }
            // Offline figures = the server's for the same inputs, before any sync.
            for (i, c) in Self.cases.enumerated() {
                let local = offline[i].entry
                #expect(local.pnl == rest[i].pnl, "pnl of \(c): client \(String(describing: local.pnl)), server \(String(describing: rest[i].pnl))")
                #expect(local.rMultiple == rest[i].rMultiple, "R of \(c): client \(String(describing: local.rMultiple)), server \(String(describing: rest[i].rMultiple))")
                #expect(local.outcome == rest[i].outcome, "outcome of \(c)")
            }
            #expect(offline[0].entry.pnl == 38.1 && offline[1].entry.pnl == 0.005 && offline[6].entry.outcome == "breakeven")
            #expect(offline[8].entry.rMultiple == nil)

            try await device.sync()
            // The server's figures for the trades the client made, and the client's copies of the REST ones.
            for (i, c) in Self.cases.enumerated() {
                let server = try Self.decode(
                    ServerTrade.self, try await app.json(.GET, "/v1/journal/trades/\(offline[i].id)", token: token).body)
                #expect(server == ServerTrade(id: offline[i].id, pnl: offline[i].entry.pnl, rMultiple: offline[i].entry.rMultiple,
                                              outcome: offline[i].entry.outcome), "\(c)")
                let copy = try device.store.trade(rest[i].id)
                #expect(copy.pnl == rest[i].pnl && copy.rMultiple == rest[i].rMultiple && copy.outcome == rest[i].outcome, "\(c)")
            }
            // The statistics: every trade twice, the client's local figures against GET /v1/journal/stats.
            let stats = try await app.json(.GET, "/v1/journal/stats", token: token)
            struct Overall: Decodable { var overall: ServerStats }
            let server = try Self.decode(Overall.self, stats.body).overall
            let local = try device.store.stats()
            let mine = ServerStats(
                count: local.count, wins: local.wins, losses: local.losses, breakeven: local.breakeven, winRate: local.winRate,
                rCount: local.rCount, averageR: local.averageR, expectancyR: local.expectancyR, profitFactor: local.profitFactor,
                totalPnl: local.totalPnl)
            #expect(mine == server, "client \(mine)\nserver \(server)")
            #expect(server.count == 2 * Self.cases.count)
        }
    }

    @Test("journal close and show print the server's pnl (38.1, not 38.0999999999998)")
    func printedFigures() async throws {
        try await TestApp.run { app in
            let home = try await ClientHome.signedIn(app)
            let added = try await home.run(["journal", "add", "--symbol", "EURUSD", "--direction", "long", "--entry", "1.1", "--stop", "1.097",
                                            "--size", "1000", "--time", "2025-06-02T08:00:00Z"])
            let id = added.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let closed = try await home.run(["journal", "close", id, "--exit", "1.1381", "--time", "2025-06-02T09:00:00Z"])
            #expect(closed.status == 0 && closed.stdout.contains("closed: win, pnl 38.1, R 12.70"), "\(closed.stdout) \(closed.stderr)")
            let show = try await home.run(["journal", "show", id])
            #expect(show.stdout.contains("pnl        38.1\n"), "\(show.stdout)")
            let json = try await home.run(["journal", "list", "--json"])
            #expect(json.stdout.contains("\"pnl\" : 38.1,") && json.stdout.contains("\"r_multiple\" : 12.7,"), "\(json.stdout)")
            let stats = try await home.run(["journal", "stats"])
            #expect(stats.stdout.contains("total pnl      38.1\n"), "\(stats.stdout)")
        }
    }

    @Test("numeric arithmetic: 400 random trades give PostgreSQL's pnl and R text, scale included, and its float8")
    func numericAgainstPostgres() async throws {
        var random = SystemRandomNumberGenerator()
        func price(_ decimals: Int, _ range: ClosedRange<Int>) -> Double {
            let scale = pow(10.0, Double(decimals))
            return Double(Int.random(in: range, using: &random)) / scale
        }
        var rows: [String] = []
        for i in 0..<400 {
            let decimals = Int.random(in: 0...8, using: &random)
            let entry = price(decimals, 1...20_000_000)
            guard entry > 0 else { continue }
            let stop = entry - price(decimals, 1...max(1, Int(entry * pow(10.0, Double(decimals))) / 3))
            let exit = max(price(decimals, 1...1), entry + price(decimals, -Int(entry * pow(10.0, Double(decimals))) / 2...5_000_000))
            let size = [1, 0.5, 3, 10, 1000, 123.456, 1e6, 0.001][i % 8]
            let fees = [0, 1.5, 0.07, 12][i % 4]
            let direction = i % 3 == 0 ? "short" : "long"
            guard stop > 0, stop != entry else { continue }
            let f = TradeFigures(direction: direction, entry: entry, stop: stop, exit: exit, size: size, fees: fees)
            let pnl = try #require(f.pnl), r = try #require(f.rMultiple)
            rows.append(
                "('\(entry)'::numeric, '\(stop)'::numeric, '\(exit)'::numeric, '\(size)'::numeric, '\(fees)'::numeric, "
                    + "\(direction == "short" ? -1 : 1), '\(pnl.plain)', '\(r.plain)', '\(pnl.double)'::float8, '\(r.double)'::float8)")
        }
        // Risks of more than 18 digits (the long division's slow path) and quotients of more than 19.
        for (entry, stop, exit) in [(12345678.9, 0.000000012345, 12345679.7), (999999999.99999, 0.00000001, 1e9),
                                    (0.1, 0.09999999999999, 2000.5), (1.0, 0.7, 987654321.123)] {
            let f = TradeFigures(direction: "long", entry: entry, stop: stop, exit: exit, size: 1, fees: 0)
            let pnl = try #require(f.pnl), r = try #require(f.rMultiple)
            rows.append(
                "('\(entry)'::numeric, '\(stop)'::numeric, '\(exit)'::numeric, '1.0'::numeric, '0.0'::numeric, 1, '\(pnl.plain)', '\(r.plain)', "
                    + "'\(pnl.double)'::float8, '\(r.double)'::float8)")
        }
        let values = rows.joined(separator: ",\n"), count = rows.count
        try await TestApp.run { app in
            let mismatches = try await app.sqlInt(
                """
                SELECT count(*)::int FROM (VALUES \(values)) AS v(e, s, x, size, fees, d, pnl, r, pnl8, r8)
                WHERE ((v.x - v.e) * v.d * v.size - v.fees)::text <> v.pnl OR ((v.x - v.e) * v.d / abs(v.e - v.s))::text <> v.r
                   OR ((v.x - v.e) * v.d * v.size - v.fees)::float8 <> v.pnl8 OR ((v.x - v.e) * v.d / abs(v.e - v.s))::float8 <> v.r8
                """)
            #expect(mismatches == 0, "of \(count)")
            // Averages are numeric divisions too (avg = sum / count).
            let averages = (1...12).map { n in
                let rs = (0..<n).map { k in PostgresNumeric(text: "\(k + 1)")!.divided(by: PostgresNumeric(text: "\(n + 6)")!)! }
                return (rs, rs.reduce(PostgresNumeric.zero, +).divided(by: PostgresNumeric(n))!)
            }
            for (rs, average) in averages {
                let values = rs.map { "('\($0.plain)'::numeric)" }.joined(separator: ", ")
                let wrong = try await app.sqlInt(
                    "SELECT count(*)::int FROM (SELECT avg(r)::text AS a FROM (VALUES \(values)) AS v(r)) t WHERE t.a <> '\(average.plain)'")
                #expect(wrong == 0, "avg of \(rs.map(\.plain)) is not \(average.plain)")
            }
        }
    }
}
