import Foundation
import GRDB
import SMCSync

/// A journal entry as the client shows it (`journal list --json` prints an array of these).
public struct JournalEntry: Sendable, Equatable, Encodable {
    public var id: String
    public var symbol: String
    public var direction: String
    public var entry: Double
    public var stop: Double?
    public var target: Double?
    public var targets: [Double]
    public var size: Double
    public var fees: Double
    public var entryTime: String
    public var exit: Double?
    public var exitTime: String?
    public var note: String?
    public var tags: [String]
    public var signalID: String?
    public var setupType: String?
    public var killzone: String?
    public var timeframe: String?
    /// open, win, loss or breakeven.
    public var outcome: String
    public var pnl: Double?
    public var rMultiple: Double?
    /// The exact figures (`pnl` and `rMultiple` are their `numeric::float8`, as the server sends them).
    public var figures: TradeFigures
    /// Local changes not yet acknowledged by the server.
    public var pending: Bool

    enum CodingKeys: String, CodingKey {
        case id, symbol, direction, entry, stop, target, targets, size, fees, note, tags, outcome, pnl, pending, exit, killzone, timeframe
        case entryTime = "entry_time", exitTime = "exit_time", signalID = "signal_id", setupType = "setup_type", rMultiple = "r_multiple"
    }

    init(id: String, fields f: [String: JSONValue], pending: Bool) {
        func number(_ k: String) -> Double? { if case .number(let n)? = f[k] { n } else { nil } }
        func text(_ k: String) -> String? { if case .string(let s)? = f[k] { s } else { nil } }
        func list(_ k: String) -> [JSONValue] { if case .array(let a)? = f[k] { a } else { [] } }
        self.id = id
        symbol = text("symbol") ?? ""
        direction = text("direction") ?? "long"
        entry = number("entry_price") ?? 0
        stop = number("stop_price")
        targets = list("targets").compactMap { if case .number(let n) = $0 { n } else { nil } }
        target = targets.first
        size = number("size") ?? 1
        fees = number("fees") ?? 0
        entryTime = text("entry_time") ?? ""
        exit = number("exit_price")
        exitTime = text("exit_time")
        note = text("notes")
        tags = list("tags").compactMap { if case .string(let s) = $0 { s } else { nil } }
        signalID = text("signal_id")
        setupType = text("setup_type")
        killzone = text("killzone")
        timeframe = text("timeframe")
        self.pending = pending
        // The server's formulas and its numeric arithmetic (JournalService.recompute), so figures agree offline.
        let figures = TradeFigures(direction: direction, entry: entry, stop: stop, exit: exit, size: size, fees: fees)
        pnl = figures.pnl?.double
        rMultiple = figures.rMultiple?.double
        outcome = figures.outcome
        self.figures = figures
    }
}

/// What `journal add` records.
public struct TradeInput: Sendable {
    public var symbol: String
    public var direction: String
    public var entry: Double
    public var stop: Double?
    public var targets: [Double] = []
    public var size: Double?
    public var fees: Double?
    public var entryTime: Date = Date()
    public var note: String?
    public var tags: [String] = []
    public var signalID: String?
    public var setupType: String?
    public var timeframe: String?

    public init(symbol: String, direction: String, entry: Double, stop: Double?) {
        self.symbol = symbol
        self.direction = direction
        self.entry = entry
        self.stop = stop
    }
}


/// Journal statistics over closed entries, computed as `GET /v1/journal/stats` computes its `overall` figures (sums
/// and averages in PostgreSQL `numeric`, then as doubles), so that they agree with the server's to the digit.
public struct JournalStats: Sendable, Equatable, Encodable {
    /// Closed trades.
    public var count = 0
    /// Open trades (not in the figures).
    public var open = 0
    public var wins = 0
    public var losses = 0
    public var breakeven = 0
    /// wins / count.
    public var winRate: Double?
    /// Closed trades that have an R (a stop).
    public var rCount = 0
    public var averageR: Double?
    /// The share of wins × their average R + the share of losses × theirs (over trades with an R).
    public var expectancyR: Double?
    /// Gross profit / gross loss; none without a loss.
    public var profitFactor: Double?
    public var totalPnl = 0.0

