import Foundation
import Logging
import OpenAPIRuntime
import SMCAPI

/// The server's implementation of the generated `APIProtocol`: one thin method per operation in
/// `api-spec/openapi.yaml`, delegating to the capability's service. An operation in the spec that is
/// not implemented here fails the build.
struct APIHandlers: APIProtocol {
    let operations: OperationsService
    let accounts: AccountsService
    let plans: PlansService
    let admin: AdminService
    let settings: SettingsService
    let apiKeys: APIKeysService
    let market: MarketDataService
    let externalAlerts: ExternalAlertsService
    let signals: SignalsService
    let journal: JournalService
    let sync: SyncService
    let adminToken: String?
    let alerts: AlertChannelsService
    let charts: ChartService
    let summary: MarketSummaryService

    /// The caller, from `Authorization: Bearer …`; every authenticated operation starts here.
    func authenticate() async throws -> Principal {
        try await accounts.authenticate(authorization: RequestScope.current?.headers[.authorization])
    }

    func getHealth(_ input: Operations.GetHealth.Input) async throws -> Operations.GetHealth.Output {
        .ok(.init(body: .json(.init(status: .ok, version: SMCServerInfo.version))))
    }

    func getReady(_ input: Operations.GetReady.Input) async throws -> Operations.GetReady.Output {
        let readiness = await operations.readiness()
        switch readiness {
        case .ready(let applied, let latest):
            return .ok(
                .init(body: .json(.init(status: .ready, database: .ok, migrations: .init(applied: applied, latest: latest)))))
        case .notReady(let problem):
            throw problem
        }
    }

    func getMetrics(_ input: Operations.GetMetrics.Input) async throws -> Operations.GetMetrics.Output {
        .ok(.init(body: .plainText(HTTPBody(operations.metrics.render()))))
    }
}

/// Facts about this build.
public enum SMCServerInfo {
    public static let version = "0.1.0"
}

extension APIHandlers {
    /// `If-Match` as the client sent it: the OpenAPI runtime percent-decodes header parameters (URI style), which turns
    /// an entity tag such as `"50%"` into something else.
    var rawIfMatch: String? { RequestScope.current?.headers[.ifMatch] }
}
