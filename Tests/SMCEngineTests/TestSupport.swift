import Foundation
import Testing
@testable import SMCEngine

/// Where the shared conformance data and our own fixtures live, found from this file's path so that tests need
/// no SwiftPM resources: `<repo>/Tests/SMCEngineTests/TestSupport.swift` → `<repo>/../shared/…`.
enum TestPaths {
    static let testsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let repositoryRoot = testsFolder.deletingLastPathComponent().deletingLastPathComponent()
    static let conformance = repositoryRoot.deletingLastPathComponent()
        .appendingPathComponent("shared/conformance/smartmoneyconcepts/eurusd-15m")
    static let fixtures = testsFolder.appendingPathComponent("Fixtures")
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
}

func readText(_ url: URL) throws -> String {
    guard FileManager.default.fileExists(atPath: url.path) else {
        throw FixtureError(description: "missing file \(url.path) — the conformance data must sit in shared/ beside the repository clone")
    }
    return try String(contentsOf: url, encoding: .utf8)
}

/// The reference's EURUSD 15m candles, parsed once per test process.
let eurusd: Result<CandleSeries, any Error> = Result {
    try CandleCSV.parse(readText(TestPaths.conformance.appendingPathComponent("EURUSD_15M.csv")))
}

/// A reference result CSV: header of column names, empty cell = NaN.
struct ExpectedTable {
    var names: [String]
    var columns: [[Double]]
    var rowCount: Int { columns.first?.count ?? 0 }

    init(csv: String) throws {
        var lines = csv.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? $0.dropLast() : $0
        }
        while let last = lines.last, last.isEmpty { lines.removeLast() }
        guard let header = lines.first else { throw FixtureError(description: "empty expected CSV") }
        names = header.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        columns = Array(repeating: [], count: names.count)
        for (offset, line) in lines.dropFirst().enumerated() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            guard cells.count == names.count else {
                throw FixtureError(description: "expected CSV line \(offset + 2) has \(cells.count) cells")
            }
            for (c, cell) in cells.enumerated() {
                if cell.isEmpty {
                    columns[c].append(.nan)
                } else if let v = Double(cell) {
                    columns[c].append(v)
                } else if cell == "True" || cell == "False" {
                    columns[c].append(cell == "True" ? 1 : 0)
                } else {
                    throw FixtureError(description: "expected CSV line \(offset + 2): '\(cell)' is not a number")
                }
            }
        }
    }

    init(url: URL) throws { try self.init(csv: readText(url)) }
}

/// pandas' `assert_frame_equal(check_dtype=False)` rule: NaN exactly where expected, else
/// |got − expected| ≤ 1e-8 + 1e-5 · |expected|.
func matches(_ got: Double, _ expected: Double) -> Bool {
    if expected.isNaN || got.isNaN { return expected.isNaN && got.isNaN }
    if expected == got { return true }
    return abs(got - expected) <= 1e-8 + 1e-5 * abs(expected)
}

/// Compares a result with a reference table and records one issue listing the first differing rows.
func expectConforms(_ got: ReferenceTable, _ expected: ExpectedTable, label: String,
                    sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.columnNames == expected.names, "\(label): columns", sourceLocation: sourceLocation)
    #expect(got.rowCount == expected.rowCount, "\(label): row count", sourceLocation: sourceLocation)
    guard got.columnNames == expected.names, got.rowCount == expected.rowCount else { return }
    var differences: [String] = []
    var total = 0
    for row in 0..<expected.rowCount {
        for (c, column) in got.columns.enumerated() where !matches(column.values[row], expected.columns[c][row]) {
            total += 1
            if differences.count < 8 {
                differences.append("row \(row), \(column.name): expected \(expected.columns[c][row]), got \(column.values[row])")
            }
        }
    }
    if total > 0 {
        let listing = differences.joined(separator: "\n")
        Issue.record("\(label): \(total) differing cells; first ones:\n\(listing)", sourceLocation: sourceLocation)
    }
}

/// Small deterministic generator for tests (SplitMix64).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal (Box–Muller).
    mutating func normal() -> Double {
        let u1 = 1 - uniform()  // (0, 1]
        let u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}
