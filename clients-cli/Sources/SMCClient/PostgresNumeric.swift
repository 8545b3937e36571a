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
            let value = Decimal(string: lower, locale: Locale(identifier: "en_US_POSIX")), value.isFinite
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
        let scale = Self.divisionScale(self, divisor)
        guard !value.isZero else { return PostgresNumeric(0, scale: scale) }
        let (n, ns) = Self.digits(value.magnitude)
        let (d, ds) = Self.digits(divisor.value.magnitude)
        // |self| / |divisor| × 10^scale = n × 10^(ds − ns + scale) / d: long division, one decimal digit at a time.
        let shift = ds - ns + scale
        var numerator = n.map { Decimal(Int($0.asciiValue! - 48)) }
        var denominator = Self.integer(d)
        if shift >= 0 {
            numerator += repeatElement(Decimal(0), count: shift)
        } else {
            for _ in 0 ..< -shift { denominator *= 10 }
        }
        var quotient: [UInt8] = []
        var remainder = Decimal(0)
        for digit in numerator {
            remainder = remainder * 10 + digit
            var q: UInt8 = 0
            while remainder >= denominator {
                remainder -= denominator
                q += 1
            }
            if !quotient.isEmpty || q > 0 { quotient.append(q) }
        }
        if remainder * 2 >= denominator {
            // Round the magnitude up: carry through the digits.
            var i = quotient.count - 1
            while i >= 0 && quotient[i] == 9 {
                quotient[i] = 0
                i -= 1
            }
            if i >= 0 { quotient[i] += 1 } else { quotient.insert(1, at: 0) }
        }
        var text = String(quotient.map { Character(String($0)) })
        if text.count <= scale { text = String(repeating: "0", count: scale - text.count + 1) + text }
        if scale > 0 { text.insert(".", at: text.index(text.endIndex, offsetBy: -scale)) }
        let negative = (value < 0) != (divisor.value < 0)
        return PostgresNumeric(Decimal(string: (negative ? "-" : "") + text, locale: Locale(identifier: "en_US_POSIX"))!, scale: scale)
    }

    /// `select_div_scale` of PostgreSQL's numeric.c: 16 significant digits for the estimated quotient (weights and
    /// first digits in base 10000, PostgreSQL's digit size), at least either operand's scale, at most 1000.
    static func divisionScale(_ a: PostgresNumeric, _ b: PostgresNumeric) -> Int {
        let (w1, f1) = base10000Lead(a.value)
        let (w2, f2) = base10000Lead(b.value)
        var qweight = w1 - w2
        if f1 <= f2 { qweight -= 1 }
        return min(max(16 - qweight * 4, a.scale, b.scale, 0), 1000)
    }

    /// The weight (power of 10000) and value of the leading base-10000 digit of `x`; (0, 0) for zero.
    static func base10000Lead(_ x: Decimal) -> (weight: Int, first: Int) {
        guard !x.isZero else { return (0, 0) }
        let (digits, scale) = Self.digits(x.magnitude)
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
        Decimal(string: digits, locale: Locale(identifier: "en_US_POSIX"))!
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
