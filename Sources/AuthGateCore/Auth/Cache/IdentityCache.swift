import NIOConcurrencyHelpers
public import NIOCore

#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The introspection core's cache: credential key → identity or rejection, shared by every
/// event loop.
///
/// The cache is split into a power-of-two number of ``IdentityCacheShard``s, each behind its own
/// lock; the shard of a key comes from the key's digest bits. A lookup takes one shard lock for
/// a dictionary probe and a bit flip, never a global lock, so event loops contend only when they
/// hit the same shard at the same instant.
///
/// Rules it enforces for the callers:
/// - a positive answer is never fresh past ``Configuration/positiveTTL`` nor past the
///   credential's own expiry (``Identity/expiresAt``), stale or not;
/// - negative answers have their own, shorter TTL and their own size bound, so rejected
///   credentials can never push identities out;
/// - the number of entries never exceeds ``Configuration/maxEntries`` identities plus
///   ``Configuration/maxNegativeEntries`` rejections;
/// - an answer fetched before an ``evict(_:)``, ``evictUser(_:)``, ``evictSession(_:)`` or
///   ``purgeAll()`` of its shard is not stored when passed with the ``InvalidationToken`` taken
///   before the fetch, so a sign-out racing a lookup cannot resurrect the session.
///
/// The cache only answers "who is this credential?". Whether that identity may use a route
/// (Better-Auth-only routes, the dual-auth flags) is decided after every lookup, hit or not.
public final class IdentityCache: Sendable {
    /// What the cache knows about a credential.
    public typealias LookupResult = IdentityCacheShard.LookupResult

    /// Sizes and lifetimes.
    public struct Configuration: Sendable, Hashable {
        /// The most identities held, over all shards.
        public var maxEntries: Int
        /// The most rejections held, over all shards; 0 turns negative caching off.
        public var maxNegativeEntries: Int
        /// How long an identity is fresh at most (the credential's expiry may cut it shorter).
        public var positiveTTL: TimeAmount
        /// How long a rejection is remembered.
        public var negativeTTL: TimeAmount
        /// How long after its TTL an identity may still be served when the authority (auth
        /// server, database) cannot be reached. Zero turns this off: the gateway fails closed.
        public var staleIfError: TimeAmount
        /// The number of shards requested; rounded down to a power of two and to at most
        /// `maxEntries`, so every shard can hold at least one identity.
        public var shardCount: Int

        /// - Parameters:
        ///   - maxEntries: the most identities held.
        ///   - maxNegativeEntries: the most rejections held.
        ///   - positiveTTL: how long an identity is fresh at most.
        ///   - negativeTTL: how long a rejection is remembered.
        ///   - staleIfError: the stale-if-error grace; `.zero` fails closed.
        ///   - shardCount: how many independently locked shards to use.
        public init(
            maxEntries: Int = 100_000,
            maxNegativeEntries: Int = 10_000,
            positiveTTL: TimeAmount = .seconds(300),
            negativeTTL: TimeAmount = .seconds(10),
            staleIfError: TimeAmount = .zero,
            shardCount: Int = 16
        ) {
            self.maxEntries = maxEntries
            self.maxNegativeEntries = maxNegativeEntries
            self.positiveTTL = positiveTTL
            self.negativeTTL = negativeTTL
            self.staleIfError = staleIfError
            self.shardCount = shardCount
        }
    }

    /// Where the cache reads the time; injectable so tests can move time without sleeping.
    public struct Clock: Sendable {
        /// Monotonic time, for the cache's deadlines.
        public var now: @Sendable () -> NIODeadline
        /// Wall-clock time in nanoseconds since 1970, to compare with ``Identity/expiresAt``.
        public var wallClockNanos: @Sendable () -> Int64

        public init(now: @escaping @Sendable () -> NIODeadline, wallClockNanos: @escaping @Sendable () -> Int64) {
            self.now = now
            self.wallClockNanos = wallClockNanos
        }

        /// `NIODeadline.now()` and the system's real-time clock.
        public static var system: Clock {
            Clock(now: { NIODeadline.now() }, wallClockNanos: { systemWallClockNanos() })
        }
    }

    /// Proof of the state of a key's shard before a lookup started; see
    /// ``storePositive(_:_:ifNotInvalidatedSince:)``.
    public struct InvalidationToken: Sendable, Hashable {
        fileprivate let shard: Int
        fileprivate let epoch: UInt64
    }

    /// The configuration the cache was made with, with ``Configuration/shardCount`` as used.
    public let configuration: Configuration
    private let clock: Clock
    private let shards: [NIOLockedValueBox<IdentityCacheShard>]
    private let shardMask: Int

