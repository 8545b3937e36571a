import CCairo
import Foundation
import PostgresNIO
import SMCAPI
import SMCEngine
import SMCTestSupport
import Synchronization
import Testing

@testable import SMCServer

/// A PNG decoded by Cairo itself: its size and its pixels (ARGB32, premultiplied, native-endian words).
struct DecodedPNG {
    var width: Int
    var height: Int
    var stride: Int
    var data: [UInt8]

    init(_ png: [UInt8]) throws {
        final class Source {
            let bytes: [UInt8]
            var offset = 0
            init(_ bytes: [UInt8]) { self.bytes = bytes }
        }
        let source = Source(png)
        guard let surface = cairo_image_surface_create_from_png_stream({ closure, out, length in
            let source = Unmanaged<Source>.fromOpaque(closure!).takeUnretainedValue()
            let n = Int(length)
            guard source.offset + n <= source.bytes.count, let out else { return CAIRO_STATUS_READ_ERROR }
            source.bytes.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + source.offset, count: n) }
            source.offset += n
            return CAIRO_STATUS_SUCCESS
        }, Unmanaged.passUnretained(source).toOpaque()) else { throw TestFailure("no surface") }
        defer { cairo_surface_destroy(surface) }
        guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else {
            throw TestFailure("not a PNG Cairo reads: \(String(cString: cairo_status_to_string(cairo_surface_status(surface))))")
        }
        width = Int(cairo_image_surface_get_width(surface))
        height = Int(cairo_image_surface_get_height(surface))
        stride = Int(cairo_image_surface_get_stride(surface))
        let base = cairo_image_surface_get_data(surface)!
        data = Array(UnsafeBufferPointer(start: base, count: stride * height))
    }

    /// (r, g, b) of an opaque pixel.
    func rgb(_ x: Int, _ y: Int) -> (Int, Int, Int) {
        let i = y * stride + x * 4
        let word = UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24
        return (Int((word >> 16) & 0xFF), Int((word >> 8) & 0xFF), Int(word & 0xFF))
    }
}

/// What the zone's fill over the background looks like (the renderer's palette, blended as Cairo's OVER does).
func blended(_ background: ChartRenderer.RGB, _ color: ChartRenderer.RGB, _ alpha: Double) -> (Int, Int, Int) {
    func c(_ b: Double, _ f: Double) -> Int { Int(((b * (1 - alpha) + f * alpha) * 255).rounded()) }
    return (c(background.r, color.r), c(background.g, color.g), c(background.b, color.b))
}

func close(_ a: (Int, Int, Int), _ b: (Int, Int, Int), tolerance: Int = 3) -> Bool {
    abs(a.0 - b.0) <= tolerance && abs(a.1 - b.1) <= tolerance && abs(a.2 - b.2) <= tolerance
}

/// Candles that wander around `base` (deterministic), `count` of them on `timeframe` from `start`.
func wanderingCandles(count: Int, start: Int64, timeframe: Int64 = 900, base: Double = 1.0850) -> [Candle] {
    var price = base
    return (0..<count).map { i in
        let step = sin(Double(i) / 5) * 0.0004 + cos(Double(i) / 13) * 0.0002
        let open = price
        let close = price + step
        price = close
        return Candle(time: start + Int64(i) * timeframe, open: open, high: max(open, close) + 0.0002, low: min(open, close) - 0.0002,
                      close: close)
    }
}

@Suite("Charts")
struct ChartTests {
    /// A description with a bullish zone well apart from the entry and stop lines.
    static func sample(theme: ChartDescription.Theme = .light) -> ChartDescription {
        let start: Int64 = 1_765_000_800  // a multiple of 900
        let candles = wanderingCandles(count: 100, start: start)
        var d = ChartDescription(
            title: .init(symbol: "EURUSD", timeframe: "15m", direction: "long", setup: "order_block", confidence: 72.46),
            timeframeSeconds: 900,
            candles: candles.map { .init(time: $0.time, open: $0.open, high: $0.high, low: $0.low, close: $0.close) },
            priceDecimals: 5)
        d.theme = theme
        let low = candles.map(\.low).min()!, high = candles.map(\.high).max()!
        d.zone = .init(top: low + (high - low) * 0.35, bottom: low + (high - low) * 0.2, from: start + 10 * 900, to: start + 90 * 900,
                       bullish: true, label: "bullish order block")
        d.lines = [.init(kind: .entry, price: low + (high - low) * 0.6, label: "Entry", from: start + 60 * 900),
                   .init(kind: .stop, price: low + (high - low) * 0.05, label: "Stop", from: start + 60 * 900),
                   .init(kind: .target, price: high, label: "T1", from: start + 60 * 900)]
        d.outcome = .init(kind: "target", time: start + 80 * 900, price: high)
        d.killzones = [.init(name: "London open", from: start + 2 * 900, to: start + 8 * 900)]
        d.signalTime = start + 60 * 900
        d.subtitle = "R:R 2.00"
        return d
    }

