/// The kind of market a symbol is in, as `RegimeDetector` classifies it.
public enum MarketRegime: String, Sendable, Hashable, Codable, CaseIterable {
    /// ADX shows a trend, +DI leads and the close is above EMA 50.
    case trendingUp = "trending_up"
    /// ADX shows a trend, -DI leads and the close is below EMA 50.
    case trendingDown = "trending_down"
    /// Neither trending nor unusually volatile or calm.
    case ranging
    /// ATR well above its 100-value average.
    case volatile
    /// ATR well below its 100-value average.
    case quiet
}

/// Thresholds of `RegimeDetector`. Each state has an entry threshold and a looser exit threshold (hysteresis), so
/// that a reading hovering near one threshold does not flip the regime back and forth.
public struct RegimeParameters: Sendable, Hashable, Codable {
    /// Volatility ratio (`ATR / mean ATR`) at or above which the market becomes volatile. Default 1.6.
    public var volatileEnter: Double = 1.6
    /// A volatile market stays volatile while the ratio is at or above this. Default 1.4.
    public var volatileExit: Double = 1.4
    /// Volatility ratio at or below which the market becomes quiet. Default 0.6.
    public var quietEnter: Double = 0.6
    /// A quiet market stays quiet while the ratio is at or below this. Default 0.7.
    public var quietExit: Double = 0.7
    /// ADX at or above which a trend starts. Default 25.
    public var trendEnter: Double = 25
    /// A trend lasts while ADX is at or above this. Default 20.
    public var trendExit: Double = 20

    /// The defaults.
    public init() {}

    /// Checks that every exit threshold is looser than (or equal to) its entry threshold and that the volatile and
    /// quiet bands do not overlap (`quietEnter <= quietExit < volatileExit <= volatileEnter`,
    /// `trendExit <= trendEnter`, all finite); throws `SMCParameterError` code `invalid_regime_parameters`.
    public func validate() throws(SMCParameterError) {
        let all = [volatileEnter, volatileExit, quietEnter, quietExit, trendEnter, trendExit]
        guard all.allSatisfy(\.isFinite), quietEnter <= quietExit, quietExit < volatileExit,
              volatileExit <= volatileEnter, trendExit <= trendEnter
        else {
            throw SMCParameterError(code: "invalid_regime_parameters",
                                    message: "regime thresholds must satisfy quietEnter <= quietExit < volatileExit <= volatileEnter and trendExit <= trendEnter")
        }
    }

    private enum CodingKeys: String, CodingKey {
        case volatileEnter, volatileExit, quietEnter, quietExit, trendEnter, trendExit
    }

    /// Decodes; a missing key keeps its default, so stored parameters survive new thresholds being added.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        volatileEnter = try c.decodeIfPresent(Double.self, forKey: .volatileEnter) ?? volatileEnter
        volatileExit = try c.decodeIfPresent(Double.self, forKey: .volatileExit) ?? volatileExit
        quietEnter = try c.decodeIfPresent(Double.self, forKey: .quietEnter) ?? quietEnter
        quietExit = try c.decodeIfPresent(Double.self, forKey: .quietExit) ?? quietExit
        trendEnter = try c.decodeIfPresent(Double.self, forKey: .trendEnter) ?? trendEnter
        trendExit = try c.decodeIfPresent(Double.self, forKey: .trendExit) ?? trendExit
    }
}

/// Classifies each warm `IndicatorSnapshot` into a `MarketRegime`, with hysteresis.
///
/// Two pieces of state are updated on every warm snapshot, independently of each other:
/// - the volatility band, from `r = volatilityRatio`: a volatile band stays volatile while `r >= volatileExit`,
///   a quiet band stays quiet while `r <= quietExit`; otherwise (or when leaving) `r >= volatileEnter` makes it
///   volatile, `r <= quietEnter` quiet, anything else normal;
/// - the trend flag, from ADX: a trend starts when `adx >= trendEnter` and lasts while `adx >= trendExit`
///   (so a trend interrupted by a volatile spell is still on afterwards if ADX held up).
///
/// The regime is then decided in this order:
/// 1. volatile band → `.volatile`;
/// 2. quiet band → `.quiet`;
/// 3. trend flag on, `+DI > -DI` and `close > EMA 50` → `.trendingUp`;
/// 4. trend flag on, `-DI > +DI` and `close < EMA 50` → `.trendingDown`;
/// 5. otherwise → `.ranging`.
public struct RegimeDetector: Sendable, Hashable, Codable {
    /// Volatility band of the last warm snapshot.
    public enum VolatilityBand: String, Sendable, Hashable, Codable {
        /// Volatility ratio entered the quiet band and has not left it.
        case quiet
        /// Neither band.
        case normal
        /// Volatility ratio entered the volatile band and has not left it.
        case volatile
    }

    /// The thresholds in use.
    public let parameters: RegimeParameters
    /// The regime after the last warm snapshot; `nil` before the first.
    public private(set) var regime: MarketRegime?
    /// The volatility band after the last warm snapshot.
    public private(set) var band: VolatilityBand = .normal
    /// Whether the ADX trend flag is on after the last warm snapshot.
    public private(set) var isTrending: Bool = false

    /// A detector that has seen no snapshot (parameters are not validated here; see `RegimeParameters.validate()`).
    public init(parameters: RegimeParameters = .init()) {
        self.parameters = parameters
    }

    /// Classifies a snapshot. Returns `nil` and changes nothing until the snapshot is warm (`isWarm`).
    @discardableResult
    public mutating func update(_ snapshot: IndicatorSnapshot) -> MarketRegime? {
        guard snapshot.isWarm, let dmi = snapshot.adx, let ema50 = snapshot.ema50 else { return nil }
        let p = parameters

        if let r = snapshot.volatilityRatio {
            switch band {
            case .volatile where r >= p.volatileExit: break
            case .quiet where r <= p.quietExit: break
            default: band = r >= p.volatileEnter ? .volatile : (r <= p.quietEnter ? .quiet : .normal)
            }
        } else {
            // Warm but a zero mean ATR (a completely flat market): nothing moves at all.
            band = .quiet
        }

        isTrending = dmi.adx >= (isTrending ? p.trendExit : p.trendEnter)

        let result: MarketRegime
        if band == .volatile {
            result = .volatile
        } else if band == .quiet {
            result = .quiet
        } else if isTrending && dmi.plusDI > dmi.minusDI && snapshot.close > ema50 {
            result = .trendingUp
        } else if isTrending && dmi.minusDI > dmi.plusDI && snapshot.close < ema50 {
            result = .trendingDown
        } else {
            result = .ranging
        }
        regime = result
        return result
    }
}
