import Foundation
import HTTPTypes
import OpenAPIRuntime
import SMCEngine
import SMCTestSupport
import Testing

@testable import SMCClient

/// `smc-client candles import` as a feeder runs it — the real binary against the real server — and the library
/// underneath it.
@Suite("smc-client candles import")
struct CandleImportTests {
    static var history: String { AnalyzeCommandTests.candles }

    /// A small 15m CSV starting 2024-01-02 00:00 UTC; `rows` are (open, high, low, close) and may hold blank lines
    /// (nil), which the file keeps and the CSV reader skips.
    static func csv(_ rows: [(Double, Double, Double, Double)?]) throws -> String {
        var text = "Date,Open,High,Low,Close,Volume\n"
        var t: Int64 = 1_704_153_600
        for row in rows {
            guard let (o, h, l, c) = row else { text += "\n"; continue }
            let date = Date(timeIntervalSince1970: TimeInterval(t)).formatted(.iso8601)  // 2024-01-02T00:00:00Z
            text += "\(date),\(o),\(h),\(l),\(c),10\n"
            t += 900
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("candles-\(UUID().uuidString).csv").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static let good = (1.1, 1.2, 1.0, 1.15)

    static func run(_ app: TestApp?, _ arguments: [String], key: String?) async throws -> Executables.Run {
        var environment = ["SMC_FEEDER_KEY": key ?? ""]
        if let app { environment["SMC_SERVER"] = app.baseURL }
        return try await Executables.run("smc-client", ["candles", "import"] + arguments, environment: environment)
    }

    static func totals(_ run: Executables.Run) throws -> [String: Int] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
        return object.compactMapValues { $0 as? Int }
    }

    @Test("the EURUSD 15m history is stored whole; a second run finds every candle unchanged")
    func importHistory() async throws {
        try await TestApp.run { app in
            let key = try await app.feederKey()
            let first = try await Self.run(app, [Self.history, "--symbol", "EURUSD", "--timeframe", "15m", "--json"], key: key)
            #expect(first.status == 0, "\(first.stderr)")
            let totals = try Self.totals(first)
            #expect(totals["received"] == 24_424 && totals["inserted"] == 24_424 && totals["unchanged"] == 0)
            #expect(totals["replaced"] == 0 && totals["corrections"] == 0 && totals["batches"] == 5)
            #expect((totals["aggregated"] ?? 0) > 24_424 / 4, "1h, 4h, 1d and 1w candles are built from the 15m ones")
            #expect(try await app.sqlInt("SELECT count(*) FROM candles WHERE symbol = 'EURUSD' AND timeframe = '15m'") == 24_424)
            #expect(try await app.sqlInt("SELECT count(*) FROM candles WHERE timeframe = '1h' AND source = 'aggregate:15m'") > 6000)
            // Not a terminal: a plain line per batch on standard error.
            #expect(first.stderr.contains("batch 1/5: 5000/24424 candles, 20%"), "\(first.stderr)")
            #expect(first.stderr.contains("batch 5/5: 24424/24424 candles, 100%"))

            // Again, the timeframe now read from the spacing, with the summary for people.
            let second = try await Self.run(app, [Self.history, "--symbol", "eurusd", "--batch", "10000"], key: key)
            #expect(second.status == 0, "\(second.stderr)")
            #expect(second.stdout.contains("24424 EURUSD 15m candles in 3 batches"), "\(second.stdout)")
            #expect(second.stdout.contains("0 new, 24424 unchanged, 0 replaced, 0 corrections"), "\(second.stdout)")
            #expect(try await app.sqlInt("SELECT count(*) FROM candles WHERE symbol = 'EURUSD' AND timeframe = '15m'") == 24_424)
        }
    }

    @Test("a row the server refuses stops the import with its CSV line and exit 4; the batches before it are stored")
    func serverRefusesARow() async throws {
        try await TestApp.run { app in
            let key = try await app.feederKey()
            // Line 8 (after a blank line): high 1.12 is below the close 1.15 — a valid CSV row, refused by the server.
            let path = try Self.csv([Self.good, Self.good, Self.good, Self.good, Self.good, nil, (1.1, 1.12, 1.0, 1.15), Self.good])
            let run = try await Self.run(app, [path, "--symbol", "EURUSD", "--batch", "4"], key: key)
            #expect(run.status == 4, "\(run.stderr)")
            #expect(run.stderr.contains("line 8 (high)"), "\(run.stderr)")
            #expect(run.stderr.contains("below open or close"), "\(run.stderr)")
            #expect(run.stderr.contains("the first 4 candles are stored"), "\(run.stderr)")
            #expect(try await app.sqlInt("SELECT count(*) FROM candles WHERE timeframe = '15m'") == 4)

            // Fixed, the same command completes: the 4 stored candles are unchanged, the rest new.
            let fixed = try Self.csv([Self.good, Self.good, Self.good, Self.good, Self.good, nil, Self.good, Self.good])
            let again = try await Self.run(app, [fixed, "--symbol", "EURUSD", "--batch", "4", "--json"], key: key)
            #expect(again.status == 0, "\(again.stderr)")
            #expect(try Self.totals(again)["unchanged"] == 4 && Self.totals(again)["inserted"] == 3)

            // eur/usd is EURUSD, as the journal and REST read it.
            let slashed = try await Self.run(app, [fixed, "--symbol", "eur/usd", "--json"], key: key)
            #expect(slashed.status == 0 && (try? Self.totals(slashed)["unchanged"]) == 7, "\(slashed.stderr)")

            // An unknown symbol is the server's to refuse too.
            let unknown = try await Self.run(app, [fixed, "--symbol", "NOPE"], key: key)
            #expect(unknown.status == 4 && unknown.stderr.contains("line 2 (symbol)"), "\(unknown.stderr)")
        }
    }

    @Test("a malformed file or a timeframe that does not fit is refused before anything is sent, exit 4; bad options exit 64")
    func badFiles() async throws {
        try await TestApp.run { app in
            let key = try await app.feederKey()
            // High below low is the CSV reader's to catch (line 4).
            let highBelowLow = try Self.csv([Self.good, Self.good, (1.1, 0.9, 1.0, 1.0), Self.good])
            let cases: [([String], Int32, String)] = [
                ([highBelowLow, "--symbol", "EURUSD"], 4, "line 4"),
                ([Self.history, "--symbol", "EURUSD", "--timeframe", "1h"], 4, "15m apart, not 1h"),
                (["/nonexistent.csv", "--symbol", "EURUSD"], 4, "cannot read"),
                ([Self.history, "--symbol", "EURUSD", "--timeframe", "2h"], 64, "unknown timeframe"),
                ([Self.history], 64, "--symbol"),
                ([Self.history, "--symbol", "EURUSD", "--batch", "10001"], 64, "--batch"),
            ]
            for (arguments, status, mention) in cases {
                let run = try await Self.run(app, arguments, key: key)
                #expect(run.status == status, "\(arguments): \(run.stderr)")
                #expect(run.stderr.contains(mention), "\(arguments): \(run.stderr)")
                #expect(run.stdout.isEmpty)
            }
            // Candles off the 15m grid (00:07, 00:22 …).
            let offGrid = try String(contentsOfFile: try Self.csv([Self.good, Self.good]), encoding: .utf8)
                .replacingOccurrences(of: ":00:00", with: ":07:00").replacingOccurrences(of: ":15:00", with: ":22:00")
            let offGridPath = FileManager.default.temporaryDirectory.appendingPathComponent("off-\(UUID().uuidString).csv").path
            try offGrid.write(toFile: offGridPath, atomically: true, encoding: .utf8)
            let run = try await Self.run(app, [offGridPath, "--symbol", "EURUSD"], key: key)
            #expect(run.status == 4 && run.stderr.contains("line 2") && run.stderr.contains("not on a 15m boundary"), "\(run.stderr)")
            #expect(try await app.sqlInt("SELECT count(*) FROM candles") == 0)
        }
    }

    @Test("no key, a wrong key: exit 2; no server: exit 3 after the retries")
    func keysAndNetwork() async throws {
        let path = try Self.csv([Self.good, Self.good])
        try await TestApp.run { app in
            for key in ["smcf_" + String(repeating: "A", count: 64), "not-a-key"] {
                let run = try await Self.run(app, [path, "--symbol", "EURUSD"], key: key)
                #expect(run.status == 2, "\(run.stderr)")
                #expect(run.stderr.contains("refused the feeder key"), "\(run.stderr)")
            }
            let none = try await Self.run(app, [path, "--symbol", "EURUSD"], key: nil)
            #expect(none.status == 2 && none.stderr.contains("SMC_FEEDER_KEY"), "\(none.stderr)")
            // --key wins over the environment.
            let good = try await app.feederKey()
            let withOption = try await Self.run(app, [path, "--symbol", "EURUSD", "--key", good], key: "not-a-key")
            #expect(withOption.status == 0, "\(withOption.stderr)")
        }
        let started = ContinuousClock.now
        let down = try await Self.run(nil, [path, "--symbol", "EURUSD", "--server", "http://127.0.0.1:9", "--retries", "2"], key: "k")
        #expect(down.status == 3, "\(down.stderr)")
        #expect(down.stderr.contains("cannot reach the server") && down.stderr.contains("3 tries"), "\(down.stderr)")
        #expect(down.stderr.contains("retry 2 in"), "each retry is reported: \(down.stderr)")
        #expect(ContinuousClock.now - started > .milliseconds(1000), "the retries wait (0.5 s, then 1 s)")
    }

    /// Answers the first `failures` requests itself (with `status`, or a dropped connection when nil), then lets
    /// requests through to the real server.
    final class FlakyTransport: ClientTransport, @unchecked Sendable {
        let real: any ClientTransport
        let failures: Int
        let status: Int?
        private let lock = NSLock()
        private var count = 0
        var requests: Int { lock.withLock { count } }

        init(real: any ClientTransport, failures: Int, status: Int?) {
            self.real = real
            self.failures = failures
            self.status = status
        }

        func send(_ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String) async throws -> (HTTPResponse, HTTPBody?) {
            let n = lock.withLock { count += 1; return count }
            guard n <= failures else { return try await real.send(request, body: body, baseURL: baseURL, operationID: operationID) }
            guard let status else { throw URLError(.networkConnectionLost) }
            var response = HTTPResponse(status: .init(code: status))
            response.headerFields[.retryAfter] = "0"
            response.headerFields[.contentType] = "application/problem+json"
            return (response, HTTPBody(#"{"type":"about:blank","title":"Busy","status":\#(status),"code":"busy"}"#))
        }
    }

    static func series(_ count: Int) -> CandleSeries {
        CandleSeries((0..<count).map { i in
            Candle(time: 1_704_153_600 + Int64(i) * 900, open: 1.1, high: 1.2, low: 1.0, close: 1.15, volume: 5)
        })
    }

    @Test("503, 429 and dropped connections are retried (the endpoint is idempotent); retries run out as errors")
    func retries() async throws {
        try await TestApp.run { app in
            let key = try await app.feederKey()
            let url = URL(string: app.baseURL)!
            let fast = CandleImporter.RetryPolicy(retries: 3, initialDelay: .milliseconds(10))
            for status in [503, 429, nil] as [Int?] {
                let flaky = FlakyTransport(real: CandleImporter.urlSessionTransport(timeout: 30), failures: 2, status: status)
                let importer = CandleImporter(serverURL: url, feederKey: key, retry: fast, transport: flaky)
                let events = Events()
                let totals = try await importer.send(Self.series(10), symbol: "EURUSD", timeframe: SignalTimeframe(label: "15m")!,
                                                     batchSize: 6, onEvent: { events.append($0) })
                #expect(totals.received == 10 && totals.batches == 2, "\(String(describing: status))")
                #expect(totals.inserted + totals.unchanged == 10)
                #expect(flaky.requests == 4)
                #expect(events.retries == 2 && events.stored == [6, 10])
            }
            #expect(try await app.sqlInt("SELECT count(*) FROM candles WHERE timeframe = '15m'") == 10)

            let busy = FlakyTransport(real: CandleImporter.urlSessionTransport(timeout: 30), failures: 100, status: 503)
            let importer = CandleImporter(serverURL: url, feederKey: key, retry: .init(retries: 2, initialDelay: .milliseconds(10)),
                                          transport: busy)
            await #expect {
                try await importer.send(Self.series(3), symbol: "EURUSD", timeframe: SignalTimeframe(label: "15m")!)
            } throws: { error in
                guard case .unavailable(503, _, 3, 0) = error as? CandleImportError else { return false }
                return true
            }
            #expect(busy.requests == 3)
        }
    }

    final class Events: @unchecked Sendable {
        private let lock = NSLock()
        private var events: [CandleImporter.Event] = []
        func append(_ e: CandleImporter.Event) { lock.withLock { events.append(e) } }
        var retries: Int { lock.withLock { events.filter { if case .retrying = $0 { true } else { false } }.count } }
        var stored: [Int] { lock.withLock { events.compactMap { if case .stored(_, _, let sent, _, _) = $0 { sent } else { nil } } } }
    }

    @Test("candle lines survive blank lines, CRLF and a byte order mark; timeframes are inferred or checked")
    func candleFile() throws {
        let text = "\u{FEFF}Date,Open,High,Low,Close\r\n\r\n2024-01-02 00:00,1,2,0.5,1\r\n ,, \r\n2024-01-02 01:00,1,2,0.5,1\r\n2024-01-02 01:15,1,2,0.5,1\r\n"
        let file = try CandleFile(bytes: Array(text.utf8))
        #expect((0..<3).map { file.line(of: $0) } == [3, 5, 6])
        #expect(file.line(of: 3) == nil)
        #expect(try file.timeframe(given: nil) == SignalTimeframe(label: "15m"))
        #expect(try file.timeframe(given: SignalTimeframe(label: "15m")) == SignalTimeframe(label: "15m"))
        #expect(throws: CandleFile.TimeframeError.self) { try file.timeframe(given: SignalTimeframe(label: "5m")) }

        let uneven = try CandleFile(bytes: Array("Date,Open,High,Low,Close\n2024-01-02 00:00,1,2,0.5,1\n2024-01-02 00:15,1,2,0.5,1\n2024-01-02 00:35,1,2,0.5,1\n".utf8))
        #expect(throws: CandleFile.TimeframeError(line: 4, message: "2024-01-02T00:35:00Z is not on a 15m boundary (UTC)")) {
            try uneven.timeframe(given: nil)
        }
        let single = try CandleFile(bytes: Array("Date,Open,High,Low,Close\n2024-01-01 00:00,1,2,0.5,1\n".utf8))
        #expect(throws: CandleFile.TimeframeError.self) { try single.timeframe(given: nil) }
        #expect(try single.timeframe(given: SignalTimeframe(label: "1w")) == SignalTimeframe(label: "1w"), "2024-01-01 is a Monday")
    }
}
