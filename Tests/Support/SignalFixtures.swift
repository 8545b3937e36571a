import Foundation
import PostgresNIO
import SMCServer

/// A `signals` row as the pipeline writes it, with `detail` holding the engine's `Signal` JSON
/// (`JSONEncoder`, sorted keys, snake_case, epoch-second times).
public struct SignalRow: Sendable {
    public var id = UUID()
    public var symbol = "EURUSD"
    public var timeframe = "15m"
    public var direction = 1
    public var setupType = "fair_value_gap"
    public var confidence = 57.07
    public var level = "MEDIUM"
    /// Seconds since 1970, a multiple of the timeframe.
    public var candleTime: Int64
    public var entry = 1.0850
    public var stop = 1.0830
    public var targets = [1.0910, 1.0950]
    public var regime: String? = "trending_up"
    public var killzone: String? = "London open"
    public var confluence = 0.0734
    public var outcome: String?
    public var outcomeR: Double?
    public var exitPrice: Double?
    /// The signal's cost in R as issued (`signals.cost_r`).
    /// The signal's cost in R; nil: the registry's, as the pipeline computes it.
    public var costR: Double?
    /// Overrides the generated detail (e.g. a real engine signal from the golden fixture).
    public var detailJSON: String?
    /// When the pipeline committed it (seconds since 1970); the candle's close when nil. Plans hide signals by it.
    public var createdAt: Int64?

    public init(id: UUID = UUID(), symbol: String = "EURUSD", timeframe: String = "15m", direction: Int = 1,
                setupType: String = "fair_value_gap", confidence: Double = 57.07, level: String = "MEDIUM", candleTime: Int64) {
        (self.id, self.symbol, self.timeframe, self.direction, self.setupType, self.confidence, self.level, self.candleTime) =
            (id, symbol, timeframe, direction, setupType, confidence, level, candleTime)
    }

