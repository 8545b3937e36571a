import Foundation
import Synchronization

/// `limit` passed before the work answered.
struct DeadlineExceeded: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "timed out after \(limit)" }
}

/// Runs `body` and returns its answer, or throws `DeadlineExceeded` once `limit` has passed, whichever comes first.
///
/// The caller does not wait for a body that ignores cancellation: at the deadline `body` is cancelled and left to
/// finish on its own, its late answer dropped. (A task group would wait for it, so a wedged connection pool or a
/// receiver trickling its body forever would hold the caller past any deadline; async-http-client's own deadline
/// also stops at the response head.)
func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let outcome = FirstOutcome<T>()
    let work = Task {
        do { outcome.settle(.success(try await body())) } catch { outcome.settle(.failure(error)) }
    }
    let timer = Task {
        try? await Task.sleep(for: limit)
        if !Task.isCancelled { outcome.settle(.failure(DeadlineExceeded(limit: limit))) }
    }
    defer {
        work.cancel()
        timer.cancel()
    }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { outcome.wait($0) }
    } onCancel: {
        outcome.settle(.failure(CancellationError()))
    }
}

/// `withDeadline` as a `Result`: the error (a `DeadlineExceeded` at the deadline) instead of a throw.
func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await withDeadline(limit, body)) } catch { return .failure(error) }
}

/// The first of several outcomes, handed to one waiting continuation (which may arrive before or after it).
private final class FirstOutcome<T: Sendable>: Sendable {
    private struct State {
        var result: Result<T, any Error>?
        var waiter: CheckedContinuation<T, any Error>?
    }
    private let state = Mutex(State())

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        let ready = state.withLock { state -> Result<T, any Error>? in
            if let result = state.result { return result }
            state.waiter = continuation
            return nil
        }
        if let ready { continuation.resume(with: ready) }
    }

    func settle(_ result: Result<T, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<T, any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }
}
