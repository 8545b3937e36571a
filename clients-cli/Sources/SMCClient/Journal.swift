import Foundation
import GRDB
import SMCSync

/// A journal entry as the client shows it (`journal list --json` prints an array of these).
public struct JournalEntry: Sendable, Equatable, Codable {
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
        // The server's formulas (JournalService.recompute), so figures agree offline.
        let sign = direction == "short" ? -1.0 : 1.0
        if let exit {
            let pnl = (exit - entry) * sign * size - fees
            self.pnl = pnl
            if let stop, stop != entry { rMultiple = (exit - entry) * sign / abs(entry - stop) }
            outcome = abs(pnl) < 1e-9 ? "breakeven" : pnl > 0 ? "win" : "loss"
        } else {
            outcome = "open"
        }
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

/// Journal statistics over closed entries (the server's definitions: `GET /v1/journal/stats`).
public struct JournalStats: Sendable, Equatable, Codable {
    public var count = 0
    public var open = 0
    public var wins = 0
    public var losses = 0
    public var breakeven = 0
    public var winRate: Double?
    public var averageR: Double?
    public var profitFactor: Double?
    public var totalPnl = 0.0

    enum CodingKeys: String, CodingKey {
        case count, open, wins, losses, breakeven
        case winRate = "win_rate", averageR = "average_r", profitFactor = "profit_factor", totalPnl = "total_pnl"
    }
}

public struct TradeFilter: Sendable {
    public var symbol: String?
    public var outcome: String?
    public var tag: String?
    public var limit: Int?
    public init() {}
}

/// The checks the server makes on a trade (JournalRules), made before an edit enters the outbox, so that offline
/// mistakes are caught at once rather than rejected at the next sync.
enum TradeRules {
    static func check(_ f: [String: JSONValue]) -> [String] {
        var problems: [String] = []
        func number(_ k: String) -> Double? { if case .number(let n)? = f[k] { n } else { nil } }
        let entry = number("entry_price") ?? 0
        let sign = { if case .string("short")? = f["direction"] { -1.0 } else { 1.0 } }()
        if case .string(let symbol)? = f["symbol"], symbol.range(of: "^[A-Z0-9]{3,20}$", options: .regularExpression) != nil {
        } else {
            problems.append("symbol: 3–20 letters and digits")
        }
        for key in ["entry_price", "stop_price", "size", "exit_price"] {
            if let v = number(key), !(v.isFinite && v > 0 && v <= 1e12) { problems.append("\(key): must be above 0") }
        }
        if let fees = number("fees"), !(fees.isFinite && fees >= 0) { problems.append("fees: must be 0 or more") }
        if let stop = number("stop_price"), (stop - entry) * sign >= 0 {
            problems.append(sign > 0 ? "stop: must be below the entry for a long" : "stop: must be above the entry for a short")
        }
        if case .array(let targets)? = f["targets"] {
            if targets.count > 10 { problems.append("targets: at most 10") }
            for case .number(let t) in targets where (t - entry) * sign <= 0 {
                problems.append(sign > 0 ? "target \(t): must be above the entry for a long" : "target \(t): must be below the entry for a short")
            }
        }
        if case .string(let note)? = f["notes"], note.count > 10_000 { problems.append("note: at most 10000 characters") }
        if case .array(let tags)? = f["tags"] {
            let texts = tags.compactMap { if case .string(let s) = $0 { s } else { nil } }
            if texts.count > 20 { problems.append("tags: at most 20") }
            if texts.contains(where: { !(1...40).contains($0.count) }) { problems.append("tags: each 1–40 characters") }
            if Set(texts).count != texts.count { problems.append("tags: listed twice") }
        }
        return problems
    }