    @Test("the renderer draws a PNG of the description's size, the same bytes twice, with the zone's colour where its prices map")
    func renderedPixels() throws {
        for theme in ChartDescription.Theme.allCases {
            let d = Self.sample(theme: theme)
            let png = try ChartRenderer.png(d)
            #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            #expect(try ChartRenderer.png(d) == png, "not deterministic")
            let image = try DecodedPNG(png)
            #expect(image.width == 1000 && image.height == 560)

            let layout = ChartLayout(d)
            let zone = try #require(d.zone)
            let palette = ChartRenderer.Palette.of(theme)
            // Between two candles' bodies (a column boundary), halfway through the zone's rows, off every grid line.
            let gridRows = Set(layout.gridPrices.map { Int(layout.y($0).rounded()) })
            let y0 = Int(layout.y(zone.top).rounded(.up)) + 2, y1 = Int(layout.y(zone.bottom).rounded(.down)) - 2
            let y = try #require((y0...y1).first { row in (row - 1...row + 1).allSatisfy { !gridRows.contains($0) } && row >= (y0 + y1) / 2 })
            let x = Int((layout.x(index: 40) + layout.slot / 2).rounded(.down))
            let expected = blended(palette.background, ChartRenderer.Palette.bullishZone, ChartRenderer.Palette.zoneAlpha)
            #expect(close(image.rgb(x, y), expected), "\(theme): \(image.rgb(x, y)) at (\(x), \(y)), expected \(expected)")
            // Above the zone, the same column is the bare background.
            let above = Int(layout.y(zone.top)) - 6
            let bg = blended(palette.background, palette.background, 0)
            if !(above - 1...above + 1).contains(where: gridRows.contains) {
                #expect(close(image.rgb(x, above), bg) || !close(image.rgb(x, above), expected), "zone colour above the zone")
            }
            // The zone ends at its `to` candle: beyond it (candle 95's gap) no zone colour.
            let xAfter = Int((layout.x(index: 95) + layout.slot / 2).rounded(.down))
            #expect(!close(image.rgb(xAfter, y), expected), "zone colour after the zone's end")
            // A corner of the title area is the theme's background.
            #expect(close(image.rgb(999, 2), bg), "\(theme) background: \(image.rgb(999, 2))")
        }
        #expect(try ChartRenderer.png(Self.sample(theme: .light)) != ChartRenderer.png(Self.sample(theme: .dark)))
    }

    @Test("a description with no candles, or one price only, still renders")
    func degenerate() throws {
        var d = Self.sample()
        d.candles = []
        d.zone = nil
        d.lines = []
        d.outcome = nil
        #expect(try DecodedPNG(ChartRenderer.png(d)).width == 1000)
        d = Self.sample()
        d.candles = d.candles.map { .init(time: $0.time, open: 2, high: 2, low: 2, close: 2) }
        d.zone = nil
        d.lines = []
        d.outcome = nil
        d.width = 640
        d.height = 360
        let image = try DecodedPNG(ChartRenderer.png(d))
        #expect(image.width == 640 && image.height == 360)
    }

    @Test("the layout maps prices to rows and times to columns; lines far beyond the candles do not squash them")
    func layout() {
        var d = Self.sample()
        let layout = ChartLayout(d)
        #expect(layout.y(layout.maxPrice) == layout.plot.y && layout.y(layout.minPrice) == layout.plot.maxY)
        #expect(layout.x(d.candles[10].time) == layout.x(index: 10))
        #expect(abs(layout.x(d.candles[10].time + 450) - (layout.x(index: 10) + layout.slot / 2)) < 1e-9)
        d.lines.append(.init(kind: .target, price: 5, label: "T3", from: nil))
        #expect(ChartLayout(d).maxPrice == layout.maxPrice, "a far target widened the range")
        #expect(!ChartLayout(d).contains(price: 5))
    }

