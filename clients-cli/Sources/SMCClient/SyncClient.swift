import Foundation
import HTTPTypes
import OpenAPIRuntime
import OpenAPIURLSession
import SMCAPI
import SMCSync

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Why a sync (or sign-in) stopped, and so the exit code: 2 authentication, 3 network, 4 refused by the server.
public struct SyncFailure: Error, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        case auth, network, refused
    }

    public var kind: Kind
    public var message: String
    /// The server's problem code, when it answered with one.
    public var code: String?

    public init(_ kind: Kind, _ message: String, code: String? = nil) {
        self.kind = kind
        self.message = message
        self.code = code
    }

    public var description: String { message }

    public var exitCode: Int32 {
        switch kind {
        case .auth: return 2
        case .network: return 3
        case .refused: return 4
        }
    }
}

/// How a call that did not succeed is handled.
enum CallFailure: Error {
    /// Worth retrying (network error, 5xx, 429), after at least `after` seconds when the server said.
    case transient(String, after: Double?)
    case final(SyncFailure)
}

/// Calls the server through the generated OpenAPI client over URLSession, retrying transient failures
/// (network errors, 429, 5xx) with exponential back-off and jitter.
public struct APIConnection: Sendable {
    public let serverURL: URL
    let client: Client
    let attempts: Int
    let baseDelay: Double

    public init(serverURL: URL, token: String? = nil, attempts: Int = 5, baseDelay: Double = 0.25, timeout: TimeInterval = 60) {
        self.serverURL = serverURL
        self.attempts = max(1, attempts)
        self.baseDelay = baseDelay
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        self.client = Client(
            serverURL: serverURL, configuration: .init(dateTranscoder: .iso8601WithFractionalSeconds),
            transport: URLSessionTransport(configuration: .init(session: URLSession(configuration: configuration))),
            middlewares: token.map { [BearerAuthentication(token: $0)] } ?? [])
    }

    /// Runs `call`, retrying transient failures.
    func retrying<T: Sendable>(_ what: String, _ call: @Sendable () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            let failure: CallFailure
            do {
                return try await call()
            } catch let f as CallFailure {
                failure = f
            } catch let f as SyncFailure {
                throw f
            } catch {
                failure = .transient("cannot reach \(serverURL.absoluteString): \(Self.describe(error))", after: nil)
            }
            switch failure {
            case .final(let f): throw f
            case .transient(let message, let after):
                // A rate limit (429 with Retry-After) is the server pacing a long sync, not a failure: it gets more tries.
                guard attempt < (after == nil ? attempts : attempts * 6) else {
                    throw SyncFailure(message.hasPrefix("cannot reach") ? .network : .refused, "\(what): \(message)")
                }
                let backoff = baseDelay * pow(2, Double(attempt - 1)) * Double.random(in: 0.5...1.5)
                try await Task.sleep(for: .milliseconds(Int64(max(after ?? 0, min(backoff, 10)) * 1000)))
            }
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? OpenAPIRuntime.ClientError { return describe(error.underlyingError) }
        return (error as NSError).localizedDescription
    }

    /// Classifies an answer that was not the expected one.
    static func failure(status: Int, problem: Components.Schemas.Problem?, retryAfter: Int? = nil) -> CallFailure {
        let detail = problem.map { "\($0.detail ?? $0.title) (\($0.code))" } ?? "status \(status)"
        switch status {
        // A plan limit (e.g. too many devices to sign in another) is a refusal, not a failed authentication.
        case 403 where problem?.code == "plan_limit_exceeded": return .final(SyncFailure(.refused, detail, code: problem?.code))
        case 401, 403: return .final(SyncFailure(.auth, detail, code: problem?.code))
        case 429: return .transient(detail, after: retryAfter.map(Double.init))
        case 500...599: return .transient(detail, after: nil)
        default: return .final(SyncFailure(.refused, detail, code: problem?.code))
        }
    }

    // MARK: Accounts

    public struct SignIn: Sendable {
        public var token: String
        public var userID: String
        public var tenantID: String
        public var plan: String
        public var deviceID: String
        public var deviceName: String
    }

