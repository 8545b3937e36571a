import Foundation
import SMCAPI
import SMCEngine

extension APIConnection {
    /// A connection as the signed-in session of `store` (its server and device token).
    public static func forStore(_ store: LocalStore, attempts: Int = 5) throws -> APIConnection {
        let session = try store.requireSession()
        guard let url = URL(string: session.server) else { throw StoreError.notSignedIn }
        return APIConnection(serverURL: url, token: session.token, attempts: attempts)
    }

    /// `GET /v1/market/{symbol}/summary`: the server's market summary of `symbol` on `timeframe` (the server's default,
    /// 15m, when nil) and the higher timeframes of its confluence ladder.
    public func marketSummary(symbol: String, timeframe: String?) async throws -> Components.Schemas.MarketSummary {
        var tf: Components.Schemas.Timeframe?
        if let timeframe {
            guard let known = Components.Schemas.Timeframe(rawValue: timeframe) else {
                let all = Components.Schemas.Timeframe.allCases.map(\.rawValue).joined(separator: " ")
                throw SyncFailure(.refused, "unknown timeframe '\(timeframe)' (valid: \(all))")
            }
            tf = known
        }
        let query = Operations.GetMarketSummary.Input.Query(timeframe: tf)
        return try await retrying("summary") {
            switch try await client.getMarketSummary(path: .init(symbol: symbol), query: query) {
            case .ok(let ok): return try ok.body.json
            case .badRequest(let r): throw Self.failure(status: 400, problem: try? r.body.applicationProblemJson)
            case .unauthorized(let r): throw Self.failure(status: 401, problem: try? r.body.applicationProblemJson)
            case .forbidden(let r): throw Self.failure(status: 403, problem: try? r.body.applicationProblemJson)
            case .notFound(let r): throw Self.failure(status: 404, problem: try? r.body.applicationProblemJson)
            case .tooManyRequests(let r):
                throw Self.failure(status: 429, problem: try? r.body.applicationProblemJson, retryAfter: r.headers.retryAfter)
            case .undocumented(let status, _): throw Self.failure(status: status, problem: nil)
            }
        }
    }
}

/// The market summary for a terminal (`smc-client summary`): the headline, a bias table (score, level and each
/// component's points), then per timeframe the last break, liquidity, dealing range and the zones nearest first.
/// Prices carry the symbol's decimals.
public enum MarketSummaryText {
    public static func render(_ s: Components.Schemas.MarketSummary) -> String {
        let decimals = s.priceDecimals
        func price(_ v: Double?) -> String { v.map { String(format: "%.\(decimals)f", $0) } ?? "none" }
        func time(_ d: Date?) -> String { d.map { CivilTime.minuteText(Int64($0.timeIntervalSince1970)) } ?? "-" }
        func signed(_ v: Double, _ format: String = "%+.1f") -> String { String(format: format, v) }
        func age(_ seconds: Int) -> String {
            let days = seconds / 86_400, hours = seconds % 86_400 / 3600, minutes = seconds % 3600 / 60
            return days > 0 ? "\(days)d \(hours)h" : (hours > 0 ? "\(hours)h \(minutes)m" : "\(minutes)m")
        }
        let source = s.source == .stored ? "stored analysis" : "recent \(s.candles)-candle window (nobody watches this stream)"
        var out = "\(s.symbol) \(s.timeframe.rawValue): last candle \(time(s.lastCandle.time)) UTC, close \(price(s.lastCandle.close))\n"
        out += "  \(s.candles) candles analysed up to \(time(s.processedUntil)) UTC (\(source), swing length \(s.detector.swingLength))\n"
        out += "  killzone now (\(time(s.now)) UTC): \(s.killzone.now ?? "none"); last candle in: \(s.killzone.lastCandle ?? "none")"
            + (s.killzone.mode == .suppress ? " (signals outside killzones are suppressed)" : "") + "\n"
        out += "  regime: \(s.regime?.rawValue ?? "warming up")\n"
        let leaning = s.confluence > 0 ? "favours longs" : (s.confluence < 0 ? "favours shorts" : "no lean")
        out += "  confluence of the higher timeframes: \(signed(s.confluence, "%+.2f")) (\(leaning))\n\n"

        out += "Bias (points per component: structure, order blocks, fair value gaps, momentum, volume)\n"
        let rows: [[String]] = s.timeframes.map { t in
            guard let b = t.bias else { return [t.timeframe.rawValue, "-", "-", "-", "-", "-", "-", "-", "-"] }
            let c = b.components
            return [t.timeframe.rawValue, b.direction.rawValue, signed(b.score), b.level.rawValue,
                    signed(c.structure.points), signed(c.orderBlocks.points), signed(c.fairValueGaps.points),
                    signed(c.momentum.points), signed(c.volume.points)]
        }
        out += table(["TF", "BIAS", "SCORE", "LEVEL", "STRUCT", "OB", "FVG", "MOM", "VOL"], rows)

        for t in s.timeframes {
            out += "\n\(t.timeframe.rawValue) (\(t.candles) candles, last \(time(t.lastCandleTime)))"
                + (t.regime.map { ", regime \($0.rawValue)" } ?? "") + "\n"
            if let b = t.lastBreak {
                out += "  last break: \(b.direction.rawValue) \(b.kind.rawValue) at \(price(b.level)), broken \(time(b.brokenTime)), "
                    + "confirmed \(time(b.confirmedTime))\n"
            } else {
                out += "  last break: none\n"
            }
            out += "  liquidity: above \(price(t.liquidity.above)), below \(price(t.liquidity.below))\n"
            if let r = t.dealingRange {
                let outside = r.percent > 100 ? ", above the range" : (r.percent < 0 ? ", below the range" : "")
                out += "  dealing range: \(price(r.low)) – \(price(r.high)); price at \(String(format: "%.1f", r.percent)) % "
                    + "(\(r.position.rawValue)\(outside))\n"
            } else {
                out += "  dealing range: none yet\n"
            }
            out += "  active zones: \(t.zonesTotal)" + (t.zones.isEmpty ? "\n" : ", nearest first:\n")
            if !t.zones.isEmpty {
                let zoneRows: [[String]] = t.zones.map { z in
                    [z.kind == .orderBlock ? "order block" : "fair value gap", z.direction.rawValue, price(z.top), price(z.bottom),
                     time(z.time), "\(z.ageCandles) (\(age(z.ageSeconds)))", z.distance == 0 ? "inside" : price(z.distance)]
                }
                out += table(["KIND", "SIDE", "TOP", "BOTTOM", "CANDLE", "AGE", "DISTANCE"], zoneRows, indent: "    ")
            }
        }
        return out
    }

    static func table(_ header: [String], _ rows: [[String]], indent: String = "  ") -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            indent + cells.enumerated().map { i, cell in i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ") + "\n"
        }
        return ([line(header)] + rows.map(line)).joined()
    }
}
