/// A tenant's killzones (the REST `killzones` document): the windows, and what happens outside them.
public struct KillzoneSettings: Sendable, Hashable, Codable {
    public enum Mode: String, Sendable, Hashable, Codable {
        /// Signals outside every window are dropped.
        case suppress
        /// Signals outside every window are kept, with no killzone named.
        case tag
    }

    public var mode: Mode
    public var zones: [Killzone]

    public init(mode: Mode = .tag, zones: [Killzone] = Killzone.ictDefaults) {
        self.mode = mode
        self.zones = zones
    }

    /// The REST document's shape: `{"mode", "zones": [{"name", "start": "HH:MM", "end", "time_zone", "enabled"}]}`;
    /// a missing `mode` is `tag`, missing `zones` the ICT defaults, a missing `enabled` true.
    struct Window: Codable {
        var name: String
        var start: String
        var end: String
        var timeZone: String
        var enabled: Bool?

        enum CodingKeys: String, CodingKey, CaseIterable { case name, start, end, timeZone = "time_zone", enabled }
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case mode, zones }

    public init(from decoder: any Decoder) throws {
        try StrictKeys.check(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mode = try c.decodeIfPresent(Mode.self, forKey: .mode) ?? .tag
        guard var list = try? c.nestedUnkeyedContainer(forKey: .zones) else {
            if c.contains(.zones) { _ = try c.decode([Window].self, forKey: .zones) }  // throws the type error
            zones = Killzone.ictDefaults
            return
        }
        var zones: [Killzone] = []
        while !list.isAtEnd {
            let inner = try list.superDecoder()
            try StrictKeys.check(inner, Window.CodingKeys.self)
            let w = try Window(from: inner)
            do {
                zones.append(try Killzone(name: w.name, start: w.start, end: w.end, timeZone: w.timeZone,
                                          enabled: w.enabled ?? true))
            } catch {
                throw DecodingError.dataCorrupted(.init(codingPath: inner.codingPath, debugDescription: error.message))
            }
        }
        self.zones = zones
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(mode, forKey: .mode)
        func clock(_ m: Int) -> String { (m / 60 < 10 ? "0" : "") + "\(m / 60):" + (m % 60 < 10 ? "0" : "") + "\(m % 60)" }
        try c.encode(zones.map { Window(name: $0.name, start: clock($0.start), end: clock($0.end), timeZone: $0.timeZone,
                                        enabled: $0.enabled) }, forKey: .zones)
    }
}
