/// How a stream's state encodes the values that could make a plain `JSONEncoder` fail.
///
/// Every stream but `PreviousHighLowStream` and `SessionStream` is `Codable` and `Hashable`, so a server can store
/// it between candles and resume it after a restart without replaying history; a decoded stream continues exactly
/// as the original would have. State is meant to go through a plain `JSONEncoder()`, which refuses ±infinity and
/// NaN, and a state can hold them: candles are not checked, and float32 rounding, sums and ratios of prices
/// beyond the float32 range overflow. So the Doubles of a state are stored `@JSONSafe`, which encodes a finite
/// value as a JSON number (JSONEncoder writes round-trip digits: the same Double comes back, -0.0 included) and
/// the others as strings: "inf", "-inf", "nan" (`Double.nan`), "-nan" (its negation, what x86 arithmetic
/// produces) and "nan:" with the 16 hex digits of any other NaN, so that decoding restores every value bit for
/// bit. The Doubles stored plainly are finite by construction (a heap's sign, the liquidity range). Candles in a
/// state are encoded as `[time, open, high, low, close, volume]`, swings as `[index, confirmedAt, kind, level]`.
///
/// The encoding mirrors the stream's internals: it is meant to be decoded by the same engine version that wrote
/// it, and decoding trusts it (a tampered state can break the stream's invariants). Equality compares the states
/// as Doubles do, so a state holding a NaN is not equal to itself.
///
/// The events are `Codable` too, synthesized: their numbers are plain JSON numbers, so an event holding a
/// non-finite value (only from non-finite candles or prices beyond the float32 range) needs
/// `JSONEncoder.nonConformingFloatEncodingStrategy`.
protocol JSONSafeCodable: Sendable, Hashable {
    func encodeJSONSafe(to encoder: any Encoder) throws
    init(jsonSafeFrom decoder: any Decoder) throws
}

/// A stored value of a stream's state, encoded by `JSONSafeCodable` rules (see there).
@propertyWrapper
struct JSONSafe<Value: JSONSafeCodable>: Sendable, Hashable, Codable {
    var wrappedValue: Value

    init(wrappedValue: Value) { self.wrappedValue = wrappedValue }
    init(from decoder: any Decoder) throws { wrappedValue = try Value(jsonSafeFrom: decoder) }
    func encode(to encoder: any Encoder) throws { try wrappedValue.encodeJSONSafe(to: encoder) }
}

extension Double: JSONSafeCodable {
    func encodeJSONSafe(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if isFinite {
            try container.encode(self)
        } else if isInfinite {
            try container.encode(self > 0 ? "inf" : "-inf")
        } else if bitPattern == Double.nan.bitPattern {
            try container.encode("nan")
        } else if bitPattern == (-Double.nan).bitPattern {
            try container.encode("-nan")
        } else {
            let digits = String(bitPattern, radix: 16)
            try container.encode("nan:" + String(repeating: "0", count: 16 - digits.count) + digits)
        }
    }

    init(jsonSafeFrom decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Double.self) {
            self = value
            return
        }
        let text = try container.decode(String.self)
        switch text {
        case "inf": self = .infinity
        case "-inf": self = -.infinity
        case "nan": self = .nan
        case "-nan": self = -.nan
        default:
            guard text.hasPrefix("nan:"), let bits = UInt64(text.dropFirst(4), radix: 16),
                  Double(bitPattern: bits).isNaN else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not a number")
            }
            self = Double(bitPattern: bits)
        }
    }
}

extension Array: JSONSafeCodable where Element: JSONSafeCodable {
    func encodeJSONSafe(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        for element in self { try container.encode(JSONSafe(wrappedValue: element)) }
    }

    init(jsonSafeFrom decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        self = []
        while !container.isAtEnd { append(try container.decode(JSONSafe<Element>.self).wrappedValue) }
    }
}

extension Candle: JSONSafeCodable {
    func encodeJSONSafe(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(time)
        for value in [open, high, low, close, volume] { try container.encode(JSONSafe(wrappedValue: value)) }
    }

    init(jsonSafeFrom decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let time = try container.decode(Int64.self)
        var values: [Double] = []
        for _ in 0..<5 { values.append(try container.decode(JSONSafe<Double>.self).wrappedValue) }
        self.init(time: time, open: values[0], high: values[1], low: values[2], close: values[3], volume: values[4])
    }
}

extension SwingEvent: JSONSafeCodable {
    func encodeJSONSafe(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(index)
        try container.encode(confirmedAt)
        try container.encode(kind)
        try container.encode(JSONSafe(wrappedValue: level))
    }

    init(jsonSafeFrom decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        index = try container.decode(Int.self)
        confirmedAt = try container.decode(Int.self)
        kind = try container.decode(Int.self)
        level = try container.decode(JSONSafe<Double>.self).wrappedValue
    }
}
