import Foundation

/// A hybrid logical clock stamp: `<wall ms, 13 digits>-<counter, 4 hex>-<device>`.
///
/// Stamps order by (wall, counter, device), a total order, so every replica that compares two writes of one field
/// picks the same winner. The wall part keeps stamps close to real time; the counter orders writes within one
/// millisecond or after a clock stepped back; the device breaks ties between devices.
public struct HLC: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Milliseconds since 1970.
    public var wall: Int64
    public var counter: UInt16
    /// The writer: a device id (lowercase UUID) or `server`.
    public var device: String

    public init(wall: Int64, counter: UInt16, device: String) {
        self.wall = wall
        self.counter = counter
        self.device = device
    }

    /// Orders before every real stamp: the clock of a field nobody has stamped yet.
    public static let zero = HLC(wall: 0, counter: 0, device: "")

    /// The largest wall time a stamp may carry (13 digits: the year 2286).
    public static let maxWall: Int64 = 9_999_999_999_999

    public static func < (a: HLC, b: HLC) -> Bool {
        if a.wall != b.wall { return a.wall < b.wall }
        if a.counter != b.counter { return a.counter < b.counter }
        return a.device < b.device
    }

    public var description: String {
        let wallText = String(wall)
        let counterText = String(counter, radix: 16)
        return String(repeating: "0", count: max(0, 13 - wallText.count)) + wallText + "-"
            + String(repeating: "0", count: 4 - counterText.count) + counterText + "-" + device
    }

    /// Parses the text form; nil unless it is exactly 13 digits, `-`, 4 lowercase hex digits, `-`, and a device
    /// of 1–64 characters from `[a-z0-9-]`.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.count <= 19 + 64, bytes[13] == UInt8(ascii: "-"), bytes[18] == UInt8(ascii: "-")
        else { return nil }
        var wall: Int64 = 0
        for b in bytes[0..<13] {
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            wall = wall * 10 + Int64(b - UInt8(ascii: "0"))
        }
        var counter: UInt16 = 0
        for b in bytes[14..<18] {
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            default: return nil
            }
            counter = counter << 4 | UInt16(digit)
        }
        let device = bytes[19...]
        guard device.allSatisfy({ ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "-") })
        else { return nil }
        self.init(wall: wall, counter: counter, device: String(decoding: device, as: UTF8.self))
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let stamp = HLC(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an HLC stamp: \(text)"))
        }
        self = stamp
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// Milliseconds since 1970 of `date`.
    public static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }
}

/// One replica's hybrid logical clock: stamps its writes with `max(wall clock, largest stamp seen)`, bumping the
/// counter when the wall part did not advance, and raises itself to every stamp it receives.
public struct HybridClock: Sendable, Equatable, Codable {
    public let device: String
    /// The largest (wall, counter) issued or seen.
    public private(set) var wall: Int64
    public private(set) var counter: UInt16

    public init(device: String, wall: Int64 = 0, counter: UInt16 = 0) {
        self.device = device
        self.wall = wall
        self.counter = counter
    }

    /// A new stamp for a local write at wall time `now` (milliseconds), greater than every stamp issued or seen.
    public mutating func tick(now: Int64) -> HLC {
        if now > wall {
            wall = now
            counter = 0
        } else if counter < UInt16.max {
            counter += 1
        } else {
            wall += 1
            counter = 0
        }
        return HLC(wall: wall, counter: counter, device: device)
    }

    /// Raises the clock to a stamp received from another replica, so the next local write orders after it.
    public mutating func observe(_ stamp: HLC) {
        if stamp.wall > wall || (stamp.wall == wall && stamp.counter > counter) {
            wall = stamp.wall
            counter = stamp.counter
        }
    }
}
