import ArgumentParser
import Foundation
import SMCEngine

/// `smc-client analyze`: the engine on a CSV file, offline. Prints exactly the reference's columns and
/// rows (CSV, or JSON with --format json), or with --summary what a trader wants to see.
struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an SMC indicator (or a market summary) on a CSV of candles, offline.",
        discussion: """
            FILE is an MT5 export (Date,Open,High,Low,Close,Tickvol,Volume,Spread), a TradingView export
            (time,open,high,low,close,Volume) or a plain Date/Open/High/Low/Close/Volume CSV.
            Indicators: fvg swing_highs_lows bos_choch ob liquidity previous_high_low sessions retracements.
            A file that cannot be read or is malformed exits with status 4, bad options with 64; either way nothing
            is printed to standard output.
            """)

    @Argument(help: "The candles, oldest first.") var file: String
    @Option(help: "The indicator to compute.") var indicator: String?
    @Flag(help: "Print bias per timeframe, active zones, the last structure break and nearby liquidity.") var summary = false
    @Option(help: "Swing length for swings and everything built on them (reference default 50).") var swingLength: Int?
    @Flag(inversion: .prefixedNo, help: "BOS/CHoCH: a break needs a close beyond the level (default) or only a wick.")
    var closeBreak: Bool?
    @Flag(help: "Order blocks: mitigated by a close rather than a wick.") var closeMitigation = false
    @Option(help: "Liquidity: the range, as a fraction of the price span (default 0.01).") var rangePercent: Double?
    @Option(help: "previous_high_low: 15m, 1h, 4h, 1D, W, 1M …") var timeFrame: String?
    @Option(help: "sessions: a named session or kill zone (e.g. London, 'New York kill zone').") var session: String?
    @Option(help: "sessions: custom window start, HH:MM.") var start: String?
    @Option(help: "sessions: custom window end, HH:MM.") var end: String?
    @Option(help: "sessions: the time zone of the candles' timestamps (default UTC).") var timeZone: String?
    @Flag(help: "fvg: merge consecutive gaps.") var joinConsecutive = false
    @Option(help: "csv (default) or json.") var format: String?

    /// The options as the engine's request; their mistakes are usage errors (64).
    func request() throws -> AnalyzeRequest {
        do {
            return try AnalyzeRequest(
                indicator: indicator, summary: summary, swingLength: swingLength, closeBreak: closeBreak,
                closeMitigation: closeMitigation ? true : nil, rangePercent: rangePercent, timeFrame: timeFrame,
                session: session, start: start, end: end, timeZone: timeZone, joinConsecutive: joinConsecutive ? true : nil,
                format: format)
        } catch {
            throw ValidationError(error.message)
        }
    }

    func validate() throws {
        _ = try request()
    }

    func run() throws {
        let request = try request()
        guard let data = FileManager.default.contents(atPath: file) else {
            throw refuse("cannot read \(file)")
        }
        let candles: CandleSeries
        do {
            candles = try CandleCSV.parse(bytes: Array(data))
        } catch {
            throw refuse("\(file): \(error)")
        }
        let output: String
        do {
            output = try request.output(for: candles)
        } catch {
            // The engine's parameter checks (sessions, time frames, time zones): the options are at fault.
            throw ValidationError(error.message)
        }
        FileHandle.standardOutput.write(Data((output.hasSuffix("\n") ? output : output + "\n").utf8))
    }

    /// A file refused: the reason on standard error, exit status 4, nothing on standard output.
    private func refuse(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("smc-client analyze: \(message)\n".utf8))
        return Exit.refused
    }
}
