import Testing

@testable import AuthGateCore

/// The plugin's `validateApiKey` and `rate-limit.ts`, case by case (times in milliseconds).
@Suite("APIKeyUsage: a key's checks and accounting, as Better Auth's plugin does them")
struct APIKeyUsageTests {
    let now: Int64 = 1_800_000_000_000
    let usage = APIKeyUsage()

    func key(_ change: (inout APIKeyRecord) -> Void = { _ in }) -> APIKeyRecord {
        var record = APIKeyRecord(id: "k1", ownerID: "u1", createdAt: 1_700_000_000_000)
        change(&record)
        return record
    }

    func accepted(_ decision: APIKeyUsage.Decision) -> APIKeyUsage.Update? {
        if case .accept(let update) = decision { return update }
        return nil
    }

    @Test("disabled, expired and spent keys are refused, in the plugin's order")
    func refusals() {
        #expect(self.usage.evaluate(self.key { $0.enabled = false }, now: self.now) == .refuse(.apiKeyDisabled))
        #expect(
            self.usage.evaluate(self.key { $0.expiresAt = self.now - 1 }, now: self.now) == .refuse(.apiKeyExpired)
        )
        #expect(self.accepted(self.usage.evaluate(self.key { $0.expiresAt = self.now }, now: self.now)) != nil)
        #expect(
            self.usage.evaluate(
                self.key {
                    $0.enabled = false
                    $0.expiresAt = 0
                },
                now: self.now
            ) == .refuse(.apiKeyDisabled)
        )
        #expect(self.usage.evaluate(self.key { $0.remaining = 0 }, now: self.now) == .refuse(.apiKeyUsageExceeded))
    }

    @Test("a key with no remaining and no window changes nothing but is not counted")
    func unlimited() {
        let record = self.key()
        let update = self.accepted(self.usage.evaluate(record, now: self.now))
        #expect(update == APIKeyUsage.Update(remaining: nil, lastRefillAt: nil, requestCount: 0, lastRequest: nil))
        #expect(!self.usage.counts(record))
    }

    @Test("remaining goes down by one per use and refuses at zero")
    func remaining() {
        let record = self.key { $0.remaining = 2 }
        #expect(self.usage.counts(record))
        #expect(self.accepted(self.usage.evaluate(record, now: self.now))?.remaining == 1)
        #expect(self.accepted(self.usage.evaluate(self.key { $0.remaining = 1 }, now: self.now))?.remaining == 0)
        #expect(self.usage.evaluate(self.key { $0.remaining = -1 }, now: self.now) == .refuse(.apiKeyUsageExceeded))
    }

    @Test("a due refill gives refillAmount - 1 and stamps lastRefillAt; an early one does not")
    func refill() {
        let due = self.key {
            $0.remaining = 0
            $0.refillAmount = 10
            $0.refillInterval = 60_000
            $0.lastRefillAt = self.now - 60_001
        }
        let update = self.accepted(self.usage.evaluate(due, now: self.now))
        #expect(update?.remaining == 9)
        #expect(update?.lastRefillAt == self.now)
        var early = due
        early.lastRefillAt = self.now - 60_000
        #expect(self.usage.evaluate(early, now: self.now) == .refuse(.apiKeyUsageExceeded))
        // Never refilled: counted from createdAt.
        var fresh = due
        fresh.lastRefillAt = nil
        #expect(self.accepted(self.usage.evaluate(fresh, now: self.now))?.remaining == 9)
    }

    @Test("the window starts, counts up, refuses at rateLimitMax and resets after it passes")
    func window() {
        var record = self.key {
            $0.rateLimitTimeWindow = 1_000
            $0.rateLimitMax = 2
        }
        #expect(self.usage.counts(record))
        let first = self.accepted(self.usage.evaluate(record, now: self.now))
        #expect(first?.requestCount == 1)
        #expect(first?.lastRequest == self.now)
        record.requestCount = 1
        record.lastRequest = self.now
        let second = self.accepted(self.usage.evaluate(record, now: self.now + 400))
        #expect(second?.requestCount == 2)
        record.requestCount = 2
        record.lastRequest = self.now + 400
        #expect(
            self.usage.evaluate(record, now: self.now + 900) == .refuse(.apiKeyRateLimited, retryAfterMillis: 500)
        )
        // Exactly at the window's end: still inside, as `delta > window` is the plugin's reset.
        #expect(self.usage.evaluate(record, now: self.now + 1_400) == .refuse(.apiKeyRateLimited, retryAfterMillis: 0))
        let reset = self.accepted(self.usage.evaluate(record, now: self.now + 1_401))
        #expect(reset?.requestCount == 1)
        #expect(reset?.lastRequest == self.now + 1_401)
    }

    @Test("a window switched off (on the key or in the plugin) only stamps lastRequest")
    func windowOff() {
        let onKey = self.key {
            $0.rateLimitEnabled = false
            $0.rateLimitTimeWindow = 1_000
            $0.rateLimitMax = 1
            $0.requestCount = 5
            $0.lastRequest = self.now
        }
        #expect(!self.usage.counts(onKey))
        let update = self.accepted(self.usage.evaluate(onKey, now: self.now + 1))
        #expect(update?.requestCount == 5)
        #expect(update?.lastRequest == self.now + 1)
        var inPlugin = onKey
        inPlugin.rateLimitEnabled = true
        let pluginOff = APIKeyUsage(rateLimitEnabled: false)
        #expect(!pluginOff.counts(inPlugin))
        #expect(self.accepted(pluginOff.evaluate(inPlugin, now: self.now + 1)) != nil)
        #expect(self.usage.evaluate(inPlugin, now: self.now + 1) == .refuse(.apiKeyRateLimited, retryAfterMillis: 999))
    }

    @Test("remaining and the window both apply; a refused use spends nothing")
    func both() {
        let record = self.key {
            $0.remaining = 3
            $0.rateLimitTimeWindow = 1_000
            $0.rateLimitMax = 1
            $0.requestCount = 1
            $0.lastRequest = self.now
        }
        // Refused by the window: the decision carries no update, so remaining stays 3.
        #expect(self.usage.evaluate(record, now: self.now + 10) == .refuse(.apiKeyRateLimited, retryAfterMillis: 990))
        let later = self.accepted(self.usage.evaluate(record, now: self.now + 2_000))
        #expect(
            later == APIKeyUsage.Update(remaining: 2, lastRefillAt: nil, requestCount: 1, lastRequest: self.now + 2_000)
        )
    }
}
