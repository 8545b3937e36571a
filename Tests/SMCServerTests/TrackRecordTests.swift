import Foundation
import NIOPosix
import SMCAPI
import SMCEngine
import SMCTestSupport
import Testing

@testable import SMCServer

/// The track record (`GET /v1/signals/stats`), the symbol registry and candle pages — over HTTP with a real PostgreSQL.
@Suite("Track record, symbols and candles", .serialized)
struct TrackRecordTests {
    /// What `smc-client backtest` computes for the same candles and settings, with the registry's EURUSD costs.
    static func backtest(_ series: CandleSeries, costs: BacktestCosts) async throws -> Backtest {
        try await NIOThreadPool.singleton.runIfActive {
            try Backtest(candles: series, timeframe: SignalTimeframe(label: "15m")!,
                         configuration: BacktestConfiguration(costs: costs))
        }
    }

    static func r(_ x: Double) -> Double { (x * 100).rounded() / 100 }

    @Test("the API's track record of the shared EURUSD 15m history equals smc-client backtest's figures, before and after costs")
    func statsEqualBacktest() async throws {
        let series = try CandleFeed.eurusd15m
        try await TestApp.run(configure: { $0.pipelineWorkers = 1 }) { app in
            let key = try await app.feederKey()
            let (token, _, _) = try await app.signup()
            try await app.watchEURUSD(token: token)
            try await app.feed(series, key: key)
            try await app.waitForPipeline(lastOpen: series.time.last!, streams: 1)

            let symbols = try await app.json(.GET, "/v1/symbols", token: token).decode(Components.Schemas.SymbolList.self)
            let eurusd = try #require(symbols.symbols.first { $0.symbol == "EURUSD" })
            let costs = BacktestCosts(spread: eurusd.spread, commission: eurusd.commission, commissionRate: eurusd.commissionRate)
            #expect(costs.spread > 0 && costs.commission > 0, "the registry's default EURUSD costs")
            let run = try await Self.backtest(series, costs: costs)
            let bt = run.statistics
            #expect(bt.trades > 50)

            let response = try await app.json(.GET, "/v1/signals/stats", token: token)
            #expect(response.status == 200, "\(response.body.prefix(500))")
            let stats = try response.decode(Components.Schemas.SignalStats.self)
            // After costs: every figure the backtest prints.
            #expect(stats.resolved == bt.trades)
            #expect(stats.open == bt.open)
            #expect(stats.count == bt.trades + bt.open)
            #expect(stats.outcomes.expired == bt.expired)
            #expect(stats.net.wins == bt.wins && stats.net.losses == bt.losses)
            #expect(abs(stats.net.hitRate - bt.winRate) < 0.0001)
            #expect(stats.net.averageR == Self.r(bt.averageR))
            #expect(stats.net.expectancyR == Self.r(bt.expectancy))
            #expect(stats.net.profitFactor == (bt.profitFactor.isFinite ? Self.r(bt.profitFactor) : nil))
            #expect(stats.net.totalR == Self.r(bt.totalR))
            #expect(stats.net.maxDrawdownR == Self.r(bt.maxDrawdownR))
            #expect(stats.net.longestLosingStreak == bt.longestLosingStreak)
            // …and the printed text says the same.
            let text = run.text()
            #expect(text.contains("total          \(String(format: "%+.2f", bt.totalR)) R"))
            #expect(text.contains(String(format: "expectancy     %+.2f R per trade", stats.net.expectancyR)))
            #expect(text.contains(String(format: "max drawdown   %.2f R", stats.net.maxDrawdownR)))
            #expect(text.contains("longest losing streak  \(stats.net.longestLosingStreak)"))

            // Before costs: the same trades with their raw R.
            let gross = BacktestStatistics(run.trades.map { var t = $0; t.netR = t.outcome.r; return t }, open: bt.open)
            #expect(stats.gross.wins == gross.wins)
            #expect(stats.gross.totalR == Self.r(gross.totalR))
            #expect(stats.gross.maxDrawdownR == Self.r(gross.maxDrawdownR))
            #expect(stats.gross.longestLosingStreak == gross.longestLosingStreak)
            #expect(stats.gross.totalR > stats.net.totalR, "costs cost something")

            // The equity curve ends at the total; every breakdown adds up to the whole.
            #expect(stats.equityCurve.last.map { abs($0.cumulativeNetR - stats.net.totalR) <= 0.011 } == true)
            #expect(stats.equityCurve.reduce(0) { $0 + $1.resolved } == stats.resolved)
            for groups in [stats.breakdown.setupType, stats.breakdown.symbol, stats.breakdown.timeframe, stats.breakdown.killzone,
                           stats.breakdown.level, stats.breakdown.direction, stats.breakdown.month] {
                #expect(groups.reduce(0) { $0 + $1.count } == stats.count)
                #expect(groups.reduce(0) { $0 + $1.resolved } == stats.resolved)
            }
            #expect(stats.breakdown.symbol.map(\.key) == ["EURUSD"])
            #expect(stats.breakdown.month.count >= 12)

            // A filter is the same as the backtest's trades of that kind.
            let longs = try await app.json(.GET, "/v1/signals/stats?direction=long", token: token).decode(Components.Schemas.SignalStats.self)
            let btLongs = BacktestStatistics(run.trades.filter { $0.signal.direction > 0 }, open: 0)
            #expect(longs.resolved == btLongs.trades)
            #expect(longs.net.totalR == Self.r(btLongs.totalR))
            #expect(longs.net.maxDrawdownR == Self.r(btLongs.maxDrawdownR))
            let obs = try await app.json(.GET, "/v1/signals/stats?setup_type=order_block&since=2023-01-01T00:00:00Z", token: token)
                .decode(Components.Schemas.SignalStats.self)
            let since2023 = Int64(1_672_531_200)
            let btOBs = BacktestStatistics(
                run.trades.filter { $0.signal.setup.zone.kind == .orderBlock && $0.signal.candleTime >= since2023 }, open: 0)
            #expect(obs.resolved == btOBs.trades && obs.net.totalR == Self.r(btOBs.totalR))

            // Each signal says its costs and its R after them, rounded as a person reads them.
            let page = try await app.json(.GET, "/v1/signals?outcome=stop&limit=5", token: token).decode(Components.Schemas.SignalPage.self)
            let stopped = try #require(page.signals.first)
            let outcome = try #require(stopped.outcome)
            #expect(stopped.costR > 0 && outcome.r == -1)
            #expect(outcome.netR == Self.r(-1 - stopped.costR) || abs((outcome.netR ?? 0) - (-1 - stopped.costR)) <= 0.011)
            for price in [stopped.entry, stopped.stop] + stopped.targets {
                #expect(abs(price * 100_000 - (price * 100_000).rounded()) < 1e-6, "\(price) has at most 5 decimals")
            }

            // Another tenant sees an empty record, not this one's.
            let (other, _, _) = try await app.signup()
            let empty = try await app.json(.GET, "/v1/signals/stats", token: other).decode(Components.Schemas.SignalStats.self)
            #expect(empty.count == 0 && empty.equityCurve.isEmpty && empty.net.profitFactor == nil)
            // Bad filters are 400s naming the parameter.
            let bad = try await app.json(.GET, "/v1/signals/stats?killzone=%20", token: token)
            #expect(bad.status == 400 && bad.body.contains("killzone"))
        }
    }