    static func tags(_ tags: [String]) -> JSONValue {
        .array(tags.map { .string($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
    }
}

extension LocalStore {
    // MARK: Journal: offline edits

    /// Records a new trade; returns its id (a UUIDv7 minted here).
    public func addTrade(_ input: TradeInput) throws -> String {
        _ = try requireSession()
        var fields: [String: JSONValue] = [
            "symbol": .string(input.symbol.uppercased().trimmingCharacters(in: .whitespaces)), "direction": .string(input.direction),
            "entry_price": .number(input.entry), "entry_time": .string(Self.rfc3339(input.entryTime)),
            "targets": .array(input.targets.map(JSONValue.number)), "tags": TradeRules.tags(input.tags),
            "size": .number(input.size ?? 1), "fees": .number(input.fees ?? 0), "screenshots": .array([]),
        ]
        fields["stop_price"] = input.stop.map(JSONValue.number)
        fields["notes"] = input.note.flatMap { $0.isEmpty ? nil : JSONValue.string($0) }
        // The signal must be one of this account's (as last synced): its full id from a unique prefix.
        fields["signal_id"] = try input.signalID.map { .string(try signal($0).id) }
        fields["setup_type"] = input.setupType.map(JSONValue.string)
        fields["timeframe"] = input.timeframe.map(JSONValue.string)
        guard ["long", "short"].contains(input.direction) else { throw StoreError.invalid(["direction: long or short"]) }
        let problems = TradeRules.check(fields)
        guard problems.isEmpty else { throw StoreError.invalid(problems) }
        let id = UUIDv7.generate().uuidString.lowercased()
        try record(entity: "trade", id: id, op: "create", fields: fields)
        return id
    }

    /// Changes fields of a live trade (`.null` clears one); the fields are `TradeCreate` names.
    public func editTrade(_ idOrPrefix: String, _ changes: [String: JSONValue]) throws -> String {
        let id = try resolve(trade: idOrPrefix)
        let current = try pool.read { db in try Self.trade(db, id) }
        guard let current, current.merge.deleted == nil else { throw StoreError.deleted(idOrPrefix) }
        var fields = current.merge.fields
        for (k, v) in changes { if v == .null { fields.removeValue(forKey: k) } else { fields[k] = v } }
        let problems = TradeRules.check(fields)
        guard problems.isEmpty else { throw StoreError.invalid(problems) }
        let changed = changes.filter { current.merge.fields[$0.key] ?? .null != $0.value }
        guard !changed.isEmpty else { return id }
        try record(entity: "trade", id: id, op: "update", fields: changed)
        return id
    }

    public func closeTrade(_ idOrPrefix: String, exit: Double, at time: Date = Date(), fees: Double? = nil) throws -> String {
        var changes: [String: JSONValue] = ["exit_price": .number(exit), "exit_time": .string(Self.rfc3339(time))]
        if let fees { changes["fees"] = .number(fees) }
        let entry = try trade(idOrPrefix)
        guard entry.exit == nil else { throw StoreError.invalid(["\(entry.id) is already closed (at \(entry.exit!)); edit it to correct the exit"]) }
        if let entered = ISO8601DateFormatter().date(from: entry.entryTime.replacingOccurrences(of: #"\.\d+"#, with: "", options: .regularExpression)),
            time < entered
        {
            throw StoreError.invalid(["exit time: must not be before the entry time"])
        }
        return try editTrade(entry.id, changes)
    }

    public func deleteTrade(_ idOrPrefix: String) throws -> String {
        let id = try resolve(trade: idOrPrefix)
        try record(entity: "trade", id: id, op: "delete", fields: [:])
        return id
    }

    // MARK: Journal: reads

    /// A live trade by id or unique id prefix (at least 4 characters).
    func resolve(trade idOrPrefix: String) throws -> String {
        let key = idOrPrefix.lowercased()
        let ids = try pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT id FROM trades WHERE deleted_hlc IS NULL AND id LIKE ? ESCAPE '\\' LIMIT 2",
                arguments: [key.replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%"])
        }
        guard key.count >= 4, !ids.isEmpty else { throw StoreError.notFound("trade \(idOrPrefix)") }
        if ids.count > 1 && !ids.contains(key) { throw StoreError.ambiguous(idOrPrefix) }
        return ids.contains(key) ? key : ids[0]
    }

    public func trade(_ idOrPrefix: String) throws -> JournalEntry {
        let id = try resolve(trade: idOrPrefix)
        return try pool.read { db in
            let record = try Self.trade(db, id)!
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
                arguments += [symbol.uppercased()]
            }
            sql += " ORDER BY entry_time DESC, id DESC"
            var result: [JournalEntry] = []
            for row in try Row.fetchAll(db, sql: sql, arguments: arguments) {
                let id: String = row["id"]
                let entry = JournalEntry(id: id, fields: Self.decodeFields(row["fields"]), pending: pending.contains(id))
                if let outcome = filter.outcome, entry.outcome != outcome { continue }
                if let tag = filter.tag, !entry.tags.contains(tag) { continue }
                result.append(entry)
                if let limit = filter.limit, result.count >= limit { break }
            }
            return result
        }
    }

    public func stats(_ filter: TradeFilter = TradeFilter()) throws -> JournalStats {
        var stats = JournalStats()
        var rs: [Double] = []
        var profit = 0.0, loss = 0.0
        for entry in try trades(filter) {
            guard entry.outcome != "open", let pnl = entry.pnl else {
                stats.open += 1
                continue
            }
            stats.count += 1
            switch entry.outcome {
            case "win": stats.wins += 1; profit += pnl
            case "loss": stats.losses += 1; loss -= pnl
            default: stats.breakeven += 1
            }
            stats.totalPnl += pnl
            if let r = entry.rMultiple { rs.append(r) }
        }
        if stats.count > 0 { stats.winRate = Double(stats.wins) / Double(stats.count) }
        if !rs.isEmpty { stats.averageR = rs.reduce(0, +) / Double(rs.count) }
        if loss > 0 { stats.profitFactor = profit / loss }
        return stats
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
            if let symbol = filter.symbol { sql += " AND s.symbol = ?"; arguments += [symbol.uppercased()] }
            if let timeframe = filter.timeframe { sql += " AND s.timeframe = ?"; arguments += [timeframe] }
            if let direction = filter.direction { sql += " AND s.direction = ?"; arguments += [direction] }
            if let confidence = filter.minConfidence { sql += " AND s.confidence >= ?"; arguments += [confidence] }
            if let since = filter.since { sql += " AND s.candle_time >= ?"; arguments += [since] }
            if let until = filter.until { sql += " AND s.candle_time < ?"; arguments += [until] }
            if let outcome = filter.outcome {
                sql += outcome == "open" ? " AND json_extract(s.fields, '$.outcome.kind') IS NULL" : " AND json_extract(s.fields, '$.outcome.kind') = ?"
                if outcome != "open" { arguments += [outcome] }
            }
            sql += " ORDER BY s.candle_time DESC, s.id DESC"
            if let limit = filter.limit { sql += " LIMIT ?"; arguments += [limit] }
            let pending = Set(try String.fetchAll(db, sql: "SELECT DISTINCT entity_id FROM outbox WHERE entity = 'annotation'"))
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                let id: String = row["id"]
                return SignalEntry(
                    id: id, fields: Self.decodeFields(row["fields"]), annotation: (row["note"] as String?).map(Self.decodeFields),
                    pending: pending.contains(id))
            }
        }
    }

    public func signal(_ idOrPrefix: String) throws -> SignalEntry {
        let key = idOrPrefix.lowercased()
        let matches = try signals().filter { $0.id.hasPrefix(key) }
        guard key.count >= 4, let first = matches.first else { throw StoreError.notFound("signal \(idOrPrefix)") }
        if matches.count > 1, !matches.contains(where: { $0.id == key }) { throw StoreError.ambiguous(idOrPrefix) }
        return matches.first { $0.id == key } ?? first
    }

    /// Annotates a signal offline: given members replace the stored ones; `clear` removes note, tags and taken.
    public func annotate(_ idOrPrefix: String, note: String?, tags: [String]?, taken: Bool?, clear: Bool = false) throws -> String {
        let id = try signal(idOrPrefix).id
        if clear {
            try record(entity: "annotation", id: id, op: "delete", fields: [:])
            return id
        }
        var fields: [String: JSONValue] = [:]
        if let note { fields["note"] = note.isEmpty ? .null : .string(note) }
        if let tags { fields["tags"] = TradeRules.tags(tags) }
        if let taken { fields["taken"] = .bool(taken) }
        var problems: [String] = []
        if let note, note.count > 10_000 { problems.append("note: at most 10000 characters") }
        if let tags, tags.count > 20 || tags.contains(where: { !(1...40).contains($0.trimmingCharacters(in: .whitespaces).count) }) {
            problems.append("tags: at most 20, each 1–40 characters")
        }
        guard problems.isEmpty else { throw StoreError.invalid(problems) }
        guard !fields.isEmpty else { throw StoreError.invalid(["give --note, --tag, --taken/--not-taken or --clear"]) }
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