    public var seconds: Int64 { ["1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "4h": 14400, "1d": 86400][timeframe] ?? 900 }
    public var closeTime: Int64 { candleTime + seconds }
    public var outcomeTime: Int64 { closeTime + 6 * seconds }
    public var rewardRisk: Double { abs(targets[0] - entry) / abs(entry - stop) }
    public var zoneTop: Double { direction > 0 ? entry - 0.0004 : stop - 0.0006 }
    public var zoneBottom: Double { direction > 0 ? stop + 0.0006 : entry + 0.0004 }
    public var zoneTime: Int64 { candleTime - 7 * seconds }
    public var zoneFormedTime: Int64 { candleTime - 5 * seconds }

    /// Whole seconds, aligned on the timeframe, `ago` before now.
    public static func time(ago: TimeInterval, timeframe: Int64 = 900) -> Int64 {
        let now = Int64(Date().timeIntervalSince1970 - ago)
        return now - now % timeframe
    }

    public var detail: String {
        if let detailJSON { return detailJSON }
        let object: [String: Any] = [
            "id": "\(setupType == "order_block" ? "ob" : "fvg"):\(direction > 0 ? "bull" : "bear"):\(zoneTime)@\(candleTime)",
            "timeframe": timeframe, "candle_time": candleTime, "close_time": closeTime, "direction": direction,
            "confidence": confidence, "level": level,
            "setup": [
                "direction": direction, "entry": entry, "stop": stop, "targets": targets, "reward_risk": rewardRisk,
                "zone": [
                    "kind": setupType, "direction": direction, "top": zoneTop, "bottom": zoneBottom, "time": zoneTime,
                    "formed_index": 337, "formed_time": zoneFormedTime,
                ],
            ] as [String: Any],
            "votes": [
                ["member": "smc", "vote": 0.33, "weight": 1, "gate": 1, "abstained": false, "reason": "\(setupType) retest, R:R 3.14"],
                ["member": "technical", "vote": 0.81, "weight": 1, "gate": 1, "abstained": false, "reason": "EMA trend 1.00"],
                ["member": "learned", "vote": 0, "weight": 0, "gate": 1, "abstained": true, "reason": "not trained yet"],
                ["member": "external", "vote": 0, "weight": 0, "gate": 1, "abstained": true, "reason": "no recent external alert"],
            ],
            "regime": regime as Any, "killzone": killzone as Any,
            "biases": [
                ["timeframe": timeframe, "score": 15.15, "level": "NEUTRAL"], ["timeframe": "1h", "score": 62.5, "level": "MEDIUM"],
                ["timeframe": "4h", "score": -80, "level": "HIGH"],
            ],
            "confluence": confluence,
        ]
        return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}

/// The expected listing order of signals: candle time descending, then id descending (as PostgreSQL orders uuids).
public func newestFirst(_ rows: [SignalRow]) -> [String] {
    rows.sorted { a, b in
        a.candleTime != b.candleTime ? a.candleTime > b.candleTime : a.id.uuidString.lowercased() > b.id.uuidString.lowercased()
    }.map { $0.id.uuidString.lowercased() }
}

extension TestServer {
    /// Writes signals for `tenant` as the pipeline does: one transaction as `smc_worker` (whose policy on `signals`
    /// spans tenants) that bumps the tenant's `signals` sync counter once by `rows.count`, stamps the rows with the new
    /// versions in order and, with `events`, queues each row's `signal.created` alert event (the transactional
    /// outbox). The transaction stays open `holdMillis` after the bump: a slow writer holding its versions uncommitted.
    @discardableResult
    public func insertSignals(_ rows: [SignalRow], tenant: UUID, events: Bool = false, holdMillis: Int = 0) async throws -> [UUID] {
        let logger = TestDatabase.logger
        do {
            try await PostgresClient.withRunning(database, logger: logger, maxConnections: 1) { client in
                try await client.withConnection { connection in
                    try await connection.query("BEGIN", logger: logger)
                    try await connection.query("SELECT set_config('role', 'smc_worker', true)", logger: logger)
                    let top = try await connection.query(
                        """
                        INSERT INTO sync_counters AS c (tenant_id, stream, version) VALUES (\(tenant), 'signals', \(Int64(rows.count)))
                        ON CONFLICT (tenant_id, stream) DO UPDATE SET version = c.version + EXCLUDED.version RETURNING version
                        """, logger: logger
                    ).collect().first!.decode(Int64.self)
                    if holdMillis > 0 {
                        try await connection.query("SELECT pg_sleep(\(Double(holdMillis) / 1000))", logger: logger)
                    }
                    for (i, row) in rows.enumerated() {
                        let version = top - Int64(rows.count) + 1 + Int64(i)
                        let key = "\(row.setupType == "order_block" ? "ob" : "fvg"):\(row.direction > 0 ? "bull" : "bear"):\(row.zoneTime)@\(row.candleTime)#\(row.id)"
                        try await connection.query(
                            """
                            INSERT INTO signals (tenant_id, signal_id, signal_key, symbol, timeframe, direction, setup_type, confidence, level,
                                                 candle_time, close_time, entry, stop, targets, reward_risk, regime, killzone, confluence,
                                                 detail, outcome, outcome_time, outcome_r, exit_price, sync_version, created_at, cost_r)
                            VALUES (\(tenant), \(row.id), \(key), \(row.symbol), \(row.timeframe), \(Int16(row.direction)), \(row.setupType),
                                    \(row.confidence), \(row.level), to_timestamp(\(row.candleTime)), to_timestamp(\(row.closeTime)),
                                    \(row.entry), \(row.stop), \(row.targets), \(row.rewardRisk), \(row.regime), \(row.killzone),
                                    \(row.confluence), \(row.detail)::jsonb, \(row.outcome),
                                    \(row.outcome == nil ? nil : Date(timeIntervalSince1970: TimeInterval(row.outcomeTime))),
                                    \(row.outcomeR), \(row.exitPrice), \(version), to_timestamp(\(row.createdAt ?? row.closeTime)),
                                    -- the row's cost, else the registry's costs in R as the pipeline stores them
                                    coalesce(\(row.costR), (SELECT coalesce((y.spread + y.commission + y.commission_rate * abs(\(row.entry)))
                                                     / greatest(abs(\(row.entry) - \(row.stop)), 1e-12), 0)
                                     FROM (SELECT 1) one LEFT JOIN symbols y ON y.symbol = \(row.symbol))))
                            """, logger: logger)
                        if events {
                            try await connection.query(
                                """
                                INSERT INTO alert_outbox (tenant_id, event_id, event_type, signal_id)
                                VALUES (\(tenant), \(UUID()), 'signal.created', \(row.id))
                                """, logger: logger)
                        }
                    }
                    try await connection.query("COMMIT", logger: logger)
                }
            }
        } catch {
            throw TestFailure(String(reflecting: error))
        }
        return rows.map(\.id)
    }

    /// `count` signals of one symbol on the 15m candle an hour ago, written as `insertSignals(_:tenant:)` writes them.
    @discardableResult
    public func insertSignals(tenant: UUID, count: Int, symbol: String = "EURUSD", holdMillis: Int = 0) async throws -> [UUID] {
        let rows = (0..<count).map { _ in SignalRow(symbol: symbol, candleTime: SignalRow.time(ago: 3600)) }
        return try await insertSignals(rows, tenant: tenant, holdMillis: holdMillis)
    }
}