    enum CodingKeys: String, CodingKey {
        case count, open, wins, losses, breakeven
        case winRate = "win_rate", rCount = "r_count", averageR = "average_r", expectancyR = "expectancy_r",
            profitFactor = "profit_factor", totalPnl = "total_pnl"
    }

    public init() {}

    /// The figures of `entries` (open ones are only counted).
    public init(_ entries: [JournalEntry]) {
        var rs: [PostgresNumeric] = [], winRs: [PostgresNumeric] = [], lossRs: [PostgresNumeric] = []
        var total = PostgresNumeric.zero, profit = PostgresNumeric.zero, loss = PostgresNumeric.zero
        for entry in entries {
            guard entry.outcome != "open" else {
                open += 1
                continue
            }
            count += 1
            let pnl = entry.figures.pnl ?? .zero
            switch entry.outcome {
            case "win":
                wins += 1
                profit = profit + pnl
            case "loss":
                losses += 1
                loss = loss - pnl
            default:
                breakeven += 1
            }
            total = total + pnl
            if let r = entry.figures.rMultiple {
                rs.append(r)
                if entry.outcome == "win" { winRs.append(r) }
                if entry.outcome == "loss" { lossRs.append(r) }
            }
        }
        /// PostgreSQL's `avg(numeric)`: the exact sum divided (numeric division) by the count.
        func average(_ values: [PostgresNumeric]) -> Double? {
            guard !values.isEmpty else { return nil }
            return values.reduce(PostgresNumeric.zero, +).divided(by: PostgresNumeric(values.count))?.double
        }
        if count > 0 { winRate = Double(wins) / Double(count) }
        rCount = rs.count
        averageR = average(rs)
        if rCount > 0 {
            let n = Double(rCount)
            expectancyR = Double(winRs.count) / n * (average(winRs) ?? 0) + Double(lossRs.count) / n * (average(lossRs) ?? 0)
        }
        if loss.double > 0 { profitFactor = profit.double / loss.double }
        totalPnl = total.double
    }
}

public struct TradeFilter: Sendable {
    public var symbol: String?
    public var outcome: String?
    public var tag: String?
    public var limit: Int?
    public init() {}
}

extension LocalStore {
    // MARK: Journal: offline edits

    /// Records a new trade; returns its id (a UUIDv7 minted here). Checked and normalised by the server's rules
    /// (`TradeRules`): `eur/usd` is stored as `EURUSD`, a stop is optional.
    public func addTrade(_ input: TradeInput, now: Date = Date()) throws -> String {
        _ = try requireSession()
        var fields: [String: JSONValue] = [
            "symbol": .string(input.symbol), "direction": .string(input.direction),
            "entry_price": .number(input.entry), "entry_time": .string(Self.rfc3339(input.entryTime)),
            "targets": .array(input.targets.map(JSONValue.number)), "tags": .array(input.tags.map(JSONValue.string)),
            "size": .number(input.size ?? 1), "fees": .number(input.fees ?? 0), "screenshots": .array([]),
        ]
        fields["stop_price"] = input.stop.map(JSONValue.number)
        fields["notes"] = input.note.map(JSONValue.string)
        // The signal must be one of this account's (as last synced): its full id from a unique prefix.
        fields["signal_id"] = try input.signalID.map { .string(try resolve(signal: $0)) }
        fields["setup_type"] = input.setupType.map(JSONValue.string)
        fields["timeframe"] = input.timeframe.map(JSONValue.string)
        let (normalised, problems) = TradeRules.check(fields, now: now)
        guard problems.isEmpty else { throw StoreError.invalid(problems) }
        let id = UUIDv7.generate().uuidString.lowercased()
        try record(entity: "trade", id: id, op: "create", fields: normalised)
        return id
    }

    /// Changes fields of a live trade (`.null` clears one); the fields are `TradeCreate` names. The result must pass
    /// the server's rules; what they normalise is recorded normalised.
    public func editTrade(_ idOrPrefix: String, _ changes: [String: JSONValue], now: Date = Date()) throws -> String {
        let id = try resolve(trade: idOrPrefix)
        let current = try pool.read { db in try Self.trade(db, id) }
        guard let current, current.merge.deleted == nil else { throw StoreError.deleted(id) }
        var fields = current.merge.fields
        for (k, v) in changes { if v == .null { fields.removeValue(forKey: k) } else { fields[k] = v } }
        let (normalised, problems) = TradeRules.check(fields, now: now)
        guard problems.isEmpty else { throw StoreError.invalid(problems) }
        var changed: [String: JSONValue] = [:]
        for key in changes.keys where normalised[key] ?? .null != current.merge.fields[key] ?? .null {
            changed[key] = normalised[key] ?? .null
        }
        guard !changed.isEmpty else { return id }
        try record(entity: "trade", id: id, op: "update", fields: changed)
        return id
    }

