import Configuration
import Foundation
import Logging
import Testing

@testable import SMCServer

@Suite("Configuration")
struct ConfigurationTests {
    func read(_ env: [String: String]) throws -> AppConfiguration {
        try AppConfiguration(reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: env)))
    }

    @Test("defaults serve on 127.0.0.1:8080 with the embedded database under ./.smc")
    func defaults() throws {
        let config = try read([:])
        #expect(config.host == "127.0.0.1" && config.port == 8080)
        #expect(config.databaseURL == nil && config.dataDirectory == ".smc")
        #expect(config.logFormat == .json && config.logLevel == .info)
        #expect(config.allowPrivateTargets == false)
    }

    @Test("environment variables named in DESIGN.md are honoured")
    func environment() throws {
        let config = try read([
            "PORT": "9090", "DATABASE_URL": "postgres://u:p@db:5432/smc", "SMC_DATA_DIR": "/var/lib/smc",
            "SMC_ADMIN_TOKEN": "secret", "SMC_ALLOW_PRIVATE_TARGETS": "true", "SMC_LOG_LEVEL": "debug",
            "SMC_LOG_FORMAT": "text", "SMC_MAX_BODY_BYTES": "2048", "SMC_SHUTDOWN_TIMEOUT_SECONDS": "3.5",
            "SMC_TELEGRAM_API_URL": "http://127.0.0.1:9999",
        ])
        #expect(config.port == 9090)
        #expect(config.databaseURL == "postgres://u:p@db:5432/smc")
        #expect(config.dataDirectory == "/var/lib/smc")
        #expect(config.adminToken == "secret" && config.allowPrivateTargets)
        #expect(config.logLevel == .debug && config.logFormat == .text)
        #expect(config.maxBodyBytes == 2048 && config.shutdownTimeout == .milliseconds(3500))
        #expect(config.telegramAPIURL == "http://127.0.0.1:9999")
    }

    @Test("SMC_SECRETS_KEY and SMC_SECRETS_KEY_PREVIOUS: base64 of 32 bytes, anything else refused by name")
    func secretsKeys() throws {
        let key = Data((0..<32).map { UInt8($0) }), other = Data((0..<32).map { UInt8(255 - $0) })
        let config = try read(["SMC_SECRETS_KEY": key.base64EncodedString(), "SMC_SECRETS_KEY_PREVIOUS": " \(other.base64EncodedString()) ,"])
        #expect(config.alerts.secretsKey == Array(key) && config.alerts.previousSecretsKeys == [Array(other)])
        #expect(try read([:]).alerts.secretsKey == nil)
        for (name, value) in [("SMC_SECRETS_KEY", "c2hvcnQ="), ("SMC_SECRETS_KEY", "not base64!"), ("SMC_SECRETS_KEY_PREVIOUS", "c2hvcnQ=")] {
            #expect { try read([name: value]) } throws: { "\($0)".contains(name) && "\($0)".contains("32 bytes") }
        }
    }

    @Test("invalid values are refused with the variable's name")
    func invalid() {
        #expect { try read(["PORT": "70000"]) } throws: { "\($0)".contains("PORT") }
        #expect { try read(["SMC_LOG_LEVEL": "loud"]) } throws: { "\($0)".contains("SMC_LOG_LEVEL") }
        #expect { try read(["SMC_MAX_BODY_BYTES": "10"]) } throws: { "\($0)".contains("SMC_MAX_BODY_BYTES") }
    }

    @Test("DATABASE_URL parsing: TCP with sslmode, Unix sockets, percent-encoded passwords, bad URLs")
    func databaseURL() throws {
        let tcp = try DatabaseSettings(url: "postgres://smc:p%40ss@db.internal:6543/smc?sslmode=verify-full")
        #expect(tcp.endpoint == .tcp(host: "db.internal", port: 6543))
        #expect(tcp.password == "p@ss" && tcp.tls == .verifyFull && tcp.database == "smc")
        #expect(!tcp.redacted.contains("p@ss"))
        let local = try DatabaseSettings(url: "postgresql://smc@localhost/smc")
        #expect(local.tls == .disable)
        let socket = try DatabaseSettings(url: "postgres://postgres@localhost/smc?host=/run/postgresql")
        #expect(socket.endpoint == .unixSocket(path: "/run/postgresql/.s.PGSQL.5432"))
        #expect(throws: DatabaseSettings.InvalidURL.self) { try DatabaseSettings(url: "mysql://x@y/z") }
        #expect(throws: DatabaseSettings.InvalidURL.self) { try DatabaseSettings(url: "postgres://x@y/") }
        #expect(throws: DatabaseSettings.InvalidURL.self) { try DatabaseSettings(url: "postgres://x@y/z?sslmode=sometimes") }
    }
}

@Suite("JSON logs")
struct JSONLogTests {
    @Test("each log line is one JSON object with escaped values and the metadata")
    func line() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("smc-log-\(UUID().uuidString)").path
        FileManager.default.createFile(atPath: path, contents: nil)
        let fd = open(path, O_WRONLY)
        defer { close(fd) }
        var logger = Logger(label: "t") { label in JSONLogHandler(label: label, level: .info, output: LogOutput(fd: fd)) }
        logger[metadataKey: "request_id"] = "abc"
        logger.info("hello \"world\"\nnext", metadata: ["n": "\(42)", "list": ["a", "b"]])
        logger.debug("not at this level")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(object["msg"] as? String == "hello \"world\"\nnext")
        #expect(object["level"] as? String == "info")
        #expect(object["request_id"] as? String == "abc")
        #expect(object["list"] as? [String] == ["a", "b"])
        #expect((object["ts"] as? String)?.hasSuffix("Z") == true)
    }
}
