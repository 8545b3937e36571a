import Foundation
import SMCAPI
import SMCEngine

/// Whether an event reaches a user, by their alert preferences: the event type on / silent / off, the minimum
/// confidence (of the signal the event is about), the daily cap of the plan, quiet hours (silent) in their zone.
enum AlertRules {
    enum Verdict: Sendable, Equatable {
        case deliver(silent: Bool)
        case suppress(reason: String)
    }

    static func decide(
        eventType: String, confidence: Double?, preferences: AlertPreferences, now: Date, sentToday: Int, dailyCap: Int
    ) -> Verdict {
        let mode = preferences.events.additionalProperties[eventType] ?? .on
        if mode == .off { return .suppress(reason: "event_off") }
        if let confidence, confidence < preferences.minConfidence { return .suppress(reason: "below_min_confidence") }
        if eventType != "alert.test" && sentToday >= dailyCap { return .suppress(reason: "daily_cap") }
        return .deliver(silent: mode == .silent || inQuietHours(preferences.quietHours, now))
    }

    static func inQuietHours(_ quiet: Components.Schemas.QuietHours, _ now: Date) -> Bool {
        guard quiet.enabled, let start = parseClock(quiet.start), let end = parseClock(quiet.end), start != end,
              let zone = TimeZone(identifier: quiet.timeZone)
        else { return false }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.hour, .minute], from: now)
        let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        return start < end ? (minute >= start && minute < end) : (minute >= start || minute < end)
    }
}
