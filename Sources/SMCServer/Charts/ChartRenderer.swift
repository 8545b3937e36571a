import CCairo
import Foundation
import SMCEngine

/// Draws a `ChartDescription` as a PNG with Cairo: an ARGB32 image surface, text in DejaVu Sans (Cairo's toy text
/// API through fontconfig; the fonts-dejavu-core package). The same description gives the same bytes.
///
/// Order of drawing: background, killzone bands, grid and price labels, the zone box, structure marks, candles, the
/// entry/stop/target lines with their price tags, the outcome marker, the title.
enum ChartRenderer {
    struct RenderError: Error, CustomStringConvertible {
        var description: String
    }

    struct RGB: Sendable, Hashable {
        var r: Double, g: Double, b: Double
        init(_ hex: UInt32) {
            r = Double((hex >> 16) & 0xFF) / 255
            g = Double((hex >> 8) & 0xFF) / 255
            b = Double(hex & 0xFF) / 255
        }
    }

    struct Palette: Sendable {
        var background: RGB
        var text: RGB
        var muted: RGB
        var grid: RGB
        var up: RGB
        var down: RGB
        var killzone: RGB
        var killzoneAlpha: Double
        var entry: RGB
        var stop: RGB
        var target: RGB
        var structure: RGB

        /// The zone box's fill: the direction's colour at this opacity over whatever is under it.
        static let zoneAlpha = 0.22
        static let bullishZone = RGB(0x26A69A)
        static let bearishZone = RGB(0xEF5350)

        static func of(_ theme: ChartDescription.Theme) -> Palette {
            switch theme {
            case .light:
                Palette(background: RGB(0xFFFFFF), text: RGB(0x1F2328), muted: RGB(0x6E7781), grid: RGB(0xEAEEF2),
                        up: RGB(0x26A69A), down: RGB(0xEF5350), killzone: RGB(0x8250DF), killzoneAlpha: 0.07,
                        entry: RGB(0x0969DA), stop: RGB(0xCF222E), target: RGB(0x1A7F37), structure: RGB(0x57606A))
            case .dark:
                Palette(background: RGB(0x131722), text: RGB(0xD1D4DC), muted: RGB(0x868993), grid: RGB(0x232838),
                        up: RGB(0x26A69A), down: RGB(0xEF5350), killzone: RGB(0xB392F0), killzoneAlpha: 0.09,
                        entry: RGB(0x58A6FF), stop: RGB(0xFF7B72), target: RGB(0x3FB950), structure: RGB(0xA0A4AE))
            }
        }
    }

    static let font = "DejaVu Sans"

