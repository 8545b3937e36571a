import Foundation
import Synchronization

/// Telegram's flood limits as two token buckets, shared by the sender and the bot's replies: one message a second per
/// chat (`chatInterval`) and about 30 a second overall. `reserve` books a slot in both and says how long to wait.
final class TelegramLimiter: Sendable {
    private struct State {
        var global: TokenBucket
        var chats: [Int64: TokenBucket] = [:]
    }
    private let state: Mutex<State>
    private let chatRate: Double
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant

    init(chatInterval: Duration, globalPerSecond: Double) {
        chatRate = 1000 / max(chatInterval.milliseconds, 1)
        state = Mutex(State(global: TokenBucket(rate: globalPerSecond)))
        origin = clock.now
    }

    private var now: Double { (clock.now - origin).milliseconds / 1000 }

    /// Whether the chat may send now (without booking).
    func chatReady(_ chat: Int64) -> Bool {
        let now = self.now
        return state.withLock { ($0.chats[chat] ?? TokenBucket(rate: chatRate)).delay(now: now) == 0 }
    }

    /// Seconds until the overall bucket has a token again: how far the booked messages already reach.
    func globalDelay() -> Double {
        let now = self.now
        return state.withLock { $0.global.delay(now: now) }
    }

    /// Books the chat's and the global next slot; the seconds to wait before sending.
    func reserve(_ chat: Int64) -> Double {
        let now = self.now
        let chatRate = self.chatRate
        return state.withLock { state in
            var bucket = state.chats[chat] ?? TokenBucket(rate: chatRate)
            let wait = max(bucket.reserve(now: now), state.global.reserve(now: now))
            state.chats[chat] = bucket
            if state.chats.count > 10_000 { state.chats = state.chats.filter { $0.value.delay(now: now) > 0 } }
            return wait
        }
    }

    /// The chat's message goes out now: its next one waits a full interval from this moment (not from when this one was
    /// booked, which a busy machine may have delayed).
    func markSent(_ chat: Int64) {
        let now = self.now
        let chatRate = self.chatRate
        state.withLock { state in
            var bucket = TokenBucket(rate: chatRate)
            _ = bucket.reserve(now: now)
            state.chats[chat] = bucket
        }
    }

    /// After a 429: the chat waits `duration` more.
    func hold(_ chat: Int64, for duration: Duration) {
        let until = duration.milliseconds / 1000
        let now = self.now
        let chatRate = self.chatRate
        state.withLock { state in
            var bucket = TokenBucket(rate: chatRate)
            _ = bucket.reserve(now: now + until - 1 / chatRate)
            state.chats[chat] = bucket
        }
    }
}
