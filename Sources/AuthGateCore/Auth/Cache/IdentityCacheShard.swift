public import NIOCore

/// One shard of the identity cache: answers for credential keys, with expiry and bounded size.
///
/// A pure value type: it owns no lock and reads no clock. Every operation is given the current
/// monotonic time, so the same sequence of calls always gives the same answers; ``IdentityCache``
/// wraps each shard in its own lock.
///
/// Positive answers (an ``Identity``) and negative answers (a ``RejectionReason``) live in two
/// separate pools with separate capacities, so a flood of bad credentials can only ever evict
/// other negative answers, never a signed-in user's identity.
///
/// Each pool is a fixed-capacity array of slots evicted by CLOCK (second chance): a hit sets the
/// slot's reference bit; when the pool is full the hand sweeps forward, clearing reference bits,
/// and the first slot that was not referenced since the last sweep — or that has expired — is
/// replaced. That approximates least-recently-used without moving anything on a hit, so a hit
/// neither allocates nor reorders. A dictionary maps keys to slots; its capacity is reserved up
/// front, so a full shard inserts and evicts without growing it.
public struct IdentityCacheShard: Sendable {
    /// A cached answer with its deadlines on the monotonic clock.
    public enum Entry: Sendable, Hashable {
        /// The credential belongs to this identity until `expiresAt`; between `expiresAt` and
        /// `staleUntil` it may still be served if the authority cannot be reached.
        case positive(Identity, expiresAt: NIODeadline, staleUntil: NIODeadline)
        /// The credential was rejected for this reason; remembered until `expiresAt`.
        case negative(RejectionReason, expiresAt: NIODeadline)
    }

    /// What the cache knows about a credential.
    public enum LookupResult: Sendable, Hashable {
        /// A fresh positive answer: use it without asking the authority.
        case hit(Identity)
        /// A fresh negative answer: reject without asking the authority.
        case negativeHit(RejectionReason)
        /// An expired positive answer still within the stale-if-error grace: ask the authority,
        /// and use this identity only if the authority cannot be reached.
        case stale(Identity)
        /// Nothing usable: ask the authority.
        case miss
    }

    /// Monotonic counts of what happened to the shard, for metrics.
    public struct Counters: Sendable, Hashable {
        /// Every ``IdentityCacheShard/lookup(_:now:)``; the sum of the four outcomes below.
        public var lookups = 0
        /// Lookups answered ``LookupResult/hit(_:)``.
        public var hits = 0
        /// Lookups answered ``LookupResult/miss``.
        public var misses = 0
        /// Lookups answered ``LookupResult/negativeHit(_:)``.
        public var negativeHits = 0
        /// Lookups answered ``LookupResult/stale(_:)``.
        public var staleHits = 0
        /// Entries stored, including overwrites of an existing key.
        public var insertions = 0
        /// Live entries pushed out to make room (capacity pressure).
        public var evictions = 0
        /// Entries dropped because they had expired (found by a lookup or reused by an insert).
        public var expirations = 0
        /// Entries dropped on request: ``IdentityCacheShard/remove(_:)`` and the `removeAll`s.
        public var removals = 0

        public init() {}

        /// Adds `other`'s counts to these.
        public mutating func add(_ other: Counters) {
            self.lookups += other.lookups
            self.hits += other.hits
            self.misses += other.misses
            self.negativeHits += other.negativeHits
            self.staleHits += other.staleHits
            self.insertions += other.insertions
            self.evictions += other.evictions
            self.expirations += other.expirations
            self.removals += other.removals
        }
    }

    /// A slot of a pool.
    private struct Slot: Sendable {
        var key: CredentialKey
        var entry: Entry
        /// Set on a hit, cleared by the CLOCK hand: "used since the hand last passed".
        var referenced: Bool
    }

    /// A fixed-capacity set of slots with a CLOCK hand.
    private struct Pool: Sendable {
        let capacity: Int
        var slots: [Slot]
        /// The next slot the CLOCK hand looks at; always `< slots.count` when the pool is full.
        var hand = 0

        init(capacity: Int) {
            self.capacity = capacity
            self.slots = []
            self.slots.reserveCapacity(capacity)
        }

        var isFull: Bool { self.slots.count >= self.capacity }
    }

