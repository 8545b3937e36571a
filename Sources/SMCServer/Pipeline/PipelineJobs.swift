import Foundation
import Logging
import PostgresNIO

/// The owner of `market_streams` and `pipeline_jobs`: the pipeline's queue. A job says a stream (symbol, timeframe) has
/// candles to analyse; a worker takes a stream by locking its `market_streams` row (`FOR UPDATE SKIP LOCKED`), so one
/// stream is analysed by one worker at a time across processes.
enum PipelineJobs {
    /// Queues streams (`SYMBOL/tf`), in the caller's transaction (the ingest that stored their candles).
    static func enqueue(_ streams: [String], _ connection: PostgresConnection, logger: Logger) async throws {
        guard !streams.isEmpty else { return }
        let parts = streams.map { $0.split(separator: "/").map(String.init) }
        let symbols = parts.map { $0[0] }, timeframes = parts.map { $0[1] }
        try await connection.query(
            """
            INSERT INTO market_streams (symbol, timeframe)
            SELECT * FROM unnest(\(symbols)::text[], \(timeframes)::text[]) ON CONFLICT DO NOTHING
            """, logger: logger)
        try await connection.query(
            "INSERT INTO pipeline_jobs (symbol, timeframe) SELECT * FROM unnest(\(symbols)::text[], \(timeframes)::text[])",
            logger: logger)
    }

    /// Takes one stream with queued work (its row locked for the transaction, its jobs deleted); nil when none waits.
    static func take(_ connection: PostgresConnection, logger: Logger) async throws -> (symbol: String, timeframe: String)? {
        guard let (symbol, timeframe) = try await connection.query(
            """
            SELECT m.symbol, m.timeframe FROM market_streams m
            WHERE EXISTS (SELECT 1 FROM pipeline_jobs j WHERE j.symbol = m.symbol AND j.timeframe = m.timeframe)
            LIMIT 1 FOR UPDATE SKIP LOCKED
            """, logger: logger
        ).collect().first?.decode((String, String).self) else { return nil }
        try await connection.query("DELETE FROM pipeline_jobs WHERE symbol = \(symbol) AND timeframe = \(timeframe)", logger: logger)
        return (symbol, timeframe)
    }

    /// Queues one stream again (more candles than one step takes).
    static func again(symbol: String, timeframe: String, _ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("INSERT INTO pipeline_jobs (symbol, timeframe) VALUES (\(symbol), \(timeframe))", logger: logger)
    }

    /// Which of `streams` have no job queued.
    static func idle(_ streams: [(symbol: String, timeframe: String)], _ connection: PostgresConnection, logger: Logger)
        async throws -> [(symbol: String, timeframe: String)]
    {
        guard !streams.isEmpty else { return [] }
        var out: [(symbol: String, timeframe: String)] = []
        for try await row in try await connection.query(
            """
            SELECT u.symbol, u.timeframe FROM unnest(\(streams.map(\.symbol))::text[], \(streams.map(\.timeframe))::text[]) AS u(symbol, timeframe)
            WHERE NOT EXISTS (SELECT 1 FROM pipeline_jobs j WHERE j.symbol = u.symbol AND j.timeframe = u.timeframe)
            """, logger: logger
        ).decode((String, String).self) {
            out.append(row)
        }
        return out
    }
}
