import Foundation
import SMCAPI
import Testing

@testable import SMCServer

/// The alert rules as values, without I/O: retry schedule, endpoint health, token buckets, the SSRF address rules,
/// signatures, preferences, Telegram text.
@Suite("Alerts: rules without I/O")
struct AlertRulesTests {
    static let standard = RetryPolicy(schedule: [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000].map { .seconds($0) })

    @Test("retries follow immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h with ±20% jitter, then dead")
    func schedule() {
        let expected: [Double] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000]
        for (i, base) in expected.enumerated() {
            for random in [0.0, 0.5, 1.0] {
                guard case .retry(let after) = Self.standard.next(afterAttempt: i + 1, .answered(status: 500, retryAfter: nil), random: random)
                else { Issue.record("attempt \(i + 1) should retry"); continue }
                let seconds = after.milliseconds / 1000
                #expect(abs(seconds - base * (0.8 + 0.4 * random)) < 1e-6, "attempt \(i + 1): \(seconds)")
            }
        }
        #expect(Self.standard.next(afterAttempt: 8, .answered(status: 500, retryAfter: nil), random: 0.5) == .dead)
        #expect(Self.standard.next(afterAttempt: 8, .transportFailed("timeout"), random: 0.5) == .dead)
    }

    @Test("2xx delivers, 410 disables, 3xx fails, 429/502/504 wait at least Retry-After (capped at a day), others ignore it")
    func statuses() {
        let p = Self.standard
        #expect(p.next(afterAttempt: 1, .answered(status: 204, retryAfter: nil), random: 0.5) == .delivered)
        #expect(p.next(afterAttempt: 8, .answered(status: 200, retryAfter: nil), random: 0.5) == .delivered)
        #expect(p.next(afterAttempt: 1, .answered(status: 410, retryAfter: nil), random: 0.5) == .disableEndpoint)
        #expect(p.next(afterAttempt: 1, .answered(status: 301, retryAfter: nil), random: 0.5) == .retry(after: .seconds(5)))
        for status in [429, 502, 504] {
            #expect(p.next(afterAttempt: 1, .answered(status: status, retryAfter: .seconds(120)), random: 0.5) == .retry(after: .seconds(120)))
            #expect(p.next(afterAttempt: 3, .answered(status: status, retryAfter: .seconds(1)), random: 0.5) == .retry(after: .seconds(1800)))
            #expect(p.next(afterAttempt: 1, .answered(status: status, retryAfter: .seconds(999_999)), random: 0.5) == .retry(after: .seconds(86_400)))
        }
        #expect(p.next(afterAttempt: 1, .answered(status: 503, retryAfter: .seconds(120)), random: 0.5) == .retry(after: .seconds(5)))
        #expect(p.next(afterAttempt: 1, .refused("loopback"), random: 0.5) == .retry(after: .seconds(5)))
    }

    @Test("an endpoint failing for the whole window is disabled; a success in between resets it")
    func health() {
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        let window: Duration = .seconds(5 * 86_400)
        var h = EndpointHealth()
        #expect(h.record(success: false, at: t0, disableAfter: window) == .failing)
        #expect(h.failingSince == t0)
        #expect(h.record(success: false, at: t0 + 4 * 86_400, disableAfter: window) == .failing)
        #expect(h.record(success: true, at: t0 + 4.5 * 86_400, disableAfter: window) == .healthy)
        #expect(h.failingSince == nil)
        #expect(h.record(success: false, at: t0 + 5 * 86_400, disableAfter: window) == .failing)
        #expect(h.record(success: false, at: t0 + 10 * 86_400 - 1, disableAfter: window) == .failing)
        #expect(h.record(success: false, at: t0 + 10 * 86_400, disableAfter: window) == .disable)
    }

    @Test("token buckets: callers queue up at the rate, a pause refills up to the burst")
    func buckets() {
        var b = TokenBucket(rate: 2, burst: 1)
        #expect(b.reserve(now: 0) == 0)
        #expect(abs(b.reserve(now: 0) - 0.5) < 1e-9)
        #expect(abs(b.reserve(now: 0) - 1.0) < 1e-9)
        #expect(abs(b.delay(now: 1.0) - 0.5) < 1e-9)
        #expect(b.delay(now: 1.5) == 0)
        var burst = TokenBucket(rate: 30, burst: 30)
        for _ in 0..<30 { #expect(burst.reserve(now: 10) == 0) }
        #expect(burst.reserve(now: 10) > 0)
        #expect(burst.delay(now: 20) == 0)
    }

    @Test("SSRF: loopback, private, link-local, metadata, multicast, unspecified refused, IPv4 and IPv6, mapped forms too")
    func addresses() {
        let refused = ["127.0.0.1", "127.1.2.3", "10.0.0.1", "169.254.169.254", "169.254.1.1", "172.16.5.4", "172.31.255.255",
                       "192.168.1.1", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "::ffff:127.0.0.1",
                       "::ffff:10.0.0.1", "::ffff:169.254.169.254", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1",
                       "64:ff9b::a00:1", "2002:7f00:1::", "[::1]"]
        for text in refused {
            let ip = IPAddress(text)
            #expect(ip != nil && ip?.forbiddenReason != nil, "\(text) should be refused")
        }
        for text in ["8.8.8.8", "1.1.1.1", "93.184.216.34", "172.32.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            #expect(IPAddress(text)?.forbiddenReason == nil, "\(text) should be allowed")
        }
        #expect(IPAddress("example.com") == nil)
        #expect(IPAddress("::ffff:127.0.0.1")?.description == "::ffff:127.0.0.1")
    }

    @Test("URLs: https only without the operator setting, no credentials; names resolving inside are refused")
    func urls() async throws {
        let strict = TargetGuard(allowPrivate: false), open = TargetGuard(allowPrivate: true)
        #expect(throws: TargetGuard.Refusal.self) { try strict.parse("http://example.com/hook") }
        #expect(throws: TargetGuard.Refusal.self) { try strict.parse("https://user:pw@example.com/hook") }
        #expect(throws: TargetGuard.Refusal.self) { try strict.parse("ftp://example.com/") }
        #expect(throws: TargetGuard.Refusal.self) { try strict.parse("not a url") }
        #expect(try open.parse("http://127.0.0.1:9/x").port == 9)
        #expect(try strict.parse("https://[::1]/x").host == "::1")
        for url in ["https://127.0.0.1/x", "https://10.0.0.1/x", "https://169.254.169.254/latest/meta-data", "https://localhost:8443/x",
                    "https://[::ffff:127.0.0.1]/x"] {
            await #expect(throws: TargetGuard.Refusal.self, "\(url)") { _ = try await strict.vet(try strict.parse(url)) }
        }
        #expect(try await open.vet(try open.parse("http://localhost:1/x")).forbiddenReason == "loopback")
    }

    @Test("Standard Webhooks signature matches the specification's test vector; two secrets sign during rotation")
    func signature() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        let signed = StandardWebhooks.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330,
                                                body: #"{"test": 2432232314}"#, secret: secret)
        #expect(signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        let other = StandardWebhooks.generateSecret()
        #expect(other.hasPrefix("whsec_") && StandardWebhooks.key(other) != nil && other != StandardWebhooks.generateSecret())
        let headers = Dictionary(uniqueKeysWithValues: StandardWebhooks.headers(id: "msg_1", timestamp: 5, body: "{}", secrets: [other, secret]))
        let parts = headers["webhook-signature"]?.split(separator: " ") ?? []
        #expect(parts.count == 2 && parts[1] == StandardWebhooks.signature(id: "msg_1", timestamp: 5, body: "{}", secret: secret)!)
        #expect(headers["webhook-timestamp"] == "5" && headers["webhook-id"] == "msg_1")
        #expect(StandardWebhooks.key("whsec_") == nil && StandardWebhooks.key("secret") == nil)
    }

    static func prefs(_ mode: [String: Components.Schemas.AlertPreferences.EventsPayload.AdditionalPropertiesPayload] = [:],
                            min: Double = 55, quiet: Components.Schemas.QuietHours? = nil) -> AlertPreferences
    {
        var p = AlertPreferences.defaults
        for (k, v) in mode { p.events.additionalProperties[k] = v }
        p.minConfidence = min
        if let quiet { p.quietHours = quiet }
        return p
    }

    @Test("preferences: off and weak signals suppressed with a reason, the daily cap, quiet hours silent in the user's zone")
    func preferences() {
        // 2025-01-15 03:30 UTC = 22:30 the day before in New York (EST).
        let now = Date(timeIntervalSince1970: 1_736_911_800)
        func decide(_ type: String = "signal.created", _ confidence: Double? = 80, _ p: AlertPreferences = Self.prefs(), sent: Int = 0)
            -> AlertRules.Verdict
        {
            AlertRules.decide(eventType: type, confidence: confidence, preferences: p, now: now, sentToday: sent, dailyCap: 10)
        }
        #expect(decide() == .deliver(silent: false))
        #expect(decide(_: "signal.outcome", 80, Self.prefs(["signal.outcome": .off])) == .suppress(reason: "event_off"))
        #expect(decide(_: "signal.created", 80, Self.prefs(["signal.created": .silent])) == .deliver(silent: true))
        #expect(decide(_: "signal.created", 54.9) == .suppress(reason: "below_min_confidence"))
        #expect(decide(sent: 10) == .suppress(reason: "daily_cap"))
        #expect(decide(_: "alert.test", nil, sent: 10) == .deliver(silent: false))
        let ny = Components.Schemas.QuietHours(enabled: true, start: "22:00", end: "07:00", timeZone: "America/New_York")
        #expect(decide(_: "signal.created", 80, Self.prefs(quiet: ny)) == .deliver(silent: true))
        let london = Components.Schemas.QuietHours(enabled: true, start: "22:00", end: "07:00", timeZone: "Europe/London")
        #expect(decide(_: "signal.created", 80, Self.prefs(quiet: london)) == .deliver(silent: true))
        let tokyo = Components.Schemas.QuietHours(enabled: true, start: "22:00", end: "07:00", timeZone: "Asia/Tokyo")  // 12:30 there
        #expect(decide(_: "signal.created", 80, Self.prefs(quiet: tokyo)) == .deliver(silent: false))
        var off = ny
        off.enabled = false
        #expect(decide(_: "signal.created", 80, Self.prefs(quiet: off)) == .deliver(silent: false))
    }

    @Test("Telegram text: every dynamic value escaped, at most 4,000 characters")
    func telegramText() throws {
        var data = AlertData(silent: false)
        data.symbol = "<b>EUR&USD</b>"
        data.timeframe = "15m"
        data.direction = "long"
        data.setupType = "order_block"
        data.level = "HIGH"
        data.confidence = 81.4
        data.entry = 1.08512
        data.stop = 1.08301
        data.targets = [1.0899]
        data.killzone = "London <open>"
        let html = TelegramText.render(AlertEvent(type: "signal.created", timestamp: "2025-01-01T00:00:00Z", data: data))
        #expect(html.contains("&lt;b&gt;EUR&amp;USD&lt;/b&gt;") && html.contains("London &lt;open&gt;"))
        #expect(!html.contains("<b>EUR"))
        #expect(html.contains("<code>1.08512</code>"))
        data.message = String(repeating: "<&>", count: 5000)
        let long = TelegramText.render(AlertEvent(type: "alert.test", timestamp: "2025-01-01T00:00:00Z", data: data))
        #expect(long.count <= 4000 && !long.contains("<&>"))
        data.message = String(repeating: "📈", count: 3000)  // 1 character, 2 UTF-16 units each
        let emoji = TelegramText.render(AlertEvent(type: "alert.test", timestamp: "2025-01-01T00:00:00Z", data: data))
        #expect(emoji.utf16.count <= 4000)
    }
}
