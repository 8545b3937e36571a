import Foundation
import SMCSync
import Synchronization

/// The server's hybrid logical clock: stamps the journal writes made through REST, so they take part in sync's
/// field-level last-writer-wins with device edits (api-spec/sync-protocol.md §7). One per process; processes need
/// no coordination, since stamps compare by wall time first and the device part (`server`) only breaks ties.
final class ServerClock: Sendable {
    static let shared = ServerClock()
    static let device = "server"

    private let clock = Mutex(HybridClock(device: ServerClock.device))

    /// A stamp later than every stamp this process issued or accepted.
    func tick(now: Date = Date()) -> HLC {
        clock.withLock { $0.tick(now: HLC.millis(now)) }
    }

    /// One stamp for each of `fields` (a write of several fields is one edit: they share a stamp).
    func stamp(_ fields: some Sequence<String>) -> [String: HLC] {
        let stamp = tick()
        return Dictionary(uniqueKeysWithValues: fields.map { ($0, stamp) })
    }

    /// Raises the clock to an accepted device stamp.
    func observe(_ stamp: HLC) {
        clock.withLock { $0.observe(stamp) }
    }

    /// Clocks as stored (`jsonb` text: field → stamp text).
    static func json(_ clocks: [String: HLC]) -> String {
        let text = clocks.mapValues(\.description)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(text)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// Stored clocks; unreadable stamps are dropped (they then order before every real write).
    static func clocks(_ json: String) -> [String: HLC] {
        guard let text = try? JSONDecoder().decode([String: String].self, from: Data(json.utf8)) else { return [:] }
        return text.compactMapValues(HLC.init)
    }
}
