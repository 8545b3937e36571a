import Crypto
import Foundation
import SMCEngine

/// A market the Binance connector follows: a Binance spot symbol (stored under the same name, so it must be a row
/// of `symbols`) and one of the service's timeframes.
public struct BinancePair: Sendable, Hashable, CustomStringConvertible {
    public var symbol: String
    public var timeframe: SignalTimeframe

    public init(symbol: String, timeframe: SignalTimeframe) {
        self.symbol = symbol
        self.timeframe = timeframe
    }

    public var description: String { "\(symbol):\(timeframe.label)" }

    /// Binance's `interval` for the timeframe: its spellings of 1m 5m 15m 30m 1h 4h 1d 1w are the service's labels.
    var interval: String { timeframe.label }

    /// The key of the pair's PostgreSQL advisory lock: the first 8 bytes of a SHA-256 of a name no other lock uses.
    var lockKey: Int64 {
        SHA256.hash(data: Data("smc.binance.klines:\(symbol):\(timeframe.label)".utf8)).prefix(8)
            .reduce(Int64(0)) { $0 << 8 | Int64($1) }
    }

    /// Parses `SMC_BINANCE_PAIRS`: `SYMBOL:TIMEFRAME` items separated by commas (`BTCUSDT:1m,ETHUSDT:15m`);
    /// blank means none. Symbols are upper-cased (Binance's and the service's spelling).
    public static func parseList(_ text: String) throws -> [BinancePair] {
        let labels = SignalTimeframe.all.map(\.label).joined(separator: " ")
        var pairs: [BinancePair] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map({ String($0).trimmingWhitespace() }) {
            func fail(_ why: String) -> AppConfiguration.Invalid {
                AppConfiguration.Invalid(description: "SMC_BINANCE_PAIRS: \(why) (expected SYMBOL:TIMEFRAME items separated "
                    + "by commas, e.g. BTCUSDT:1m,ETHUSDT:15m)")
            }
            if item.isEmpty {
                if text.trimmingWhitespace().isEmpty { continue }
                throw fail("an empty item")
            }
            let parts = item.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 else { throw fail("`\(item)` is not SYMBOL:TIMEFRAME") }
            let symbol = parts[0].uppercased()
            guard (2...20).contains(symbol.count), symbol.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                throw fail("`\(parts[0])` in `\(item)` is not a symbol (2 to 20 letters and digits)")
            }
            guard let timeframe = SignalTimeframe(label: parts[1]) else {
                throw fail("`\(parts[1])` in `\(item)` is not a timeframe (one of \(labels))")
            }
            let pair = BinancePair(symbol: symbol, timeframe: timeframe)
            guard !pairs.contains(pair) else { throw fail("`\(item)` is listed twice") }
            pairs.append(pair)
        }
        return pairs
    }
}
