import Logging
import ServiceLifecycle

/// What ends an idle worker's wait before its poll interval is over.
protocol WakeSource: Sendable {
    /// Returns when woken or after `duration`.
    func wait(upTo duration: Duration) async throws
}

/// How long to wait after consecutive failures: `first`, doubling, at most `cap`, with ± `jitter` (a fraction) so
/// that processes do not retry in step. A database or an API that is down is not hammered, and one that comes back is
/// used again soon.
struct Backoff: Sendable, Equatable {
    var first: Duration = .milliseconds(400)
    var cap: Duration = .seconds(5)
    var jitter = 0.0
    /// Failures in a row logged at debug before they become warnings (start-up races, a brief outage).
    var quietFailures = 4
    private(set) var failures = 0

    mutating func reset() { failures = 0 }

    /// Counts a failure and returns the wait before the next try; `random` in 0…1 picks the jitter.
    mutating func failed(random: Double = Double.random(in: 0...1)) -> Duration {
        failures += 1
        return Self.delay(failures: failures, first: first, cap: cap, jitter: jitter, random: random)
    }

    /// The level a failure is logged at.
    var level: Logger.Level { failures <= quietFailures ? .debug : .warning }

    static func delay(failures: Int, first: Duration, cap: Duration, jitter: Double = 0, random: Double = 0.5) -> Duration {
        let raw = first * (1 << min(max(failures - 1, 0), 20))
        return min(raw, cap) * (1 + jitter * (2 * min(max(random, 0), 1) - 1))
    }
}

/// The loop every background worker runs: a step, then at once again when it did work, else a sleep of `poll`
/// (woken early by `wake`); a failed step is logged and retried after the back-off (or after `poll`, for work that
/// is not worth retrying sooner). Stops on graceful shutdown or cancellation; shutdown also cancels a step in flight
/// (its transaction rolls back and its work stays queued), since waiting could hang on a database that does not answer.
struct WorkerLoop: Sendable {
    enum Step: Sendable, Equatable {
        /// Did work: go again at once.
        case worked
        /// Nothing to do: sleep `poll`.
        case idle
        /// Sleep this long.
        case wait(Duration)
        /// The loop's work is over.
        case stop
    }

    enum Retry: Sendable {
        /// Back off (`backoff`).
        case backoff
        /// Wait the poll interval; every failure is a warning.
        case poll
    }

    /// For the log line: "pipeline worker", "alert fan-out", …
    var name: String
    var poll: Duration
    var wake: (any WakeSource)?
    var retry = Retry.backoff
    var backoff = Backoff()
    var logger: Logger

    func run(_ step: @escaping @Sendable () async throws -> Step) async {
        await run(step) { $0 }
    }

    /// The loop with the step in two parts: `step` (cancelled on graceful shutdown) produces something that `then`
    /// acts on (not cancelled: e.g. it starts the requests for deliveries `step` claimed, or answers what it fetched)
    /// and judges. `failed`, when given, logs a failure itself and may lengthen the wait (e.g. to a `Retry-After`).
    func run<Output: Sendable>(
        _ step: @escaping @Sendable () async throws -> Output, then: (Output) async throws -> Step,
        failed: ((any Error, _ failures: Int, _ wait: inout Duration) -> Void)? = nil
    ) async {
        var backoff = self.backoff
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var delay = poll
            do {
                let output = try await cancelWhenGracefulShutdown { try await step() }
                let next = try await then(output)
                backoff.reset()
                switch next {
                case .worked: continue
                case .idle: break
                case .wait(let duration): delay = duration
                case .stop: return
                }
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                let wait = backoff.failed()
                if retry == .backoff { delay = wait }
                if let failed {
                    failed(error, backoff.failures, &delay)
                } else {
                    logger.log(level: retry == .backoff ? backoff.level : .warning, "\(name) failed; retrying",
                               metadata: ["error": "\(String(reflecting: error))"])
                }
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
