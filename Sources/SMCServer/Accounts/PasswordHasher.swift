import CArgon2
import Crypto
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// argon2id password hashing through libargon2, on a thread pool of its own.
///
/// A hash costs tens of milliseconds and 19 MiB: on the event loop or the cooperative pool, a burst of
/// logins would stall every other request. The pool is bounded (one thread per core), so a flood of
/// logins queues instead of exhausting memory.
public final class PasswordHasher: Sendable {
    /// OWASP's argon2id minimum: m = 19 MiB, t = 2, p = 1.
    public struct Parameters: Sendable, Equatable {
        public var memoryKiB: UInt32 = 19 * 1024
        public var iterations: UInt32 = 2
        public var parallelism: UInt32 = 1
        public init() {}
    }

    public let parameters: Parameters
    private let pool: NIOThreadPool
    /// Verified against when an email is unknown, so that both paths cost the same time.
    private let decoy: String
    private let verificationCount = Atomic<Int>(0)

    /// How many verifications ran (the unknown-email path must run one too).
    public var verifications: Int { verificationCount.load(ordering: .relaxed) }

    public init(parameters: Parameters = .init(), threads: Int = System.coreCount) {
        self.parameters = parameters
        self.pool = NIOThreadPool(numberOfThreads: max(1, threads))
        pool.start()
        self.decoy = (try? Self.hashSync("decoy-\(UUID().uuidString)", parameters: parameters)) ?? ""
    }

    deinit {
        pool.shutdownGracefully { _ in }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var code: Int32
        public var description: String { "argon2 failed: \(String(cString: argon2_error_message(code)))" }
    }

    /// The encoded PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) for `password`, with a fresh salt.
    public func hash(_ password: String) async throws -> String {
        let parameters = parameters
        return try await pool.runIfActive { try Self.hashSync(password, parameters: parameters) }
    }

    /// Whether `password` matches `encoded`; a malformed or empty `encoded` is simply no match.
    public func verify(_ password: String, against encoded: String?) async throws -> Bool {
        let known = encoded.flatMap { $0.isEmpty ? nil : $0 }
        let target = known ?? decoy
        let matches = try await pool.runIfActive { Self.verifySync(password, encoded: target) }
        verificationCount.add(1, ordering: .relaxed)
        return matches && known != nil
    }

    static func hashSync(_ password: String, parameters: Parameters) throws -> String {
        var salt = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        for i in salt.indices { salt[i] = generator.next() }
        let hashLength = 32
        let encodedLength = argon2_encodedlen(
            parameters.iterations, parameters.memoryKiB, parameters.parallelism, UInt32(salt.count), UInt32(hashLength),
            Argon2_id)
        var encoded = [CChar](repeating: 0, count: encodedLength)
        let bytes = Array(password.utf8)
        let status = bytes.withUnsafeBytes { pwd in
            argon2id_hash_encoded(
                parameters.iterations, parameters.memoryKiB, parameters.parallelism, pwd.baseAddress, bytes.count,
                salt, salt.count, hashLength, &encoded, encodedLength)
        }
        guard status == ARGON2_OK.rawValue else { throw Failure(code: status) }
        return String(cString: encoded)
    }

    static func verifySync(_ password: String, encoded: String) -> Bool {
        let bytes = Array(password.utf8)
        return bytes.withUnsafeBytes { pwd in
            argon2id_verify(encoded, pwd.baseAddress, bytes.count) == ARGON2_OK.rawValue
        }
    }
}