    @Test("the builder puts the signal's zone, lines, outcome, killzones and structure into the description")
    func builder() throws {
        let start: Int64 = 1_765_000_800
        let candles = wanderingCandles(count: 121, start: start)
        let signalTime = candles[80].time
        var row = SignalRow(symbol: "EURUSD", setupType: "order_block", candleTime: signalTime)
        row.outcome = "target"
        row.outcomeR = 3
        row.exitPrice = 1.0910
        let record = SignalRecord(
            id: row.id, symbol: "EURUSD", timeframe: "15m", direction: 1, setupType: "order_block", confidence: 72.46, level: "HIGH",
            candleTime: Date(timeIntervalSince1970: TimeInterval(signalTime)), closeTime: Date(timeIntervalSince1970: TimeInterval(signalTime + 900)),
            entry: row.entry, stop: row.stop, targets: row.targets, rewardRisk: 3, regime: "trending_up", killzone: "London open",
            confluence: 0.5, costR: 0.1, outcome: SignalOutcomeRecord(kind: "target", time: Date(timeIntervalSince1970: TimeInterval(candles[90].time)), r: 3, exitPrice: 1.0910),
            annotation: nil, candleMicros: 0, detail: EngineSignalDetail.decode(row.detail))
        let zones = try [Killzone(name: "London open", start: "02:00", end: "05:00", timeZone: "America/New_York")]
        let d = ChartBuilder.signal(record, candles: candles, priceDecimals: 5, killzones: zones, theme: .dark)
        #expect(d.candles.count == 93, "up to two candles after the outcome's")
        #expect(d.zone == .init(top: row.zoneTop, bottom: row.zoneBottom, from: row.zoneTime, to: candles[90].time, bullish: true,
                                label: "bullish order block \(PriceFormat(decimals: 5).text(row.zoneBottom))–\(PriceFormat(decimals: 5).text(row.zoneTop))"))
        #expect(d.lines.map(\.label) == ["Entry", "Stop", "T1", "T2"])
        #expect(d.outcome == .init(kind: "target", time: candles[90].time, price: 1.0910))
        #expect(d.signalTime == signalTime && d.theme == .dark && d.title.confidence == 72.46)
        // Every shaded window is inside London open (02:00–05:00 New York) and spans whole candles.
        let calendar = try KillzoneCalendar(zones)
        #expect(!d.killzones.isEmpty)
        for w in d.killzones { #expect(calendar.first(at: w.from) == "London open" && calendar.first(at: w.to) == "London open") }
        #expect(d.structure.allSatisfy { $0.time <= signalTime }, "structure after the signal")
        #expect(d.structure.contains { $0.kind == .swingHigh } && d.structure.contains { $0.kind == .swingLow })
        // The description survives JSON (it is Codable), unchanged.
        let json = try JSONEncoder().encode(d)
        #expect(try JSONDecoder().decode(ChartDescription.self, from: json) == d)
    }

    @Test("signed chart links verify for their signal and tenant until they expire; a changed one does not")
    func links() {
        let links = ChartLinks(key: Array(repeating: 7, count: 32), publicURL: "https://smc.example.com/")
        let tenant = UUID(), signal = UUID(), now = Date()
        let url = links.chartURL(tenant: tenant, signal: signal, now: now)
        #expect(url.hasPrefix("https://smc.example.com/v1/charts/\(signal.uuidString.lowercased()).png?exp="))
        let query = URLComponents(string: url)!.queryItems!
        let exp = Int64(query.first { $0.name == "exp" }!.value!)!, sig = query.first { $0.name == "sig" }!.value!
        #expect(exp == Int64(now.timeIntervalSince1970 + 7 * 86_400))
        #expect(links.verify(signal: signal, exp: exp, sig: sig, now: now) == .success(tenant))
        #expect(links.verify(signal: signal, exp: exp, sig: sig, now: now.addingTimeInterval(7 * 86_400 + 1)) == .failure(.expired))
        #expect(links.verify(signal: UUID(), exp: exp, sig: sig, now: now) == .failure(.invalid))
        #expect(links.verify(signal: signal, exp: exp + 1, sig: sig, now: now) == .failure(.invalid))
        var bytes = Base64URL.decode(sig)!
        bytes[3] ^= 1  // another tenant
        #expect(links.verify(signal: signal, exp: exp, sig: Base64URL.encode(bytes), now: now) == .failure(.invalid))
        #expect(links.verify(signal: signal, exp: exp, sig: "x", now: now) == .failure(.invalid))
        let other = ChartLinks(key: Array(repeating: 8, count: 32), publicURL: "https://smc.example.com")
        #expect(other.verify(signal: signal, exp: exp, sig: sig, now: now) == .failure(.invalid))
        #expect(links.signalURL(signal) == "https://smc.example.com/v1/signals/\(signal.uuidString.lowercased())")
    }

    @Test("path templates match a placeholder with a suffix ({signal_id}.png) as the router does")
    func pathTemplates() {
        let t = PathTemplate("/v1/charts/{signal_id}.png")
        #expect(t.matches(["v1", "charts", "abc.png"]))
        #expect(!t.matches(["v1", "charts", ".png"]))
        #expect(!t.matches(["v1", "charts", "abc.jpg"]))
        #expect(!t.matches(["v1", "charts", "abc.png", "x"]))
        #expect(PathTemplate("/v1/signals/{signal_id}").matches(["v1", "signals", "x"]))
        #expect(PathTemplate("/v1/signals/:id").matches(["v1", "signals", "x"]))
        #expect(PathTemplate("/files/*.png").matches(["files", "a.png"]) && !PathTemplate("/files/*.png").matches(["files", "a.gif"]))
        #expect(!PathTemplate("/v1/signals").matches(["v1", "signal"]))
    }
}

