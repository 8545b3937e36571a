import Foundation
import SMCAPI
import SMCEngine
import SMCTestSupport
import Testing

@testable import SMCClient

/// `smc-client summary SYMBOL [--timeframe TF] [--json]` against a server that analysed the EURUSD 15m history.
@Suite("summary command", .serialized)
struct SummaryCommandTests {
    @Test("the text shows each timeframe's bias, break, liquidity, range and zones with the symbol's decimals; --json is the server's summary")
    func summary() async throws {
        let series = try CandleFeed.eurusd15m
        try await TestApp.run(configure: { $0.pipelineWorkers = 1 }) { app in
            let home = try await ClientHome.signedIn(app)
            let token = try home.token
            try await app.watchEURUSD(token: token)
            try await app.feed(series, key: try await app.feederKey())
            try await app.waitForPipeline(lastOpen: series.time.last!, streams: 1)
            let decimals = try await app.sqlInt("SELECT price_decimals FROM symbols WHERE symbol = 'EURUSD'")
            let served = try await app.json(.GET, "/v1/market/EURUSD/summary", token: token).decode(Components.Schemas.MarketSummary.self)

            let text = try await home.run(["summary", "eur/usd"])
            #expect(text.status == 0, "\(text.stderr)")
            let last = series[series.count - 1]
            let close = String(format: "%.\(decimals)f", last.close)
            #expect(text.stdout.hasPrefix("EURUSD 15m: last candle \(CivilTime.minuteText(last.time)) UTC, close \(close)\n"), "\(text.stdout)")
            #expect(text.stdout.contains("\(series.count) candles analysed") && text.stdout.contains("stored analysis"))
            for t in served.timeframes {
                #expect(text.stdout.contains("\n\(t.timeframe.rawValue) (\(t.candles) candles"), "\(t.timeframe.rawValue) block")
                if let b = t.bias {
                    let row = try #require(text.stdout.split(separator: "\n").first { $0.hasPrefix("  \(t.timeframe.rawValue) ") })
                    #expect(row.contains(String(format: "%+.1f", b.score)) && row.contains(b.level.rawValue), "\(row)")
                }
                if let zone = t.zones.first {
                    #expect(text.stdout.contains(String(format: "%.\(decimals)f", zone.top)))
                }
                if let above = t.liquidity.above { #expect(text.stdout.contains("above \(String(format: "%.\(decimals)f", above))")) }
                if let r = t.dealingRange { #expect(text.stdout.contains("% (\(r.position.rawValue)")) }
            }
            #expect(text.stdout.contains(String(format: "%+.2f", served.confluence)))

            let json = try await home.run(["summary", "EURUSD", "--timeframe", "15m", "--json"])
            #expect(json.status == 0, "\(json.stderr)")
            let printed = try APIJSON.decoder.decode(Components.Schemas.MarketSummary.self, from: Data(json.stdout.utf8))
            #expect(printed.timeframes == served.timeframes && printed.confluence == served.confluence)
            #expect(printed.lastCandle == served.lastCandle && printed.source == served.source)

            let unknown = try await home.run(["summary", "NOPE42"])
            #expect(unknown.status == 4 && unknown.stderr.contains("unknown_symbol"), "\(unknown.stderr)")
            let empty = try await home.run(["summary", "GBPUSD"])
            #expect(empty.status == 4 && empty.stderr.contains("no_candles"), "\(empty.stderr)")
            #expect(try await home.run(["summary", "EURUSD", "--timeframe", "2m"]).status == 64)
            #expect(try await Executables.run("smc-client", ["summary", "EURUSD", "--home", ClientHome.empty()]).status == 2)
        }
    }
}
