import Foundation

/// The sync protocol's shared facts (api-spec/sync-protocol.md).
public enum SyncProtocol {
    /// Protocol and schema versions this build speaks.
    public static let protocolVersions: ClosedRange<Int> = 1...1
    public static let schemaVersions: ClosedRange<Int> = 1...1

    public enum Stream: String, Sendable, CaseIterable, Codable {
        case signals, journal
    }

    /// Trade fields a client may write (the REST `TradeCreate` members minus `id`).
    public static let tradeFields: Set<String> = [
        "symbol", "direction", "entry_price", "stop_price", "targets", "size", "fees", "entry_time", "exit_price", "exit_time",
        "notes", "tags", "screenshots", "signal_id", "setup_type", "killzone", "timeframe",
    ]
    /// Trade fields the server computes and sends, never accepts.
    public static let tradeComputedFields: Set<String> = ["pnl", "r_multiple", "outcome", "user_id", "created_at", "updated_at"]
    /// Annotation fields (the user's note, tags and taken flag on a signal).
    public static let annotationFields: Set<String> = ["note", "tags", "taken"]

    /// The most mutations one push may carry, and the most changes one pull page may hold.
    public static let maxMutations = 1_000
    public static let maxPageSize = 10_000
}

/// A pull cursor: the stream, its epoch, and the (version, id) of the last change delivered. Opaque to clients
/// (base64url of compact JSON), comparable on the server. It selects nothing by itself: the server reads only
/// the caller's tenant, so a forged cursor can at most skip or repeat the caller's own changes.
public struct SyncCursor: Sendable, Equatable, Codable {
    public var stream: SyncProtocol.Stream
    public var epoch: Int64
    public var version: Int64
    /// The last change's id when the page ended inside a version (several rows share it), else nil.
    public var id: UUID?

    public init(stream: SyncProtocol.Stream, epoch: Int64, version: Int64, id: UUID? = nil) {
        self.stream = stream
        self.epoch = epoch
        self.version = version
        self.id = id
    }

    enum CodingKeys: String, CodingKey {
        case stream = "s", epoch = "e", version = "v", id = "i"
    }

    public var encoded: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(self)) ?? Data()
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Decodes a cursor; nil when it is not one we made (bad base64, bad JSON, negative numbers).
    public init?(encoded text: String) {
        guard text.utf8.count <= 200, text.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let cursor = try? JSONDecoder().decode(SyncCursor.self, from: data),
            cursor.epoch >= 0, cursor.version >= 0
        else { return nil }
        self = cursor
    }
}
