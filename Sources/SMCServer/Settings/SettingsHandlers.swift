import Foundation
import OpenAPIRuntime
import SMCAPI

/// Settings operations: authenticate, call the settings service, answer with the document and its ETag.
extension APIHandlers {
    func getWatchlist(_ input: Operations.GetWatchlist.Input) async throws -> Operations.GetWatchlist.Output {
        let (document, version) = try await settings.read(Watchlist.self, try await authenticate())
        return .ok(.init(headers: .init(eTag: SettingsService.etag(version)), body: .json(document)))
    }

    func replaceWatchlist(_ input: Operations.ReplaceWatchlist.Input) async throws -> Operations.ReplaceWatchlist.Output {
        let principal = try await authenticate()
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        let (document, version) = try await settings.replace(body, principal, ifMatch: rawIfMatch)
        return .ok(.init(headers: .init(eTag: SettingsService.etag(version)), body: .json(document)))
    }

    func patchWatchlist(_ input: Operations.PatchWatchlist.Input) async throws -> Operations.PatchWatchlist.Output {
        let principal = try await authenticate()
        let patch: OpenAPIObjectContainer
        switch input.body {
        case .applicationMergePatchJson(let body): patch = body
        case .json(let body): patch = body
        }
        let (document, version) = try await settings.patch(Watchlist.self, patch, principal, ifMatch: rawIfMatch)
        return .ok(.init(headers: .init(eTag: SettingsService.etag(version)), body: .json(document)))
    }

    func getKillzones(_ input: Operations.GetKillzones.Input) async throws -> Operations.GetKillzones.Output {
        let (document, version) = try await settings.read(Killzones.self, try await authenticate())
        return .ok(.init(headers: .init(eTag: SettingsService.etag(version)), body: .json(document)))
    }

    func replaceKillzones(_ input: Operations.ReplaceKillzones.Input) async throws -> Operations.ReplaceKillzones.Output {
        let principal = try await authenticate()
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        let (document, version) = try await settings.replace(body, principal, ifMatch: rawIfMatch)
        return .ok(.init(headers: .init(eTag: SettingsService.etag(version)), body: .json(document)))
    }

    func patchKillzones(_ input: Operations.PatchKillzones.Input) async throws -> Operations.PatchKillzones.Output {
        let principal = try await authenticate()
        let patch: OpenAPIObjectContainer
        switch input.body {
        case .applicationMergePatchJson(let body): patch = body
        case .json(let body): patch = body
        }
        let (document, version) = try await settings.patch(Killzones.self, patch, principal, ifMatch: rawIfMatch)
        return .ok(.init(headers: .init(eTag: SettingsService.etag(version)), body: .json(document)))
    }

    func getStrategy(_ input: Operations.GetStrategy.Input) async throws -> Operations.GetStrategy.Output {
        let (document, version) = try await settings.read(Strategy.self, try await authenticate())
        return .ok(.init(headers: .init(eTag: SettingsService.etag(version)), body: .json(document)))
    }

    func replaceStrategy(_ input: Operations.ReplaceStrategy.Input) async throws -> Operations.ReplaceStrategy.Output {
        let principal = try await authenticate()
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        let (document, version) = try await settings.replace(body, principal, ifMatch: rawIfMatch)
        return .ok(.init(headers: .init(eTag: SettingsService.etag(version)), body: .json(document)))
    }

    func patchStrategy(_ input: Operations.PatchStrategy.Input) async throws -> Operations.PatchStrategy.Output {
        let principal = try await authenticate()
        let patch: OpenAPIObjectContainer
        switch input.body {
        case .applicationMergePatchJson(let body): patch = body
        case .json(let body): patch = body
        }
        let (document, version) = try await settings.patch(Strategy.self, patch, principal, ifMatch: rawIfMatch)
        return .ok(.init(headers: .init(eTag: SettingsService.etag(version)), body: .json(document)))
    }

    func getAlertPreferences(_ input: Operations.GetAlertPreferences.Input) async throws -> Operations.GetAlertPreferences.Output {
        let (document, version) = try await settings.read(AlertPreferences.self, try await authenticate())
        return .ok(.init(headers: .init(eTag: SettingsService.etag(version)), body: .json(document)))
    }

    func replaceAlertPreferences(_ input: Operations.ReplaceAlertPreferences.Input) async throws -> Operations.ReplaceAlertPreferences.Output {
        let principal = try await authenticate()
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        let (document, version) = try await settings.replace(body, principal, ifMatch: rawIfMatch)
        return .ok(.init(headers: .init(eTag: SettingsService.etag(version)), body: .json(document)))
    }

    func patchAlertPreferences(_ input: Operations.PatchAlertPreferences.Input) async throws -> Operations.PatchAlertPreferences.Output {
        let principal = try await authenticate()
        let patch: OpenAPIObjectContainer
        switch input.body {
        case .applicationMergePatchJson(let body): patch = body
        case .json(let body): patch = body
        }
        let (document, version) = try await settings.patch(AlertPreferences.self, patch, principal, ifMatch: rawIfMatch)
        return .ok(.init(headers: .init(eTag: SettingsService.etag(version)), body: .json(document)))
    }
}
