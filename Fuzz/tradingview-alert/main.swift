// libFuzzer target: ExternalAlertParser, which reads TradingView alert bodies (JSON or free text) posted to the
// tenant's hook (Sources/SMCServer/Hooks/ExternalAlertParser.swift). Built by scripts/fuzz with that file alone.
//
// Besides "no crash", it checks what the parser promises:
// - a symbol it returns follows normaliseSymbol's rules (3–20 ASCII capitals and digits, at least one letter, not
//   a direction word) and normalises to itself;
// - a direction is 1 or -1, a strength is finite and within 0...1, a message has at most 500 characters;
// - the error is set exactly when the symbol or the direction is missing, and names the right one;
// - in JSON the symbol and direction come from the first of their members that is a string or a number;
// - in free text the symbol comes from a word of the body, and a known symbol among them wins;
// - parsing is deterministic; normaliseSymbol and direction hold the same rules on the raw input.
import Foundation

private let knownSymbols: Set<String> = ["EURUSD", "GBPJPY", "XAUUSD", "NAS100", "US30", "BTCUSDT"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTradingViewAlert(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // The hook only stores valid UTF-8 (text is validated, JSON is re-encoded), but the parser takes any String.
    let body = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let contentType = body.hasPrefix("{") ? "application/json" : "text/plain"
    let parsed = ExternalAlertParser.parse(body: body, contentType: contentType, knownSymbols: knownSymbols)
    require(parsed == ExternalAlertParser.parse(body: body, contentType: contentType, knownSymbols: knownSymbols),
                 "not deterministic")

    if let symbol = parsed.symbol { checkSymbol(symbol) }
    if let direction = parsed.direction { require(direction == 1 || direction == -1, "direction \(direction)") }
    if let strength = parsed.strength { require(strength.isFinite && (0...1).contains(strength), "strength \(strength)") }
    if let message = parsed.message { require(message.count <= 500, "message of \(message.count) characters") }
    switch (parsed.symbol, parsed.direction) {
    case (nil, _): require(parsed.error == "no symbol", "error \(String(describing: parsed.error)) without a symbol")
    case (_, nil): require(parsed.error == "no buy/sell direction", "error \(String(describing: parsed.error)) without a direction")
    default: require(parsed.error == nil, "error \(parsed.error!) with a symbol and a direction")
    }

    if let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] {
        checkJSON(object, parsed)
    } else {
        checkFreeText(body, parsed)
    }

    // The helpers on the raw input.
    if let symbol = ExternalAlertParser.normaliseSymbol(body) { checkSymbol(symbol) }
    if let direction = ExternalAlertParser.direction(body) {
        require(direction == 1 || direction == -1)
        require(ExternalAlertParser.direction(body.uppercased()) == direction, "direction depends on case")
    }
    return 0
}

private func checkSymbol(_ symbol: String) {
    require((3...20).contains(symbol.count), "symbol '\(symbol)' of \(symbol.count) characters")
    require(symbol.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("0"..."9").contains($0) },
                 "symbol '\(symbol)' has other than ASCII capitals and digits")
    require(symbol.unicodeScalars.contains { ("A"..."Z").contains($0) }, "symbol '\(symbol)' has no letter")
    require(ExternalAlertParser.direction(symbol) == nil, "symbol '\(symbol)' is a direction word")
    require(ExternalAlertParser.normaliseSymbol(symbol) == symbol, "symbol '\(symbol)' does not normalise to itself")
}

/// JSON: the symbol and direction come from the first of their members that is a string or a number.
private func checkJSON(_ object: [String: Any], _ parsed: ExternalAlertParser.Parsed) {
    func first(_ keys: [String]) -> String? {
        for key in keys {
            switch object[key] {
            case let text as String: return text
            case let number as NSNumber: return "\(number)"
            default: continue
            }
        }
        return nil
    }
    let symbol = first(["symbol", "ticker", "pair", "instrument"]).flatMap(ExternalAlertParser.normaliseSymbol)
    require(parsed.symbol == symbol, "symbol \(String(describing: parsed.symbol)), expected \(String(describing: symbol))")
    let direction = first(["action", "side", "signal", "order", "direction"]).flatMap(ExternalAlertParser.direction)
    require(parsed.direction == direction, "direction \(String(describing: parsed.direction)), expected \(String(describing: direction))")
}

/// Free text: the symbol is one of the body's words, normalised, and a known symbol among them is preferred.
private func checkFreeText(_ body: String, _ parsed: ExternalAlertParser.Parsed) {
    require(parsed.strength == nil, "strength read from free text")
    require(parsed.message == String(body.prefix(500)), "free-text message is not the body's start")
    let words = body.split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != ":" && $0 != "/" }).map(String.init)
    let symbols = words.compactMap(ExternalAlertParser.normaliseSymbol)
    if let symbol = parsed.symbol {
        require(symbols.contains(symbol), "symbol '\(symbol)' is no word of the text")
        if let known = symbols.first(where: knownSymbols.contains) {
            require(symbol == known, "picked '\(symbol)' over the known symbol '\(known)'")
        }
    } else {
        require(symbols.isEmpty, "no symbol picked among \(symbols)")
    }
    require(parsed.direction == words.lazy.compactMap(ExternalAlertParser.direction).first, "direction is not the first direction word")
}

/// `precondition` that prints its message in optimised builds too, so libFuzzer's report says what broke.
private func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String = "") {
    if !condition() { fatalError(message()) }
}