    @Test("a literal path segment wins over a placeholder, for the spec's operations and the router's 405s")
    func literalSegmentsWin() {
        #expect(SpecOperations.shared.match(method: "GET", path: "/v1/signals/stats") == "GET /v1/signals/stats")
        #expect(SpecOperations.shared.match(method: "GET", path: "/v1/signals/0190a3b4-0000-7000-8000-000000000000")
            == "GET /v1/signals/{signal_id}")
        let table = RouteTable(routes: [("/v1/signals/stats", "GET"), ("/v1/signals/:id", "GET"), ("/v1/signals/:id", "DELETE")])
        #expect(table.methods(forPath: "/v1/signals/stats") == ["GET", "HEAD"])
        #expect(table.methods(forPath: "/v1/signals/abc") == ["DELETE", "GET", "HEAD"])
    }

    @Test("symbols list their tick, costs and data; candles page by keyset; the operator edits a symbol")
    func symbolsAndCandles() async throws {
        let series = try CandleFeed.eurusd15m[0..<2_600]
        try await TestApp.run(configure: { $0.adminToken = "operator-secret"; $0.pipelineWorkers = 0 }) { app in
            let key = try await app.feederKey()
            let (token, _, _) = try await app.signup()
            try await app.feed(series, key: key)

            let list = try await app.json(.GET, "/v1/symbols", token: token)
            #expect(list.status == 200)
            let symbols = try list.decode(Components.Schemas.SymbolList.self).symbols
            #expect(symbols.map(\.symbol) == symbols.map(\.symbol).sorted() && symbols.count >= 20)
            let eurusd = try #require(symbols.first { $0.symbol == "EURUSD" })
            #expect(eurusd.priceDecimals == 5 && eurusd.tickSize == 0.00001 && eurusd.assetClass == .forex)
            #expect(eurusd.timeframes.map(\.timeframe.rawValue).prefix(4) == ["15m", "30m", "1h", "4h"])
            #expect(eurusd.timeframes.first?.firstCandleTime == Date(timeIntervalSince1970: Double(series.time.first!)))
            #expect(eurusd.timeframes.first?.lastCandleTime == Date(timeIntervalSince1970: Double(series.time.last!)))
            #expect(symbols.first { $0.symbol == "USDJPY" }?.priceDecimals == 3)
            #expect(symbols.first { $0.symbol == "BTCUSDT" }.map { $0.commissionRate > 0 && $0.timeframes.isEmpty } == true)
            #expect(try await app.json(.GET, "/v1/symbols").status == 401)

            // Pages of 1,000 in order, with nothing lost or repeated.
            var times: [Int64] = []
            var cursor: String?
            var pages = 0
            repeat {
                let response = try await app.json(.GET, "/v1/market/eur-usd/candles?timeframe=15m&limit=1000" + (cursor.map { "&cursor=\($0)" } ?? ""), token: token)
                #expect(response.status == 200, "\(response.body.prefix(300))")
                let page = try response.decode(Components.Schemas.CandlePage.self)
                #expect(page.symbol == "EURUSD" && page.priceDecimals == 5)
                times += page.candles.map { Int64($0.time.timeIntervalSince1970) }
                cursor = page.nextCursor
                pages += 1
            } while cursor != nil && pages < 10
            #expect(pages == 3)
            #expect(times == Array(series.time))
            let window = try await app.json(.GET, "/v1/market/EURUSD/candles?timeframe=1h&since=\(CivilTime.rfc3339(series.time[400]))&until=\(CivilTime.rfc3339(series.time[800]))", token: token)
                .decode(Components.Schemas.CandlePage.self)
            #expect(window.candles.count == 100 && !window.hasMore)
            #expect(window.candles.allSatisfy { $0.closed })
            let first = try await app.json(.GET, "/v1/market/EURUSD/candles?timeframe=15m&limit=1", token: token).decode(Components.Schemas.CandlePage.self)
            #expect(first.candles.first?.open == series[0].open && first.candles.first?.close == series[0].close)

            // Clear errors.
            let unknown = try await app.json(.GET, "/v1/market/NOPE1/candles?timeframe=15m", token: token)
            #expect(unknown.status == 404 && unknown.problemCode == "unknown_symbol" && unknown.body.contains("/v1/symbols"))
            let big = try await app.json(.GET, "/v1/market/EURUSD/candles?timeframe=15m&limit=5001", token: token)
            #expect(big.status == 400)
            let reused = try await app.json(.GET, "/v1/market/EURUSD/candles?timeframe=1h&cursor=\(try #require(try await app.json(.GET, "/v1/market/EURUSD/candles?timeframe=15m&limit=10", token: token).decode(Components.Schemas.CandlePage.self).nextCursor))", token: token)
            #expect(reused.status == 400 && reused.problemCode == "invalid_cursor")
            #expect(try await app.json(.GET, "/v1/market/EURUSD/candles", token: token).status == 400)

            // The operator changes costs; the registry answers with them.
            let admin = [("authorization", "Bearer operator-secret")]
            let patched = try await app.json(.PATCH, "/v1/admin/symbols/eurusd", ["spread": 0.00008, "commission_rate": 0.00002], headers: admin)
            #expect(patched.status == 200, "\(patched.body)")
            let info = try patched.decode(Components.Schemas.SymbolInfo.self)
            #expect(info.spread == 0.00008 && info.commissionRate == 0.00002 && info.commission == eurusd.commission && info.priceDecimals == 5)
            let again = try await app.json(.GET, "/v1/symbols", token: token).decode(Components.Schemas.SymbolList.self)
            #expect(again.symbols.first { $0.symbol == "EURUSD" }?.spread == 0.00008)
            let negative = try await app.json(.PATCH, "/v1/admin/symbols/EURUSD", ["spread": -1], headers: admin)
            #expect(negative.status == 422 && negative.body.contains("/spread"))
            let decimals = try await app.json(.PATCH, "/v1/admin/symbols/EURUSD", ["price_decimals": 11], headers: admin)
            #expect(decimals.status == 422 && decimals.body.contains("/price_decimals"))
            #expect(try await app.json(.PATCH, "/v1/admin/symbols/NOPE1", ["spread": 1], headers: admin).problemCode == "unknown_symbol")
            #expect(try await app.json(.PATCH, "/v1/admin/symbols/EURUSD", token: token, ["spread": 1]).status == 401)
        }
    }
}
