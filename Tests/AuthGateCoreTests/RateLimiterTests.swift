import Testing

@testable import AuthGateCore

private let second: UInt64 = 1_000_000_000
/// A start time well away from zero, like a real uptime clock.
private let start: UInt64 = 1_000 * second

private func key(_ value: String, _ namespace: String = "ip") -> RateLimitKey {
    RateLimitKey(namespace: namespace, value: value)
}

@Suite("RateLimiter")
struct RateLimiterTests {
    // MARK: GCRA

    @Test("the limit's interval and burst offset follow from requests per minute and burst")
    func limitParameters() {
        let limit = RateLimit(requestsPerMinute: 60, burst: 10)
        #expect(limit.emissionIntervalNanos == second)
        #expect(limit.burstOffsetNanos == 10 * second)
        #expect(RateLimit(requestsPerMinute: 7, burst: 1).emissionIntervalNanos == 8_571_428_571)
        #expect(RateLimit(requestsPerMinute: .max, burst: 1).emissionIntervalNanos == 1)
        #expect(RateLimit(requestsPerMinute: 1, burst: .max).burstOffsetNanos == .max)
    }

    @Test("a full bucket lets burst requests through at once, remaining counting down")
    func burst() {
        let limiter = RateLimiter()
        let limit = RateLimit(requestsPerMinute: 60, burst: 10)
        for index in 0..<10 {
            let decision = limiter.check(key("a"), limit: limit, now: start)
            #expect(decision == .allowed(limit: 10, remaining: 9 - index, resetSeconds: index + 1))
        }
        #expect(
            limiter.check(key("a"), limit: limit, now: start)
                == .limited(limit: 10, retryAfterSeconds: 1, resetSeconds: 10)
        )
    }

    @Test("after the burst, one request per emission interval")
    func steadyRate() {
        let limiter = RateLimiter()
        let limit = RateLimit(requestsPerMinute: 60, burst: 10)
        for _ in 0..<10 {
            #expect(limiter.check(key("a"), limit: limit, now: start).isAllowed)
        }
        // Half an interval later: still nothing, retry in (rounded up) 1 s.
        #expect(
            limiter.check(key("a"), limit: limit, now: start + second / 2)
                == .limited(limit: 10, retryAfterSeconds: 1, resetSeconds: 10)
        )
        for tick in 1...20 {
            let now = start + UInt64(tick) * second
            #expect(
                limiter.check(key("a"), limit: limit, now: now) == .allowed(limit: 10, remaining: 0, resetSeconds: 10)
            )
            #expect(!limiter.check(key("a"), limit: limit, now: now).isAllowed)
            #expect(!limiter.check(key("a"), limit: limit, now: now + second - 1).isAllowed)
        }
    }

    @Test("burst 1: exactly requestsPerMinute requests pass in a minute of constant polling")
    func sustainedBurstOne() {
        let limiter = RateLimiter()
        let limit = RateLimit(requestsPerMinute: 60, burst: 1)
        var allowed = 0
        for step in 0..<600 {
            if limiter.check(key("a"), limit: limit, now: start + UInt64(step) * (second / 10)).isAllowed {
                allowed += 1
            }
        }
        #expect(allowed == 60)
    }

    @Test("burst 10: the burst, then requestsPerMinute per minute")
    func sustainedBurstTen() {
        let limiter = RateLimiter()
        let limit = RateLimit(requestsPerMinute: 60, burst: 10)
        var allowed = 0
        for step in 0..<600 {
            if limiter.check(key("a"), limit: limit, now: start + UInt64(step) * (second / 10)).isAllowed {
                allowed += 1
            }
        }
        // 10 in the first second (0.0 … 0.9 s), then one at each whole second 1 … 59.
        #expect(allowed == 69)
    }

    @Test("retry-after and reset are rounded up to whole seconds")
    func rounding() {
        let limiter = RateLimiter()
        let limit = RateLimit(requestsPerMinute: 7, burst: 1)  // T = 8.571… s
        #expect(limiter.check(key("a"), limit: limit, now: start) == .allowed(limit: 1, remaining: 0, resetSeconds: 9))
        #expect(
            limiter.check(key("a"), limit: limit, now: start)
                == .limited(limit: 1, retryAfterSeconds: 9, resetSeconds: 9)
        )
        #expect(
            limiter.check(key("a"), limit: limit, now: start + 8 * second)
                == .limited(limit: 1, retryAfterSeconds: 1, resetSeconds: 1)
        )
        // 1 ns before the instant, retry-after is still at least 1.
        #expect(
            limiter.check(key("a"), limit: limit, now: start + 8_571_428_570)
                == .limited(limit: 1, retryAfterSeconds: 1, resetSeconds: 1)
        )
        #expect(limiter.check(key("a"), limit: limit, now: start + 8_571_428_571).isAllowed)
    }

    @Test("a refused request does not push the next allowed one further away")
    func limitedDoesNotConsume() {
        let limiter = RateLimiter()
        let limit = RateLimit(requestsPerMinute: 60, burst: 1)
        #expect(limiter.check(key("a"), limit: limit, now: start).isAllowed)
        let tat = limiter.theoreticalArrivalTime(of: key("a"))
        for _ in 0..<100 {
            #expect(!limiter.check(key("a"), limit: limit, now: start + 1).isAllowed)
        }
        #expect(limiter.theoreticalArrivalTime(of: key("a")) == tat)
        #expect(limiter.check(key("a"), limit: limit, now: start + second).isAllowed)
    }

    @Test("an idle key has a full bucket again after burst × interval")
    func refill() {
        let limiter = RateLimiter()
        let limit = RateLimit(requestsPerMinute: 60, burst: 5)
        for _ in 0..<5 {
            #expect(limiter.check(key("a"), limit: limit, now: start).isAllowed)
        }
        #expect(!limiter.check(key("a"), limit: limit, now: start).isAllowed)
        // Partly refilled after 3 s: 3 pass.
        #expect(limiter.check(key("a"), limit: limit, now: start + 3 * second).remaining == 2)
        #expect(limiter.check(key("a"), limit: limit, now: start + 3 * second).remaining == 1)
        #expect(limiter.check(key("a"), limit: limit, now: start + 3 * second).remaining == 0)
        #expect(!limiter.check(key("a"), limit: limit, now: start + 3 * second).isAllowed)
        // Full again 5 s after the bucket was last empty.
        let later = start + 8 * second
        #expect(limiter.check(key("a"), limit: limit, now: later) == .allowed(limit: 5, remaining: 4, resetSeconds: 1))
    }

    @Test("keys and namespaces are independent")
    func independentKeys() {
        let limiter = RateLimiter()
        let limit = RateLimit(requestsPerMinute: 60, burst: 2)
        for _ in 0..<2 {
            #expect(limiter.check(key("a"), limit: limit, now: start).isAllowed)
        }
        #expect(!limiter.check(key("a"), limit: limit, now: start).isAllowed)
        #expect(limiter.check(key("b"), limit: limit, now: start).remaining == 1)
        #expect(limiter.check(key("a", "user"), limit: limit, now: start).remaining == 1)
        #expect(limiter.count == 3)
    }

    @Test("keys hash namespace and value apart, and print no raw value")
    func keyHashing() {
        #expect(RateLimitKey(namespace: "ab", value: "c") != RateLimitKey(namespace: "a", value: "bc"))
        #expect(RateLimitKey(namespace: "ip", value: "10.0.0.1") == RateLimitKey(namespace: "ip", value: "10.0.0.1"))
        #expect(
            RateLimitKey(namespace: "ip", value: "10.0.0.1"[...]) == RateLimitKey(namespace: "ip", value: "10.0.0.1")
        )
        let bytes: [UInt8] = [10, 0, 0, 1]
        let binary = bytes.withUnsafeBytes { RateLimitKey(namespace: "ip", bytes: $0) }
        #expect(binary != RateLimitKey(namespace: "ip", value: "10.0.0.1"))
        #expect(!String(describing: RateLimitKey(namespace: "ip", value: "10.0.0.1")).contains("10.0"))
    }

    @Test("reset forgets a key")
    func resetKey() {
        let limiter = RateLimiter()
        let limit = RateLimit(requestsPerMinute: 60, burst: 1)
        #expect(limiter.check(key("a"), limit: limit, now: start).isAllowed)
        #expect(!limiter.check(key("a"), limit: limit, now: start).isAllowed)
        #expect(limiter.reset(key("a")))
        #expect(!limiter.reset(key("a")))
        #expect(limiter.check(key("a"), limit: limit, now: start).isAllowed)
    }

    // MARK: Memory bound

    @Test("a million distinct keys never hold more than maxKeys")
    func boundedUnderFlood() {
        let limiter = RateLimiter(configuration: .init(maxKeys: 10_000, shardCount: 16))
        let limit = RateLimit(requestsPerMinute: 60, burst: 10)
        var allowed = 0
        var largest = 0
        for index in 0..<1_000_000 {
            // Time creeps forward, so the oldest keys go idle during the flood.
            let now = start + UInt64(index) * 2_000
            if limiter.check(key(String(index)), limit: limit, now: now).isAllowed {
                allowed += 1
            }
            if index % 10_000 == 0 {
                largest = max(largest, limiter.count)
            }
        }
        #expect(allowed == 1_000_000)
        #expect(largest <= 10_000)
        #expect(limiter.count <= 10_000)
        #expect(limiter.count >= 9_000)
        #expect(limiter.shardCounts().allSatisfy { $0 <= 625 })
        let statistics = limiter.statistics
        #expect(statistics.capacity == 10_000)
        #expect(statistics.insertions == 1_000_000)
        #expect(statistics.evictions > 0)
        #expect(statistics.insertions - statistics.evictions - statistics.expirations == statistics.keys)
    }

    @Test("a full shard forgets idle keys before live ones")
    func idleFirst() {
        let limiter = RateLimiter(configuration: .init(maxKeys: 4, shardCount: 1))
        let limit = RateLimit(requestsPerMinute: 60, burst: 10)
        for name in ["a", "b", "c"] {
            #expect(limiter.check(key(name), limit: limit, now: start).isAllowed)
        }
        // "busy" runs 10 s ahead: live long after the others are idle.
        for _ in 0..<10 {
            #expect(limiter.check(key("busy"), limit: limit, now: start).isAllowed)
        }
        #expect(limiter.count == 4)
        let later = start + 2 * second
        #expect(limiter.check(key("new"), limit: limit, now: later).isAllowed)
        #expect(limiter.count == 2)
        #expect(limiter.theoreticalArrivalTime(of: key("busy")) == start + 10 * second)
        // Its history is intact: 2 s of refill, not a fresh bucket of 10.
        #expect(limiter.check(key("busy"), limit: limit, now: later).remaining == 1)
        #expect(limiter.statistics.evictions == 0)
        #expect(limiter.statistics.expirations == 3)
    }

    @Test("when every key is live, a new key evicts one and the bound holds")
    func evictionWhenAllLive() {
        let limiter = RateLimiter(configuration: .init(maxKeys: 8, shardCount: 1))
        let limit = RateLimit(requestsPerMinute: 1, burst: 1)
        for index in 0..<100 {
            #expect(limiter.check(key(String(index)), limit: limit, now: start).isAllowed)
            #expect(limiter.count <= 8)
        }
        #expect(limiter.count == 8)
        #expect(limiter.statistics.evictions == 92)
    }

    @Test("shards round down to a power of two and split maxKeys exactly")
    func sharding() {
        let limiter = RateLimiter(configuration: .init(maxKeys: 10, shardCount: 12))
        #expect(limiter.shardCounts().count == 8)
        #expect(limiter.statistics.capacity == 10)
        #expect(RateLimiter(configuration: .init(maxKeys: 3, shardCount: 16)).shardCounts().count == 2)
    }

    // MARK: Sweep

    @Test("sweep drops idle keys only")
    func sweep() {
        let limiter = RateLimiter()
        let limit = RateLimit(requestsPerMinute: 60, burst: 1)
        #expect(limiter.check(key("early"), limit: limit, now: start).isAllowed)
        #expect(limiter.check(key("late"), limit: limit, now: start + 5 * second).isAllowed)
        #expect(limiter.sweep(now: start + second - 1) == 0)
        #expect(limiter.count == 2)
        #expect(limiter.sweep(now: start + second) == 1)
        #expect(limiter.count == 1)
        #expect(limiter.theoreticalArrivalTime(of: key("late")) == start + 6 * second)
        #expect(limiter.theoreticalArrivalTime(of: key("early")) == nil)
        #expect(limiter.sweep(now: start + 6 * second) == 1)
        #expect(limiter.count == 0)
    }

    // MARK: Concurrency

    @Test("concurrent checks of one key never let more than the burst through")
    func concurrentOneKey() async {
        let limiter = RateLimiter()
        let limit = RateLimit(requestsPerMinute: 1, burst: 1_000)
        let allowed = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var allowed = 0
                    for _ in 0..<500 where limiter.check(key("shared"), limit: limit, now: start).isAllowed {
                        allowed += 1
                    }
                    return allowed
                }
            }
            return await group.reduce(0, +)
        }
        #expect(allowed == 1_000)
    }

    @Test("concurrent checks over many keys keep counts exact and the bound")
    func concurrentManyKeys() async {
        let limiter = RateLimiter(configuration: .init(maxKeys: 1_000))
        let limit = RateLimit(requestsPerMinute: 60, burst: 100_000)
        let allowed = await withTaskGroup(of: Int.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var allowed = 0
                    for index in 0..<20_000 {
                        let name = String((index * 7 + task) % 500)
                        if limiter.check(key(name), limit: limit, now: start).isAllowed {
                            allowed += 1
                        }
                    }
                    return allowed
                }
            }
            return await group.reduce(0, +)
        }
        #expect(allowed == 160_000)
        #expect(limiter.count == 500)
    }
}
