import Foundation
import SMCAPI
import SMCEngine

/// `GET /v1/market/{symbol}/summary`: a device token or a `signals_read` machine key; the summary service; the
/// record rounded for people (prices to the symbol's tick, scores to 0.1, component values to 0.01).
extension APIHandlers {
    func getMarketSummary(_ input: Operations.GetMarketSummary.Input) async throws -> Operations.GetMarketSummary.Output {
        let reader = try await signalReader()
        var rules = QueryRules()
        let symbol = rules.symbol(input.path.symbol)
        try rules.throwIfAny()
        let timeframe = SignalTimeframe(label: input.query.timeframe?.rawValue ?? "15m") ?? SignalTimeframe(seconds: 900)
        let record = try await summary.summary(reader, symbol: symbol ?? input.path.symbol, timeframe: timeframe)
        return .ok(.init(body: .json(record.schema)))
    }
}

extension MarketSummaryRecord {
    private typealias S = Components.Schemas

    private static func date(_ t: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(t)) }
    private static func side(_ d: Int) -> String { d > 0 ? "bullish" : "bearish" }
    /// A figure derived from prices (a score, a component): 0 when the arithmetic overflowed on absurd prices, so the
    /// answer stays JSON.
    private static func finite(_ x: Double) -> Double { x.isFinite ? x : 0 }

    var schema: Components.Schemas.MarketSummary {
        let p = format
        let regime: S.MarketRegime? = frames.first?.regime.flatMap { S.MarketRegime(rawValue: $0.rawValue) }
        let killzone = S.MarketKillzone(mode: killzoneMode == .suppress ? .suppress : .tag, now: killzoneNow,
                                        lastCandle: killzoneLastCandle)
        let detector = S.MarketDetector(swingLength: parameters.swingLength, closeBreak: parameters.closeBreak,
                                        closeMitigation: parameters.closeMitigation)
        let candle = S.MarketCandle(time: Self.date(lastCandle.time), close: p.round(lastCandle.close))
        let list: [S.MarketTimeframe] = frames.map { schema($0) }
        return S.MarketSummary(
            symbol: symbol, timeframe: S.Timeframe(rawValue: timeframe.label)!,
            source: source == .stored ? .stored : .recentWindow, detector: detector, priceDecimals: p.decimals,
            candles: candles, processedUntil: Self.date(processedUntil), lastCandle: candle, now: now, regime: regime,
            killzone: killzone, confluence: Self.finite(PriceFormat.round(confluence, 2)), timeframes: list)
    }

    private func component(_ value: Double, _ weight: Double) -> S.MarketBiasComponent {
        S.MarketBiasComponent(value: Self.finite(PriceFormat.round(value, 2)), weight: weight,
                              points: Self.finite(PriceFormat.confidence(100 * weight * value)))
    }

    private func schema(_ b: Bias, _ c: BiasComponents) -> S.MarketBias {
        let w = weights
        let components = S.MarketBiasComponents(
            structure: component(c.structure, w.structure), orderBlocks: component(c.orderBlocks, w.orderBlocks),
            fairValueGaps: component(c.fairValueGaps, w.fairValueGaps), momentum: component(c.momentum, w.momentum),
            volume: component(c.volume, w.volume))
        let direction: S.MarketBias.DirectionPayload = b.direction > 0 ? .bullish : (b.direction < 0 ? .bearish : .neutral)
        return S.MarketBias(direction: direction, score: Self.finite(PriceFormat.confidence(b.score)),
                            level: S.MarketBias.LevelPayload(rawValue: b.level.rawValue) ?? .neutral, components: components)
    }

    private func schema(_ b: StructureBreak) -> S.MarketBreak {
        S.MarketBreak(
            kind: b.kind == "BOS" ? .bos : .cHoCH, direction: S.MarketBreak.DirectionPayload(rawValue: Self.side(b.direction))!,
            level: format.round(b.level), swingTime: Self.date(b.swingTime), brokenTime: Self.date(b.brokenTime),
            confirmedTime: Self.date(b.confirmedTime))
    }

    private func schema(_ z: (zone: Zone, ageCandles: Int, ageSeconds: Int64, distance: Double)) -> S.MarketZone {
        let p = format
        return S.MarketZone(
            kind: z.zone.kind == .orderBlock ? .orderBlock : .fairValueGap,
            direction: S.MarketZone.DirectionPayload(rawValue: Self.side(z.zone.direction))!, top: p.round(z.zone.top),
            bottom: p.round(z.zone.bottom), time: Self.date(z.zone.time), formedTime: Self.date(z.zone.formedTime),
            ageCandles: z.ageCandles, ageSeconds: Int(z.ageSeconds), distance: p.round(z.distance))
    }

    private func schema(_ r: DealingRange) -> S.MarketDealingRange {
        let p = format
        return S.MarketDealingRange(
            high: p.round(r.high.level), highTime: r.high.time.map(Self.date), low: p.round(r.low.level),
            lowTime: r.low.time.map(Self.date), percent: PriceFormat.confidence(r.percent),
            position: S.MarketDealingRange.PositionPayload(rawValue: r.position.rawValue)!)
    }

    private func schema(_ f: Frame) -> S.MarketTimeframe {
        let p = format
        let bias: S.MarketBias? = f.bias.map { schema($0, f.components ?? BiasComponents()) }
        let regime: S.MarketRegime? = f.regime.flatMap { S.MarketRegime(rawValue: $0.rawValue) }
        let lastBreak: S.MarketBreak? = f.lastBreak.map { schema($0) }
        let zones: [S.MarketZone] = f.zones.map { schema($0) }
        let liquidity = S.MarketLiquidity(above: f.liquidityAbove.map { p.round($0) }, below: f.liquidityBelow.map { p.round($0) })
        let range: S.MarketDealingRange? = f.dealingRange.map { schema($0) }
        return S.MarketTimeframe(
            timeframe: S.Timeframe(rawValue: f.timeframe.label)!, candles: f.candles,
            lastCandleTime: f.lastCandleTime.map(Self.date), bias: bias, regime: regime, lastBreak: lastBreak, zones: zones,
            zonesTotal: f.zonesTotal, liquidity: liquidity, dealingRange: range)
    }
}
