/// Smart Money Concepts analysis engine: pure, Sendable value types, no I/O.
///
/// Batch detectors live as static functions on `SMC` and reproduce the Python reference `smartmoneyconcepts`
/// 0.0.27 row by row (see `../shared/conformance/smartmoneyconcepts/`); each returns a typed result of column
/// arrays (NaN where the reference has an empty cell) that also renders as the reference's table.
public enum SMCEngine {}

/// Namespace of the batch detectors, named after the reference's indicator families.
public enum SMC {}
