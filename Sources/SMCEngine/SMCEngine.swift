/// Smart Money Concepts analysis engine: pure, Sendable value types, no I/O.
///
/// Batch detectors live as static functions on `SMC` and reproduce the Python reference `smartmoneyconcepts`
/// 0.0.27 row by row (see `../shared/conformance/smartmoneyconcepts/`); each returns a typed result of column
/// arrays (NaN where the reference has an empty cell) that also renders as the reference's table.
public enum SMCEngine {
    /// Version of the engine's serialized state: the `Codable` streaming detectors, `MarketAnalyzer` and
    /// `TenantEvaluator` (the ensemble) that a server stores between candles. A stored state is decoded only by the
    /// version that wrote it (decoding trusts the encoding), so stores keep this number beside each state and
    /// rebuild from candles when it differs. Bump it whenever the encoded layout or the meaning of any stored field
    /// changes.
    public static let stateVersion = 1
}

/// Namespace of the batch detectors, named after the reference's indicator families.
public enum SMC {}
