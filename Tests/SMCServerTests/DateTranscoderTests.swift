import Foundation
import Testing

@testable import SMCServer

@Suite("RFC 3339 dates in requests")
struct DateTranscoderTests {
    @Test("the fast parser agrees with Foundation's formatter, with and without fractions and offsets")
    func agreesWithFoundation() throws {
        let plain = ISO8601DateFormatter()
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for text in ["2024-03-10T07:00:00Z", "1999-12-31T23:59:59Z", "2024-02-29T00:00:00+05:30", "2023-10-29T01:30:00-04:00",
                     "2024-03-10T07:00:00.250Z", "2024-03-10T07:00:00.5+01:00", "1970-01-01T00:00:00Z"] {
            let fast = try #require(RFC3339DateTranscoder.parse(text), "\(text)")
            let reference = try #require(plain.date(from: text) ?? fractional.date(from: text), "\(text)")
            #expect(abs(fast.timeIntervalSince1970 - reference.timeIntervalSince1970) < 1e-6, "\(text)")
        }
    }

    @Test("malformed dates are not read (the transcoder then refuses them)")
    func refusesMalformed() {
        for text in ["2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2024-03-10 07:00:00Z", "2024-03-10T24:00:00Z",
                     "2024-03-10T07:00:00", "2024-03-10T07:00:00.Z", "2024-03-10T07:00:00+0100", "2024-03-10T07:00:60Z",
                     "x024-03-10T07:00:00Z", "2024-03-10T07:00:00Zjunk", ""] {
            #expect(RFC3339DateTranscoder.parse(text) == nil, "\(text)")
            #expect(throws: (any Error).self) { try RFC3339DateTranscoder().decode(text) }
        }
    }

    @Test("dates are written as UTC with milliseconds, like Foundation's fractional formatter, without one")
    func writes() throws {
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for seconds in [0.0, 1_732_190_400.864, 1_732_190_400.5, 951_782_400.001, 4_102_444_799.999, -1.25, 1_709_968_800] {
            let date = Date(timeIntervalSince1970: seconds)
            let ours = RFC3339DateTranscoder.format(date)
            #expect(ours == fractional.string(from: date), "\(seconds)")
            #expect(RFC3339DateTranscoder.parse(ours).map { abs($0.timeIntervalSince1970 - seconds) < 0.0005 } == true)
        }
        #expect(RFC3339DateTranscoder.format(Date(timeIntervalSince1970: 1_732_190_400.864)) == "2024-11-21T12:00:00.864Z")
    }
}
