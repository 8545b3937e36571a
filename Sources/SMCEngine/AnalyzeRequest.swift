/// What `smc-client analyze` does, as a pure function of parsed options and candles, so that the CLI stays a thin
/// wrapper (read the file, call this, print) and every rule here is unit-tested without a process.
///
/// Output formats:
/// - CSV: a header of the reference's column names, then one line per candle, no index column. The reference's
///   own result files are written that way (`to_csv(index=False)`), so our output can be diffed against them; the
///   row number is still recoverable (line − 2) and is what `MitigatedIndex`, `End`, `Swept` and `BrokenIndex`
///   refer to. A bare `df.to_csv()` would add an unnamed leading column of 0…n−1, which says nothing more and
///   makes the header start with a comma.
/// - JSON: `{"indicator": NAME, "columns": [...], "types": [...], "rows": [[...], ...]}`: the same cells as the
///   CSV, row-major like it (compact for 10⁵ rows, unlike one object per row), NaN as `null`; `types` says which
///   columns are float32 (`Liquidity`'s), whose digits are the shortest that parse back to the same float32.
///
/// Numbers are printed with the shortest digits that parse back to the same value (`Double` for float64 columns,
/// `Float` for float32 ones); an empty CSV cell is NaN.
public struct AnalyzeRequest: Sendable, Hashable {
    public enum Format: String, Sendable, Hashable, CaseIterable {
        case csv
        case json
    }

    /// What to print: one reference indicator's table, or the trader's summary.
    public enum Mode: Sendable, Hashable {
        case indicator(ReferenceIndicator)
        case summary
    }

    public var mode: Mode
    /// Parameters for the indicator (reference defaults where an option was not given).
    public var parameters: ReferenceParameters
    public var format: Format

    /// Validates options as the CLI received them (`nil` = option not given) and turns them into a request.
    ///
    /// Options that do not apply to the chosen indicator are refused rather than ignored, so that a typo or a
    /// misunderstanding (say `--time-frame 4h` with `ob`) does not silently print something else.
    public init(indicator: String? = nil, summary: Bool = false, swingLength: Int? = nil, closeBreak: Bool? = nil,
                closeMitigation: Bool? = nil, rangePercent: Double? = nil, timeFrame: String? = nil,
                session: String? = nil, start: String? = nil, end: String? = nil, timeZone: String? = nil,
                joinConsecutive: Bool? = nil, format: String? = nil) throws(SMCParameterError)
    {
        var p = ReferenceParameters()
        if let format {
            guard let f = Format(rawValue: format) else {
                throw SMCParameterError(code: "invalid_format", message: "unknown format '\(format)' (valid: csv, json)")
            }
            self.format = f
        } else {
            self.format = .csv
        }
        if let swingLength {
            guard swingLength >= 1 else {
                throw SMCParameterError(code: "invalid_swing_length",
                                        message: "--swing-length must be at least 1 (got \(swingLength))")
            }
            p.swingLength = swingLength
        }

        let given: [(String, Bool)] = [
            ("--close-break/--no-close-break", closeBreak != nil), ("--close-mitigation", closeMitigation != nil),
            ("--range-percent", rangePercent != nil), ("--time-frame", timeFrame != nil), ("--session", session != nil),
            ("--start", start != nil), ("--end", end != nil), ("--time-zone", timeZone != nil),
            ("--join-consecutive", joinConsecutive != nil),
        ]
        if summary {
            if let indicator {
                throw SMCParameterError(code: "conflicting_options",
                                        message: "--summary and --indicator \(indicator) cannot be combined")
            }
            if let extra = given.first(where: \.1) {
                throw SMCParameterError(code: "option_not_applicable",
                                        message: "\(extra.0) does not apply to --summary (only --swing-length and --format do)")
            }
            mode = .summary
            parameters = p
            return
        }
        let valid = ReferenceIndicator.allCases.map(\.rawValue).joined(separator: ", ")
        guard let indicator else {
            throw SMCParameterError(code: "missing_indicator",
                                    message: "give --indicator NAME (one of: \(valid)) or --summary")
        }
        guard let kind = ReferenceIndicator(rawValue: indicator) else {
            throw SMCParameterError(code: "unknown_indicator",
                                    message: "unknown indicator '\(indicator)' (valid: \(valid))")
        }
        mode = .indicator(kind)

        // Which options each indicator takes.
        let applicable: Set<String>
        switch kind {
        case .fvg: applicable = ["--join-consecutive"]
        case .swingHighsLows: applicable = []
        case .bosChoch: applicable = ["--close-break/--no-close-break"]
        case .ob: applicable = ["--close-mitigation"]
        case .liquidity: applicable = ["--range-percent"]
        case .previousHighLow: applicable = ["--time-frame"]
        case .sessions: applicable = ["--session", "--start", "--end", "--time-zone"]
        case .retracements: applicable = []
        }
        if let extra = given.first(where: { $0.1 && !applicable.contains($0.0) }) {
            let takes = applicable.isEmpty ? "takes no other option" : "takes \(applicable.sorted().joined(separator: ", "))"
            throw SMCParameterError(code: "option_not_applicable",
                                    message: "\(extra.0) does not apply to \(indicator) (\(indicator) \(takes))")
        }
        if swingLength != nil && [.fvg, .previousHighLow, .sessions].contains(kind) {
            throw SMCParameterError(code: "option_not_applicable",
                                    message: "--swing-length does not apply to \(indicator) (it uses no swings)")
        }

        if let joinConsecutive { p.joinConsecutive = joinConsecutive }
        if let closeBreak { p.closeBreak = closeBreak }
        if let closeMitigation { p.closeMitigation = closeMitigation }
        if let rangePercent {
            guard rangePercent.isFinite else {
                throw SMCParameterError(code: "invalid_range_percent",
                                        message: "--range-percent must be a finite number (got \(rangePercent))")
            }
            p.rangePercent = rangePercent
        }
        if let timeFrame {
            _ = try TimeFrame(parsing: timeFrame)
            p.timeFrame = timeFrame
        }
        if kind == .sessions {
            if (start == nil) != (end == nil) {
                throw SMCParameterError(code: "incomplete_session",
                                        message: start == nil ? "--end needs --start" : "--start needs --end")
            }
            if let session, session != "Custom", start != nil {
                throw SMCParameterError(code: "conflicting_options",
                                        message: "--start/--end define a custom session; drop --session \(session) or use --session Custom")
            }
            if session == nil && start == nil {
                let names = (TradingSession.named.keys.sorted() + ["Custom"]).joined(separator: ", ")
                throw SMCParameterError(code: "missing_session",
                                        message: "sessions needs --session NAME (\(names)) or --start HH:MM --end HH:MM")
            }
            _ = try TradingSession(named: session ?? "Custom", start: start, end: end)
            if let timeZone {
                _ = try SessionTimeZone(timeZone)
                p.timeZone = timeZone
            }
            p.session = session
            p.start = start
            p.end = end
        }
        parameters = p
    }

