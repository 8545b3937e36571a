import Foundation
import NIOCore
import SMCEngine
import SMCServer

/// Polling for what happens in the background (workers, other processes).
public enum Poll {
    /// Polls `condition` every 100 ms until it holds; generous by default (the machine may be busy).
    public static func until(_ what: String, timeout: Duration = .seconds(60), _ condition: @Sendable () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("timed out waiting for \(what)")
    }
}

/// Candles for `POST /v1/market/candles`, the way a feeder sends them.
public enum CandleFeed {
    /// The conformance fixture's EURUSD 15m history (`/work/shared`, beside the repository).
    public static var eurusd15m: CandleSeries {
        get throws {
            let csv = TestDatabase.repositoryRoot.deletingLastPathComponent()
                .appendingPathComponent("shared/conformance/smartmoneyconcepts/eurusd-15m/EURUSD_15M.csv")
            return try CandleCSV.parse(String(contentsOf: csv, encoding: .utf8))
        }
    }

    /// The request body for candles `range` of `series`.
    public static func body(_ series: CandleSeries, _ range: Range<Int>, symbol: String = "EURUSD", timeframe: String = "15m")
        -> [String: Any]
    {
        ["candles": range.map { i -> [String: Any] in
            let c = series[i]
            return ["symbol": symbol, "timeframe": timeframe, "open_time": CivilTime.rfc3339(c.time),
                    "open": c.open, "high": c.high, "low": c.low, "close": c.close, "volume": c.volume]
        }]
    }

    /// Feeds the series in order, `batch` candles a request (10,000 is the endpoint's limit). With `retrying`, a batch
    /// whose request failed is sent again, to `server()` asked anew (a killed process replaced by a new one), for up
    /// to a minute; without, a failed batch fails the test.
    public static func feed(
        _ series: CandleSeries, key: String, batch: Int = 10_000, retrying: Bool = false, to server: @Sendable () -> any TestServer,
        symbol: String = "EURUSD"
    ) async throws {
        for start in stride(from: 0, to: series.count, by: batch) {
            let body = body(series, start..<min(start + batch, series.count), symbol: symbol)
            var tries = 0
            while true {
                // A large batch in a debug build on a busy machine may need more than the usual 30 s.
                let response = try? await server().json(.POST, "/v1/market/candles", token: key, body, timeout: .seconds(120))
                if response?.status == 200 { break }
                tries += 1
                guard retrying, tries <= 600 else {
                    throw TestFailure("ingest of the batch at \(start): \(response.map { "\($0.status) \($0.body)" } ?? "no response")")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}

extension TestServer {
    /// Feeds every candle of `series`, failing on a batch that is not accepted.
    public func feed(_ series: CandleSeries, key: String, batch: Int = 10_000) async throws {
        try await CandleFeed.feed(series, key: key, batch: batch, to: { self })
    }

    /// Waits until `streams` analyzers of EURUSD 15m have processed the candle opened at `lastOpen` and nothing is queued.
    public func waitForPipeline(lastOpen: Int64, streams: Int, timeout: Duration = .seconds(300)) async throws {
        let query = """
            SELECT CASE WHEN (SELECT count(*) FROM analysis_streams WHERE symbol = 'EURUSD' AND timeframe = '15m'
                                AND processed_until = to_timestamp(\(lastOpen))) = \(streams)
                          AND NOT EXISTS (SELECT 1 FROM pipeline_jobs WHERE symbol = 'EURUSD' AND timeframe = '15m')
                        THEN 1 ELSE 0 END
            """
        try await Poll.until("the pipeline to catch up", timeout: timeout) { try await sqlInt(query) == 1 }
    }
}