/// The chart operations over HTTP, and the alerts that carry charts.
@Suite("Charts: API and alerts", .serialized)
struct ChartAPITests {
    static let signingKey: [UInt8] = (0..<32).map { UInt8($0 * 3 % 256) }

    /// EURUSD 15m candles around `signalTime`: 100 before it, 30 after.
    static func insertCandles(_ app: TestApp, around signalTime: Int64, symbol: String = "EURUSD") async throws -> [Candle] {
        let candles = wanderingCandles(count: 131, start: signalTime - 100 * 900)
        for c in candles {
            try await app.query("""
                INSERT INTO candles (symbol, timeframe, open_time, open, high, low, close, volume, source)
                VALUES (\(symbol), '15m', \(Date(timeIntervalSince1970: TimeInterval(c.time))), \(c.open), \(c.high), \(c.low), \(c.close), 1, 'test')
                """)
        }
        return candles
    }

    static func get(_ app: TestApp, _ path: String, token: String? = nil) async throws -> TestResponse {
        try await app.request(.GET, path, headers: token.map { [("authorization", "Bearer \($0)")] } ?? [])
    }

    @Test("GET /v1/signals/{id}/chart.png: the tenant's visible signal as a PNG; 404 for another tenant's or an expired one; 401 without a token")
    func signalChart() async throws {
        try await TestApp.run(configure: { $0.urlSigningKey = Self.signingKey }) { app in
            let a = try await app.account(plan: "pro")
            let b = try await app.account(plan: "pro")
            let signalTime = SignalRow.time(ago: 30 * 900)
            _ = try await Self.insertCandles(app, around: signalTime)
            var row = SignalRow(symbol: "EURUSD", setupType: "order_block", candleTime: signalTime)
            row.createdAt = Int64(Date().timeIntervalSince1970)
            let id = try await app.insertSignals([row], tenant: a.tenant)[0]
            var old = SignalRow(symbol: "EURUSD", candleTime: signalTime)
            old.createdAt = Int64(Date().timeIntervalSince1970) - 4000 * 86_400
            let expired = try await app.insertSignals([old], tenant: a.tenant)[0]

            let light = try await Self.get(app, "/v1/signals/\(id.uuidString.lowercased())/chart.png", token: a.token)
            #expect(light.status == 200 && light.header("content-type") == "image/png", "\(light.status) \(light.body.prefix(300))")
            let image = try DecodedPNG(light.bytes)
            #expect(image.width == 1000 && image.height == 560)
            let again = try await Self.get(app, "/v1/signals/\(id.uuidString.lowercased())/chart.png?theme=light", token: a.token)
            #expect(again.bytes == light.bytes, "the same chart twice is not the same bytes")
            let dark = try await Self.get(app, "/v1/signals/\(id.uuidString.lowercased())/chart.png?theme=dark", token: a.token)
            #expect(dark.status == 200 && dark.bytes != light.bytes)
            #expect(close(try DecodedPNG(dark.bytes).rgb(999, 2), blended(ChartRenderer.Palette.of(.dark).background, .init(0), 0)))

            // The zone's fill at the rows its prices map to (the chart's own description, read as the handler reads it).
            let description = try #require(try await Self.description(app, tenant: a.tenant, id: id))
            #expect(description.zone?.top == row.zoneTop && description.lines.first?.price == row.entry)
            let layout = ChartLayout(description)
            let zone = try #require(description.zone)
            let gridRows = Set(layout.gridPrices.map { Int(layout.y($0).rounded()) })
            let y0 = Int(layout.y(zone.top).rounded(.up)) + 1, y1 = Int(layout.y(zone.bottom).rounded(.down)) - 1
            let lineRows = Set(description.lines.map { Int(layout.y($0.price).rounded()) })
            let expected = blended(ChartRenderer.Palette.of(.light).background, ChartRenderer.Palette.bullishZone, ChartRenderer.Palette.zoneAlpha)
            // Some pixel between two candles' bodies inside the zone (none of the other marks can cover every one).
            let found = (y0...max(y0, y1)).contains { y in
                guard !(y - 1...y + 1).contains(where: { gridRows.contains($0) || lineRows.contains($0) }) else { return false }
                return (0..<description.candles.count - 1).contains { i in
                    let t = description.candles[i].time
                    guard t > zone.from, t < zone.to, t != description.signalTime else { return false }
                    return close(image.rgb(Int((layout.x(index: i) + layout.slot / 2).rounded(.down)), y), expected)
                }
            }
            #expect(found, "no pixel of the zone's colour inside the zone")

            #expect(try await Self.get(app, "/v1/signals/\(id.uuidString.lowercased())/chart.png", token: b.token).status == 404)
            #expect(try await Self.get(app, "/v1/signals/\(expired.uuidString.lowercased())/chart.png", token: a.token).status == 404)
            #expect(try await Self.get(app, "/v1/signals/not-a-uuid/chart.png", token: a.token).status == 404)
            let anonymous = try await Self.get(app, "/v1/signals/\(id.uuidString.lowercased())/chart.png")
            #expect(anonymous.status == 401 && anonymous.header("content-type") == "application/problem+json")
            let badTheme = try await Self.get(app, "/v1/signals/\(id.uuidString.lowercased())/chart.png?theme=pink", token: a.token)
            #expect(badTheme.status == 400, "\(badTheme.status) \(badTheme.body)")
        }
    }

