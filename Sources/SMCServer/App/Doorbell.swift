import Synchronization

/// The in-process wake source: whoever queues work in this process (an ingest, a fan-out, a finished request) rings
/// it, so an idle worker of this process starts at once rather than at its next poll; other processes' workers find
/// the work by polling. A database notification (`LISTEN`) can take its place as a `WakeSource` without touching
/// the loops.
final class Doorbell: WakeSource {
    private let rings = Atomic<Int>(0)

    init() {}

    func ring() { rings.add(1, ordering: .relaxed) }

    /// Returns when rung or after `duration`; checks every 10 ms (no database work while idle).
    func wait(upTo duration: Duration) async throws {
        let seen = rings.load(ordering: .relaxed)
        let clock = ContinuousClock()
        let deadline = clock.now + duration
        while clock.now < deadline, rings.load(ordering: .relaxed) == seen {
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