    /// Runs the request on candles (as read from the file).
    public func run(on candles: CandleSeries) throws(SMCParameterError) -> AnalyzeResult {
        switch mode {
        case .indicator(let indicator):
            return .table(indicator, try SMC.reference(indicator, candles: candles, parameters: parameters))
        case .summary:
            return .summary(MarketSummary(candles, swingLength: parameters.swingLength))
        }
    }

    /// Runs the request and renders it in the requested format: exactly what the CLI prints to stdout.
    public func output(for candles: CandleSeries) throws(SMCParameterError) -> String {
        try run(on: candles).render(format: format)
    }
}

/// The outcome of an `AnalyzeRequest`.
public enum AnalyzeResult: Sendable, Hashable {
    case table(ReferenceIndicator, ReferenceTable)
    case summary(MarketSummary)

    /// The text to print; ends with a newline.
    public func render(format: AnalyzeRequest.Format) -> String {
        switch (self, format) {
        case (.table(_, let table), .csv): table.csv()
        case (.table(let indicator, let table), .json): table.json(indicator: indicator.rawValue)
        case (.summary(let summary), .csv): summary.text()
        case (.summary(let summary), .json): summary.json()
        }
    }
}

extension ReferenceTable {
    /// The table as JSON (see `AnalyzeRequest` for the layout); NaN and infinities as `null`.
    public func json(indicator: String) -> String {
        var out = "{\"indicator\":\(JSONString.quoted(indicator)),\"columns\":["
        out += columns.map { JSONString.quoted($0.name) }.joined(separator: ",")
        out += "],\"types\":["
        out += columns.map { column -> String in
            switch column.kind {
            case .float64: "\"float64\""
            case .float32: "\"float32\""
            case .integer: "\"integer\""
            }
        }.joined(separator: ",")
        out += "],\"rows\":["
        out.reserveCapacity(rowCount * columns.count * 8)
        for row in 0..<rowCount {
            out += row == 0 ? "\n[" : ",\n["
            for (c, column) in columns.enumerated() {
                if c > 0 { out += "," }
                let value = column.values[row]
                out += value.isFinite ? ReferenceTable.format(value, kind: column.kind) : "null"
            }
            out += "]"
        }
        out += "\n]}\n"
        return out
    }
}
