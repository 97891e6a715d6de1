/// A value kept per key by a ``RateLimitShard``: it knows the instant after which forgetting it
/// changes no answer.
protocol RateLimitShardValue: Sendable {
    /// From this instant on (nanoseconds, the caller's clock) the entry is idle: its bucket is
    /// full again, its failure window has passed. An idle entry answers exactly like no entry.
    var idleAt: UInt64 { get }
}

/// One lock's worth of a rate-limit table: key → value, with a fixed capacity.
///
/// Not thread-safe; ``RateLimiter`` and ``FailedAuthTracker`` keep each shard behind its own
/// lock. Slots live in an array with a key → slot index, as in ``IdentityCacheShard``.
///
/// When a new key arrives and the shard is full:
/// 1. idle entries (``RateLimitShardValue/idleAt`` ≤ now) are dropped first, all at once. That
///    scan costs O(capacity), so it runs only when some entry may be idle (a lower bound of the
///    earliest ``RateLimitShardValue/idleAt`` is kept) and at most once per `capacity / 8` new
///    keys, which keeps the cost of a new key O(1) amortised whatever the arrival pattern;
/// 2. if still full, a CLOCK hand picks a victim: an idle slot at once, else the first slot not
///    touched since the hand last passed (touched slots get a second chance).
///
/// So the shard never holds more than its capacity, however many distinct keys arrive. The cost
/// of an eviction is that the victim's history is forgotten: its next request finds a full
/// bucket or an empty failure count. That can only make the limits more lenient for that key,
/// never refuse a request that would have passed.
struct RateLimitShard<Value: RateLimitShardValue>: Sendable {
    /// A slot of the table.
    private struct Slot: Sendable {
        var key: RateLimitKey
        var value: Value
        /// Set when the key is checked, cleared by the CLOCK hand.
        var referenced: Bool
    }

    /// What happened so far, for metrics.
    struct Counters: Sendable, Hashable {
        /// New keys stored.
        var insertions = 0
        /// Live (not idle) entries pushed out because the shard was full.
        var evictions = 0
        /// Idle entries dropped (by a full shard, by the CLOCK hand or by a sweep).
        var expirations = 0
    }

    let capacity: Int
    private var slots: [Slot]
    private var index: [RateLimitKey: Int]
    /// The next slot the CLOCK hand looks at.
    private var hand = 0
    /// No entry becomes idle before this; lowered on every store, made exact by a purge.
    private var earliestIdleAt = UInt64.max
    /// New keys since the last purge of idle entries, to amortise the purge.
    private var insertionsSincePurge = 0
    private(set) var counters = Counters()

    /// A shard holding at most `capacity` keys; `capacity` must be positive.
    init(capacity: Int) {
        precondition(capacity > 0, "capacity must be positive")
        self.capacity = capacity
        self.slots = []
        self.slots.reserveCapacity(capacity)
        self.index = [:]
        self.index.reserveCapacity(capacity)
    }

    /// The keys held now, idle or not.
    var count: Int { self.slots.count }

    /// The value held for `key`, without touching it; idle values included.
    func peek(_ key: RateLimitKey) -> Value? {
        self.index[key].map { self.slots[$0].value }
    }

    /// Runs `body` with the value held for `key` (`nil` if none) and stores what it leaves:
    /// a value is kept (and the key marked as recently used), `nil` removes the key.
    ///
    /// For a key already held this is one dictionary probe and an in-place write.
    mutating func update<Result>(_ key: RateLimitKey, now: UInt64, _ body: (inout Value?) -> Result) -> Result {
        if let slot = self.index[key] {
            var value: Value? = self.slots[slot].value
            let result = body(&value)
            if let value {
                self.slots[slot].value = value
                self.slots[slot].referenced = true
                self.earliestIdleAt = min(self.earliestIdleAt, value.idleAt)
            } else {
                self.removeSlot(slot)
            }
            return result
        }
        var value: Value? = nil
        let result = body(&value)
        if let value {
            self.insert(key, value, now: now)
        }
        return result
    }

    /// Drops `key`.
    ///
    /// - Returns: whether it was held.
    @discardableResult
    mutating func remove(_ key: RateLimitKey) -> Bool {
        guard let slot = self.index[key] else { return false }
        self.removeSlot(slot)
        return true
    }

    /// Drops every idle entry.
    ///
    /// - Returns: how many were dropped.
    @discardableResult
    mutating func removeIdle(now: UInt64) -> Int {
        self.insertionsSincePurge = 0
        guard now >= self.earliestIdleAt else { return 0 }
        var removed = 0
        var earliest = UInt64.max
        var slot = 0
        while slot < self.slots.count {
            let idleAt = self.slots[slot].value.idleAt
            if idleAt <= now {
                // The last slot moves into this one, so look at this index again.
                self.removeSlot(slot)
                removed += 1
            } else {
                earliest = min(earliest, idleAt)
                slot += 1
            }
        }
        self.earliestIdleAt = earliest
        self.counters.expirations += removed
        return removed
    }

    private mutating func insert(_ key: RateLimitKey, _ value: Value, now: UInt64) {
        self.counters.insertions += 1
        self.insertionsSincePurge += 1
        if self.slots.count >= self.capacity, self.insertionsSincePurge > self.capacity / 8 {
            self.removeIdle(now: now)
        }
        self.earliestIdleAt = min(self.earliestIdleAt, value.idleAt)
        let slot = Slot(key: key, value: value, referenced: false)
        if self.slots.count < self.capacity {
            self.slots.append(slot)
            self.index[key] = self.slots.count - 1
            return
        }
        let victim = self.clockVictim(now: now)
        self.index.removeValue(forKey: self.slots[victim].key)
        if self.slots[victim].value.idleAt <= now {
            self.counters.expirations += 1
        } else {
            self.counters.evictions += 1
        }
        self.slots[victim] = slot
        self.index[key] = victim
    }

    /// Advances the CLOCK hand of a full shard to the slot to replace and past it. Ends within
    /// two turns, because the first turn clears every reference bit.
    private mutating func clockVictim(now: UInt64) -> Int {
        let count = self.slots.count
        precondition(count > 0)
        if self.hand >= count { self.hand = 0 }
        while true {
            let candidate = self.hand
            self.hand = candidate + 1 == count ? 0 : candidate + 1
            if self.slots[candidate].value.idleAt <= now {
                return candidate
            }
            if self.slots[candidate].referenced {
                self.slots[candidate].referenced = false
                continue
            }
            return candidate
        }
    }

    /// Removes `slot` by moving the last slot into it.
    private mutating func removeSlot(_ slot: Int) {
        let last = self.slots.removeLast()
        if slot < self.slots.count {
            self.index.removeValue(forKey: self.slots[slot].key)
            self.slots[slot] = last
            self.index[last.key] = slot
        } else {
            self.index.removeValue(forKey: last.key)
        }
    }
}