    /// The PNG of the chart.
    static func png(_ d: ChartDescription) throws -> [UInt8] {
        let width = Int32(max(d.width, 200)), height = Int32(max(d.height, 150))
        guard let surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height) else {
            throw RenderError(description: "cairo could not create a surface")
        }
        defer { cairo_surface_destroy(surface) }
        guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS, let cr = cairo_create(surface) else {
            throw RenderError(description: "cairo could not create a surface of \(width)×\(height)")
        }
        draw(d, ChartLayout(d), Palette.of(d.theme), cr)
        let status = cairo_status(cr)
        cairo_destroy(cr)
        guard status == CAIRO_STATUS_SUCCESS else {
            throw RenderError(description: "cairo: \(String(cString: cairo_status_to_string(status)))")
        }
        cairo_surface_flush(surface)
        let sink = PNGSink()
        let written = cairo_surface_write_to_png_stream(surface, { closure, data, length in
            guard let closure, let data else { return CAIRO_STATUS_WRITE_ERROR }
            Unmanaged<PNGSink>.fromOpaque(closure).takeUnretainedValue().bytes
                .append(contentsOf: UnsafeBufferPointer(start: data, count: Int(length)))
            return CAIRO_STATUS_SUCCESS
        }, Unmanaged.passUnretained(sink).toOpaque())
        guard written == CAIRO_STATUS_SUCCESS else {
            throw RenderError(description: "cairo could not write the PNG: \(String(cString: cairo_status_to_string(written)))")
        }
        return sink.bytes
    }

    private final class PNGSink {
        var bytes: [UInt8] = []
        init() { bytes.reserveCapacity(64 * 1024) }
    }

    // MARK: drawing

    private static func draw(_ d: ChartDescription, _ layout: ChartLayout, _ p: Palette, _ cr: OpaquePointer) {
        let plot = layout.plot
        set(cr, p.background)
        cairo_paint(cr)
        cairo_select_font_face(cr, font, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT)

        // Killzone bands, with their names along the top of the plot.
        cairo_save(cr)
        clip(cr, plot)
        for window in d.killzones {
            let x0 = layout.x(window.from) - layout.slot / 2, x1 = layout.x(window.to) + layout.slot / 2
            guard x1 > plot.x, x0 < plot.maxX else { continue }
            set(cr, p.killzone, p.killzoneAlpha)
            cairo_rectangle(cr, x0, plot.y, x1 - x0, plot.height)
            cairo_fill(cr)
            set(cr, p.killzone, 0.85)
            cairo_set_font_size(cr, 10)
            if x1 - x0 > 30 { text(cr, window.name, x: max(x0, plot.x) + 3, y: plot.y + 12, maxWidth: x1 - max(x0, plot.x) - 6) }
        }
        cairo_restore(cr)

        // Grid and price labels.
        cairo_set_font_size(cr, 11)
        cairo_set_line_width(cr, 1)
        // Where the entry, stop and target tags will sit in the axis: a grid label there would be covered.
        let tagYs = d.lines.map { line in
            layout.contains(price: line.price) ? layout.y(line.price) : (line.price > layout.maxPrice ? plot.y + 8 : plot.maxY - 8)
        }
        for price in layout.gridPrices {
            let y = (layout.y(price)).rounded() + 0.5
            set(cr, p.grid)
            cairo_move_to(cr, plot.x, y)
            cairo_line_to(cr, plot.maxX, y)
            cairo_stroke(cr)
            guard !tagYs.contains(where: { abs($0 - y) < 14 }) else { continue }
            set(cr, p.muted)
            text(cr, PriceFormat(decimals: d.priceDecimals).text(price), x: plot.maxX + 8, y: y + 4)
        }
        set(cr, p.grid)
        cairo_rectangle(cr, plot.x + 0.5, plot.y + 0.5, plot.width - 1, plot.height - 1)
        cairo_stroke(cr)

        // Time labels.
        cairo_set_font_size(cr, 11)
        for i in layout.timeLabelIndices {
            let x = layout.x(index: i)
            set(cr, p.grid)
            cairo_move_to(cr, x.rounded() + 0.5, plot.maxY)
            cairo_line_to(cr, x.rounded() + 0.5, plot.maxY + 4)
            cairo_stroke(cr)
            set(cr, p.muted)
            let label = timeLabel(d.candles[i].time, timeframeSeconds: d.timeframeSeconds)
            let w = textWidth(cr, label)
            text(cr, label, x: min(max(x - w / 2, plot.x), plot.maxX - w), y: plot.maxY + 18)
        }

        cairo_save(cr)
        clip(cr, plot)

        // The signal's candle: a faint column.
        if let t = d.signalTime {
            let x = layout.x(t)
            set(cr, p.entry, 0.08)
            cairo_rectangle(cr, x - layout.slot / 2, plot.y, layout.slot, plot.height)
            cairo_fill(cr)
        }

        // The zone box.
        if let zone = d.zone {
            let color = zone.bullish ? Palette.bullishZone : Palette.bearishZone
            let x0 = max(layout.x(zone.from) - layout.slot / 2, plot.x)
            let x1 = min(layout.x(zone.to) + layout.slot / 2, plot.maxX)
            let y0 = layout.y(zone.top), y1 = layout.y(zone.bottom)
            set(cr, color, Palette.zoneAlpha)
            cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0)
            cairo_fill(cr)
            set(cr, color, 0.8)
            cairo_set_line_width(cr, 1)
            cairo_rectangle(cr, x0 + 0.5, y0 + 0.5, max(x1 - x0 - 1, 0), max(y1 - y0 - 1, 0))
            cairo_stroke(cr)
            cairo_set_font_size(cr, 10)
            text(cr, zone.label, x: x0 + 4, y: y0 + 12, maxWidth: x1 - x0 - 8)
        }

        // Structure: swings as small triangles, breaks as dashed levels from the broken swing to the breaking candle.
        for mark in d.structure {
            let x = layout.x(mark.time), y = layout.y(mark.price)
            set(cr, p.structure, 0.9)
            switch mark.kind {
            case .swingHigh:
                triangle(cr, x: x, y: y - 7, size: 4, pointingUp: false)
            case .swingLow:
                triangle(cr, x: x, y: y + 7, size: 4, pointingUp: true)
            case .bos, .choch:
                let x1 = mark.to.map { layout.x($0) } ?? x + 4 * layout.slot
                let dash = [4.0, 3.0]
                cairo_set_dash(cr, dash, 2, 0)
                cairo_set_line_width(cr, 1)
                cairo_move_to(cr, x, y.rounded() + 0.5)
                cairo_line_to(cr, x1, y.rounded() + 0.5)
                cairo_stroke(cr)
                cairo_set_dash(cr, nil, 0, 0)
                cairo_set_font_size(cr, 9)
                let w = textWidth(cr, mark.label)
                text(cr, mark.label, x: (x + x1) / 2 - w / 2, y: mark.direction > 0 ? y - 3 : y + 11)
            }
        }

        // Candles.
        let body = max(1, (layout.slot * 0.7).rounded(.down))
        for (i, c) in d.candles.enumerated() {
            let x = layout.x(index: i)
            let color = c.close >= c.open ? p.up : p.down
            set(cr, color)
            cairo_set_line_width(cr, 1)
            let wickX = x.rounded(.down) + 0.5
            cairo_move_to(cr, wickX, layout.y(c.high))
            cairo_line_to(cr, wickX, layout.y(c.low))
            cairo_stroke(cr)
            let top = layout.y(max(c.open, c.close)), bottom = layout.y(min(c.open, c.close))
            cairo_rectangle(cr, (x - body / 2).rounded(.down), top, body, max(bottom - top, 1))
            cairo_fill(cr)
        }
        cairo_restore(cr)

        // Entry, stop and targets: lines across the plot from the signal, tags in the price axis.
        let format = PriceFormat(decimals: d.priceDecimals)
        cairo_set_font_size(cr, 11)
        for line in d.lines {
            let color = switch line.kind {
            case .entry: p.entry
            case .stop: p.stop
            case .target: p.target
            case .level: p.structure
            }
            let inside = layout.contains(price: line.price)
            let y = inside ? layout.y(line.price).rounded() + 0.5 : (line.price > layout.maxPrice ? plot.y + 8 : plot.maxY - 8)
            if inside {
                set(cr, color, 0.9)
                cairo_set_line_width(cr, 1)
                let dash = [6.0, 4.0]
                if line.kind != .entry { cairo_set_dash(cr, dash, 2, 0) }
                cairo_move_to(cr, max(line.from.map { layout.x($0) } ?? plot.x, plot.x), y)
                cairo_line_to(cr, plot.maxX, y)
                cairo_stroke(cr)
                cairo_set_dash(cr, nil, 0, 0)
            }
            let arrow = inside ? "" : (line.price > layout.maxPrice ? "▲ " : "▼ ")
            let label = "\(arrow)\(line.label) \(format.text(line.price))"
            // Tags sit in the price axis (over its labels), clear of the candles and the outcome's marker.
            cairo_set_font_size(cr, textWidth(cr, label) > ChartLayout.axisWidth - 10 ? 9.5 : 11)
            let w = textWidth(cr, label)
            let tagX = min(plot.maxX + 2, Double(max(d.width, 200)) - w - 8)
            set(cr, color)
            cairo_rectangle(cr, tagX, y - 8, w + 8, 16)
            cairo_fill(cr)
            set(cr, p.background)
            text(cr, label, x: tagX + 4, y: y + 4)
            cairo_set_font_size(cr, 11)
        }

        // How it ended.
        if let outcome = d.outcome {
            let x = layout.x(outcome.time), y = layout.y(min(max(outcome.price, layout.minPrice), layout.maxPrice))
            let color = outcome.kind == "target" ? p.target : outcome.kind == "stop" ? p.stop : p.muted
            set(cr, p.background)
            cairo_arc(cr, x, y, 8, 0, 2 * .pi)
            cairo_fill(cr)
            set(cr, color)
            cairo_set_line_width(cr, 2.5)
            cairo_arc(cr, x, y, 6, 0, 2 * .pi)
            cairo_stroke(cr)
            cairo_set_font_size(cr, 11)
            cairo_select_font_face(cr, font, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD)
            let label = outcome.kind.uppercased()
            let w = textWidth(cr, label)
            // Right of the marker, or left of it when the plot ends first.
            text(cr, label, x: x + 10 + w <= plot.maxX - 2 ? x + 10 : max(plot.x + 2, x - 10 - w), y: y - 8)
            cairo_select_font_face(cr, font, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL)
        }

        // Title.
        set(cr, p.text)
        cairo_select_font_face(cr, font, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD)
        cairo_set_font_size(cr, 17)
        text(cr, titleText(d.title), x: ChartLayout.margin + 2, y: 24, maxWidth: plot.width + ChartLayout.axisWidth - 20)
        cairo_select_font_face(cr, font, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL)
        if let subtitle = d.subtitle {
            set(cr, p.muted)
            cairo_set_font_size(cr, 12)
            text(cr, subtitle, x: ChartLayout.margin + 2, y: 44, maxWidth: plot.width + ChartLayout.axisWidth - 20)
        }
        if let direction = d.title.direction {
            // A coloured bar at the left of the title says long or short at a glance.
            set(cr, direction == "long" ? p.up : p.down)
            cairo_rectangle(cr, 0, 0, 4, ChartLayout.titleHeight - 8)
            cairo_fill(cr)
        }
    }

    /// `EURUSD · 15m · LONG · order block · confidence 72.5`.
    static func titleText(_ t: ChartDescription.Title) -> String {
        var parts = [t.symbol, t.timeframe]
        if let direction = t.direction { parts.append(direction.uppercased()) }
        if let setup = t.setup { parts.append(setup.replacingOccurrences(of: "_", with: " ")) }
        if let confidence = t.confidence { parts.append("confidence \(String(format: "%.1f", PriceFormat.confidence(confidence)))") }
        return parts.joined(separator: " · ")
    }

    /// `Dec 07 14:30` within a day's candles, `2026-12-07` for daily and longer ones (UTC).
    static func timeLabel(_ time: Int64, timeframeSeconds: Int64) -> String {
        let (y, m, d) = CivilTime.date(days: CivilTime.day(of: time))
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        if timeframeSeconds >= 86_400 { return "\(y)-\(two(m))-\(two(d))" }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let minutes = Int(CivilTime.floorDiv(time, 60) - CivilTime.day(of: time) * 1440)
        return "\(months[m - 1]) \(two(d)) \(two(minutes / 60)):\(two(minutes % 60))"
    }

    // MARK: primitives

    private static func set(_ cr: OpaquePointer, _ c: RGB, _ alpha: Double = 1) {
        cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha)
    }

    private static func clip(_ cr: OpaquePointer, _ r: ChartLayout.Rect) {
        cairo_rectangle(cr, r.x, r.y, r.width, r.height)
        cairo_clip(cr)
    }

    private static func textWidth(_ cr: OpaquePointer, _ s: String) -> Double {
        var extents = cairo_text_extents_t()
        cairo_text_extents(cr, s, &extents)
        return extents.x_advance
    }

    /// Writes `s` with its baseline at `y`, cut with an ellipsis to `maxWidth`.
    private static func text(_ cr: OpaquePointer, _ s: String, x: Double, y: Double, maxWidth: Double = .infinity) {
        var shown = s
        if maxWidth.isFinite, textWidth(cr, shown) > maxWidth {
            while shown.count > 1, textWidth(cr, shown + "…") > maxWidth { shown.removeLast() }
            shown += "…"
        }
        cairo_move_to(cr, x, y)
        cairo_show_text(cr, shown)
    }

    private static func triangle(_ cr: OpaquePointer, x: Double, y: Double, size: Double, pointingUp: Bool) {
        let s = pointingUp ? -size : size
        cairo_move_to(cr, x - size, y - s)
        cairo_line_to(cr, x + size, y - s)
        cairo_line_to(cr, x, y + s)
        cairo_close_path(cr)
        cairo_fill(cr)
    }
}

/// Charts for tools outside the server module (`smc-chart-bench`): a `ChartDescription` travels as its JSON.
public enum ChartPNG {
    /// The description of a symbol's chart of these candles (structure, the ICT killzones, the last close), as JSON.
    public static func symbolDescription(symbol: String, timeframe: String, candles: [Candle], priceDecimals: Int,
                                         dark: Bool) throws -> Data
    {
        let zones = Killzones.defaults.zones.compactMap {
            try? Killzone(name: $0.name, start: $0.start, end: $0.end, timeZone: $0.timeZone, enabled: $0.enabled ?? true)
        }
        let d = ChartBuilder.symbol(symbol, timeframe: timeframe, candles: candles, priceDecimals: priceDecimals, killzones: zones,
                                    theme: dark ? .dark : .light)
        return try JSONEncoder().encode(d)
    }

    /// The PNG of a description given as JSON.
    public static func render(descriptionJSON: Data) throws -> [UInt8] {
        try ChartRenderer.png(JSONDecoder().decode(ChartDescription.self, from: descriptionJSON))
    }
}
