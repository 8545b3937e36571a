import Foundation

/// A number as PostgreSQL's `numeric` computes with it, so that the client's journal figures are the server's to
/// the digit: an exact decimal (Foundation `Decimal`) and its display scale (`dscale`, the digits after the point
/// that PostgreSQL keeps and that decide how many digits a division gets).
///
/// Prices reach the server as JSON doubles and are stored as the double's shortest text (`"\(value)"`: 1.1 is
/// stored as exactly 1.1, 1.0 as `1.0` with scale 1); `init(_:)` reads the same text. Sums, differences and
/// products are exact (scale: the larger, or the sum, of the operands' scales); a quotient is rounded half away
/// from zero at the scale PostgreSQL chooses (`select_div_scale`: at least 16 significant digits, and no fewer
/// digits after the point than either operand has). `double` is what `numeric::float8` gives: the double nearest
/// to the decimal text. Exact up to `Decimal`'s 38 significant digits, far beyond any price or size.
public struct PostgresNumeric: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var value: Decimal
    /// Digits after the decimal point, as PostgreSQL displays (and scales) the value.
    public var scale: Int

    public init(_ value: Decimal, scale: Int) {
        self.value = value
        self.scale = max(0, scale)
    }

    /// The value the server stores for a double it received: the double's shortest text, read as a decimal. Nil for
    /// what `Decimal` cannot hold (not finite, or beyond its exponent range of about 1e±127).
    public init?(_ double: Double) {
        guard double.isFinite else { return nil }
        self.init(text: "\(double)")
    }

    /// Decimal text (`1.105`, `1e-05`, `1.5E+3`), never through a double. Nil when it is not a finite number.
    public init?(text: String) {
        let lower = text.lowercased()
        let parts = lower.split(separator: "e", maxSplits: 1, omittingEmptySubsequences: false)
        guard let mantissa = parts.first, !mantissa.isEmpty,
            let value = Decimal(string: lower, locale: Self.posix), value.isFinite
        else { return nil }
        let fraction = mantissa.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).dropFirst().first?.count ?? 0
        var exponent = 0
        if parts.count == 2 {
            guard let e = Int(parts[1]) else { return nil }
            exponent = e
        }
        self.init(value, scale: fraction - exponent)
    }

    public static let zero = PostgresNumeric(Decimal(0), scale: 0)
    /// Decimal text is read with a point, whatever the user's locale.
    static let posix = Locale(identifier: "en_US_POSIX")

    public init(_ integer: Int) {
        self.init(Decimal(integer), scale: 0)
    }

    public var description: String { plain }

    /// `numeric::float8`: the double nearest to the exact decimal (PostgreSQL converts through the text too).
    public var double: Double { Double(plain)! }

    public var magnitude: PostgresNumeric { PostgresNumeric(value.magnitude, scale: scale) }

    public static func + (a: PostgresNumeric, b: PostgresNumeric) -> PostgresNumeric { PostgresNumeric(a.value + b.value, scale: max(a.scale, b.scale)) }
    public static func - (a: PostgresNumeric, b: PostgresNumeric) -> PostgresNumeric { PostgresNumeric(a.value - b.value, scale: max(a.scale, b.scale)) }
    public static func * (a: PostgresNumeric, b: PostgresNumeric) -> PostgresNumeric { PostgresNumeric(a.value * b.value, scale: a.scale + b.scale) }
    public static func < (a: PostgresNumeric, b: PostgresNumeric) -> Bool { a.value < b.value }
    public static func == (a: PostgresNumeric, b: PostgresNumeric) -> Bool { a.value == b.value }

    /// PostgreSQL's `numeric / numeric`: the quotient rounded half away from zero at `divisionScale`. Nil for a zero divisor.
    public func divided(by divisor: PostgresNumeric) -> PostgresNumeric? {
        guard !divisor.value.isZero else { return nil }
        let (n, ns) = Self.digits(value.magnitude)
        let (d, ds) = Self.digits(divisor.value.magnitude)
        let scale = Self.divisionScale(
            Self.base10000Lead(value.isZero ? nil : (n, ns)), Self.base10000Lead((d, ds)), self.scale, divisor.scale)
        guard !value.isZero else { return PostgresNumeric(0, scale: scale) }
        // |self| / |divisor| × 10^scale = n × 10^(ds − ns + scale) / d: long division, one decimal digit at a time
        // (the remainder stays below the divisor, so a divisor of up to 18 digits needs only UInt64).
        let shift = ds - ns + scale
        let numerator = n.utf8.map { Int($0 - 48) } + repeatElement(0, count: max(0, shift))
        let divisorDigits = d + String(repeating: "0", count: max(0, -shift))
        var quotient: [UInt8] = []
        let roundUp: Bool
        if divisorDigits.count <= 18, let denominator = UInt64(divisorDigits) {
            var remainder: UInt64 = 0
            for digit in numerator {
                remainder = remainder * 10 + UInt64(digit)
                let q = remainder / denominator
                remainder -= q * denominator
                if !quotient.isEmpty || q > 0 { quotient.append(UInt8(q)) }
            }
            roundUp = remainder >= denominator - remainder
        } else {
            let denominator = Self.integer(divisorDigits)
            var remainder = Decimal(0)
            for digit in numerator {
                remainder = remainder * 10 + Decimal(digit)
                var q: UInt8 = 0
                while remainder >= denominator {
                    remainder -= denominator
                    q += 1
                }
                if !quotient.isEmpty || q > 0 { quotient.append(q) }
            }
            roundUp = remainder * 2 >= denominator
        }
        if roundUp {
            // Round the magnitude up: carry through the digits.
            var i = quotient.count - 1
            while i >= 0 && quotient[i] == 9 {
                quotient[i] = 0
                i -= 1
            }
            if i >= 0 { quotient[i] += 1 } else { quotient.insert(1, at: 0) }
        }
        let negative = (value < 0) != (divisor.value < 0)
        if quotient.count <= 19, scale <= 127 {
            let significand = quotient.reduce(UInt64(0)) { $0 * 10 + UInt64($1) }
            return PostgresNumeric(Decimal(sign: negative ? .minus : .plus, exponent: -scale, significand: Decimal(significand)), scale: scale)
        }
        var text = String(quotient.map { Character(String($0)) })
        if text.count <= scale { text = String(repeating: "0", count: scale - text.count + 1) + text }
        if scale > 0 { text.insert(".", at: text.index(text.endIndex, offsetBy: -scale)) }
        return PostgresNumeric(Decimal(string: (negative ? "-" : "") + text, locale: Self.posix)!, scale: scale)
    }

    /// `select_div_scale` of PostgreSQL's numeric.c: 16 significant digits for the estimated quotient (weights and
    /// first digits in base 10000, PostgreSQL's digit size), at least either operand's scale, at most 1000.
    static func divisionScale(
        _ a: (weight: Int, first: Int), _ b: (weight: Int, first: Int), _ scaleA: Int, _ scaleB: Int
    ) -> Int {
        var qweight = a.weight - b.weight
        if a.first <= b.first { qweight -= 1 }
        return min(max(16 - qweight * 4, scaleA, scaleB, 0), 1000)
    }

    /// The weight (power of 10000) and value of the leading base-10000 digit of a positive number given as its
    /// `digits` (see `digits(_:)`); (0, 0) for zero (nil).
    static func base10000Lead(_ number: (digits: String, scale: Int)?) -> (weight: Int, first: Int) {
        guard let (digits, scale) = number else { return (0, 0) }
        // The leading decimal digit sits at 10^p.
        let p = digits.count - 1 - scale
        let weight = p >= 0 ? p / 4 : -((-p + 3) / 4)
        let width = p - weight * 4 + 1
        let lead = digits.prefix(width) + String(repeating: "0", count: max(0, width - digits.count))
        return (weight, Int(lead)!)
    }

    /// A positive decimal as its significant digits (no leading zeros) and the power of ten below them:
    /// 0.0105 → ("105", 4), 1200 → ("1200", 0).
    static func digits(_ x: Decimal) -> (digits: String, scale: Int) {
        let text = plain(x)
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let fraction = parts.count == 2 ? String(parts[1]) : ""
        var all = String(parts[0]) + fraction
        while all.count > 1 && all.first == "0" { all.removeFirst() }
        return (all, fraction.count)
    }

    static func integer(_ digits: String) -> Decimal {
        Decimal(string: digits, locale: Self.posix)!
    }

    /// The value in plain notation (no exponent) with at least `scale` digits after the point, as PostgreSQL prints
    /// it (the arithmetic here never makes more digits than the scale).
    public var plain: String {
        var text = Self.plain(value)
        let negative = text.hasPrefix("-")
        if negative { text.removeFirst() }
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        fraction += String(repeating: "0", count: max(0, scale - fraction.count))
        let body = fraction.isEmpty ? String(parts[0]) : "\(parts[0]).\(fraction)"
        return (negative ? "-" : "") + body
    }

    /// `Decimal`'s text, which is plain notation.
    static func plain(_ x: Decimal) -> String {
        x.description
    }
}
