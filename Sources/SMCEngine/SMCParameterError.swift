/// A parameter the engine cannot use (unknown time frame, session or time zone), with a stable code.
public struct SMCParameterError: Error, Sendable, Hashable, CustomStringConvertible {
    public let code: String
    public let message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