    /// A cache sized and timed by `configuration`, reading time from `clock`.
    public init(configuration: Configuration, clock: Clock = .system) {
        precondition(configuration.maxEntries > 0, "maxEntries must be positive")
        precondition(configuration.maxNegativeEntries >= 0, "maxNegativeEntries must not be negative")
        precondition(configuration.positiveTTL >= .zero && configuration.negativeTTL >= .zero)
        precondition(configuration.staleIfError >= .zero, "staleIfError must not be negative")
        var shardCount = 1
        let shardLimit = min(max(configuration.shardCount, 1), configuration.maxEntries)
        while shardCount * 2 <= shardLimit {
            shardCount *= 2
        }
        var configuration = configuration
        configuration.shardCount = shardCount
        self.configuration = configuration
        self.clock = clock
        self.shardMask = shardCount - 1
        // Split each bound exactly, so the sum over the shards is the configured total.
        self.shards = (0..<shardCount).map { index in
            let shard = IdentityCacheShard(
                positiveCapacity: Self.share(of: configuration.maxEntries, shard: index, of: shardCount),
                negativeCapacity: Self.share(of: configuration.maxNegativeEntries, shard: index, of: shardCount)
            )
            return NIOLockedValueBox(shard)
        }
    }

    private static func share(of total: Int, shard index: Int, of count: Int) -> Int {
        total / count + (index < total % count ? 1 : 0)
    }

    /// The number of shards in use.
    public var shardCount: Int { self.shards.count }

    /// The shard that holds `key`.
    func shardIndex(for key: CredentialKey) -> Int {
        key.shardIndex(mask: self.shardMask)
    }

    // MARK: Hot path

    /// What the cache knows about `key` now.
    ///
    /// A ``LookupResult/stale(_:)`` answer is only returned when ``Configuration/staleIfError``
    /// is on; the caller must still ask the authority and may use the identity only if that
    /// fails because the authority is unreachable, never if it answers "no".
    public func lookup(_ key: CredentialKey) -> LookupResult {
        let now = self.clock.now()
        return self.shards[self.shardIndex(for: key)].withLockedValue { $0.lookup(key, now: now) }
    }

    // MARK: Filling

    /// A token to take before asking the authority about `key`, and to pass to
    /// ``storePositive(_:_:ifNotInvalidatedSince:)`` with the answer.
    public func invalidationToken(for key: CredentialKey) -> InvalidationToken {
        let shard = self.shardIndex(for: key)
        let epoch = self.shards[shard].withLockedValue { $0.invalidationEpoch }
        return InvalidationToken(shard: shard, epoch: epoch)
    }

    /// Remembers that `key` belongs to `identity`, for ``Configuration/positiveTTL`` but never
    /// past `identity.expiresAt`.
    ///
    /// - Parameters:
    ///   - key: the credential's key.
    ///   - identity: the authority's answer.
    ///   - token: if given, the answer is dropped when the key's shard saw an eviction since
    ///     the token was taken (the lookup may have raced a sign-out); a later request simply
    ///     misses again.
    /// - Returns: whether it was stored (not if the credential has already expired, or if
    ///   `token` is outdated).
    @discardableResult
    public func storePositive(
        _ key: CredentialKey,
        _ identity: Identity,
        ifNotInvalidatedSince token: InvalidationToken? = nil
    ) -> Bool {
        let now = self.clock.now()
        let wallClock = self.clock.wallClockNanos()
        let shard = self.shardIndex(for: key)
        precondition(token.map { $0.shard == shard } ?? true, "the token was taken for another key")
        return self.shards[shard].withLockedValue {
            $0.insert(
                positive: identity,
                for: key,
                now: now,
                wallClockNanos: wallClock,
                ttl: self.configuration.positiveTTL,
                staleGrace: self.configuration.staleIfError,
                ifEpoch: token?.epoch
            )
        }
    }

    /// Remembers that `key` was rejected for `reason`, for ``Configuration/negativeTTL``.
    ///
    /// Only cache answers that will not change within that TTL (an unknown or revoked session,
    /// a bad signature), never a failure to reach the authority.
    ///
    /// - Returns: whether it was stored (not if negative caching is off).
    @discardableResult
    public func storeNegative(_ key: CredentialKey, _ reason: RejectionReason) -> Bool {
        let now = self.clock.now()
        return self.shards[self.shardIndex(for: key)].withLockedValue {
            $0.insertNegative(reason, for: key, now: now, ttl: self.configuration.negativeTTL)
        }
    }

    // MARK: Eviction

    /// Drops the answer for `key` (a sign-out seen through the gateway).
    ///
    /// - Returns: whether there was one.
    @discardableResult
    public func evict(_ key: CredentialKey) -> Bool {
        self.shards[self.shardIndex(for: key)].withLockedValue { $0.remove(key) }
    }

    /// Drops every identity of `userID` (signed out everywhere, banned, role changed). Visits
    /// every entry, one shard lock at a time: an admin and revocation path, not a hot one.
    ///
    /// - Returns: how many entries were dropped.
    @discardableResult
    public func evictUser(_ userID: String) -> Int {
        self.removeAll { $0.removeAll(userID: userID) }
    }

