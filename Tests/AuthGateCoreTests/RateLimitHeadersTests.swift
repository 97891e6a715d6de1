import Testing

@testable import AuthGateCore

private func pairs(_ headers: [(String, String)]) -> [String] {
    headers.map { "\($0.0): \($0.1)" }
}

@Suite("RateLimitHeaders")
struct RateLimitHeadersTests {
    @Test("an allowed request gets the limit, the remaining quota and the reset")
    func allowed() {
        let headers = RateLimitHeaders.headers(for: .allowed(limit: 10, remaining: 7, resetSeconds: 3))
        #expect(pairs(headers) == ["RateLimit-Limit: 10", "RateLimit-Remaining: 7", "RateLimit-Reset: 3"])
        #expect(RateLimitHeaders.error(for: .allowed(limit: 10, remaining: 7, resetSeconds: 3)) == nil)
    }

    @Test("a refused request gets remaining 0 and Retry-After")
    func limited() {
        let headers = RateLimitHeaders.headers(for: .limited(limit: 10, retryAfterSeconds: 2, resetSeconds: 10))
        #expect(
            pairs(headers) == [
                "RateLimit-Limit: 10", "RateLimit-Remaining: 0", "RateLimit-Reset: 10", "Retry-After: 2",
            ]
        )
    }

    @Test("a refused request maps to 429 rate_limited with every header")
    func limitedError() throws {
        let decision = RateLimitDecision.limited(limit: 5, retryAfterSeconds: 12, resetSeconds: 60)
        let error = try #require(RateLimitHeaders.error(for: decision))
        #expect(error.status == .tooManyRequests)
        #expect(error.code.rawValue == "rate_limited")
        #expect(pairs(error.headers) == pairs(RateLimitHeaders.headers(for: decision)))
        #expect(error.message == "Too many requests; try again in 12 seconds.")
    }

    @Test("a lockout maps to 429 locked_out with Retry-After only")
    func lockoutError() throws {
        #expect(RateLimitHeaders.error(for: LockoutState.open) == nil)
        let error = try #require(RateLimitHeaders.error(for: LockoutState.locked(retryAfterSeconds: 1)))
        #expect(error.status == .tooManyRequests)
        #expect(error.code.rawValue == "locked_out")
        #expect(pairs(error.headers) == ["Retry-After: 1"])
        #expect(error.message == "Too many failed sign-in attempts; try again in 1 second.")
    }

    @Test("headers of a real limiter decision agree with it")
    func fromLimiter() {
        let limiter = RateLimiter()
        let key = RateLimitKey(namespace: "ip", value: "192.0.2.1")
        let limit = RateLimit(requestsPerMinute: 30, burst: 2)
        let now: UInt64 = 5_000_000_000
        #expect(
            pairs(RateLimitHeaders.headers(for: limiter.check(key, limit: limit, now: now)))
                == ["RateLimit-Limit: 2", "RateLimit-Remaining: 1", "RateLimit-Reset: 2"]
        )
        _ = limiter.check(key, limit: limit, now: now)
        #expect(
            pairs(RateLimitHeaders.headers(for: limiter.check(key, limit: limit, now: now)))
                == ["RateLimit-Limit: 2", "RateLimit-Remaining: 0", "RateLimit-Reset: 4", "Retry-After: 2"]
        )
    }
}
