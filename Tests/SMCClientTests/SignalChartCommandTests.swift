import Foundation
import SMCTestSupport
import Testing

@testable import SMCClient

/// `smc-client signals chart ID -o FILE.png [--theme dark]`: the server's chart of a signal, saved.
@Suite("signals chart")
struct SignalChartCommandTests {
    @Test("signals chart saves the PNG the server draws for the signal (by a unique prefix), dark when asked; an unknown id fails")
    func savesTheChart() async throws {
        try await TestApp.run { app in
            let home = try await ClientHome.signedIn(app)
            let signal = TestSignal(setupType: "order_block")
            try await TestSignal.insert(app, email: home.email, [signal])
            // EURUSD 15m candles around the signal's candle (an hour back from the current hour).
            let candle = SignalRow.time(ago: 0, timeframe: 3600) - 3600
            for i in -60...8 {
                let t = candle + Int64(i) * 900
                let open = 1.0850 + sin(Double(i) / 4) * 0.001
                let close = open + cos(Double(i) / 3) * 0.0004
                try await app.query("""
                    INSERT INTO candles (symbol, timeframe, open_time, open, high, low, close, volume, source)
                    VALUES ('EURUSD', '15m', \(Date(timeIntervalSince1970: TimeInterval(t))), \(open), \(max(open, close) + 0.0003),
                            \(min(open, close) - 0.0003), \(close), 1, 'test')
                    """)
            }
            #expect(try await home.run(["sync"]).status == 0)

            let file = FileManager.default.temporaryDirectory.appendingPathComponent("chart-\(UUID().uuidString).png").path
            defer { try? FileManager.default.removeItem(atPath: file) }
            let run = try await home.run(["signals", "chart", String(signal.id.prefix(13)), "-o", file, "--theme", "dark"])
            #expect(run.status == 0, "\(run.stderr)")
            let saved = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
            #expect(Array(saved.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            let served = try await app.request(
                .GET, "/v1/signals/\(signal.id)/chart.png?theme=dark", headers: [("authorization", "Bearer \(try home.token)")])
            #expect(served.status == 200 && served.bytes == saved, "the saved file is not the server's dark chart")
            let light = try await app.request(.GET, "/v1/signals/\(signal.id)/chart.png", headers: [("authorization", "Bearer \(try home.token)")])
            #expect(light.bytes != saved)

            let unknown = try await home.run(["signals", "chart", UUID().uuidString.lowercased(), "-o", file])
            #expect(unknown.status != 0 && unknown.stderr.contains("no such signal"), "\(unknown.status) \(unknown.stderr)")
            let badTheme = try await home.run(["signals", "chart", signal.id, "-o", file, "--theme", "pink"])
            #expect(badTheme.status == 64, "\(badTheme.status) \(badTheme.stderr)")
        }
    }
}