    static func description(_ app: TestApp, tenant: UUID, id: UUID) async throws -> ChartDescription? {
        let database = Database(client: PostgresClient(configuration: try app.database.clientConfiguration(maxConnections: 1),
                                                       backgroundLogger: TestDatabase.logger), logger: TestDatabase.logger)
        return try await withThrowingTaskGroup(of: ChartDescription?.self) { group in
            group.addTask { await database.client.run(); return nil }
            defer { group.cancelAll() }
            return try await database.withTenant(tenant, readOnly: true) { connection in
                try await ChartService.signalDescription(tenant: tenant, user: nil, id: id, visibleDays: 365, theme: .light, connection,
                                                         logger: TestDatabase.logger)
            }
        }
    }

    @Test("GET /v1/market/{symbol}/chart.png draws shared market data; an unknown symbol is 404 pointing at /v1/symbols")
    func marketChart() async throws {
        try await TestApp.run { app in
            let a = try await app.account()
            let until = SignalRow.time(ago: 40 * 900)
            _ = try await Self.insertCandles(app, around: until)
            let chart = try await Self.get(app, "/v1/market/eurusd/chart.png?timeframe=15m&until=\(CivilTime.rfc3339(until))&theme=dark", token: a.token)
            #expect(chart.status == 200 && chart.header("content-type") == "image/png", "\(chart.status) \(chart.body.prefix(300))")
            #expect(try DecodedPNG(chart.bytes).width == 1000)
            let empty = try await Self.get(app, "/v1/market/GBPUSD/chart.png", token: a.token)
            #expect(empty.status == 200, "a stream without candles is an empty chart")
            let unknown = try await Self.get(app, "/v1/market/NOPE42/chart.png", token: a.token)
            #expect(unknown.status == 404)
            #expect(try unknown.member("/code") as? String == "unknown_symbol")
            #expect(try unknown.member("/symbols") as? String == "/v1/symbols")
            #expect((try unknown.member("/detail") as? String)?.contains("GET /v1/symbols") == true)
            #expect(try await Self.get(app, "/v1/market/EURUSD/chart.png").status == 401)
            #expect(try await Self.get(app, "/v1/market/EURUSD/chart.png?timeframe=2m", token: a.token).status == 400)
        }
    }

