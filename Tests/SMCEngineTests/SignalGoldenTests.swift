import Foundation
import Testing
@testable import SMCEngine

/// The signal layer on the shared EURUSD 15m history with the default settings.
///
/// The golden file `Fixtures/signals-eurusd-15m.jsonl` holds every signal and every outcome in the order the
/// engine emitted them, one JSON object per line (`{"at": candle open time, "signal"|"outcome": …}`). It was
/// reviewed by hand when written (see the issue's closing note); regenerate it deliberately with
/// `SMC_UPDATE_GOLDEN=1 swift test --filter SignalGolden` and review the diff.
@Suite("Signals on EURUSD 15m", .serialized)
struct SignalGoldenTests {
    static let golden = TestPaths.fixtures.appendingPathComponent("signals-eurusd-15m.jsonl")
    static let m15 = SignalTimeframe(label: "15m")!

    struct Event: Codable, Equatable {
        var at: Int64
        var signal: Signal?
        var outcome: SignalOutcome?
    }

    static func replay(_ candles: CandleSeries, range: Range<Int>? = nil, checkpoints: Set<Int> = []) throws -> [Event] {
        var engine = try SignalEngine(timeframe: m15)
        var events: [Event] = []
        for i in range ?? 0..<candles.count {
            if checkpoints.contains(i) {
                // Persist and restore the whole state, as the server does between candles.
                let data = try JSONEncoder().encode(engine)
                engine = try JSONDecoder().decode(SignalEngine.self, from: data)
            }
            let step = engine.process(candles[i])
            events += step.outcomes.map { Event(at: candles.time[i], outcome: $0) }
            events += step.signals.map { Event(at: candles.time[i], signal: $0) }
        }
        return events
    }

    static func lines(_ events: [Event]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try events.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n"
    }

    @Test func matchesTheReviewedGoldenFile() throws {
        let candles = try eurusd.get()
        let events = try Self.replay(candles)
        let text = try Self.lines(events)
        if ProcessInfo.processInfo.environment["SMC_UPDATE_GOLDEN"] == "1" {
            try text.write(to: Self.golden, atomically: true, encoding: .utf8)
        }
        let expected = try readText(Self.golden)
        let got = text.split(separator: "\n"), want = expected.split(separator: "\n")
        for (k, (a, b)) in zip(got, want).enumerated() where a != b {
            Issue.record("line \(k + 1) differs:\n got \(a.prefix(400))\nwant \(b.prefix(400))")
            break
        }
        #expect(got.count == want.count)

        // Sense checks that hold whatever the numbers: every signal is a consistent trade.
        let signals = events.compactMap(\.signal)
        #expect(signals.count >= 20, "too few signals to mean anything: \(signals.count)")
        #expect(Set(signals.map(\.id)).count == signals.count, "a signal id repeats")
        for s in signals {
            let d = Double(s.direction)
            #expect((s.setup.entry - s.setup.stop) * d > 0, "\(s.id): stop on the wrong side")
            #expect(s.setup.targets.allSatisfy { ($0 - s.setup.entry) * d > 0 }, "\(s.id): target on the wrong side")
            #expect(s.setup.rewardRisk >= StrategySettings().minRewardRisk)
            #expect(s.confidence >= StrategySettings().minConfidence && s.confidence <= 100)
            #expect(s.votes.map(\.member) == EnsembleMember.allCases)
            #expect(s.biases.map(\.timeframe) == ["15m", "1h", "4h", "1d"] || s.candleTime < candles.time[0] + 40 * 86_400)
        }
        // Every outcome follows its signal, later.
        var emitted: [String: Int64] = [:]
        for e in events {
            if let s = e.signal { emitted[s.id] = e.at }
            if let o = e.outcome {
                let at = try #require(emitted[o.signalID], "outcome before its signal: \(o.signalID)")
                #expect(o.resolvedTime > at && e.at == o.resolvedTime)
            }
        }
    }

    @Test func persistingTheStateMidStreamChangesNothing() throws {
        let candles = try eurusd.get()
        let straight = try Self.replay(candles)
        let resumed = try Self.replay(candles, checkpoints: [1, 777, 5000, 9999, 15_000, 20_001])
        #expect(resumed == straight)
    }

    @Test func aSignalNeedsNoLaterCandle() throws {
        // Replaying only up to a signal's candle gives that very signal at that candle: nothing after it was used,
        // and it is never withdrawn or changed by what comes later (the full run emitted it identically).
        let candles = try eurusd.get()
        let full = try Self.replay(candles).compactMap { e in e.signal.map { (e.at, $0) } }
        let picks = [full[full.count / 3], full[2 * full.count / 3]]
        for (at, signal) in picks {
            let end = try #require(candles.time.firstIndex(of: at))
            let truncated = try Self.replay(candles, range: 0..<(end + 1))
            let last = truncated.filter { $0.at == at }.compactMap(\.signal)
            #expect(last.contains(signal), "signal \(signal.id) not reproduced from candles up to \(at)")
        }
    }

    @Test func backtestIsDeterministic() throws {
        let candles = try eurusd.get()
        let config = BacktestConfiguration(costs: .init(spread: 0.00008, commission: 0.00004))
        let a = try Backtest(candles: candles, timeframe: Self.m15, configuration: config)
        let b = try Backtest(candles: candles, timeframe: Self.m15, configuration: config)
        #expect(a.trades == b.trades)
        #expect(try a.json() == b.json())
        #expect(a.statistics.trades > 0)
        // Costs only ever lower a trade's R.
        let free = try Backtest(candles: candles, timeframe: Self.m15, configuration: .init())
        #expect(free.trades.map(\.signal) == a.trades.map(\.signal))
        for (x, y) in zip(free.trades, a.trades) { #expect(y.netR < x.netR) }
    }
}
