/// One candle's session values (a row of the batch result), known on that candle.
public struct SessionRow: Sendable, Hashable, Codable {
    public var index: Int
    public var confirmedAt: Int
    public var active: Bool
    public var high: Double
    public var low: Double
    /// False when the candle's wall-clock time does not exist or is ambiguous in the time zone (batch mode
    /// refuses such a series; a stream cannot, so it marks the row inactive and says so).
    public var validTime: Bool
}

/// Streaming `SMC.sessions`.
public struct SessionStream: StreamingDetector {
    public let session: TradingSession
    public let timeZone: SessionTimeZone
    public private(set) var candleCount = 0
    private var previousHigh = 0.0
    private var previousLow = 0.0

    public init(session: TradingSession, timeZone: SessionTimeZone = .utc) {
        self.session = session
        self.timeZone = timeZone
    }

    public mutating func feed(_ candle: Candle) -> [SessionRow] {
        let t = candleCount
        candleCount += 1
        guard case .success(let utc) = timeZone.toUTC([candle.time]) else {
            previousHigh = 0
            previousLow = 0
            return [SessionRow(index: t, confirmedAt: t, active: false, high: 0, low: 0, validTime: false)]
        }
        let secondOfDay = utc[0] - CivilTime.day(of: utc[0]) * CivilTime.secondsPerDay
        guard session.contains(minuteOfDay: Int(secondOfDay / 60)) else {
            previousHigh = 0
            previousLow = 0
            return [SessionRow(index: t, confirmedAt: t, active: false, high: 0, low: 0, validTime: true)]
        }
        let high = Swift.max(candle.high, t > 0 ? previousHigh : 0).float32Rounded
        let low = Swift.min(candle.low, (t > 0 && previousLow != 0) ? previousLow : .infinity).float32Rounded
        previousHigh = high
        previousLow = low
        return [SessionRow(index: t, confirmedAt: t, active: true, high: high, low: low, validTime: true)]
    }
}
