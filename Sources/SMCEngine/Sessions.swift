/// Session activity and the session's running high/low (reference `smc.sessions`).
public struct Sessions: Sendable, Hashable, ReferenceTableConvertible {
    /// 1 inside the session, 0 outside.
    public var active: [Double]
    /// Highest high of the session so far (float32), 0 outside the session.
    public var high: [Double]
    /// Lowest low of the session so far (float32), 0 outside the session.
    public var low: [Double]

    public var count: Int { active.count }

    public var referenceTable: ReferenceTable {
        ReferenceTable(columns: [
            .init(name: "Active", kind: .integer, values: active),
            .init(name: "High", kind: .float32, values: high),
            .init(name: "Low", kind: .float32, values: low),
        ])
    }
}

extension SMC {
    /// Which candles fall in a session window, with the session's running high and low.
    ///
    /// Reference quirks kept: times are compared at minute precision (seconds dropped) and both window ends are
    /// inclusive, so a 15-minute candle opening at the end time still counts; a window with start == end is
    /// always active; the running high starts from 0 (so it is never below 0), the running low restarts whenever
    /// the previous value is 0; values are float32.
    public static func sessions(_ candles: CandleSeries, session: TradingSession,
                                timeZone: SessionTimeZone = .utc) throws(SMCParameterError) -> Sessions {
        let n = candles.count
        let utc = try timeZone.toUTC(candles.time).get()
        var active = [Double](repeating: 0, count: n)
        var high = [Double](repeating: 0, count: n)
        var low = [Double](repeating: 0, count: n)
        var previousHigh = 0.0
        var previousLow = 0.0
        for i in 0..<n {
            let secondOfDay = utc[i] - CivilTime.day(of: utc[i]) * CivilTime.secondsPerDay
            if session.contains(minuteOfDay: Int(secondOfDay / 60)) {
                active[i] = 1
                let h = Swift.max(candles.high[i], i > 0 ? previousHigh : 0).float32Rounded
                let l = Swift.min(candles.low[i], (i > 0 && previousLow != 0) ? previousLow : .infinity)
                    .float32Rounded
                high[i] = h
                low[i] = l
                previousHigh = h
                previousLow = l
            } else {
                previousHigh = 0
                previousLow = 0
            }
        }
        return Sessions(active: active, high: high, low: low)
    }
}
