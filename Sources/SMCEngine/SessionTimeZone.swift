import Foundation  // TimeZone, for IANA zone names only

/// How the reference reads its `time_zone` argument: the wall-clock zone the candle times are written in.
///
/// `UTC` means the times are UTC. Otherwise the reference replaces `GMT` and `UTC` by `Etc/GMT` and localizes to
/// that zone, so `UTC+2` becomes `Etc/GMT+2`, which by the POSIX sign convention is two hours *behind* UTC; we keep
/// that. Any other name is an IANA zone (with DST); like pandas, a wall-clock time that does not exist or is
/// ambiguous there is refused.
public struct SessionTimeZone: Sendable, Hashable {
    enum Storage: Hashable {
        case utc
        /// UTC = wall clock − offset.
        case fixed(offsetSeconds: Int)
        case iana(String)
    }

    let storage: Storage
    public let name: String

    public static let utc = SessionTimeZone(storage: .utc, name: "UTC")

    init(storage: Storage, name: String) {
        self.storage = storage
        self.name = name
    }

    public init(_ text: String) throws(SMCParameterError) {
        if text == "UTC" {
            self = .utc
            return
        }
        let rewritten = text.replacingOccurrences(of: "GMT", with: "Etc/GMT")
            .replacingOccurrences(of: "UTC", with: "Etc/GMT")
        let invalid = SMCParameterError(code: "invalid_time_zone", message: "unknown time zone '\(text)'")
        if rewritten.hasPrefix("Etc/GMT") {
            let suffix = rewritten.dropFirst("Etc/GMT".count)
            if suffix.isEmpty || suffix == "0" || suffix == "+0" || suffix == "-0" {
                self.init(storage: .fixed(offsetSeconds: 0), name: text)
                return
            }
            guard let sign = suffix.first, sign == "+" || sign == "-",
                  suffix.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber }),
                  let hours = Int(suffix.dropFirst()), suffix.count <= 3
            else { throw invalid }
            // POSIX: Etc/GMT+h is h hours behind UTC (valid range -14...+12).
            let offset = sign == "+" ? -hours : hours
            guard (-12...14).contains(offset) else { throw invalid }
            self.init(storage: .fixed(offsetSeconds: offset * 3600), name: text)
            return
        }
        guard TimeZone(identifier: rewritten) != nil else { throw invalid }
        self.init(storage: .iana(rewritten), name: text)
    }

    /// Converts wall-clock times (epoch seconds read as if UTC) to UTC; `nil` with the failing index when a
    /// time does not exist or is ambiguous in the zone.
    func toUTC(_ wallClock: [Int64]) -> Result<[Int64], SMCParameterError> {
        switch storage {
        case .utc:
            return .success(wallClock)
        case .fixed(let offset):
            return .success(wallClock.map { $0 - Int64(offset) })
        case .iana(let identifier):
            guard let zone = TimeZone(identifier: identifier) else {
                return .failure(SMCParameterError(code: "invalid_time_zone", message: "unknown time zone '\(name)'"))
            }
            var out = [Int64]()
            out.reserveCapacity(wallClock.count)
            var cache: [Int64: Int] = [:]
            func offset(at utc: Int64) -> Int64 {
                // Offsets change at most on hour boundaries in practice; cache per hour.
                let key = CivilTime.floorDiv(utc, 3600)
                if let o = cache[key] { return Int64(o) }
                let o = zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(utc)))
                cache[key] = o
                return Int64(o)
            }
            for (i, w) in wallClock.enumerated() {
                // A UTC instant u matches when u + offset(u) == w; candidates come from the offsets around w.
                let a = offset(at: w - 86_400)
                let b = offset(at: w + 86_400)
                var matches: [Int64] = []
                for o in Set([a, b, offset(at: w)]) {
                    let u = w - o
                    if u + offset(at: u) == w && !matches.contains(u) { matches.append(u) }
                }
                guard matches.count == 1 else {
                    let what = matches.isEmpty ? "does not exist" : "is ambiguous"
                    return .failure(SMCParameterError(
                        code: "invalid_local_time",
                        message: "candle \(i): its time \(what) in time zone \(identifier)"))
                }
                out.append(matches[0])
            }
            return .success(out)
        }
    }
}
