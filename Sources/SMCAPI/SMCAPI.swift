/// The REST contract of smc, generated at build time from `api-spec/openapi.yaml` (symlinked here) by
/// swift-openapi-generator: `Components`, `Operations`, `APIProtocol` (server) and `Client`.
public enum SMCAPIInfo {
    /// The spec's `info.version`, kept in step by a test.
    public static let specVersion = "0.1.0"
}
