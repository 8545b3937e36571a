import Foundation
import NIOCore
import SMCEngine

/// One kline as `GET /api/v3/klines` gives it: `[openTime, "open", "high", "low", "close", "volume", closeTime, …]`,
/// times in epoch milliseconds, prices as strings.
struct BinanceKline: Sendable, Equatable, Decodable {
    var openTime: Int64
    var open: Double
    var high: Double
    var low: Double
    var close: Double
    var volume: Double
    var closeTime: Int64

    init(openTime: Int64, open: Double, high: Double, low: Double, close: Double, volume: Double, closeTime: Int64) {
        self.openTime = openTime
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.closeTime = closeTime
    }

    init(from decoder: any Decoder) throws {
        var fields = try decoder.unkeyedContainer()
        openTime = try fields.decode(Int64.self)
        open = try fields.decode(Number.self).value
        high = try fields.decode(Number.self).value
        low = try fields.decode(Number.self).value
        close = try fields.decode(Number.self).value
        volume = try fields.decode(Number.self).value
        closeTime = try fields.decode(Int64.self)
    }

    /// A decimal string (Binance's form) or a JSON number.
    private struct Number: Decodable {
        var value: Double

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                guard let value = Double(text) else {
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "`\(text)` is not a number")
                }
                self.value = value
            } else {
                value = try container.decode(Double.self)
            }
        }
    }

    func candle(_ pair: BinancePair) -> IncomingCandle {
        IncomingCandle(symbol: pair.symbol, timeframe: pair.timeframe, openTime: openTime / 1000, open: open, high: high,
                       low: low, close: close, volume: volume)
    }

    /// Decodes a response body and checks what validation of candles cannot: whole-second open times, the close time
    /// that belongs to the timeframe, ascending order.
    static func parse(_ body: ByteBuffer, timeframe: SignalTimeframe) throws -> [BinanceKline] {
        let klines: [BinanceKline]
        do {
            klines = try JSONDecoder().decode([BinanceKline].self, from: Data(buffer: body))
        } catch {
            throw BinanceFetchError.malformed("not an array of klines: \(Self.describe(error))")
        }
        var previous = Int64.min
        for k in klines {
            func fail(_ why: String) -> BinanceFetchError { .malformed("kline \(k.openTime): \(why)") }
            guard k.openTime % 1000 == 0 else { throw fail("open time is not whole seconds") }
            guard k.closeTime == k.openTime + timeframe.seconds * 1000 - 1 else {
                throw fail("close time \(k.closeTime) does not end a \(timeframe.label) kline")
            }
            guard k.openTime > previous else { throw fail("not in ascending order") }
            previous = k.openTime
        }
        return klines
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context), DecodingError.typeMismatch(_, let context),
             DecodingError.valueNotFound(_, let context):
            let path = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: "/")
            return "\(path.isEmpty ? "" : "at /\(path): ")\(context.debugDescription)"
        default: return "\(error)"
        }
    }
}

enum BinanceFetchError: Error, CustomStringConvertible {
    /// Any other non-200 answer, with the start of its body (Binance explains in `{"code":…,"msg":…}`).
    case status(Int, String)
    /// 429 (request weight exceeded) or 418 (banned for ignoring 429s), with `Retry-After` when given.
    case throttled(status: Int, retryAfter: Duration?)
    case timeout(Duration)
    case malformed(String)
    /// The advisory lock's connection went away mid-round: stop, another process may hold the pair now.
    case lockLost

    var description: String {
        switch self {
        case .status(let code, let body): "HTTP \(code): \(body)"
        case .throttled(let code, let retryAfter): "HTTP \(code), Retry-After \(retryAfter.map { "\($0)" } ?? "absent")"
        case .timeout(let limit): "no complete answer within \(limit)"
        case .malformed(let why): "malformed response: \(why)"
        case .lockLost: "the pair's advisory lock was lost"
        }
    }

    var reason: String {
        switch self {
        case .status: "http_status"
        case .throttled: "throttled"
        case .timeout: "timeout"
        case .malformed: "malformed"
        case .lockLost: "lock_lost"
        }
    }
}
