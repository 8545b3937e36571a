import Foundation

/// Reads what a TradingView alert says: JSON with `symbol`/`ticker`, `action`/`side`/`signal`/`order`
/// (`buy`/`long`/`sell`/`short`), optional `strength` (0–1) and `message`/`text`/`comment`; or text such as
/// `BUY EURUSD` / `EURUSD short, breakout`, where the symbol is the first word that is a known symbol, else the
/// first that looks like a ticker (capitals, `FX:…`, `…/…`), else the first word. Exchange prefixes (`FX:EURUSD`)
/// and separators (`EUR/USD`) are dropped. In JSON only string and number members are read: null, arrays and
/// objects count as absent.
enum ExternalAlertParser {
    struct Parsed: Equatable {
        var symbol: String?
        var direction: Int?
        var strength: Double?
        var message: String?
        var error: String?
    }

    /// `knownSymbols`: the symbol registry, which free text is matched against first.
    static func parse(body: String, contentType: String, knownSymbols: Set<String> = []) -> Parsed {
        var out = Parsed()
        if let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] {
            func text(_ keys: [String]) -> String? {
                for k in keys { if let v = scalarText(object[k]) { return v } }
                return nil
            }
            out.symbol = text(["symbol", "ticker", "pair", "instrument"]).flatMap(normaliseSymbol)
            out.direction = text(["action", "side", "signal", "order", "direction"]).flatMap(direction)
            if let s = object["strength"] as? Double ?? (object["strength"] as? String).flatMap(Double.init), s.isFinite {
                out.strength = Swift.min(Swift.max(s, 0), 1)
            }
            out.message = text(["message", "text", "comment"]).map { String($0.prefix(500)) }
        } else {
            let words = body.split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != ":" && $0 != "/" }).map(String.init)
            out.direction = words.lazy.compactMap(direction).first
            // Not just the first word: "Long signal on NAS100", "ALERT: buy 0.5 lots of EURUSD".
            let candidates = words.compactMap { word in normaliseSymbol(word).map { (word: word, symbol: $0) } }
            let pick = candidates.first { knownSymbols.contains($0.symbol) }
                ?? candidates.first { $0.word.contains(":") || $0.word.contains("/") || $0.word == $0.word.uppercased() }
                ?? candidates.first
            out.symbol = pick?.symbol
            out.message = String(body.prefix(500))
        }
        if out.symbol == nil { out.error = "no symbol" } else if out.direction == nil { out.error = "no buy/sell direction" }
        return out
    }

    /// A JSON member as text when it is a string or a number; nil when it is absent, null, an array or an object,
    /// whose descriptions (`<null>`, `["a": 1]`) are not what the sender meant, and for an object not even stable.
    static func scalarText(_ value: Any?) -> String? {
        switch value {
        case let string as String: string
        case let number as NSNumber: "\(number)"
        default: nil
        }
    }

    static func direction(_ word: String) -> Int? {
        switch word.lowercased() {
        case "buy", "long", "bull", "bullish": 1
        case "sell", "short", "bear", "bearish": -1
        default: nil
        }
    }

    static func normaliseSymbol(_ raw: String) -> String? {
        let last = raw.split(separator: ":").last.map(String.init) ?? raw
        let symbol = last.uppercased().filter { $0.isASCII && ($0.isLetter || $0.isNumber) }
        guard (3...20).contains(symbol.count), symbol.contains(where: \.isLetter), direction(symbol) == nil else { return nil }
        return symbol
    }
}
