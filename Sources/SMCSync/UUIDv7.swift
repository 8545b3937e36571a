import Foundation
import Synchronization

/// UUID version 7 (RFC 9562): 48-bit Unix milliseconds, then random bits; time-ordered, so ids minted
/// offline by a client sort and index like the server's own.
///
/// Ids from one generator stay strictly increasing, even within one millisecond or when the clock steps
/// back: the 12 bits after the version (`rand_a`) act as a counter seeded randomly each new millisecond
/// (RFC 9562 §6.2, method 1), and an exhausted counter borrows the next millisecond.
public struct UUIDv7Generator: Sendable {
    private var millis: UInt64 = 0
    private var counter: UInt16 = 0

    public init() {}

    public mutating func next(now: Date) -> UUID {
        let wall = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        if wall > millis {
            millis = wall
            counter = UInt16.random(in: 0...0x7FF)  // leave headroom for increments
        } else if counter < 0xFFF {
            counter += 1
        } else {
            millis += 1
            counter = UInt16.random(in: 0...0x7FF)
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - i))) }
        bytes[6] = 0x70 | UInt8(counter >> 8)
        bytes[7] = UInt8(truncatingIfNeeded: counter)
        var random = SystemRandomNumberGenerator()
        for i in 8..<16 { bytes[i] = random.next() }
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}

/// The process-wide generator.
public enum UUIDv7 {
    private static let shared = Mutex(UUIDv7Generator())

    /// A fresh id for the current time.
    public static func generate() -> UUID {
        let now = Date()
        return shared.withLock { $0.next(now: now) }
    }

    /// The millisecond timestamp inside a v7 id, or nil for other versions.
    public static func timestamp(of id: UUID) -> Date? {
        let b = id.uuid
        guard b.6 >> 4 == 7 else { return nil }
        let millis = [b.0, b.1, b.2, b.3, b.4, b.5].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Date(timeIntervalSince1970: Double(millis) / 1000)
    }
}