    /// Where a key lives.
    private struct Location: Sendable, Hashable {
        var isPositive: Bool
        var slot: Int
    }

    private var positive: Pool
    private var negative: Pool
    private var index: [CredentialKey: Location]

    /// Bumped by every removal on request, so that an answer fetched before a revocation can be
    /// refused when it arrives after it (see ``insert(positive:for:now:wallClockNanos:ttl:staleGrace:ifEpoch:)``).
    public private(set) var invalidationEpoch: UInt64 = 0

    /// What happened so far.
    public private(set) var counters = Counters()

    /// A shard holding at most `positiveCapacity` identities and `negativeCapacity` rejections.
    /// A capacity of 0 disables that kind of entry.
    public init(positiveCapacity: Int, negativeCapacity: Int) {
        precondition(positiveCapacity >= 0 && negativeCapacity >= 0, "capacities must not be negative")
        self.positive = Pool(capacity: positiveCapacity)
        self.negative = Pool(capacity: negativeCapacity)
        self.index = [:]
        self.index.reserveCapacity(positiveCapacity + negativeCapacity)
    }

    /// The most identities the shard holds.
    public var positiveCapacity: Int { self.positive.capacity }
    /// The most rejections the shard holds.
    public var negativeCapacity: Int { self.negative.capacity }
    /// Identities held now, fresh, stale or expired but not yet dropped.
    public var positiveCount: Int { self.positive.slots.count }
    /// Rejections held now, fresh or expired but not yet dropped.
    public var negativeCount: Int { self.negative.slots.count }
    /// All entries held now.
    public var count: Int { self.positive.slots.count + self.negative.slots.count }

    /// Calls `body` with every identity of a positive entry still fresh at `now`.
    public func forEachFreshIdentity(now: NIODeadline, _ body: (Identity) -> Void) {
        for slot in self.positive.slots {
            if case .positive(let identity, let expiresAt, _) = slot.entry, expiresAt > now {
                body(identity)
            }
        }
    }

    /// The stored entry for `key`, without counting a lookup or touching its reference bit;
    /// for tests and diagnostics.
    public func peek(_ key: CredentialKey) -> Entry? {
        guard let location = self.index[key] else { return nil }
        return location.isPositive ? self.positive.slots[location.slot].entry : self.negative.slots[location.slot].entry
    }

    // MARK: Lookup

    /// What the shard knows about `key` at `now`.
    ///
    /// A fresh entry is marked as recently used. An entry past all its deadlines is dropped and
    /// reported as a miss.
    public mutating func lookup(_ key: CredentialKey, now: NIODeadline) -> LookupResult {
        self.counters.lookups += 1
        guard let location = self.index[key] else {
            self.counters.misses += 1
            return .miss
        }
        if location.isPositive {
            guard case .positive(let identity, let expiresAt, let staleUntil) = self.positive.slots[location.slot].entry
            else {
                preconditionFailure("a positive location must hold a positive entry")
            }
            if now < expiresAt {
                self.positive.slots[location.slot].referenced = true
                self.counters.hits += 1
                return .hit(identity)
            }
            if now < staleUntil {
                // Keep it around while the authority is being asked; it is the fallback.
                self.positive.slots[location.slot].referenced = true
                self.counters.staleHits += 1
                return .stale(identity)
            }
        } else {
            guard case .negative(let reason, let expiresAt) = self.negative.slots[location.slot].entry else {
                preconditionFailure("a negative location must hold a negative entry")
            }
            if now < expiresAt {
                self.negative.slots[location.slot].referenced = true
                self.counters.negativeHits += 1
                return .negativeHit(reason)
            }
        }
        self.removeSlot(at: location)
        self.counters.expirations += 1
        self.counters.misses += 1
        return .miss
    }

    // MARK: Insert