    public func login(email: String, password: String, deviceName: String) async throws -> SignIn {
        try await retrying("sign-in") {
            switch try await client.login(body: .json(.init(email: email, password: password, deviceName: deviceName))) {
            case .created(let created):
                let s = try created.body.json
                return SignIn(
                    token: s.token, userID: s.user.id, tenantID: s.tenant.id, plan: s.tenant.plan, deviceID: s.device.id,
                    deviceName: s.device.name)
            case .unauthorized(let r): throw Self.failure(status: 401, problem: try? r.body.applicationProblemJson)
            case .forbidden(let r): throw Self.failure(status: 403, problem: try? r.body.applicationProblemJson)
            case .unprocessableContent(let r): throw Self.failure(status: 422, problem: try? r.body.applicationProblemJson)
            case .tooManyRequests(let r):
                // Sign-in throttling: waiting would only lengthen the lock; say so instead.
                throw CallFailure.final(SyncFailure(.auth, (try? r.body.applicationProblemJson.detail) ?? "too many attempts", code: "too_many_attempts"))
            case .badRequest(let r): throw Self.failure(status: 400, problem: try? r.body.applicationProblemJson)
            case .contentTooLarge(let r): throw Self.failure(status: 413, problem: try? r.body.applicationProblemJson)
            case .unsupportedMediaType(let r): throw Self.failure(status: 415, problem: try? r.body.applicationProblemJson)
            case .undocumented(let status, _): throw Self.failure(status: status, problem: nil)
            }
        }
    }

    public func logout() async throws {
        try await retrying("sign-out") {
            switch try await client.logout() {
            case .noContent: return
            case .unauthorized: return  // already signed out
            case .badRequest(let r): throw Self.failure(status: 400, problem: try? r.body.applicationProblemJson)
            case .tooManyRequests(let r): throw Self.failure(status: 429, problem: try? r.body.applicationProblemJson, retryAfter: r.headers.retryAfter)
            case .undocumented(let status, _): throw Self.failure(status: status, problem: nil)
            }
        }
    }

    public func plan() async throws -> String {
        try await retrying("account") {
            switch try await client.getMe() {
            case .ok(let ok): return try ok.body.json.tenant.plan
            case .unauthorized(let r): throw Self.failure(status: 401, problem: try? r.body.applicationProblemJson)
            case .badRequest(let r): throw Self.failure(status: 400, problem: try? r.body.applicationProblemJson)
            case .tooManyRequests(let r): throw Self.failure(status: 429, problem: try? r.body.applicationProblemJson, retryAfter: r.headers.retryAfter)
            case .undocumented(let status, _): throw Self.failure(status: status, problem: nil)
            }
        }
    }

    // MARK: Charts

    /// The signal's chart as the server draws it (PNG bytes), `dark` or light.
    public func signalChart(id: String, dark: Bool = false) async throws -> [UInt8] {
        try await retrying("chart") {
            switch try await client.getSignalChart(path: .init(signalId: id), query: .init(theme: dark ? .dark : .light)) {
            case .ok(let ok): return try await [UInt8](collecting: ok.body.png, upTo: 16 * 1024 * 1024)
            case .badRequest(let r): throw Self.failure(status: 400, problem: try? r.body.applicationProblemJson)
            case .unauthorized(let r): throw Self.failure(status: 401, problem: try? r.body.applicationProblemJson)
            case .forbidden(let r): throw Self.failure(status: 403, problem: try? r.body.applicationProblemJson)
            case .notFound(let r): throw Self.failure(status: 404, problem: try? r.body.applicationProblemJson)
            case .tooManyRequests(let r): throw Self.failure(status: 429, problem: try? r.body.applicationProblemJson, retryAfter: r.headers.retryAfter)
            case .undocumented(let status, _): throw Self.failure(status: status, problem: nil)
            }
        }
    }

    // MARK: Sync

    func push(deviceID: String, _ mutations: [Components.Schemas.SyncMutation]) async throws -> Components.Schemas.SyncPushResponse {
        let body = Components.Schemas.SyncPushRequest(
            _protocol: SyncProtocol.protocolVersions.upperBound, schema: SyncProtocol.schemaVersions.upperBound, deviceId: deviceID,
            mutations: mutations)
        return try await retrying("push") {
            switch try await client.syncPush(body: .json(body)) {
            case .ok(let ok): return try ok.body.json
            case .badRequest(let r): throw Self.failure(status: 400, problem: try? r.body.applicationProblemJson)
            case .unauthorized(let r): throw Self.failure(status: 401, problem: try? r.body.applicationProblemJson)
            case .forbidden(let r): throw Self.failure(status: 403, problem: try? r.body.applicationProblemJson)
            case .contentTooLarge(let r): throw Self.failure(status: 413, problem: try? r.body.applicationProblemJson)
            case .unprocessableContent(let r): throw Self.failure(status: 422, problem: try? r.body.applicationProblemJson)
            case .upgradeRequired(let r): throw Self.failure(status: 426, problem: try? r.body.applicationProblemJson)
            case .tooManyRequests(let r):
                throw Self.failure(status: 429, problem: try? r.body.applicationProblemJson, retryAfter: r.headers.retryAfter)
            case .unsupportedMediaType(let r): throw Self.failure(status: 415, problem: try? r.body.applicationProblemJson)
            case .undocumented(let status, _): throw Self.failure(status: status, problem: nil)
            }
        }
    }

