import Foundation
import Logging
import SMCEngine
import Synchronization

/// swift-log handler writing one JSON object per line to standard output, for log shippers:
/// `{"ts":"2026-01-02T03:04:05.678Z","level":"info","logger":"smc","msg":"…", …metadata}`.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let output: LogOutput

    public init(label: String, level: Logger.Level, output: LogOutput = .standardOutput) {
        self.label = label
        self.logLevel = level
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var line = "{\"ts\":"
        JSONText.appendString(Self.timestamp(), to: &line)
        line += ",\"level\":"
        JSONText.appendString(event.level.rawValue, to: &line)
        line += ",\"logger\":"
        JSONText.appendString(label, to: &line)
        line += ",\"msg\":"
        JSONText.appendString(event.message.description, to: &line)
        if event.level >= .warning {
            line += ",\"source\":"
            JSONText.appendString("\(event.file.split(separator: "/").last ?? ""):\(event.line)", to: &line)
        }
        for key in merged.keys.sorted() where !["ts", "level", "logger", "msg"].contains(key) {
            line += ","
            JSONText.appendString(key, to: &line)
            line += ":"
            JSONText.appendValue(merged[key]!, to: &line)
        }
        line += "}\n"
        output.write(line)
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = time_t(now.tv_sec)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(now.tv_nsec / 1_000_000))
    }
}

/// Where log lines go: a whole line per write, under a lock, so concurrent lines never interleave.
public final class LogOutput: Sendable {
    private let fd: Int32
    private let lock = Mutex(())

    public static let standardOutput = LogOutput(fd: 1)
    public static let standardError = LogOutput(fd: 2)

    public init(fd: Int32) { self.fd = fd }

    func write(_ line: String) {
        lock.withLock { _ in
            var line = line
            line.withUTF8 { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
        }
    }
}

enum JSONText {
    static func appendString(_ string: String, to out: inout String) {
        out += JSONString.quoted(string)
    }

    static func appendValue(_ value: Logger.Metadata.Value, to out: inout String) {
        switch value {
        case .string(let s): appendString(s, to: &out)
        case .stringConvertible(let c): appendString(c.description, to: &out)
        case .array(let values):
            out += "["
            for (i, v) in values.enumerated() {
                if i > 0 { out += "," }
                appendValue(v, to: &out)
            }
            out += "]"
        case .dictionary(let dict):
            out += "{"
            for (i, key) in dict.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                appendString(key, to: &out)
                out += ":"
                appendValue(dict[key]!, to: &out)
            }
            out += "}"
        }
    }
}

/// Sets up swift-log once for the process: JSON lines or plain text, at `level`.
public enum LoggingSetup {
    private static let done = Mutex(false)

    public static func bootstrap(format: AppConfiguration.LogFormat, level: Logger.Level) {
        let first = done.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        LoggingSystem.bootstrap { label in handler(label: label, format: format, level: level) }
    }

    /// The handler every logger of the process gets: JSON lines or text, on `output`, with credentials redacted.
    public static func handler(label: String, format: AppConfiguration.LogFormat, level: Logger.Level, output: LogOutput = .standardError)
        -> any LogHandler
    {
        switch format {
        case .json:
            return RedactingLogHandler(JSONLogHandler(label: label, level: level, output: output))
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return RedactingLogHandler(handler)
        }
    }
}

/// Redacts credentials (`Redaction`) from the message and every metadata value before the wrapped handler writes
/// them: the last wall, behind redaction at the places that know they handle a secret.
public struct RedactingLogHandler<Wrapped: LogHandler>: LogHandler {
    private var wrapped: Wrapped

    public init(_ wrapped: Wrapped) { self.wrapped = wrapped }

    public var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue.mapValues(Self.redact) }
    }
    public var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }
    public var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue.map(Self.redact) }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = Logger.Message(stringLiteral: Redaction.redact(event.message.description))
        event.metadata = event.metadata?.mapValues(Self.redact)
        if let provided = wrapped.metadataProvider?.get(), !provided.isEmpty {
            var merged = provided.mapValues(Self.redact)
            if let own = event.metadata { merged.merge(own) { _, new in new } }
            event.metadata = merged
        }
        wrapped.log(event: event)
    }

    static func redact(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let s): return .string(Redaction.redact(s))
        case .stringConvertible(let c): return .string(Redaction.redact(c.description))
        case .array(let values): return .array(values.map(redact))
        case .dictionary(let dict): return .dictionary(dict.mapValues(redact))
        }
    }
}