    /// Stores `identity` as the answer for `key`, replacing any answer held for it.
    ///
    /// The entry is fresh for `ttl`, but never past the credential's own expiry
    /// (``Identity/expiresAt``, seconds since 1970, compared with `wallClockNanos`): a token that
    /// expires in 5 s is cached for at most 5 s whatever the TTL. After the fresh period it may
    /// be served as ``LookupResult/stale(_:)`` for `staleGrace` more, again never past the
    /// credential's expiry; a grace of zero turns stale answers off.
    ///
    /// - Parameters:
    ///   - identity: the answer.
    ///   - key: the credential's key.
    ///   - now: the monotonic time.
    ///   - wallClockNanos: the wall-clock time, nanoseconds since 1970, to place the credential's
    ///     expiry on the monotonic clock.
    ///   - ttl: how long the answer is fresh at most.
    ///   - staleGrace: how long after that it may be served if the authority is unreachable.
    ///   - epoch: if given, store only if no removal happened since ``invalidationEpoch`` had
    ///     this value: the answer was fetched before a revocation and must not resurrect it.
    /// - Returns: whether the entry was stored; not if it would already be expired, if the
    ///   shard has no positive capacity, or if `epoch` is outdated.
    @discardableResult
    public mutating func insert(
        positive identity: Identity,
        for key: CredentialKey,
        now: NIODeadline,
        wallClockNanos: Int64,
        ttl: TimeAmount,
        staleGrace: TimeAmount = .zero,
        ifEpoch epoch: UInt64? = nil
    ) -> Bool {
        if let epoch, epoch != self.invalidationEpoch { return false }
        guard self.positive.capacity > 0, ttl > .zero else { return false }
        var freshFor = ttl
        var staleFor = Self.saturatingSum(ttl, max(staleGrace, .zero))
        if let remaining = Self.remainingLifetime(of: identity, wallClockNanos: wallClockNanos) {
            guard remaining > .zero else { return false }
            freshFor = min(freshFor, remaining)
            staleFor = min(staleFor, remaining)
        }
        let entry = Entry.positive(identity, expiresAt: now + freshFor, staleUntil: now + staleFor)
        self.store(entry, for: key, isPositive: true, now: now)
        return true
    }

    /// Stores `reason` as the answer for `key` for `ttl`, replacing any answer held for it.
    ///
    /// - Returns: whether the entry was stored; not if `ttl` is not positive or the shard has no
    ///   negative capacity.
    @discardableResult
    public mutating func insertNegative(
        _ reason: RejectionReason,
        for key: CredentialKey,
        now: NIODeadline,
        ttl: TimeAmount
    ) -> Bool {
        guard self.negative.capacity > 0, ttl > .zero else { return false }
        self.store(.negative(reason, expiresAt: now + ttl), for: key, isPositive: false, now: now)
        return true
    }

    /// How long `identity`'s credential stays valid after `wallClockNanos`, or `nil` if it does
    /// not say. Saturates instead of overflowing for absurd `expiresAt` values.
    static func remainingLifetime(of identity: Identity, wallClockNanos: Int64) -> TimeAmount? {
        guard let expiresAt = identity.expiresAt else { return nil }
        let (expiresAtNanos, overflow) = expiresAt.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow {
            return expiresAt > 0 ? .nanoseconds(.max) : .nanoseconds(.min)
        }
        let (remaining, overflow2) = expiresAtNanos.subtractingReportingOverflow(wallClockNanos)
        if overflow2 {
            return expiresAtNanos > 0 ? .nanoseconds(.max) : .nanoseconds(.min)
        }
        return .nanoseconds(remaining)
    }

    private static func saturatingSum(_ lhs: TimeAmount, _ rhs: TimeAmount) -> TimeAmount {
        let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(rhs.nanoseconds)
        return overflow ? .nanoseconds(.max) : .nanoseconds(sum)
    }

    private mutating func store(_ entry: Entry, for key: CredentialKey, isPositive: Bool, now: NIODeadline) {
        self.counters.insertions += 1
        if let location = self.index[key] {
            if location.isPositive == isPositive {
                self.withPool(isPositive) { pool in
                    pool.slots[location.slot].entry = entry
                    pool.slots[location.slot].referenced = true
                }
                return
            }
            // The answer changed kind (a session revoked, a rejection cleared): move pools.
            self.removeSlot(at: location)
        }
        let slot = Slot(key: key, entry: entry, referenced: false)
        let placed: (slot: Int, displaced: CredentialKey?, wasExpired: Bool) = self.withPool(isPositive) { pool in
            if !pool.isFull {
                pool.slots.append(slot)
                return (pool.slots.count - 1, nil, false)
            }
            let victim = Self.clockVictim(in: &pool, now: now)
            let displaced = pool.slots[victim.slot].key
            pool.slots[victim.slot] = slot
            return (victim.slot, displaced, victim.expired)
        }
        if let displaced = placed.displaced {
            self.index.removeValue(forKey: displaced)
            if placed.wasExpired {
                self.counters.expirations += 1
            } else {
                self.counters.evictions += 1
            }
        }
        self.index[key] = Location(isPositive: isPositive, slot: placed.slot)
    }

