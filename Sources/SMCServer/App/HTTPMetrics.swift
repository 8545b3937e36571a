import Prometheus

/// Request counts and latency histograms by method, route template and status, in our own registry
/// (one per application, so that tests running several applications in one process do not mix).
public final class HTTPMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    /// Latency buckets from 1 ms to 10 s: API calls live at the low end, CSV imports at the high end.
    static let buckets: [Duration] = [
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func record(method: String, route: String, status: Int, duration: Duration) {
        let labels = [("method", method), ("route", route), ("status", String(status))]
        registry.makeCounter(name: "smc_http_requests_total", labels: labels, help: "HTTP requests served").increment()
        registry.makeDurationHistogram(
            name: "smc_http_request_duration_seconds", labels: labels, buckets: Self.buckets,
            help: "Time from request head to response head"
        ).record(duration)
    }

    /// The text exposition format.
    public func render() -> String {
        registry.emitToString()
    }
}
