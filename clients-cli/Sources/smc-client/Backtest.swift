import ArgumentParser
import Foundation
import SMCEngine

/// `smc-client backtest`: the signal engine replayed over a CSV of candles in streaming mode, offline — the same
/// code the server runs per candle — with the trades and their statistics.
struct BacktestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backtest",
        abstract: "Replay a CSV of candles through the signal engine and print the trades and statistics.",
        discussion: """
            FILE is a candle CSV as for `analyze`. --config takes a strategy JSON: either the server's strategy
            settings document, or {"strategy": {...}, "killzones": {...}, "costs": {"spread": P, "commission": P, "commission_rate": F}}
            (every part optional; defaults otherwise). --model-out writes the logistic model the replay trained. Costs are price units per round trip (the commission rate a fraction of the entry price), as
            the server's symbol registry holds them (GET /v1/symbols); --spread, --commission and --commission-rate override the file's. Trades use fixed risk (1 R each); R is net of costs.
            A file that cannot be read or is refused (candles, config) exits with status 4, bad options with 64, a
            --model-out that cannot be written with 6; nothing is printed to standard output then.
            """)

    @Argument(help: "The candles, oldest first.") var file: String
    @Option(help: "Strategy / killzones / costs JSON.") var config: String?
    @Option(help: "The candles' timeframe (1m 5m 15m 30m 1h 4h 1d 1w); default: read from the candle spacing.")
    var timeframe: String?
    @Option(help: "Spread paid per trade, in price units (e.g. 0.0001).") var spread: Double?
    @Option(help: "Commission per trade, in price units.") var commission: Double?
    @Option(name: .customLong("commission-rate"), help: "Commission per trade as a fraction of the entry price (0.002 = 0.1 % a side).")
    var commissionRate: Double?
    @Flag(help: "Print JSON (trades and statistics) instead of tables.") var json = false
    @Option(help: "Write the learned member's final model (versioned JSON) to this file.") var modelOut: String?

    func validate() throws {
        for (name, value) in [("--spread", spread), ("--commission", commission)] {
            if let value, !(value.isFinite && value >= 0) { throw ValidationError("\(name) must be 0 or more") }
        }
        if let commissionRate, !(commissionRate.isFinite && commissionRate >= 0 && commissionRate < 0.1) {
            throw ValidationError("--commission-rate must be at least 0 and below 0.1")
        }
        if let timeframe, SignalTimeframe(label: timeframe) == nil {
            throw ValidationError("unknown timeframe '\(timeframe)' (valid: \(SignalTimeframe.all.map(\.label).joined(separator: " ")))")
        }
    }

    func run() throws {
        var configuration = BacktestConfiguration()
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else { throw refuse("cannot read \(config)") }
            do {
                configuration = try BacktestConfiguration(json: data)
            } catch {
                throw refuse("\(config): \(error.message)")
            }
        }
        if let spread { configuration.costs.spread = spread }
        if let commission { configuration.costs.commission = commission }
        if let commissionRate { configuration.costs.commissionRate = commissionRate }
        guard let data = FileManager.default.contents(atPath: file) else { throw refuse("cannot read \(file)") }
        let candles: CandleSeries
        do {
            candles = try CandleCSV.parse(bytes: Array(data))
        } catch {
            throw refuse("\(file): \(error)")
        }
        let tf: SignalTimeframe
        if let timeframe {
            guard let t = SignalTimeframe(label: timeframe) else {
                throw ValidationError("unknown timeframe '\(timeframe)' (valid: \(SignalTimeframe.all.map(\.label).joined(separator: " ")))")
            }
            tf = t
        } else {
            guard let t = SignalTimeframe.inferred(from: candles) else {
                throw refuse("\(file): cannot tell the timeframe from the candle spacing; give --timeframe")
            }
            tf = t
        }
        let result: Backtest
        do {
            result = try Backtest(candles: candles, timeframe: tf, configuration: configuration)
        } catch {
            throw refuse((config.map { "\($0): " } ?? "") + error.message)
        }
        if let modelOut {
            guard let model = result.model else { throw refuse("no model to write: too few labelled setups in \(file)") }
            guard FileManager.default.createFile(atPath: modelOut, contents: Data(model.encoded())) else {
                FileHandle.standardError.write(Data("smc-client backtest: cannot write \(modelOut)\n".utf8))
                throw Exit.local
            }
        }
        let output = json ? try result.json() : result.text(decimals: MarketSummary.decimals(candles))
        FileHandle.standardOutput.write(Data((output.hasSuffix("\n") ? output : output + "\n").utf8))
    }

    /// A file refused: the reason on standard error, exit status 4, nothing on standard output.
    private func refuse(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("smc-client backtest: \(message)\n".utf8))
        return Exit.refused
    }
}
