import ArgumentParser
import Foundation
import SMCClient

/// `smc-client summary SYMBOL`: the server's market summary, for people (or its JSON with --json).
struct SummaryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Where a market stands now: bias per timeframe with confidence, confluence, zones, structure, liquidity.",
        discussion: """
            Asks the server (GET /v1/market/SYMBOL/summary, signed in) for the summary of SYMBOL on TIMEFRAME and the
            higher timeframes of its confluence ladder (15m → 1h, 4h, 1d), weighed with your strategy settings: the
            bias (direction, score, confidence level and each component's points), the higher timeframes' confluence,
            the active order blocks and fair value gaps nearest first, the last BOS/CHoCH, the nearest liquidity above
            and below, where price sits in the dealing range (premium above 55 %, discount below 45 %), the regime and
            the killzone now. Prices carry the symbol's decimals. Exit status: 0; 2 not signed in or refused; 3 the
            server cannot be reached; 4 refused (an unknown symbol, no candles yet, a bad timeframe); 64 bad options.
            """)

    @Argument(help: "The symbol (e.g. EURUSD; eur/usd is read as EURUSD).") var symbol: String
    @Option(help: "The base timeframe (1m 5m 15m 30m 1h 4h 1d 1w; default 15m).") var timeframe: String?
    @Flag(help: "Print the server's JSON.") var json = false
    @OptionGroup var home: HomeOptions

    func validate() throws {
        if let timeframe, !["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"].contains(timeframe) {
            throw ValidationError("unknown timeframe '\(timeframe)' (valid: 1m 5m 15m 30m 1h 4h 1d 1w)")
        }
        guard !TradeRules.normaliseSymbol(symbol).isEmpty else { throw ValidationError("give a symbol, e.g. EURUSD") }
    }

    func run() async throws {
        let summary = try await APIConnection.forStore(try home.store()).marketSummary(symbol: TradeRules.normaliseSymbol(symbol), timeframe: timeframe)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            print(MarketSummaryText.render(summary), terminator: "")
        }
    }
}
