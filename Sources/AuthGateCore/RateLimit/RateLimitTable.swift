import NIOConcurrencyHelpers

/// A bounded key → value table shared by every event loop: a power-of-two number of
/// ``RateLimitShard``s, each behind its own lock, the shard of a key taken from the key's hash.
///
/// The storage of ``RateLimiter`` and ``FailedAuthTracker``. A check takes one shard lock for a
/// dictionary probe and a few integer operations, so event loops contend only when they hit the
/// same shard at the same instant. The total number of keys never exceeds the configured
/// `maxKeys`: it is split exactly over the shards, and each shard is bounded on its own.
final class RateLimitTable<Value: RateLimitShardValue>: Sendable {
    private let shards: [NIOLockedValueBox<RateLimitShard<Value>>]
    private let shardMask: Int

    /// A table of at most `maxKeys` keys over `shardCount` shards, rounded down to a power of
    /// two and to at most `maxKeys` so every shard holds at least one key.
    init(maxKeys: Int, shardCount: Int) {
        precondition(maxKeys > 0, "maxKeys must be positive")
        var count = 1
        let limit = min(max(shardCount, 1), maxKeys)
        while count * 2 <= limit {
            count *= 2
        }
        self.capacity = maxKeys
        self.shardMask = count - 1
        self.shards = (0..<count).map { index in
            NIOLockedValueBox(RateLimitShard(capacity: maxKeys / count + (index < maxKeys % count ? 1 : 0)))
        }
    }

    /// The number of shards in use.
    var shardCount: Int { self.shards.count }

    /// The most keys held, over all shards.
    let capacity: Int

    /// Runs `body` on `key`'s value under its shard's lock; see ``RateLimitShard/update(_:now:_:)``.
    @inline(__always)
    func update<Result>(_ key: RateLimitKey, now: UInt64, _ body: (inout Value?) -> Result) -> Result {
        self.shards[key.shardIndex(mask: self.shardMask)].withLockedValue { $0.update(key, now: now, body) }
    }

    /// The value held for `key`, idle or not, without touching it.
    func peek(_ key: RateLimitKey) -> Value? {
        self.shards[key.shardIndex(mask: self.shardMask)].withLockedValue { $0.peek(key) }
    }

    /// Drops `key`. - Returns: whether it was held.
    @discardableResult
    func remove(_ key: RateLimitKey) -> Bool {
        self.shards[key.shardIndex(mask: self.shardMask)].withLockedValue { $0.remove(key) }
    }

    /// Drops every idle entry, one shard lock at a time. - Returns: how many were dropped.
    @discardableResult
    func sweep(now: UInt64) -> Int {
        var removed = 0
        for shard in self.shards {
            removed += shard.withLockedValue { $0.removeIdle(now: now) }
        }
        return removed
    }

    /// The keys held now, idle or not; each shard read under its own lock.
    var count: Int {
        var total = 0
        for shard in self.shards {
            total += shard.withLockedValue { $0.count }
        }
        return total
    }

    /// The counters summed over all shards.
    var counters: RateLimitShard<Value>.Counters {
        var total = RateLimitShard<Value>.Counters()
        for shard in self.shards {
            let counters = shard.withLockedValue { $0.counters }
            total.insertions += counters.insertions
            total.evictions += counters.evictions
            total.expirations += counters.expirations
        }
        return total
    }

    /// Each shard's key count, in shard order; for tests of the bound.
    func shardCounts() -> [Int] {
        self.shards.map { $0.withLockedValue { $0.count } }
    }
}