    /// Drops every identity of the session `sessionID` (a session revoked on another
    /// instance, announced through PostgreSQL `NOTIFY`). Visits every entry like
    /// ``evictUser(_:)``.
    ///
    /// - Returns: how many entries were dropped.
    @discardableResult
    public func evictSession(_ sessionID: String) -> Int {
        self.removeAll { shard in shard.removeAll { $0.sessionID == sessionID } }
    }

    /// Drops everything, positive and negative (an admin purge, a key rotation).
    ///
    /// - Returns: how many entries were dropped.
    @discardableResult
    public func purgeAll() -> Int {
        self.removeAll { $0.removeAll() }
    }

    private func removeAll(_ body: (inout IdentityCacheShard) -> Int) -> Int {
        var removed = 0
        for shard in self.shards {
            removed += shard.withLockedValue(body)
        }
        return removed
    }

    // MARK: Statistics

    /// The number of distinct Better Auth sessions with a fresh entry: the cache's view of
    /// `better_auth_active_sessions` (a lower bound: only sessions seen lately are cached).
    public func activeSessionCount() -> Int {
        let now = self.clock.now()
        var sessions = Set<String>()
        for shard in self.shards {
            shard.withLockedValue { shard in
                shard.forEachFreshIdentity(now: now) { identity in
                    if identity.method == .betterAuth, let id = identity.sessionID { sessions.insert(id) }
                }
            }
        }
        return sessions.count
    }

    /// The counters summed over all shards, and the current size. Each shard is read under its
    /// own lock, so the sum is not one instant's snapshot, but every count in it is exact.
    /// ``CacheStatistics/singleFlightJoins`` is zero; see ``statistics(including:)``.
    public var statistics: CacheStatistics {
        var counters = IdentityCacheShard.Counters()
        var positiveEntries = 0
        var negativeEntries = 0
        for shard in self.shards {
            shard.withLockedValue { shard in
                counters.add(shard.counters)
                positiveEntries += shard.positiveCount
                negativeEntries += shard.negativeCount
            }
        }
        return CacheStatistics(
            counters: counters,
            singleFlightJoins: 0,
            positiveEntries: positiveEntries,
            negativeEntries: negativeEntries
        )
    }

    /// ``statistics`` with the joins counted by the single-flight table that fronts this cache.
    public func statistics<Value>(including singleFlight: SingleFlight<Value>) -> CacheStatistics {
        var statistics = self.statistics
        statistics.singleFlightJoins = singleFlight.statistics.joins
        return statistics
    }

    /// The counters of each shard, in shard order; for tests of the distribution.
    func shardSnapshots() -> [IdentityCacheShard] {
        self.shards.map { $0.withLockedValue { $0 } }
    }
}

/// The identity cache's counts for metrics (`better_auth_token_cache_hits_total` and friends).
public struct CacheStatistics: Sendable, Hashable {
    /// Lookups made; `hits + negativeHits + staleHits + misses`.
    public var lookups: Int
    /// Lookups answered with a fresh identity.
    public var hits: Int
    /// Lookups that found nothing usable.
    public var misses: Int
    /// Lookups answered with a fresh rejection.
    public var negativeHits: Int
    /// Lookups answered with a stale identity (the authority had to be asked anyway).
    public var staleHits: Int
    /// Misses that joined a lookup already in flight instead of starting one.
    public var singleFlightJoins: Int
    /// Entries stored, overwrites included.
    public var insertions: Int
    /// Live entries pushed out by capacity pressure.
    public var evictions: Int
    /// Entries dropped because they had expired.
    public var expirations: Int
    /// Entries dropped on request (evict, evictUser, evictSession, purgeAll).
    public var removals: Int
    /// Identities held now (fresh or not yet dropped).
    public var positiveEntries: Int
    /// Rejections held now (fresh or not yet dropped).
    public var negativeEntries: Int

    /// All entries held now.
    public var size: Int { self.positiveEntries + self.negativeEntries }

    /// The share of lookups answered from the cache (fresh identities and rejections), 0 when
    /// there were none; the figure the "cache hit rate above 80 %" alert watches.
    public var hitRatio: Double {
        self.lookups == 0 ? 0 : Double(self.hits + self.negativeHits) / Double(self.lookups)
    }

    init(counters: IdentityCacheShard.Counters, singleFlightJoins: Int, positiveEntries: Int, negativeEntries: Int) {
        self.lookups = counters.lookups
        self.hits = counters.hits
        self.misses = counters.misses
        self.negativeHits = counters.negativeHits
        self.staleHits = counters.staleHits
        self.singleFlightJoins = singleFlightJoins
        self.insertions = counters.insertions
        self.evictions = counters.evictions
        self.expirations = counters.expirations
        self.removals = counters.removals
        self.positiveEntries = positiveEntries
        self.negativeEntries = negativeEntries
    }
}

/// Nanoseconds since 1970 from the system's real-time clock.
private func systemWallClockNanos() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
}