    public func closeTrade(_ idOrPrefix: String, exit: Double, at time: Date = Date(), fees: Double? = nil, now: Date = Date()) throws
        -> String
    {
        var changes: [String: JSONValue] = ["exit_price": .number(exit), "exit_time": .string(Self.rfc3339(time))]
        if let fees { changes["fees"] = .number(fees) }
        let entry = try trade(idOrPrefix)
        guard let closed = entry.exit else { return try editTrade(entry.id, changes, now: now) }
        throw StoreError.invalid([FieldProblem(nil, "\(entry.id) is already closed (at \(closed)); edit it to correct the exit")])
    }

    public func deleteTrade(_ idOrPrefix: String) throws -> String {
        let id = try resolve(trade: idOrPrefix)
        try record(entity: "trade", id: id, op: "delete", fields: [:])
        return id
    }

    // MARK: Ids

    /// A live trade's id from its id or a unique prefix of it (at least 4 hex digits; hyphens optional).
    public func resolve(trade idOrPrefix: String) throws -> String {
        try resolve(idOrPrefix, kind: "trade", table: "trades", live: "deleted_hlc IS NULL") { row in
            let fields = Self.decodeFields(row["fields"])
            let entry = JournalEntry(id: row["id"], fields: fields, pending: false)
            return "\(entry.symbol) \(entry.direction) at \(Self.number(entry.entry)), \(entry.entryTime)"
                + (entry.exit.map { ", closed at \(Self.number($0))" } ?? ", open")
        }
    }

    /// A signal's id (as last synced) from its id or a unique prefix of it.
    public func resolve(signal idOrPrefix: String) throws -> String {
        try resolve(idOrPrefix, kind: "signal", table: "signals", live: nil) { row in
            let s = SignalEntry(id: row["id"], fields: Self.decodeFields(row["fields"]), annotation: nil, pending: false)
            return [s.text("symbol"), s.text("timeframe"), s.text("direction"), s.text("setup_type"), s.text("candle_time")]
                .compactMap { $0 }.joined(separator: " ")
        }
    }

    /// The shortest unique prefix (at least 8 hex digits) of every live trade's id, for tables.
    public func tradeIDPrefixes() throws -> [String: String] {
        IDPrefix.shortest(try pool.read { db in try String.fetchAll(db, sql: "SELECT id FROM trades WHERE deleted_hlc IS NULL") })
    }

    /// The shortest unique prefix (at least 8 hex digits) of every signal's id, for tables.
    public func signalIDPrefixes() throws -> [String: String] {
        IDPrefix.shortest(try pool.read { db in try String.fetchAll(db, sql: "SELECT id FROM signals") })
    }

