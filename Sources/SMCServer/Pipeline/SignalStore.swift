import Foundation
import Logging
import PostgresNIO
import SMCEngine
import SMCSync

/// Writes the new signals and outcomes of one pipeline step, for every tenant at once, in the pipeline's
/// transaction: the rows, their alert jobs (outbox) and their places in each tenant's `signals` sync stream (the
/// counter bumped in the same transaction, so versions have no gaps and no reader sees a version before its row).
/// A handful of statements whatever the number of tenants: the fan-out of one candle to hundreds of tenants must
/// not cost hundreds of round trips.
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

    func write(symbol: String, timeframe: String, signals: [UUID: [Signal]], outcomes: [UUID: [SignalOutcome]],
               _ connection: PostgresConnection) async throws -> Written
    {
        var written = Written()
        let tenants = Set(signals.keys).union(outcomes.keys).sorted { $0.uuidString < $1.uuidString }
        guard !tenants.isEmpty else { return written }

        // 1. Each tenant's block of sync versions.
        let counts = tenants.map { Int64((signals[$0]?.count ?? 0) + (outcomes[$0]?.count ?? 0)) }
        let tops = try await connection.query(
            """
            INSERT INTO sync_counters (tenant_id, stream, version)
            SELECT u.tenant, 'signals', u.n FROM unnest(\(tenants)::uuid[], \(counts)::int8[]) AS u(tenant, n)
            ON CONFLICT (tenant_id, stream) DO UPDATE SET version = sync_counters.version + EXCLUDED.version
            RETURNING tenant_id, version
            """, logger: logger)
        var next: [UUID: Int64] = [:]
        for try await (tenant, top) in tops.decode((UUID, Int64).self) {
            let n = Int64((signals[tenant]?.count ?? 0) + (outcomes[tenant]?.count ?? 0))
            next[tenant] = top - n + 1
        }
        func version(_ tenant: UUID) -> Int64 {
            defer { next[tenant, default: 0] += 1 }
            return next[tenant, default: 0]
        }

        // 2. New signals and their `signal.created` jobs.
        var t: [UUID] = [], ids: [UUID] = [], events: [UUID] = [], keys: [String] = [], directions: [Int16] = []
        var kinds: [String] = [], confidences: [Double] = [], levels: [String] = [], candleTimes: [Date] = [], closeTimes: [Date] = []
        var entries: [Double] = [], stops: [Double] = [], rewards: [Double] = [], regimes: [String] = [], zones: [String] = []
        var confluences: [Double] = [], details: [String] = [], versions: [Int64] = []
        for tenant in tenants {
            for s in signals[tenant] ?? [] {
                t.append(tenant)
                ids.append(UUIDv7.generate())
                events.append(UUIDv7.generate())
                keys.append(s.id)
                directions.append(Int16(s.direction))
                kinds.append(s.setup.zone.kind.rawValue)
                confidences.append(s.confidence)
                levels.append(s.level.rawValue)
                candleTimes.append(Date(timeIntervalSince1970: TimeInterval(s.candleTime)))
                closeTimes.append(Date(timeIntervalSince1970: TimeInterval(s.closeTime)))
                entries.append(s.setup.entry)
                stops.append(s.setup.stop)
                rewards.append(s.setup.rewardRisk)
                regimes.append(s.regime?.rawValue ?? "")
                zones.append(s.killzone ?? "")
                confluences.append(s.confluence)
                details.append(String(decoding: try Self.encoder.encode(s), as: UTF8.self))
                versions.append(version(tenant))
            }
        }
        if !t.isEmpty {
            let rows = try await connection.query(
                """
                WITH u AS (
                    SELECT * FROM unnest(\(t)::uuid[], \(ids)::uuid[], \(events)::uuid[], \(keys)::text[], \(directions)::int2[],
                        \(kinds)::text[], \(confidences)::float8[], \(levels)::text[], \(candleTimes)::timestamptz[],
                        \(closeTimes)::timestamptz[], \(entries)::float8[], \(stops)::float8[], \(rewards)::float8[],
                        \(regimes)::text[], \(zones)::text[], \(confluences)::float8[], \(details)::text[], \(versions)::int8[])
                    AS u(tenant, id, event, key, direction, kind, confidence, level, candle_time, close_time, entry, stop,
                         reward_risk, regime, killzone, confluence, detail, version)
                ), inserted AS (
                    INSERT INTO signals (tenant_id, signal_id, signal_key, symbol, timeframe, direction, setup_type, confidence,
                        level, candle_time, close_time, entry, stop, targets, reward_risk, regime, killzone, confluence, detail,
                        sync_version)
                    SELECT tenant, id, key, \(symbol), \(timeframe), direction, kind, confidence, level, candle_time, close_time,
                        entry, stop, ARRAY(SELECT jsonb_array_elements_text(detail::jsonb -> 'setup' -> 'targets')::float8),
                        reward_risk, nullif(regime, ''), nullif(killzone, ''), confluence, detail::jsonb, version
                    FROM u
                    ON CONFLICT (tenant_id, symbol, timeframe, signal_key) DO NOTHING
                    RETURNING tenant_id, signal_id
                )
                INSERT INTO alert_outbox (tenant_id, event_id, event_type, signal_id)
                SELECT i.tenant_id, u.event, 'signal.created', i.signal_id FROM inserted i JOIN u ON u.id = i.signal_id
                RETURNING signal_id
                """, logger: logger)
            for try await _ in rows { written.signals += 1 }
        }

        // 3. Outcomes of earlier signals and their `signal.outcome` jobs.
        var ot: [UUID] = [], oevents: [UUID] = [], okeys: [String] = [], okinds: [String] = [], otimes: [Date] = []
        var ors: [Double] = [], oexits: [Double] = [], oversions: [Int64] = []
        for tenant in tenants {
            for o in outcomes[tenant] ?? [] {
                ot.append(tenant)
                oevents.append(UUIDv7.generate())
                okeys.append(o.signalID)
                okinds.append(o.kind.rawValue)
                otimes.append(Date(timeIntervalSince1970: TimeInterval(o.resolvedTime)))
                ors.append(o.r)
                oexits.append(o.exitPrice)
                oversions.append(version(tenant))
            }
        }
        if !ot.isEmpty {
            let rows = try await connection.query(
                """
                WITH u AS (
                    SELECT * FROM unnest(\(ot)::uuid[], \(oevents)::uuid[], \(okeys)::text[], \(okinds)::text[],
                        \(otimes)::timestamptz[], \(ors)::float8[], \(oexits)::float8[], \(oversions)::int8[])
                    AS u(tenant, event, key, kind, at, r, exit_price, version)
                ), updated AS (
                    UPDATE signals s SET outcome = u.kind, outcome_time = u.at, outcome_r = u.r, exit_price = u.exit_price,
                        sync_version = u.version
                    FROM u
                    WHERE s.tenant_id = u.tenant AND s.symbol = \(symbol) AND s.timeframe = \(timeframe)
                      AND s.signal_key = u.key AND s.outcome IS NULL
                    RETURNING s.tenant_id, s.signal_id, u.event
                )
                INSERT INTO alert_outbox (tenant_id, event_id, event_type, signal_id)
                SELECT tenant_id, event, 'signal.outcome', signal_id FROM updated
                RETURNING signal_id
                """, logger: logger)
            for try await _ in rows { written.outcomes += 1 }
        }
        return written
    }
}