    func pull(deviceID: String, cursors: [String: String], limit: Int) async throws -> Components.Schemas.SyncPullResponse {
        let body = Components.Schemas.SyncPullRequest(
            _protocol: SyncProtocol.protocolVersions.upperBound, schema: SyncProtocol.schemaVersions.upperBound, deviceId: deviceID,
            cursors: .init(signals: cursors["signals"], journal: cursors["journal"]), limit: limit)
        return try await retrying("pull") {
            switch try await client.syncPull(body: .json(body)) {
            case .ok(let ok): return try ok.body.json
            case .badRequest(let r): throw Self.failure(status: 400, problem: try? r.body.applicationProblemJson)
            case .unauthorized(let r): throw Self.failure(status: 401, problem: try? r.body.applicationProblemJson)
            case .forbidden(let r): throw Self.failure(status: 403, problem: try? r.body.applicationProblemJson)
            case .unprocessableContent(let r): throw Self.failure(status: 422, problem: try? r.body.applicationProblemJson)
            case .upgradeRequired(let r): throw Self.failure(status: 426, problem: try? r.body.applicationProblemJson)
            case .tooManyRequests(let r):
                throw Self.failure(status: 429, problem: try? r.body.applicationProblemJson, retryAfter: r.headers.retryAfter)
            case .contentTooLarge(let r): throw Self.failure(status: 413, problem: try? r.body.applicationProblemJson)
            case .unsupportedMediaType(let r): throw Self.failure(status: 415, problem: try? r.body.applicationProblemJson)
            case .undocumented(let status, _): throw Self.failure(status: status, problem: nil)
            }
        }
    }
}

/// Where a running sync is, for a progress display.
public struct SyncProgress: Sendable, Equatable {
    public enum Phase: String, Sendable { case push, pull }
    public var phase: Phase
    public var pushed = 0
    public var toPush = 0
    public var pulled = 0
    public var pages = 0
}

/// What a sync did.
public struct SyncReport: Sendable, Equatable, Codable {
    public var pushed = 0
    public var applied = 0
    public var duplicates = 0
    public var rejected: [Rejection] = []
    public var pulled = 0
    public var pages = 0
    public var resets: [String] = []
    public var pending = 0
    public var seconds = 0.0
}

/// The sync engine of the reference client: pushes the outbox in id order (in batches), then pulls pages until no
/// stream has more, each page and its cursors committed in one SQLite transaction. Safe to interrupt at any point
/// and run again: a retried push is answered `duplicate`, and a page not committed is fetched again.
public struct SyncEngine: Sendable {
    public let store: LocalStore
    public let connection: APIConnection
    public var pageSize: Int
    public var pushBatch: Int

    public init(store: LocalStore, connection: APIConnection, pageSize: Int = 500, pushBatch: Int = 100) {
        self.store = store
        self.connection = connection
        self.pageSize = pageSize
        self.pushBatch = pushBatch
    }

    /// Signs in to `connection`'s server and stores the session in `store`.
    public static func login(
        store: LocalStore, server: URL, email: String, password: String, deviceName: String, attempts: Int = 5
    ) async throws -> ClientSession {
        let signIn = try await APIConnection(serverURL: server, attempts: attempts).login(email: email, password: password, deviceName: deviceName)
        let session = ClientSession(
            server: server.absoluteString, email: email.lowercased(), userID: signIn.userID, tenantID: signIn.tenantID, plan: signIn.plan,
            deviceID: signIn.deviceID, deviceName: signIn.deviceName, token: signIn.token)
        try store.signIn(session)
        return session
    }

