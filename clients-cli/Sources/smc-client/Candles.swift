import ArgumentParser
import Foundation
import SMCClient
import SMCEngine

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `smc-client candles …`: market data, for feeders and operators.
struct Candles: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Market data for the server (feeders and operators).",
        subcommands: [ImportCandles.self])
}

/// `smc-client candles import FILE --symbol S [--timeframe TF]`: a backfill of history into the server.
struct ImportCandles: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Send a CSV of candles to the server's market data (POST /v1/market/candles), in batches.",
        discussion: """
            FILE is a candle CSV as for `analyze` (MT5, TradingView or plain Date/OHLCV), oldest first, of one symbol
            and timeframe. The timeframe is read from the candle spacing; --timeframe, when given, must match it.
            Authenticates with a feeder key (--key or $SMC_FEEDER_KEY; an operator issues one with
            `smc-server admin create-feeder-key NAME`).

            Safe to rerun: candles already stored count as unchanged, so an interrupted import is simply run again.
            Network errors, 5xx and 429 are retried with back-off. Progress goes to standard error; the summary (or
            with --json the totals) to standard output.

            Exit status: 0 imported; 2 no feeder key, or the server refused it; 3 the server cannot be reached;
            4 refused: the server refused a batch (the message names the CSV line) or kept failing, or the file
            cannot be read, is malformed or does not fit its timeframe (found before anything is sent);
            64 bad options.
            """)

    @Argument(help: "The candles, oldest first.") var file: String
    @Option(help: "The symbol the candles are of, as the server knows it (e.g. EURUSD; eur/usd is read as EURUSD).") var symbol: String?
    @Option(help: "The candles' timeframe (1m 5m 15m 30m 1h 4h 1d 1w); default: read from the candle spacing.")
    var timeframe: String?
    @Option(help: "Candles per request, 1–\(CandleImporter.maxBatch).") var batch: Int = CandleImporter.defaultBatch
    @Option(help: "The feeder key (default: $SMC_FEEDER_KEY).") var key: String?
    @Option(help: "Where the candles come from, stored with them (1–50 characters; default: the feeder key's name).")
    var source: String?
    @Option(help: "How often a batch that failed in transit (network, 5xx, 429) is sent again.") var retries: Int = 3
    @Flag(help: "Print the totals as JSON at the end.") var json = false
    @OptionGroup var options: ServerOptions

    /// Bad options are usage errors (64), found before the file is read.
    func validate() throws {
        guard let symbol, !TradeRules.normaliseSymbol(symbol).isEmpty else {
            throw ValidationError("give the candles' symbol with --symbol (e.g. --symbol EURUSD)")
        }
        guard (1...CandleImporter.maxBatch).contains(batch) else {
            throw ValidationError("--batch must be 1–\(CandleImporter.maxBatch)")
        }
        guard retries >= 0 else { throw ValidationError("--retries must be 0 or more") }
        if let timeframe, SignalTimeframe(label: timeframe) == nil {
            throw ValidationError("unknown timeframe '\(timeframe)' (valid: \(SignalTimeframe.all.map(\.label).joined(separator: " ")))")
        }
    }

    func run() async throws {
        // Options and the file first: nothing is sent unless all of it is right.
        let url = try options.url()
        let symbol = TradeRules.normaliseSymbol(symbol ?? "")
        let given = timeframe.flatMap { SignalTimeframe(label: $0) }
        guard let key = (key ?? ProcessInfo.processInfo.environment["SMC_FEEDER_KEY"])?
            .trimmingCharacters(in: .whitespacesAndNewlines), !key.isEmpty
        else {
            // No credentials: an authentication failure, as the server's 401 would be.
            FileHandle.standardError.write(Data(
                "smc-client candles import: a feeder key is required: --key or SMC_FEEDER_KEY (smc-server admin create-feeder-key NAME)\n".utf8))
            throw Exit.auth
        }
        guard let data = FileManager.default.contents(atPath: file) else { throw refuse("cannot read \(file)") }
        let candleFile: CandleFile
        do {
            candleFile = try CandleFile(bytes: Array(data))
        } catch {
            throw refuse("\(file): \(error)")
        }
        let tf: SignalTimeframe
        do {
            tf = try candleFile.timeframe(given: given)
        } catch {
            throw refuse("\(file): \(error)")
        }

        let candles = candleFile.candles
        let progress = ProgressDisplay(total: candles.count, terminal: isatty(STDERR_FILENO) == 1)
        let importer = CandleImporter(serverURL: url, feederKey: key, retry: .init(retries: retries))
        let totals: CandleImporter.Totals
        do {
            progress.start()
            totals = try await importer.send(
                candles, symbol: symbol, timeframe: tf, batchSize: batch, source: source,
                onEvent: { progress.show($0) })
            progress.finish()
        } catch let error as CandleImportError {
            progress.finish()
            throw fail(error, candleFile: candleFile, url: url)
        } catch {
            progress.finish()
            FileHandle.standardError.write(Data("smc-client candles import: \(error)\n".utf8))
            throw Exit.refused
        }

        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(totals), as: UTF8.self))
        } else {
            let name = URL(fileURLWithPath: file).lastPathComponent
            print("\(name): \(totals.received) \(symbol) \(tf.label) candles in \(totals.batches) "
                + "\(totals.batches == 1 ? "batch" : "batches") — \(totals.inserted) new, \(totals.unchanged) unchanged, "
                + "\(totals.replaced) replaced, \(totals.corrections) corrections; "
                + "\(totals.aggregated) higher-timeframe candles built")
        }
    }

    /// The reason on standard error, and the exit status the README promises.
    private func fail(_ error: CandleImportError, candleFile: CandleFile, url: URL) -> ExitCode {
        var message: String
        let exit: ExitCode
        switch error {
        case .unauthorized:
            message = error.description
            exit = Exit.auth
        case .rejected(let r):
            let name = URL(fileURLWithPath: file).lastPathComponent
            if let candle = r.candle {
                let place = candleFile.line(of: candle).map { "line \($0)" } ?? "candle \(candle + 1)"
                message = "the server refused \(name) \(place)\(r.field.map { " (\($0))" } ?? ""): \(r.message)"
            } else {
                message = "the server refused batch \(r.batch) (HTTP \(r.status)): \(r.message)"
            }
            if let code = r.code { message += " [\(code)]" }
            exit = Exit.refused
        case .network:
            message = "\(url.absoluteString): \(error.description)"
            exit = Exit.network
        case .unavailable:
            message = "\(url.absoluteString): \(error.description)"
            exit = Exit.refused
        }
        let stored = error.storedBefore
        if stored > 0 {
            message += "\nthe first \(stored) candles are stored; the rest are not. Running the import again is safe."
        } else if case .unauthorized = error {
        } else {
            message += "\nnothing was stored."
        }
        FileHandle.standardError.write(Data("smc-client candles import: \(message)\n".utf8))
        return exit
    }

    /// A file refused before anything is sent: the reason on standard error, exit 4.
    private func refuse(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("smc-client candles import: \(message)\nnothing was sent.\n".utf8))
        return Exit.refused
    }
}