    /// Advances the CLOCK hand of a full pool to the slot to replace and past it.
    ///
    /// An expired slot is taken at once; otherwise referenced slots get a second chance. The
    /// sweep ends within two turns, because the first turn clears every reference bit.
    private static func clockVictim(in pool: inout Pool, now: NIODeadline) -> (slot: Int, expired: Bool) {
        let count = pool.slots.count
        precondition(count > 0)
        if pool.hand >= count { pool.hand = 0 }
        while true {
            let candidate = pool.hand
            pool.hand = candidate + 1 == count ? 0 : candidate + 1
            if Self.isDead(pool.slots[candidate].entry, now: now) {
                return (candidate, true)
            }
            if pool.slots[candidate].referenced {
                pool.slots[candidate].referenced = false
                continue
            }
            return (candidate, false)
        }
    }

    /// Whether `entry` can no longer produce any answer at `now`.
    private static func isDead(_ entry: Entry, now: NIODeadline) -> Bool {
        switch entry {
        case .positive(_, _, let staleUntil):
            return now >= staleUntil
        case .negative(_, let expiresAt):
            return now >= expiresAt
        }
    }

    // MARK: Removal

    /// Drops the answer for `key`.
    ///
    /// - Returns: whether there was one.
    @discardableResult
    public mutating func remove(_ key: CredentialKey) -> Bool {
        self.invalidationEpoch &+= 1
        guard let location = self.index[key] else { return false }
        self.removeSlot(at: location)
        self.counters.removals += 1
        return true
    }

    /// Drops every identity for which `predicate` is true (a user signed out everywhere, a
    /// session revoked); negative answers stay.
    ///
    /// - Returns: how many were dropped.
    @discardableResult
    public mutating func removeAll(where predicate: (Identity) throws -> Bool) rethrows -> Int {
        self.invalidationEpoch &+= 1
        var removed = 0
        var slot = 0
        while slot < self.positive.slots.count {
            guard case .positive(let identity, _, _) = self.positive.slots[slot].entry else {
                preconditionFailure("the positive pool must hold positive entries")
            }
            if try predicate(identity) {
                // The last slot moves into this one, so look at this index again.
                self.removeSlot(at: Location(isPositive: true, slot: slot))
                removed += 1
            } else {
                slot += 1
            }
        }
        self.counters.removals += removed
        return removed
    }

    /// Drops every identity of the user `userID`.
    ///
    /// - Returns: how many were dropped.
    @discardableResult
    public mutating func removeAll(userID: String) -> Int {
        self.removeAll { $0.userID == userID }
    }

    /// Drops every entry, positive and negative.
    ///
    /// - Returns: how many were dropped.
    @discardableResult
    public mutating func removeAll() -> Int {
        self.invalidationEpoch &+= 1
        let removed = self.count
        self.positive.slots.removeAll(keepingCapacity: true)
        self.positive.hand = 0
        self.negative.slots.removeAll(keepingCapacity: true)
        self.negative.hand = 0
        self.index.removeAll(keepingCapacity: true)
        self.counters.removals += removed
        return removed
    }

    /// Removes the slot at `location` by moving the pool's last slot into it.
    private mutating func removeSlot(at location: Location) {
        let (removedKey, movedKey) = self.withPool(location.isPositive) { pool -> (CredentialKey, CredentialKey?) in
            let last = pool.slots.removeLast()
            guard location.slot < pool.slots.count else {
                return (last.key, nil)
            }
            let removedKey = pool.slots[location.slot].key
            pool.slots[location.slot] = last
            return (removedKey, last.key)
        }
        self.index.removeValue(forKey: removedKey)
        if let movedKey {
            self.index[movedKey] = location
        }
    }

    private mutating func withPool<Result>(_ isPositive: Bool, _ body: (inout Pool) -> Result) -> Result {
        if isPositive {
            return body(&self.positive)
        } else {
            return body(&self.negative)
        }
    }
}
