import Logging
import ServiceLifecycle

/// What ends an idle worker's wait before its poll interval is over.
protocol WakeSource: Sendable {
    /// Returns when woken or after `duration`.
    func wait(upTo duration: Duration) async throws
}

/// How long to wait after consecutive failures: 400 ms, doubling, at most 5 s (so a database that is down is not
/// hammered, and one that comes back is used within seconds).
struct Backoff: Sendable, Equatable {
    private(set) var failures = 0

    mutating func reset() { failures = 0 }

    /// Counts a failure and returns the wait before the next try.
    mutating func failed() -> Duration {
        failures += 1
        return .milliseconds(min(5000, 200 * (1 << min(failures, 5))))
    }
}

/// The loop every background worker runs: a step, then at once again when it did work, else a sleep of `poll`
/// (woken early by `wake`); a failed step is logged and retried after the back-off (or after `poll`, for work that
/// is not worth retrying sooner). Stops on graceful shutdown or cancellation; shutdown also cancels a step in flight
/// (its transaction rolls back and its work stays queued), since waiting could hang on a database that does not answer.
struct WorkerLoop: Sendable {
    enum Step: Sendable {
        /// Did work: go again at once.
        case worked
        /// Nothing to do: sleep `poll`.
        case idle
    }

    enum Retry: Sendable {
        /// Back off, doubling; the first few failures log at debug (start-up races, a brief outage).
        case backoff
        /// Wait the poll interval; every failure is a warning.
        case poll
    }

    /// For the log line: "pipeline worker", "alert fan-out", …
    var name: String
    var poll: Duration
    var wake: (any WakeSource)?
    var retry = Retry.backoff
    var logger: Logger

    func run(_ step: @escaping @Sendable () async throws -> Step) async {
        await run(step) { $0 }
    }

    /// The loop with the step in two parts: `step` (cancelled on graceful shutdown) produces something that `then`
    /// acts on (it is not cancelled: e.g. it starts the requests for deliveries `step` claimed) and judges.
    func run<Output: Sendable>(_ step: @escaping @Sendable () async throws -> Output, then: (Output) async -> Step) async {
        var backoff = Backoff()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var delay = poll
            do {
                let output = try await cancelWhenGracefulShutdown { try await step() }
                backoff.reset()
                if case .worked = await then(output) { continue }
            } catch {
                let wait = backoff.failed()
                if retry == .backoff { delay = wait }
                let level: Logger.Level = retry == .backoff && backoff.failures < 5 ? .debug : .warning
                logger.log(level: level, "\(name) failed; retrying", metadata: ["error": "\(String(reflecting: error))"])
            }
            await pause(delay)
        }
    }

    /// Sleeps, waking at once on graceful shutdown, cancellation or the wake source.
    func pause(_ duration: Duration) async {
        try? await cancelWhenGracefulShutdown {
            if let wake { try await wake.wait(upTo: duration) } else { try await Task.sleep(for: duration) }
        }
    }
}
