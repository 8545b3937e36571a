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
    /// The symbol's tick: prices above are rounded to it.
    var priceDecimals: Int?
    /// Why: the zone the setup rests on, the timeframes' biases, the members' votes with their reasons.
    var zone: AlertZone?
    var biases: [AlertBias]?
    var votes: [AlertVote]?
    /// `{SMC_PUBLIC_URL}/v1/signals/{id}`.
    var signalUrl: String?
    /// The signed chart link (`GET /v1/charts/{id}.png?exp&sig`, no token needed, 7 days); absent when the user
    /// turned charts off in the alert preferences.
    var chartUrl: String?
    var endpointId: String?
    var url: String?
    var message: String?
    /// Quiet hours or an event set to `silent`: show without a sound.
    var silent: Bool
}

struct AlertZone: Codable, Sendable, Equatable {
    /// `order_block` or `fair_value_gap`.
    var kind: String
    /// `long` (bullish) or `short` (bearish).
    var direction: String
    var top: Double
    var bottom: Double
}

struct AlertBias: Codable, Sendable, Equatable {
    var timeframe: String
    /// −100…100 (0.1).
    var score: Double
    var level: String
}

struct AlertVote: Codable, Sendable, Equatable {
    var member: String
    /// −1…1 (0.01).
    var vote: Double
    var weight: Double
    var abstained: Bool
    var reason: String
}
