import Foundation
import Logging
import PostgresNIO
import SMCEngine
import SMCSync

/// Writes a tenant's new signals and outcomes in the pipeline's transaction: the rows, their alert jobs (outbox)
/// and their places in the tenant's `signals` sync stream (the counter bumped in the same transaction, so the
/// versions have no gaps and no reader sees a version before its row).
struct SignalStore: Sendable {
    let logger: Logger

    /// The engine's signal as stored in `signals.detail` (and as the REST detail reads it).
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()

    struct Written {
        var signals = 0
        var outcomes = 0
    }

    func write(tenant: UUID, symbol: String, timeframe: String, signals: [Signal], outcomes: [SignalOutcome], _ connection: PostgresConnection)
        async throws -> Written
    {
        var written = Written()
        let changes = signals.count + outcomes.count
        guard changes > 0 else { return written }
        let top = try await connection.query(
            """
            INSERT INTO sync_counters (tenant_id, stream, version) VALUES (\(tenant), 'signals', \(changes))
            ON CONFLICT (tenant_id, stream) DO UPDATE SET version = sync_counters.version + EXCLUDED.version
            RETURNING version
            """, logger: logger
        ).collect().first?.decode(Int64.self) ?? Int64(changes)
        var next = top - Int64(changes) + 1

        for s in signals {
            let id = UUIDv7.generate()
            let detail = String(decoding: try Self.encoder.encode(s), as: UTF8.self)
            let inserted = try await connection.query(
                """
                INSERT INTO signals (tenant_id, signal_id, signal_key, symbol, timeframe, direction, setup_type, confidence,
                    level, candle_time, close_time, entry, stop, targets, reward_risk, regime, killzone, confluence, detail,
                    sync_version)
                VALUES (\(tenant), \(id), \(s.id), \(symbol), \(s.timeframe), \(Int16(s.direction)),
                    \(s.setup.zone.kind.rawValue), \(s.confidence), \(s.level.rawValue),
                    \(Date(timeIntervalSince1970: TimeInterval(s.candleTime))), \(Date(timeIntervalSince1970: TimeInterval(s.closeTime))),
                    \(s.setup.entry), \(s.setup.stop), \(s.setup.targets), \(s.setup.rewardRisk), \(s.regime?.rawValue),
                    \(s.killzone), \(s.confluence), \(detail)::jsonb, \(next))
                ON CONFLICT (tenant_id, symbol, timeframe, signal_key) DO NOTHING
                RETURNING signal_id
                """, logger: logger
            ).collect().first?.decode(UUID.self)
            next += 1
            guard let inserted else { continue }
            written.signals += 1
            try await connection.query(
                """
                INSERT INTO alert_outbox (tenant_id, event_id, event_type, signal_id)
                VALUES (\(tenant), \(UUIDv7.generate()), 'signal.created', \(inserted))
                """, logger: logger)
        }
        for o in outcomes {
            let id = try await connection.query(
                """
                UPDATE signals SET outcome = \(o.kind.rawValue), outcome_time = \(Date(timeIntervalSince1970: TimeInterval(o.resolvedTime))),
                    outcome_r = \(o.r), exit_price = \(o.exitPrice), sync_version = \(next)
                WHERE tenant_id = \(tenant) AND symbol = \(symbol) AND timeframe = \(timeframe) AND signal_key = \(o.signalID)
                  AND outcome IS NULL
                RETURNING signal_id
                """, logger: logger
            ).collect().first?.decode(UUID.self)
            next += 1
            guard let id else { continue }
            written.outcomes += 1
            try await connection.query(
                """
                INSERT INTO alert_outbox (tenant_id, event_id, event_type, signal_id)
                VALUES (\(tenant), \(UUIDv7.generate()), 'signal.outcome', \(id))
                """, logger: logger)
        }
        return written
    }
}
