import Foundation
import SMCAPI
import SMCSync

/// Sync operations: authenticate the device, check versions and device, call the sync service.
extension APIHandlers {
    func syncPull(_ input: Operations.SyncPull.Input) async throws -> Operations.SyncPull.Output {
        let principal = try await authenticate()
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        try SyncService.checkVersions(protocol: body._protocol, schema: body.schema)
        try SyncService.checkDevice(principal, body.deviceId)
        let limit = body.limit ?? SyncService.defaultPageSize
        guard (1...SyncProtocol.maxPageSize).contains(limit) else {
            throw Problem.validation([.init(field: "/limit", message: "must be 1–\(SyncProtocol.maxPageSize)")])
        }
        var cursors: [SyncProtocol.Stream: String] = [:]
        cursors[.signals] = body.cursors?.signals
        cursors[.journal] = body.cursors?.journal
        let page = try await sync.pull(principal, cursors: cursors, limit: limit)
        return .ok(
            .init(
                body: .json(
                    .init(
                        changes: page.changes,
                        cursors: .init(signals: page.cursors[.signals], journal: page.cursors[.journal]),
                        hasMore: .init(signals: page.hasMore[.signals] ?? false, journal: page.hasMore[.journal] ?? false),
                        reset: page.reset.map { $0 == .signals ? .signals : .journal },
                        lastMutationId: page.lastMutationID))))
    }

    func syncPush(_ input: Operations.SyncPush.Input) async throws -> Operations.SyncPush.Output {
        let principal = try await authenticate()
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        try SyncService.checkVersions(protocol: body._protocol, schema: body.schema)
        try SyncService.checkDevice(principal, body.deviceId)
        let (results, last) = try await sync.push(principal, body.mutations)
        return .ok(.init(body: .json(.init(results: results, lastMutationId: last))))
    }
}
