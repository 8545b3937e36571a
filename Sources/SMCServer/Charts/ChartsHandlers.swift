import Foundation
import OpenAPIRuntime
import SMCAPI

/// Chart operations: authenticate (a device token or a `signals_read` machine key; the signed link for
/// `/v1/charts`), call `ChartService`, answer the PNG.
extension APIHandlers {
    func getSignalChart(_ input: Operations.GetSignalChart.Input) async throws -> Operations.GetSignalChart.Output {
        let reader = try await signalReader()
        guard let id = UUID(uuidString: input.path.signalId) else { throw Problem.notFound("no such signal") }
        let png = try await charts.signalChart(reader, id: id, theme: Self.theme(input.query.theme?.rawValue))
        return .ok(.init(body: .png(HTTPBody(png))))
    }

    func getMarketChart(_ input: Operations.GetMarketChart.Input) async throws -> Operations.GetMarketChart.Output {
        let reader = try await signalReader()
        let symbol = Watchlist.normalise(input.path.symbol)
        let png = try await charts.symbolChart(
            reader, symbol: symbol, timeframe: input.query.timeframe?.rawValue ?? "1h", until: input.query.until,
            theme: Self.theme(input.query.theme?.rawValue))
        return .ok(.init(body: .png(HTTPBody(png))))
    }

    func getSignedChart(_ input: Operations.GetSignedChart.Input) async throws -> Operations.GetSignedChart.Output {
        guard let id = UUID(uuidString: input.path.signalId) else {
            throw Problem(.invalidSignature, detail: "this chart link's signature does not match (a changed or foreign link)")
        }
        let png = try await charts.signedChart(
            id: id, exp: input.query.exp, sig: input.query.sig, theme: Self.theme(input.query.theme?.rawValue))
        return .ok(.init(body: .png(HTTPBody(png))))
    }

    static func theme(_ raw: String?) -> ChartDescription.Theme {
        raw.flatMap(ChartDescription.Theme.init(rawValue:)) ?? .light
    }
}