/// Progress on standard error: a bar redrawn in place on a terminal, a line per batch otherwise (logs, pipes).
final class ProgressDisplay: Sendable {
    let total: Int
    let terminal: Bool

    init(total: Int, terminal: Bool) {
        self.total = total
        self.terminal = terminal
    }

    func start() {
        if terminal { bar(sent: 0) }
    }

    func show(_ event: CandleImporter.Event) {
        switch event {
        case .stored(let batch, let batches, let sent, let total, let totals):
            if terminal {
                bar(sent: sent)
            } else {
                write("batch \(batch)/\(batches): \(sent)/\(total) candles, \(percent(sent))% — \(totals.inserted) new, "
                    + "\(totals.unchanged) unchanged, \(totals.replaced) replaced, \(totals.corrections) corrections\n")
            }
        case .retrying(let batch, let attempt, let delay, let reason):
            let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
            let line = "batch \(batch): \(reason); retry \(attempt) in \(String(format: "%.1f", seconds)) s"
            write(terminal ? "\r\u{1B}[K" + line + "\n" : line + "\n")
        }
    }

    func finish() {
        if terminal { write("\n") }
    }

    private func percent(_ sent: Int) -> Int { total == 0 ? 100 : sent * 100 / total }

    private func bar(sent: Int) {
        let width = 30
        let filled = total == 0 ? width : sent * width / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        write("\r\u{1B}[K\(bar) \(sent)/\(total) candles, \(percent(sent))%")
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
