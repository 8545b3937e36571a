import Foundation
import SMCTestSupport
import Testing

/// `smc-client analyze` as a user runs it: a process, a file, standard output and an exit status.
@Suite("smc-client analyze")
struct AnalyzeCommandTests {
    static let fixtures = TestDatabase.repositoryRoot.deletingLastPathComponent()
        .appendingPathComponent("shared/conformance/smartmoneyconcepts/eurusd-15m").path
    static var candles: String { fixtures + "/EURUSD_15M.csv" }

    /// The reference's comparison rule: same header and row count, empty cells in the same places,
    /// numbers equal to 1e-5 relative.
    static func sameTable(_ ours: String, _ reference: String) -> String? {
        let a = ours.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        let b = reference.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        guard a.first == b.first else { return "header \(a.first ?? "") ≠ \(b.first ?? "")" }
        guard a.count == b.count else { return "\(a.count - 1) rows ≠ \(b.count - 1)" }
        for (row, (x, y)) in zip(a, b).enumerated().dropFirst() {
            let xs = x.split(separator: ",", omittingEmptySubsequences: false)
            let ys = y.split(separator: ",", omittingEmptySubsequences: false)
            guard xs.count == ys.count else { return "row \(row - 1): \(x) ≠ \(y)" }
            for (u, v) in zip(xs, ys) where u != v {
                guard let p = Double(u), let q = Double(v), abs(p - q) <= 1e-8 + 1e-5 * abs(q) else {
                    return "row \(row - 1): \(x) ≠ \(y)"
                }
            }
        }
        return nil
    }

    @Test(
        "prints the reference's rows and columns",
        arguments: [
            (["--indicator", "fvg"], "fvg_result_data.csv"),
            (["--indicator", "fvg", "--join-consecutive"], "fvg_consecutive_result_data.csv"),
            (["--indicator", "swing_highs_lows", "--swing-length", "5"], "swing_highs_lows_result_data.csv"),
            (["--indicator", "bos_choch", "--swing-length", "5", "--close-break"], "bos_choch_result_data.csv"),
            (["--indicator", "ob", "--swing-length", "5"], "ob_result_data.csv"),
            (["--indicator", "liquidity", "--swing-length", "5", "--range-percent", "0.01"], "liquidity_result_data.csv"),
            (["--indicator", "previous_high_low", "--time-frame", "4h"], "previous_high_low_result_data_4h.csv"),
            (["--indicator", "sessions", "--session", "London"], "sessions_result_data.csv"),
            (["--indicator", "retracements", "--swing-length", "5"], "retracements_result_data.csv"),
        ])
    func conformance(options: [String], resultFile: String) async throws {
        let run = try await Executables.run("smc-client", ["analyze", Self.candles] + options)
        #expect(run.status == 0, "\(run.stderr)")
        let reference = try String(contentsOfFile: Self.fixtures + "/" + resultFile, encoding: .utf8)
        let difference = Self.sameTable(run.stdout, reference)
        #expect(difference == nil, "\(options): \(difference ?? "")")
    }

    @Test("--format json gives the same rows; --summary tells bias, zones, the last break and liquidity")
    func otherForms() async throws {
        let json = try await Executables.run("smc-client", ["analyze", Self.candles, "--indicator", "ob", "--swing-length", "5", "--format", "json"])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["columns"] as? [String] == ["OB", "Top", "Bottom", "OBVolume", "MitigatedIndex", "Percentage"])
        #expect((object["rows"] as? [Any])?.count == 24424)
        let summary = try await Executables.run("smc-client", ["analyze", Self.candles, "--summary"])
        #expect(summary.status == 0)
        for part in ["Bias", "15m", "4h", "Last structure break", "Active zones", "Liquidity"] {
            #expect(summary.stdout.contains(part), "\(part)")
        }
    }

    @Test(
        "malformed files are refused with the line and the reason, exit 4, nothing on standard output",
        arguments: [
            ("Date,Open,High,Low\n2024.01.02 00:00:00,1,2,0.5\n", "close"),
            ("Date,Open,High,Low,Close\n2024.01.02 00:00:00,1,2,0.5,abc\n", "line 2"),
            ("Date,Open,High,Low,Close\n2024.01.02 00:00:00,1,2,0.5,1\n2024.01.02 00:15:00,1,0.4,0.5,1\n", "line 3"),
            ("Date,Open,High,Low,Close\n2024.01.02 00:15:00,1,2,0.5,1\n2024.01.02 00:00:00,1,2,0.5,1\n", "line 3"),
            ("Date,Open,High,Low,Close\n2024.01.02 00:15:00,1,2,0.5,1\n2024.01.02 00:15:00,1,2,0.5,1\n", "line 3"),
            ("", "no candles"),
        ])
    func malformed(content: String, mention: String) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).csv").path
        try content.write(toFile: path, atomically: true, encoding: .utf8)
        let run = try await Executables.run("smc-client", ["analyze", path, "--indicator", "fvg"])
        #expect(run.status == 4)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.lowercased().contains(mention), "\(run.stderr)")
    }

    @Test("bad options are refused with a clear message and exit 64 (usage); a missing file with 4")
    func badOptions() async throws {
        let cases: [([String], String)] = [
            (["--indicator", "nope"], "valid"),
            (["--indicator", "sessions", "--start", "08:00"], "end"),
            (["--indicator", "sessions", "--session", "Atlantis"], "session"),
            (["--indicator", "previous_high_low", "--time-frame", "7x"], "time"),
            (["--indicator", "fvg", "--format", "xml"], "format"),
            (["--indicator", "swing_highs_lows", "--swing-length", "0"], "swing"),
        ]
        for (options, mention) in cases {
            let run = try await Executables.run("smc-client", ["analyze", Self.candles] + options)
            #expect(run.status == 64, "\(options)")
            #expect(run.stdout.isEmpty, "\(options)")
            #expect(run.stderr.lowercased().contains(mention), "\(options): \(run.stderr)")
        }
        let missing = try await Executables.run("smc-client", ["analyze", "/nonexistent.csv", "--indicator", "fvg"])
        #expect(missing.status == 4 && missing.stdout.isEmpty && missing.stderr.contains("cannot read"))
    }
}