    private func resolve(
        _ text: String, kind: String, table: String, live: String?, summary: (Row) -> String
    ) throws -> String {
        let given = text.trimmingCharacters(in: .whitespaces)
        guard IDPrefix.isPlausible(given) else { throw StoreError.notAnID(text, "a \(kind)'s id is hex digits and hyphens") }
        let key = IDPrefix.key(given)
        guard key.count >= IDPrefix.minimumAccepted else {
            throw StoreError.notAnID(text, "give at least \(IDPrefix.minimumAccepted) hex digits of the \(kind)'s id")
        }
        let pattern = key + "%"  // hex digits only: nothing to escape
        return try pool.read { db in
            let condition = "replace(id, '-', '') LIKE ?" + (live.map { " AND \($0)" } ?? "")
            let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table) WHERE \(condition)", arguments: [pattern]) ?? 0
            let shown = 10
            let rows = try Row.fetchAll(
                db, sql: "SELECT id, fields FROM \(table) WHERE \(condition) ORDER BY id LIMIT ?", arguments: [pattern, shown])
            if count == 1 { return rows[0]["id"] }
            if count > 1 {
                throw StoreError.ambiguous(
                    given, candidates: rows.map { IDCandidate(id: $0["id"], summary: summary($0)) }, count: count)
            }
            if let live, let gone = try String.fetchAll(
                db, sql: "SELECT id FROM \(table) WHERE replace(id, '-', '') LIKE ? AND NOT (\(live)) LIMIT 2", arguments: [pattern]
            ).first {
                throw StoreError.deleted("\(kind) \(gone)")
            }
            throw StoreError.notFound("\(kind) \(text)")
        }
    }

    /// A price as people write it (1.1, not 1.1000000000000001; 100, not 100.0).
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }

    // MARK: Journal: reads

    public func trade(_ idOrPrefix: String) throws -> JournalEntry {
        let id = try resolve(trade: idOrPrefix)
        return try pool.read { db in
            guard let record = try Self.trade(db, id) else { throw StoreError.notFound("trade \(idOrPrefix)") }
            let pending = try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox WHERE entity = 'trade' AND entity_id = ?", arguments: [id]) ?? 0
            return JournalEntry(id: id, fields: record.merge.fields, pending: pending > 0)
        }
    }

    /// Live trades, newest entry first.
    public func trades(_ filter: TradeFilter = TradeFilter()) throws -> [JournalEntry] {
        try pool.read { db in
            let pending = Set(try String.fetchAll(db, sql: "SELECT DISTINCT entity_id FROM outbox WHERE entity = 'trade'"))
            var sql = "SELECT id, fields FROM trades WHERE deleted_hlc IS NULL"
            var arguments: StatementArguments = []
            if let symbol = filter.symbol {
                sql += " AND symbol = ?"
                arguments += [TradeRules.normaliseSymbol(symbol)]
            }
            sql += " ORDER BY entry_time DESC, id DESC"
            var result: [JournalEntry] = []
            for row in try Row.fetchAll(db, sql: sql, arguments: arguments) {
                let id: String = row["id"]
                let entry = JournalEntry(id: id, fields: Self.decodeFields(row["fields"]), pending: pending.contains(id))
                if let outcome = filter.outcome, entry.outcome != outcome { continue }
                if let tag = filter.tag, !entry.tags.contains(TradeRules.trimmingWhitespace(tag)) { continue }
                result.append(entry)
                if let limit = filter.limit, result.count >= limit { break }
            }
            return result
        }
    }

    public func stats(_ filter: TradeFilter = TradeFilter()) throws -> JournalStats {
        JournalStats(try trades(filter))
    }

    // MARK: Signals

    public struct SignalFilter: Sendable {
        public var symbol: String?
        public var timeframe: String?
        public var direction: String?
        public var minConfidence: Double?
        /// open (no outcome yet), target, stop or expired.
        public var outcome: String?
        /// RFC 3339 bounds on the candle time (UTC, `Z`): at or after `since`, before `until`.
        public var since: String?
        public var until: String?
        /// order_block or fair_value_gap.
        public var setupType: String?
        /// HIGH, MEDIUM, LOW or NEUTRAL.
        public var level: String?
        /// The killzone the signal's candle opened in, by name, case-insensitively.
        public var killzone: String?
        public var limit: Int?
        public init() {}
    }

    /// A signal with the user's annotation, as the client shows it.
    public struct SignalEntry: Sendable, Equatable {
        public var id: String
        public var fields: [String: JSONValue]
        public var annotation: [String: JSONValue]?
        public var pending: Bool

        public func text(_ key: String) -> String? { if case .string(let s)? = fields[key] { s } else { nil } }
        public func number(_ key: String) -> Double? { if case .number(let n)? = fields[key] { n } else { nil } }

        /// The signal's fields plus `id` and `annotation`, as JSON.
        public var json: JSONValue {
            var all = fields
            all["id"] = .string(id)
            if let annotation { all["annotation"] = .object(annotation) }
            all["pending"] = .bool(pending)
            return .object(all)
        }
    }

    public func signals(_ filter: SignalFilter = SignalFilter()) throws -> [SignalEntry] {
        try pool.read { db in
            var sql = "SELECT s.id, s.fields, a.fields AS note FROM signals s LEFT JOIN annotations a ON a.signal_id = s.id WHERE 1 = 1"
            var arguments: StatementArguments = []
            if let symbol = filter.symbol { sql += " AND s.symbol = ?"; arguments += [TradeRules.normaliseSymbol(symbol)] }
            if let timeframe = filter.timeframe { sql += " AND s.timeframe = ?"; arguments += [timeframe] }
            if let direction = filter.direction { sql += " AND s.direction = ?"; arguments += [direction] }
            if let confidence = filter.minConfidence { sql += " AND s.confidence >= ?"; arguments += [confidence] }
            if let since = filter.since { sql += " AND s.candle_time >= ?"; arguments += [since] }
            if let until = filter.until { sql += " AND s.candle_time < ?"; arguments += [until] }
            if let outcome = filter.outcome {
                sql += outcome == "open" ? " AND json_extract(s.fields, '$.outcome.kind') IS NULL" : " AND json_extract(s.fields, '$.outcome.kind') = ?"
                if outcome != "open" { arguments += [outcome] }
            }
            if let setupType = filter.setupType { sql += " AND json_extract(s.fields, '$.setup_type') = ?"; arguments += [setupType] }
            if let level = filter.level { sql += " AND s.level = ?"; arguments += [level] }
            // Killzone names may be any text: compared case-insensitively in Swift (SQLite's lower() knows only ASCII),
            // so the limit is applied after that filter.
            let killzone = filter.killzone.map { $0.lowercased() }
            if killzone != nil { sql += " AND json_extract(s.fields, '$.killzone') IS NOT NULL" }
            sql += " ORDER BY s.candle_time DESC, s.id DESC"
            if let limit = filter.limit, killzone == nil { sql += " LIMIT ?"; arguments += [limit] }
            let pending = Set(try String.fetchAll(db, sql: "SELECT DISTINCT entity_id FROM outbox WHERE entity = 'annotation'"))
            var result: [SignalEntry] = []
            for row in try Row.fetchAll(db, sql: sql, arguments: arguments) {
                let id: String = row["id"]
                let entry = SignalEntry(
                    id: id, fields: Self.decodeFields(row["fields"]), annotation: (row["note"] as String?).map(Self.decodeFields),
                    pending: pending.contains(id))
                if let killzone, entry.text("killzone")?.lowercased() != killzone { continue }
                result.append(entry)
                if let limit = filter.limit, result.count >= limit { break }
            }
            return result
        }
    }

    public func signal(_ idOrPrefix: String) throws -> SignalEntry {
        let id = try resolve(signal: idOrPrefix)
        return try pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT s.id, s.fields, a.fields AS note FROM signals s LEFT JOIN annotations a ON a.signal_id = s.id WHERE s.id = ?",
                    arguments: [id])
            else { throw StoreError.notFound("signal \(idOrPrefix)") }
            let pending = try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox WHERE entity = 'annotation' AND entity_id = ?", arguments: [id]) ?? 0
            return SignalEntry(
                id: id, fields: Self.decodeFields(row["fields"]), annotation: (row["note"] as String?).map(Self.decodeFields),
                pending: pending > 0)
        }
    }

    /// Annotates a signal offline: given members replace the stored ones; `clear` removes note, tags and taken.
    public func annotate(_ idOrPrefix: String, note: String?, tags: [String]?, taken: Bool?, clear: Bool = false) throws -> String {
        let id = try resolve(signal: idOrPrefix)
        if clear {
            try record(entity: "annotation", id: id, op: "delete", fields: [:])
            return id
        }
        let checked = TradeRules.annotation(note: note, tags: tags)
        guard checked.problems.isEmpty else { throw StoreError.invalid(checked.problems) }
        var fields: [String: JSONValue] = [:]
        if let note = checked.note { fields["note"] = note }
        if let tags = checked.tags { fields["tags"] = .array(tags.map(JSONValue.string)) }
        if let taken { fields["taken"] = .bool(taken) }
        guard !fields.isEmpty else { throw StoreError.invalid([FieldProblem(nil, "give --note, --tag, --taken/--no-taken or --clear")]) }
        try record(entity: "annotation", id: id, op: "update", fields: fields)
        return id
    }

    func updatePlan(_ plan: String) throws {
        guard var session = try session(), session.plan != plan else { return }
        session.plan = plan
        try pool.write { db in try Self.setMeta(db, "session", String(decoding: try JSONEncoder().encode(session), as: UTF8.self)) }
    }

    static func rfc3339(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
