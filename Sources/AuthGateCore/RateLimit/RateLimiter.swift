import NIOCore

/// A GCRA rate limiter shared by every event loop: per ``RateLimitKey``, one theoretical
/// arrival time (see ``RateLimit``).
///
/// State is one `UInt64` per key in a ``RateLimitTable``: 16 independently locked shards by
/// default, at most ``Configuration/maxKeys`` keys in all. A flood of distinct keys (spoofed
/// addresses, random user ids) cannot grow memory past that bound: a full shard first forgets
/// idle keys (whose bucket is full again, so forgetting them changes nothing), then evicts by
/// CLOCK. An evicted key forgets its history and starts again from a full bucket, which can only
/// make the limiter more lenient for that key; ``statistics`` counts such evictions so that an
/// undersized `maxKeys` shows up in metrics.
///
/// Time is passed in by the caller as nanoseconds on a monotonic clock
/// (`NIODeadline.now().uptimeNanoseconds`), which keeps the limiter exact under test. The same
/// key may be checked against different limits; the key's namespace should name the limit.
public final class RateLimiter: Sendable {
    /// Size and sharding.
    public struct Configuration: Sendable, Hashable {
        /// The most keys tracked, over all shards.
        public var maxKeys: Int
        /// The number of shards requested; rounded down to a power of two and to at most
        /// `maxKeys`.
        public var shardCount: Int

        /// - Parameters:
        ///   - maxKeys: the most keys tracked.
        ///   - shardCount: how many independently locked shards to use.
        public init(maxKeys: Int = 100_000, shardCount: Int = 16) {
            self.maxKeys = maxKeys
            self.shardCount = shardCount
        }
    }

    /// The configuration the limiter was made with.
    public let configuration: Configuration
    private let table: RateLimitTable<TheoreticalArrivalTime>

    /// A limiter bounded by `configuration`.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.table = RateLimitTable(maxKeys: configuration.maxKeys, shardCount: configuration.shardCount)
    }

    /// Counts a request of `key` against `limit` at `now`, if it conforms.
    ///
    /// A conforming request moves the key's TAT and is ``RateLimitDecision/allowed(limit:remaining:resetSeconds:)``;
    /// a non-conforming one changes nothing and is
    /// ``RateLimitDecision/limited(limit:retryAfterSeconds:resetSeconds:)``. For a key already
    /// tracked this allocates nothing.
    ///
    /// - Parameters:
    ///   - key: the client, hashed.
    ///   - limit: the limit to apply.
    ///   - now: the monotonic time in nanoseconds.
    public func check(_ key: RateLimitKey, limit: RateLimit, now: UInt64) -> RateLimitDecision {
        let interval = limit.emissionIntervalNanos
        let offset = limit.burstOffsetNanos
        return self.table.update(key, now: now) { stored in
            let tat = max(stored?.nanos ?? now, now)
            let newTAT = saturatingAdd(tat, interval)
            // The earliest instant at which this request conforms.
            let allowAt = saturatingSubtract(newTAT, offset)
            if now < allowAt {
                return .limited(
                    limit: limit.burst,
                    retryAfterSeconds: max(1, secondsRoundedUp(allowAt - now)),
                    resetSeconds: secondsRoundedUp(tat - now)
                )
            }
            stored = TheoreticalArrivalTime(nanos: newTAT)
            let used = newTAT - now
            let remaining = (saturatingSubtract(offset, used)) / interval
            return .allowed(
                limit: limit.burst,
                remaining: remaining > UInt64(Int.max) ? Int.max : Int(remaining),
                resetSeconds: secondsRoundedUp(used)
            )
        }
    }

    /// ``check(_:limit:now:)`` at `NIODeadline.now()`.
    public func check(_ key: RateLimitKey, limit: RateLimit) -> RateLimitDecision {
        self.check(key, limit: limit, now: NIODeadline.now().uptimeNanoseconds)
    }

    /// Forgets `key` (an operator lifting a limit).
    ///
    /// - Returns: whether it was tracked.
    @discardableResult
    public func reset(_ key: RateLimitKey) -> Bool {
        self.table.remove(key)
    }

    /// Drops every idle key (full bucket at `now`), one shard at a time; meant for a periodic
    /// timer, so memory follows the active clients rather than the peak.
    ///
    /// - Returns: how many keys were dropped.
    @discardableResult
    public func sweep(now: UInt64) -> Int {
        self.table.sweep(now: now)
    }

    /// The keys tracked now, idle or not yet swept.
    public var count: Int { self.table.count }

    /// Counts for metrics.
    public var statistics: RateLimitStatistics { self.table.statistics }

    /// The stored TAT of `key`, for tests.
    func theoreticalArrivalTime(of key: RateLimitKey) -> UInt64? {
        self.table.peek(key)?.nanos
    }

    /// Each shard's key count, for tests of the bound.
    func shardCounts() -> [Int] {
        self.table.shardCounts()
    }
}

/// A key's theoretical arrival time: when its bucket is full again.
struct TheoreticalArrivalTime: RateLimitShardValue {
    var nanos: UInt64

    var idleAt: UInt64 { self.nanos }
}
