import Foundation
import OpenAPIRuntime
import SMCAPI

/// Accounts and plans operations: authenticate, call the service, map the result.
extension APIHandlers {
    func signup(_ input: Operations.Signup.Input) async throws -> Operations.Signup.Output {
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        let session = try await accounts.signup(
            email: body.email, password: body.password, name: body.name, deviceName: body.deviceName)
        return .created(.init(body: .json(session.schema)))
    }

    func login(_ input: Operations.Login.Input) async throws -> Operations.Login.Output {
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        let session = try await accounts.login(
            email: body.email, password: body.password, deviceName: body.deviceName,
            clientAddress: RequestScope.current?.clientAddress ?? "unknown")
        return .created(.init(body: .json(session.schema)))
    }

    func logout(_ input: Operations.Logout.Input) async throws -> Operations.Logout.Output {
        try await accounts.logout(try await authenticate())
        return .noContent(.init())
    }

    func changePassword(_ input: Operations.ChangePassword.Input) async throws -> Operations.ChangePassword.Output {
        let principal = try await authenticate()
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        try await accounts.changePassword(principal, current: body.currentPassword, new: body.newPassword)
        return .noContent(.init())
    }

    func listDevices(_ input: Operations.ListDevices.Input) async throws -> Operations.ListDevices.Output {
        let principal = try await authenticate()
        let devices = try await accounts.devices(principal)
        return .ok(.init(body: .json(.init(devices: devices.map { $0.schema(current: $0.id == principal.deviceID) }))))
    }

    func revokeDevice(_ input: Operations.RevokeDevice.Input) async throws -> Operations.RevokeDevice.Output {
        let principal = try await authenticate()
        guard let device = UUID(uuidString: input.path.deviceId) else { throw Problem.notFound("no such device") }
        try await accounts.revokeDevice(principal, device: device)
        return .noContent(.init())
    }

    func listAPIKeys(_ input: Operations.ListAPIKeys.Input) async throws -> Operations.ListAPIKeys.Output {
        let keys = try await apiKeys.list(try await authenticate())
        return .ok(.init(body: .json(.init(apiKeys: keys.map(\.schema)))))
    }

    func createAPIKey(_ input: Operations.CreateAPIKey.Input) async throws -> Operations.CreateAPIKey.Output {
        let principal = try await authenticate()
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        let (key, record) = try await apiKeys.create(principal, name: body.name, scopes: body.scopes.map(\.rawValue))
        return .created(.init(body: .json(.init(key: key, apiKey: record.schema))))
    }

    func revokeAPIKey(_ input: Operations.RevokeAPIKey.Input) async throws -> Operations.RevokeAPIKey.Output {
        let principal = try await authenticate()
        guard let key = UUID(uuidString: input.path.keyId) else { throw Problem.notFound("no such API key") }
        try await apiKeys.revoke(principal, key: key)
        return .noContent(.init())
    }

    func getMe(_ input: Operations.GetMe.Input) async throws -> Operations.GetMe.Output {
        let (user, tenant) = try await accounts.me(try await authenticate())
        return .ok(.init(body: .json(.init(user: user.schema, tenant: tenant.schema))))
    }

    func updateMe(_ input: Operations.UpdateMe.Input) async throws -> Operations.UpdateMe.Output {
        let principal = try await authenticate()
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        let (user, tenant) = try await accounts.updateMe(principal, name: body.name, email: body.email)
        return .ok(.init(body: .json(.init(user: user.schema, tenant: tenant.schema))))
    }

    func deleteMe(_ input: Operations.DeleteMe.Input) async throws -> Operations.DeleteMe.Output {
        let principal = try await authenticate()
        var password: String?
        if case .json(let body)? = input.body { password = body.password }
        try await accounts.deleteMe(principal, password: password ?? "")
        return .noContent(.init())
    }

    func listPlans(_ input: Operations.ListPlans.Input) async throws -> Operations.ListPlans.Output {
        .ok(.init(body: .json(.init(plans: try await plans.all().map(\.schema)))))
    }

    func changePlan(_ input: Operations.ChangePlan.Input) async throws -> Operations.ChangePlan.Output {
        try AdminService.authorize(presented: RequestScope.current?.headers[.authorization], configured: adminToken)
        guard case .json(let body) = input.body else { throw Problem.unsupportedMediaType("send application/json") }
        let change = try await admin.setPlan(email: body.email, planID: body.plan)
        return .ok(
            .init(
                body: .json(
                    .init(
                        tenantId: change.tenantID.uuidString.lowercased(), previousPlan: change.previousPlan,
                        subscription: change.subscription.schema, applied: change.applied))))
    }

    func getSubscription(_ input: Operations.GetSubscription.Input) async throws -> Operations.GetSubscription.Output {
        let principal = try await authenticate()
        return .ok(.init(body: .json(try await plans.subscription(principal).schema)))
    }
}

extension UserRecord {
    var schema: Components.Schemas.User {
        .init(id: id.uuidString.lowercased(), email: email, name: name, role: role == "owner" ? .owner : .member, createdAt: createdAt)
    }
}

extension TenantRecord {
    var schema: Components.Schemas.Tenant { .init(id: id.uuidString.lowercased(), name: name, plan: plan) }
}

extension DeviceRecord {
    func schema(current: Bool) -> Components.Schemas.Device {
        .init(
            id: id.uuidString.lowercased(), name: name, createdAt: createdAt, lastSeenAt: lastSeenAt, expiresAt: expiresAt,
            current: current)
    }
}

extension SessionRecord {
    /// The session answers the device that just signed in, so its device is the current one.
    var schema: Components.Schemas.Session {
        .init(token: token, user: user.schema, tenant: tenant.schema, device: device.schema(current: true))
    }
}

extension APIKeyRecord {
    var schema: Components.Schemas.APIKey {
        .init(
            id: id.uuidString.lowercased(), name: name, scopes: scopes.compactMap(Components.Schemas.APIKeyScope.init(rawValue:)),
            hint: hint, createdAt: createdAt, lastUsedAt: lastUsedAt)
    }
}

extension SubscriptionRecord {
    var schema: Components.Schemas.Subscription {
        .init(
            plan: plan.schema, usage: .init(additionalProperties: usage),
            overLimit: overLimit.map { .init(limit: $0.limit, allowed: $0.allowed, used: $0.used, effect: $0.effect) })
    }
}

extension PlanRecord {
    var schema: Components.Schemas.Plan {
        .init(
            id: id, name: name, rank: rank, priceCentsMonth: priceCentsMonth,
            limits: .init(
                symbols: maxSymbols, timeframesPerSymbol: maxTimeframesPerSymbol, webhooks: maxWebhooks, telegram: telegram,
                alertsPerDay: alertsPerDay, historyDays: historyDays, devices: maxDevices,
                apiRequestsPerMinute: apiRequestsPerMinute, apiKeys: maxAPIKeys))
    }
}