    @Test("webhook payloads carry chart_url (signed, no token needed), signal_url and the reasons; a changed or expired link is 403")
    func signedLinks() async throws {
        let receiver = Receiver()
        try await receiver.run { base in
            try await TestApp.run(configure: {
                AlertTest.configure(&$0)
                $0.urlSigningKey = Self.signingKey
                $0.publicURL = "https://smc.example.com"
            }) { app in
                let a = try await app.account(plan: "pro")
                _ = try await AlertTest.createWebhook(app, a.token, url: base + "/hook", events: ["signal.created"])
                let signalTime = SignalRow.time(ago: 900)
                _ = try await Self.insertCandles(app, around: signalTime)
                var row = SignalRow(symbol: "EURUSD", setupType: "order_block", confidence: 81.26, level: "HIGH", candleTime: signalTime)
                row.entry = 1.0850049
                row.createdAt = Int64(Date().timeIntervalSince1970)
                let id = try await app.insertSignals([row], tenant: a.tenant, events: true)[0]
                try await Poll.until("the webhook") { !receiver.requests(path: "/hook").isEmpty }
                let event = try AlertEvent.decode(receiver.requests(path: "/hook")[0].body)
                let d = event.data
                #expect(d.signalUrl == "https://smc.example.com/v1/signals/\(id.uuidString.lowercased())")
                #expect(d.entry == 1.085, "entry not rounded to the tick: \(d.entry ?? 0)")
                #expect(d.confidence == 81.3 && d.priceDecimals == 5)
                #expect(d.zone == AlertZone(kind: "order_block", direction: "long", top: PriceFormat(decimals: 5).round(row.zoneTop),
                                            bottom: PriceFormat(decimals: 5).round(row.zoneBottom)))
                #expect(d.votes?.map(\.reason).contains("EMA trend 1.00") == true && d.biases?.count == 3)
                let chartURL = try #require(d.chartUrl)
                #expect(chartURL.hasPrefix("https://smc.example.com/v1/charts/\(id.uuidString.lowercased()).png?exp="))
                let path = String(chartURL.dropFirst("https://smc.example.com".count))

                let chart = try await Self.get(app, path)
                #expect(chart.status == 200 && chart.header("content-type") == "image/png", "\(chart.status) \(chart.body.prefix(300))")
                #expect(try DecodedPNG(chart.bytes).height == 560)
                let authed = try await Self.get(app, "/v1/signals/\(id.uuidString.lowercased())/chart.png", token: a.token)
                #expect(authed.bytes == chart.bytes, "the signed link draws another chart")

                var parts = URLComponents(string: chartURL)!
                let sig = parts.queryItems!.first { $0.name == "sig" }!.value!
                let exp = Int64(parts.queryItems!.first { $0.name == "exp" }!.value!)!
                let flipped = String(sig.dropLast()) + (sig.last == "A" ? "B" : "A")
                for bad in ["/v1/charts/\(id.uuidString.lowercased()).png?exp=\(exp)&sig=\(flipped)",
                            "/v1/charts/\(id.uuidString.lowercased()).png?exp=\(exp + 60)&sig=\(sig)",
                            "/v1/charts/\(UUID().uuidString.lowercased()).png?exp=\(exp)&sig=\(sig)"] {
                    let response = try await Self.get(app, bad)
                    let code = try response.member("/code") as? String
                    #expect(response.status == 403 && code == "invalid_signature", "\(bad): \(response.status) \(response.body)")
                }
                // A link issued 8 days ago has expired, though its signature is good.
                let links = ChartLinks(key: Self.signingKey, publicURL: "https://smc.example.com")
                let stale = links.chartPath(tenant: a.tenant, signal: id, now: Date().addingTimeInterval(-8 * 86_400))
                let expired = try await Self.get(app, stale)
                let detail = try expired.member("/detail") as? String
                #expect(expired.status == 403 && detail?.contains("expired") == true, "\(expired.status) \(expired.body)")
                parts.queryItems = parts.queryItems!.filter { $0.name != "sig" }
                #expect(try await Self.get(app, "/v1/charts/\(id.uuidString.lowercased()).png?exp=\(exp)").status == 400)
            }
        }
    }

    @Test("Telegram: a signal alert is a photo of its chart with a caption; the reasons follow when they do not fit; pictures off sends text")
    func telegramPhotos() async throws {
        let telegram = FakeTelegram()
        try await StubHTTPServer.run(handler: { await telegram.handle($0) }) { api in
            try await TestApp.run(configure: { TelegramAlertTests.configure(&$0, api: api); $0.urlSigningKey = Self.signingKey }) { app in
                let a = try await app.account(plan: "pro")
                _ = try await TestDatabase.query(app.database, "INSERT INTO telegram_links (tenant_id, user_id, chat_id) VALUES (\(a.tenant), \(a.user), 4242)")
                let signalTime = SignalRow.time(ago: 900)
                _ = try await Self.insertCandles(app, around: signalTime)

                // Long reasons: the whole message does not fit in a caption.
                var row = SignalRow(symbol: "EURUSD", setupType: "order_block", confidence: 81.26, level: "HIGH", candleTime: signalTime)
                row.createdAt = Int64(Date().timeIntervalSince1970)
                let long = String(repeating: "the zone held <twice> & ", count: 12)
                row.detailJSON = row.detail.replacingOccurrences(of: "EMA trend 1.00", with: long)
                _ = try await app.insertSignals([row], tenant: a.tenant, events: true)
                try await Poll.until("the photo and the text after it") { telegram.delivered(4242).count >= 2 }
                let photo = telegram.delivered(4242)[0]
                let image = try DecodedPNG(try #require(photo.photo))
                #expect(image.width == 1000 && image.height == 560)
                #expect(photo.fields["parse_mode"] == "HTML" && photo.fields["photo.content_type"] == "image/png")
                #expect(photo.text.hasPrefix("🟢 <b>LONG EURUSD 15m</b>"), "\(photo.text)")
                #expect(photo.text.contains("order block · HIGH confidence 81.3"))
                #expect(photo.text.contains("Entry <code>1.08500</code> · Stop <code>1.08300</code> · Targets <code>1.09100</code>, <code>1.09500</code>"))
                #expect(photo.text.utf16.count <= 1024 && !photo.text.contains("Why"))
                let full = telegram.delivered(4242)[1]
                #expect(full.photo == nil && full.text.contains("<b>Why</b>") && full.text.contains("the zone held &lt;twice&gt; &amp;"))
                #expect(full.text.contains("Zone: bullish order block <code>1.08360</code>–<code>1.08460</code>"), "\(full.text)")
                #expect(full.text.contains("Biases: 15m +15.2 NEUTRAL · 1h +62.5 MEDIUM · 4h -80.0 HIGH"), "\(full.text)")
                #expect(full.text.contains("/v1/signals/"))

                // Pictures off: the next alert is a text message.
                let prefs = try await app.json(.GET, "/v1/settings/alerts", token: a.token)
                #expect(try prefs.member("/charts") as? Bool == true)
                let etag = try #require(prefs.header("etag"))
                let patched = try await app.request(
                    .PATCH, "/v1/settings/alerts",
                    headers: [("authorization", "Bearer \(a.token)"), ("content-type", "application/merge-patch+json"), ("if-match", etag)],
                    body: #"{"charts": false}"#)
                #expect(patched.status == 200, "\(patched.status) \(patched.body)")
                let charts = try patched.member("/charts") as? Bool, minimum = try patched.member("/min_confidence") as? Double
                #expect(charts == false && minimum == 55)
                var second = SignalRow(symbol: "EURUSD", setupType: "order_block", confidence: 70, level: "HIGH", candleTime: signalTime - 900)
                second.createdAt = Int64(Date().timeIntervalSince1970)
                _ = try await app.insertSignals([second], tenant: a.tenant, events: true)
                try await Poll.until("the text alert") { telegram.delivered(4242).count >= 3 }
                let text = telegram.delivered(4242)[2]
                #expect(text.photo == nil && text.text.contains("LONG EURUSD 15m") && text.text.contains("<b>Why</b>"))
            }
        }
    }
}
