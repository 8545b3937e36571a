import Foundation
import SMCAPI
import SMCEngine

/// The JSON every channel is built from, and exactly the body a webhook receives: `{type, timestamp, data}`
/// (documented in api-spec/webhooks.md). Fixed when the event is fanned out, so every attempt sends the same bytes.
struct AlertEvent: Codable, Sendable, Equatable {
    var type: String
    /// When the event happened (RFC 3339, UTC).
    var timestamp: String
    var data: AlertData

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    /// Bodies stay under 20 KB (the free text is cut first).
    static let maxBytes = 20_000

    func encoded() throws -> String {
        var event = self
        var text = String(decoding: try Self.encoder.encode(event), as: UTF8.self)
        if text.utf8.count >= Self.maxBytes {
            event.data.message = event.data.message.map { String($0.prefix(500)) }
            event.data.targets = event.data.targets.map { Array($0.prefix(10)) }
            text = String(decoding: try Self.encoder.encode(event), as: UTF8.self)
        }
        return text
    }

    static func decode(_ text: String) throws -> AlertEvent { try decoder.decode(AlertEvent.self, from: Data(text.utf8)) }
}

/// The `data` of an event; members present by type (see api-spec/webhooks.md).
struct AlertData: Codable, Sendable, Equatable {
    var signalId: String?
    var symbol: String?
    var timeframe: String?
    var direction: String?
    var setupType: String?
    var confidence: Double?
    var level: String?
    var candleTime: String?
    var closeTime: String?
    var entry: Double?
    var stop: Double?
    var targets: [Double]?
    var rewardRisk: Double?
    var regime: String?
    var killzone: String?
    var outcome: String?
    var outcomeTime: String?
    var outcomeR: Double?
    var exitPrice: Double?
    var endpointId: String?
    var url: String?
    var message: String?
    /// Quiet hours or an event set to `silent`: show without a sound.
    var silent: Bool
}
