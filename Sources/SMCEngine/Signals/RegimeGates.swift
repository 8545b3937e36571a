/// How much each member counts in each market regime (DESIGN.md §4: the regime gates the members).
///
/// Trend-following indicators mislead in a range and lag in a volatility burst; structure reads are weaker when
/// price whips; the learned member saw every regime in its features (it has regime inputs) and keeps full weight.
public enum RegimeGates {
    public static func gate(_ member: EnsembleMember, _ regime: MarketRegime?) -> Double {
        switch (member, regime) {
        case (.technical, nil): 0  // indicators not warm yet
        case (.technical, .ranging?): 0.25
        case (.technical, .volatile?), (.technical, .quiet?): 0.5
        case (.smc, .volatile?), (.external, .volatile?): 0.5
        case (.smc, .quiet?): 0.75
        default: 1
        }
    }
}