    /// An engine for the store's session.
    public static func forStore(_ store: LocalStore, pageSize: Int = 500, attempts: Int = 5) throws -> SyncEngine {
        let session = try store.requireSession()
        guard let url = URL(string: session.server) else { throw StoreError.notSignedIn }
        return SyncEngine(store: store, connection: APIConnection(serverURL: url, token: session.token, attempts: attempts), pageSize: pageSize)
    }

    /// Pushes the outbox, then pulls until caught up.
    public func run(progress: @Sendable (SyncProgress) -> Void = { _ in }) async throws -> SyncReport {
        let started = Date()
        var report = SyncReport()
        var state = SyncProgress(phase: .push, toPush: try store.status().pendingChanges)
        progress(state)
        try await push(&report, &state, progress)
        state.phase = .pull
        progress(state)
        try await pull(&report, &state, progress)
        if let plan = try? await connection.plan() { try store.updatePlan(plan) }
        try store.markSynced()
        report.pending = try store.status().pendingChanges
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// Only pulls (the outbox stays as it is).
    public func pullOnly() async throws -> SyncReport {
        var report = SyncReport()
        var state = SyncProgress(phase: .pull)
        try await pull(&report, &state, { _ in })
        report.pending = try store.status().pendingChanges
        return report
    }

    /// Pushes the outbox in id order, in batches; stops at a gap the server reports.
    func push(_ report: inout SyncReport, _ state: inout SyncProgress, _ progress: @Sendable (SyncProgress) -> Void) async throws {
        let session = try store.requireSession()
        while true {
            let batch = try store.outbox(limit: pushBatch)
            guard !batch.isEmpty else { break }
            let answer = try await connection.push(deviceID: session.deviceID, batch.map(Self.mutation))
            let outcomes = answer.results.map {
                LocalStore.PushOutcome(id: $0.id, status: $0.status.rawValue, code: $0.code, reason: $0.reason)
            }
            report.rejected += try store.settle(outcomes, lastMutationID: answer.lastMutationId)
            report.applied += outcomes.filter { $0.status == "applied" }.count
            report.duplicates += outcomes.filter { $0.status == "duplicate" }.count
            report.pushed += outcomes.filter { $0.status != "not_processed" }.count
            state.pushed = report.pushed
            progress(state)
            if outcomes.contains(where: { $0.status == "not_processed" }) || answer.lastMutationId < batch[0].id - 1 {
                throw SyncFailure(
                    .refused,
                    "the server has processed this device's changes only up to \(answer.lastMutationId), but the next one here is "
                        + "\(batch[0].id): this client home lost changes; sign in again to start a new device")
            }
        }

    }

    /// Pulls pages until no stream has more; each page and its cursors are one SQLite transaction.
    func pull(_ report: inout SyncReport, _ state: inout SyncProgress, _ progress: @Sendable (SyncProgress) -> Void) async throws {
        let session = try store.requireSession()
        while true {
            let page = try await connection.pull(deviceID: session.deviceID, cursors: try store.cursors(), limit: pageSize)
            let changes = page.changes.map(Self.change)
            var cursors: [String: String] = [:]
            cursors["signals"] = page.cursors.signals
            cursors["journal"] = page.cursors.journal
            let reset = page.reset.map(\.rawValue)
            try store.apply(page: changes, cursors: cursors, reset: reset, lastMutationID: page.lastMutationId)
            report.pulled += changes.count
            report.pages += 1
            report.resets += reset
            state.pulled = report.pulled
            state.pages = report.pages
            progress(state)
            if !page.hasMore.signals && !page.hasMore.journal { break }
        }
    }

    static func mutation(_ entry: OutboxEntry) -> Components.Schemas.SyncMutation {
        .init(
            id: entry.id, op: entry.op, entity: entry.entity, entityId: entry.entityID, hlc: entry.hlc?.description,
            fields: entry.writes.isEmpty
                ? nil
                : .init(additionalProperties: entry.writes.mapValues { .init(value: $0.value.valueContainer, hlc: $0.hlc.description) }))
    }

    static func change(_ c: Components.Schemas.SyncChange) -> LocalStore.Change {
        LocalStore.Change(
            stream: c.stream.rawValue, entity: c.entity.rawValue, id: c.id.lowercased(), version: c.version, delete: c.op == .delete,
            fields: JSONValue.members(c.fields?.additionalProperties),
            clocks: (c.clocks?.additionalProperties ?? [:]).compactMapValues(HLC.init), deletedHLC: c.deletedHlc.flatMap(HLC.init))
    }
}
