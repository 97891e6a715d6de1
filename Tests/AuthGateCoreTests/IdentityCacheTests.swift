import NIOCore
import NIOEmbedded
import Testing

@testable import AuthGateCore

/// A clock the test moves by hand: the time of an `EmbeddedEventLoop`, which only moves when
/// told to. The wall clock moves with it.
private final class ManualClock: Sendable {
    private static let wallClockAtStart: Int64 = 1_700_000_000 * 1_000_000_000
    private let loop = EmbeddedEventLoop()

    var wallSeconds: Int64 { self.wallNanos / 1_000_000_000 }

    private var wallNanos: Int64 { Self.wallClockAtStart + Int64(self.loop.now.uptimeNanoseconds) }

    func advance(_ amount: TimeAmount) {
        self.loop.advanceTime(by: amount)
    }

    var clock: IdentityCache.Clock {
        IdentityCache.Clock(now: { self.loop.now }, wallClockNanos: { self.wallNanos })
    }
}

private func key(_ name: String, _ kind: CredentialKey.Kind = .bearer) -> CredentialKey {
    CredentialKey(kind: kind, credential: name)
}

private func identity(_ userID: String, session: String? = nil, expiresAt: Int64? = nil) -> Identity {
    Identity(
        userID: userID,
        email: "\(userID)@example.com",
        roles: ["user"],
        kind: .betterAuthSessionCookie,
        sessionID: session,
        expiresAt: expiresAt
    )
}

private func makeCache(
    maxEntries: Int = 1_000,
    maxNegativeEntries: Int = 100,
    positiveTTL: TimeAmount = .seconds(300),
    negativeTTL: TimeAmount = .seconds(10),
    staleIfError: TimeAmount = .zero,
    shardCount: Int = 16
) -> (IdentityCache, ManualClock) {
    let clock = ManualClock()
    let cache = IdentityCache(
        configuration: .init(
            maxEntries: maxEntries,
            maxNegativeEntries: maxNegativeEntries,
            positiveTTL: positiveTTL,
            negativeTTL: negativeTTL,
            staleIfError: staleIfError,
            shardCount: shardCount
        ),
        clock: clock.clock
    )
    return (cache, clock)
}

@Suite("IdentityCache")
struct IdentityCacheTests {
    @Test("a stored identity is a hit until its TTL, then a miss")
    func positiveTTL() {
        let (cache, clock) = makeCache(positiveTTL: .seconds(300))
        let alice = identity("alice")
        #expect(cache.lookup(key("a")) == .miss)
        #expect(cache.storePositive(key("a"), alice))
        #expect(cache.lookup(key("a")) == .hit(alice))
        clock.advance(.seconds(299))
        #expect(cache.lookup(key("a")) == .hit(alice))
        clock.advance(.seconds(1))
        #expect(cache.lookup(key("a")) == .miss)
        #expect(cache.statistics.positiveEntries == 0, "an expired entry found by a lookup is dropped")
        #expect(cache.statistics.expirations == 1)
    }

    @Test("the credential's expiry caps the TTL: 5 s left with a 300 s TTL is gone after 5 s")
    func ttlCappedByIdentityExpiry() {
        let (cache, clock) = makeCache(positiveTTL: .seconds(300))
        let alice = identity("alice", expiresAt: clock.wallSeconds + 5)
        #expect(cache.storePositive(key("a"), alice))
        clock.advance(.milliseconds(4_999))
        #expect(cache.lookup(key("a")) == .hit(alice))
        clock.advance(.milliseconds(1))
        #expect(cache.lookup(key("a")) == .miss)
    }

    @Test("stale-if-error never serves past the credential's expiry")
    func staleGraceCappedByIdentityExpiry() {
        let (cache, clock) = makeCache(positiveTTL: .seconds(300), staleIfError: .seconds(600))
        let alice = identity("alice", expiresAt: clock.wallSeconds + 5)
        cache.storePositive(key("a"), alice)
        clock.advance(.seconds(5))
        #expect(cache.lookup(key("a")) == .miss)

        // Expiry between TTL and TTL + grace: stale only up to the expiry.
        let bob = identity("bob", expiresAt: clock.wallSeconds + 400)
        cache.storePositive(key("b"), bob)
        clock.advance(.seconds(300))
        #expect(cache.lookup(key("b")) == .stale(bob))
        clock.advance(.seconds(99))
        #expect(cache.lookup(key("b")) == .stale(bob))
        clock.advance(.seconds(1))
        #expect(cache.lookup(key("b")) == .miss)
    }

    @Test("an already expired identity is not stored")
    func expiredIdentityNotStored() {
        let (cache, clock) = makeCache()
        #expect(!cache.storePositive(key("a"), identity("alice", expiresAt: clock.wallSeconds)))
        #expect(!cache.storePositive(key("b"), identity("bob", expiresAt: clock.wallSeconds - 60)))
        #expect(cache.lookup(key("a")) == .miss)
        #expect(cache.lookup(key("b")) == .miss)
        #expect(cache.statistics.size == 0)
        #expect(cache.statistics.insertions == 0)
    }

    @Test("absurd expiries neither trap nor extend the TTL")
    func absurdExpiry() {
        let (cache, clock) = makeCache(positiveTTL: .seconds(30))
        let far = identity("far", expiresAt: .max)
        let past = identity("past", expiresAt: .min)
        #expect(cache.storePositive(key("far"), far))
        #expect(!cache.storePositive(key("past"), past))
        clock.advance(.seconds(30))
        #expect(cache.lookup(key("far")) == .miss)
    }

    @Test("stale-if-error: an expired identity is stale within the grace, then a miss")
    func staleIfError() {
        let (cache, clock) = makeCache(positiveTTL: .seconds(60), staleIfError: .seconds(30))
        let alice = identity("alice")
        cache.storePositive(key("a"), alice)
        clock.advance(.seconds(59))
        #expect(cache.lookup(key("a")) == .hit(alice))
        clock.advance(.seconds(1))
        #expect(cache.lookup(key("a")) == .stale(alice))
        clock.advance(.seconds(29))
        #expect(cache.lookup(key("a")) == .stale(alice))
        clock.advance(.seconds(1))
        #expect(cache.lookup(key("a")) == .miss)
        let statistics = cache.statistics
        #expect(statistics.staleHits == 2)
        #expect(statistics.hits == 1)
        #expect(statistics.misses == 1)
    }

    @Test("stale-if-error off: an expired identity is a miss at once (fail closed)")
    func staleIfErrorOff() {
        let (cache, clock) = makeCache(positiveTTL: .seconds(60), staleIfError: .zero)
        cache.storePositive(key("a"), identity("alice"))
        clock.advance(.seconds(60))
        #expect(cache.lookup(key("a")) == .miss)
        #expect(cache.statistics.staleHits == 0)
    }

    @Test("a refreshed identity is fresh again after being stale")
    func refreshAfterStale() {
        let (cache, clock) = makeCache(positiveTTL: .seconds(60), staleIfError: .seconds(30))
        let alice = identity("alice")
        cache.storePositive(key("a"), alice)
        clock.advance(.seconds(70))
        #expect(cache.lookup(key("a")) == .stale(alice))
        cache.storePositive(key("a"), alice)
        #expect(cache.lookup(key("a")) == .hit(alice))
        #expect(cache.statistics.positiveEntries == 1)
    }

    @Test("a rejection is a negative hit for the negative TTL only")
    func negativeTTL() {
        let (cache, clock) = makeCache(positiveTTL: .seconds(300), negativeTTL: .seconds(10))
        #expect(cache.storeNegative(key("x"), .sessionNotFound))
        #expect(cache.lookup(key("x")) == .negativeHit(.sessionNotFound))
        clock.advance(.milliseconds(9_999))
        #expect(cache.lookup(key("x")) == .negativeHit(.sessionNotFound))
        clock.advance(.milliseconds(1))
        #expect(cache.lookup(key("x")) == .miss)
        #expect(cache.statistics.negativeEntries == 0)
    }

    @Test("negative caching off stores nothing")
    func negativeCachingOff() {
        let (cache, _) = makeCache(maxNegativeEntries: 0)
        #expect(!cache.storeNegative(key("x"), .badSignature))
        #expect(cache.lookup(key("x")) == .miss)
    }

    @Test("flooding rejections never evicts identities, and rejections stay within their bound")
    func negativeFloodSparesPositives() {
        // One shard, so the 64 identities fill the positive pool exactly.
        let (cache, _) = makeCache(maxEntries: 64, maxNegativeEntries: 32, shardCount: 1)
        let users = (0..<64).map { identity("user-\($0)") }
        for (n, user) in users.enumerated() {
            #expect(cache.storePositive(key("good-\(n)"), user))
        }
        for n in 0..<5_000 {
            cache.storeNegative(key("bad-\(n)"), .badSignature)
            if n % 500 == 0 {
                #expect(cache.statistics.negativeEntries <= 32)
            }
        }
        let statistics = cache.statistics
        #expect(statistics.negativeEntries == 32)
        #expect(statistics.positiveEntries == 64)
        for (n, user) in users.enumerated() {
            #expect(cache.lookup(key("good-\(n)")) == .hit(user))
        }
        // Recent rejections are still there.
        #expect(cache.lookup(key("bad-4999")) == .negativeHit(.badSignature))
    }

    @Test("the number of identities never exceeds maxEntries")
    func capacityBound() {
        let (cache, _) = makeCache(maxEntries: 100, shardCount: 8)
        for n in 0..<2_000 {
            cache.storePositive(key("k-\(n)"), identity("u-\(n)"))
            let size = cache.statistics.positiveEntries
            #expect(size <= 100, "size \(size) after \(n + 1) insertions")
            if size > 100 { break }
        }
        let statistics = cache.statistics
        #expect(statistics.positiveEntries == 100)
        #expect(statistics.evictions == 1_900)
        #expect(statistics.insertions == 2_000)
    }

    @Test("recently used identities survive a stream of cold ones")
    func recentlyUsedSurvive() {
        let (cache, _) = makeCache(maxEntries: 256, shardCount: 16)
        let hot = (0..<64).map { (key("hot-\($0)"), identity("hot-\($0)")) }
        for (key, user) in hot {
            cache.storePositive(key, user)
        }
        var cold: [CredentialKey] = []
        for batch in 0..<125 {
            for (key, user) in hot {
                #expect(cache.lookup(key) == .hit(user), "hot \(user.userID) evicted before batch \(batch)")
            }
            for n in 0..<16 {
                let coldKey = key("cold-\(batch)-\(n)")
                cache.storePositive(coldKey, identity("cold"))
                cold.append(coldKey)
            }
        }
        let hotHits = hot.filter { cache.lookup($0.0) == .hit($0.1) }.count
        let oldColdHits = cold.prefix(1_000).filter { cache.lookup($0) != .miss }.count
        #expect(hotHits == 64)
        #expect(oldColdHits == 0, "the oldest cold entries must have been evicted")
    }

    @Test("a rejection and an identity for one key replace each other")
    func replaceAcrossKinds() {
        let (cache, _) = makeCache()
        let alice = identity("alice")
        cache.storeNegative(key("a"), .sessionNotFound)
        cache.storePositive(key("a"), alice)
        #expect(cache.lookup(key("a")) == .hit(alice))
        #expect(cache.statistics.negativeEntries == 0)
        #expect(cache.statistics.positiveEntries == 1)
        cache.storeNegative(key("a"), .sessionExpired)
        #expect(cache.lookup(key("a")) == .negativeHit(.sessionExpired))
        #expect(cache.statistics.positiveEntries == 0)
        #expect(cache.statistics.negativeEntries == 1)
    }

    @Test("one credential in two roles keeps two entries")
    func rolesAreSeparateEntries() {
        let (cache, _) = makeCache()
        let alice = identity("alice")
        cache.storePositive(key("token", .sessionCookie), alice)
        #expect(cache.lookup(key("token", .bearer)) == .miss)
        cache.storeNegative(key("token", .bearer), .rawTokenNotAllowed)
        #expect(cache.lookup(key("token", .sessionCookie)) == .hit(alice))
        #expect(cache.lookup(key("token", .bearer)) == .negativeHit(.rawTokenNotAllowed))
    }

    @Test("evict drops one key")
    func evict() {
        let (cache, _) = makeCache()
        let bob = identity("bob")
        cache.storePositive(key("a"), identity("alice"))
        cache.storePositive(key("b"), bob)
        cache.storeNegative(key("x"), .badSignature)
        #expect(cache.evict(key("a")))
        #expect(!cache.evict(key("a")))
        #expect(cache.evict(key("x")))
        #expect(cache.lookup(key("a")) == .miss)
        #expect(cache.lookup(key("x")) == .miss)
        #expect(cache.lookup(key("b")) == .hit(bob))
        #expect(cache.statistics.removals == 2)
    }

    @Test("evictUser drops every identity of that user and nothing else")
    func evictUser() {
        let (cache, _) = makeCache()
        for n in 0..<30 {
            cache.storePositive(key("alice-\(n)"), identity("alice", session: "s-\(n)"))
        }
        let bob = identity("bob")
        cache.storePositive(key("bob"), bob)
        cache.storeNegative(key("x"), .badSignature)
        #expect(cache.evictUser("alice") == 30)
        #expect(cache.evictUser("alice") == 0)
        for n in 0..<30 {
            #expect(cache.lookup(key("alice-\(n)")) == .miss)
        }
        #expect(cache.lookup(key("bob")) == .hit(bob))
        #expect(cache.lookup(key("x")) == .negativeHit(.badSignature))
        #expect(cache.statistics.size == 2)
    }

    @Test("evictSession drops the identities of that session only")
    func evictSession() {
        let (cache, _) = makeCache()
        let other = identity("alice", session: "s2")
        cache.storePositive(key("cookie"), identity("alice", session: "s1"))
        cache.storePositive(key("bearer", .sessionCookie), identity("alice", session: "s1"))
        cache.storePositive(key("other"), other)
        #expect(cache.evictSession("s1") == 2)
        #expect(cache.lookup(key("cookie")) == .miss)
        #expect(cache.lookup(key("other")) == .hit(other))
    }

    @Test("purgeAll drops every entry and reports how many")
    func purgeAll() {
        let (cache, _) = makeCache()
        for n in 0..<50 {
            cache.storePositive(key("k-\(n)"), identity("u-\(n)"))
        }
        for n in 0..<7 {
            cache.storeNegative(key("x-\(n)"), .badSignature)
        }
        #expect(cache.purgeAll() == 57)
        #expect(cache.statistics.size == 0)
        #expect(cache.lookup(key("k-0")) == .miss)
        #expect(cache.lookup(key("x-0")) == .miss)
        #expect(cache.purgeAll() == 0)
        #expect(cache.statistics.removals == 57)
    }

    @Test("an answer fetched before an eviction is not stored after it")
    func invalidationTokenBlocksResurrection() {
        let (cache, _) = makeCache()
        let alice = identity("alice", session: "s1")

        // The lookup raced a sign-out of this very key (not cached yet).
        let token = cache.invalidationToken(for: key("a"))
        cache.evict(key("a"))
        #expect(!cache.storePositive(key("a"), alice, ifNotInvalidatedSince: token))
        #expect(cache.lookup(key("a")) == .miss)

        // The lookup raced a user-wide and a global eviction.
        let token2 = cache.invalidationToken(for: key("a"))
        cache.evictUser("alice")
        #expect(!cache.storePositive(key("a"), alice, ifNotInvalidatedSince: token2))
        let token3 = cache.invalidationToken(for: key("a"))
        cache.purgeAll()
        #expect(!cache.storePositive(key("a"), alice, ifNotInvalidatedSince: token3))

        // Nothing happened in between: stored.
        let token4 = cache.invalidationToken(for: key("a"))
        #expect(cache.storePositive(key("a"), alice, ifNotInvalidatedSince: token4))
        #expect(cache.lookup(key("a")) == .hit(alice))
    }

    @Test("the counters add up")
    func counters() {
        let (cache, clock) = makeCache(positiveTTL: .seconds(60), staleIfError: .seconds(60))
        let alice = identity("alice")
        cache.storePositive(key("a"), alice)
        cache.storeNegative(key("x"), .badSignature)
        _ = cache.lookup(key("a"))  // hit
        _ = cache.lookup(key("a"))  // hit
        _ = cache.lookup(key("x"))  // negative hit
        _ = cache.lookup(key("m"))  // miss
        clock.advance(.seconds(61))
        _ = cache.lookup(key("a"))  // stale
        _ = cache.lookup(key("x"))  // expired: miss
        cache.evict(key("a"))
        let statistics = cache.statistics
        #expect(statistics.lookups == 6)
        #expect(statistics.hits == 2)
        #expect(statistics.negativeHits == 1)
        #expect(statistics.staleHits == 1)
        #expect(statistics.misses == 2)
        #expect(statistics.insertions == 2)
        #expect(statistics.expirations == 1)
        #expect(statistics.removals == 1)
        #expect(statistics.evictions == 0)
        #expect(statistics.singleFlightJoins == 0)
        #expect(statistics.size == 0)
        #expect(statistics.hitRatio == 0.5)
    }

    @Test("keys spread evenly over the shards")
    func shardDistribution() {
        let (cache, _) = makeCache(maxEntries: 32_000, shardCount: 16)
        #expect(cache.shardCount == 16)
        for n in 0..<16_000 {
            cache.storePositive(key("spread-\(n)"), identity("u"))
        }
        let counts = cache.shardSnapshots().map(\.positiveCount)
        #expect(counts.count == 16)
        #expect(counts.reduce(0, +) == 16_000)
        // 1000 expected per shard; the binomial standard deviation is about 31.
        for count in counts {
            #expect((850...1_150).contains(count), "uneven shards: \(counts)")
        }
    }

    @Test("shard count is a power of two no larger than maxEntries, and capacities sum exactly")
    func shardSizing() {
        let (twelve, _) = makeCache(maxEntries: 1_003, maxNegativeEntries: 13, shardCount: 12)
        #expect(twelve.shardCount == 8)
        #expect(twelve.configuration.shardCount == 8)
        let shards = twelve.shardSnapshots()
        #expect(shards.map(\.positiveCapacity).reduce(0, +) == 1_003)
        #expect(shards.map(\.negativeCapacity).reduce(0, +) == 13)
        #expect(shards.allSatisfy { (125...126).contains($0.positiveCapacity) })

        let (tiny, _) = makeCache(maxEntries: 3, shardCount: 16)
        #expect(tiny.shardCount == 2)
        let (one, _) = makeCache(maxEntries: 10, shardCount: 0)
        #expect(one.shardCount == 1)
    }

    @Test("statistics(including:) reports the single-flight joins")
    func statisticsWithSingleFlight() throws {
        let (cache, _) = makeCache()
        let singleFlight = SingleFlight<Int>()
        let loop = EmbeddedEventLoop()
        defer { try? loop.syncShutdownGracefully() }
        let promise = loop.makePromise(of: Int.self)
        for _ in 0..<3 {
            _ = singleFlight.run(key: key("a"), on: loop) { promise.futureResult }
        }
        #expect(cache.statistics(including: singleFlight).singleFlightJoins == 2)
        #expect(cache.statistics.singleFlightJoins == 0)
        promise.succeed(1)
    }
}

@Suite("IdentityCacheShard")
struct IdentityCacheShardTests {
    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    private let wall: Int64 = 1_700_000_000 * 1_000_000_000

    @discardableResult
    private func insert(
        _ shard: inout IdentityCacheShard,
        _ name: String,
        user: String,
        at now: NIODeadline? = nil,
        ttl: TimeAmount = .seconds(60)
    ) -> Bool {
        shard.insert(
            positive: identity(user),
            for: key(name),
            now: now ?? self.start,
            wallClockNanos: self.wall,
            ttl: ttl
        )
    }

    @Test("CLOCK gives referenced entries a second chance")
    func secondChance() {
        var shard = IdentityCacheShard(positiveCapacity: 100, negativeCapacity: 0)
        let keys = (0..<150).map { key("k-\($0)") }
        for n in 0..<100 {
            self.insert(&shard, "k-\(n)", user: "u-\(n)")
        }
        for n in 0..<50 {
            #expect(shard.lookup(keys[n], now: self.start) == .hit(identity("u-\(n)")))
        }
        for n in 100..<150 {
            self.insert(&shard, "k-\(n)", user: "u-\(n)")
        }
        #expect(shard.positiveCount == 100)
        #expect(shard.counters.evictions == 50)
        for n in 0..<50 {
            #expect(shard.peek(keys[n]) != nil, "referenced k-\(n) was evicted")
        }
        for n in 50..<100 {
            #expect(shard.peek(keys[n]) == nil, "unreferenced k-\(n) survived")
        }
        for n in 100..<150 {
            #expect(shard.peek(keys[n]) != nil)
        }
    }

    @Test("a full pool reuses an expired slot before evicting a live one")
    func expiredSlotsGoFirst() {
        var shard = IdentityCacheShard(positiveCapacity: 2, negativeCapacity: 0)
        self.insert(&shard, "s", user: "short", ttl: .seconds(1))
        self.insert(&shard, "l", user: "long", ttl: .seconds(100))
        let later = self.start + .seconds(2)
        self.insert(&shard, "n", user: "new", at: later, ttl: .seconds(100))
        #expect(shard.counters.expirations == 1)
        #expect(shard.counters.evictions == 0)
        #expect(shard.lookup(key("l"), now: later) == .hit(identity("long")))
        #expect(shard.lookup(key("n"), now: later) == .hit(identity("new")))
        #expect(shard.lookup(key("s"), now: later) == .miss)
    }

    @Test("the TTL cap uses the wall clock to place the credential's expiry")
    func ttlCapEntry() {
        var shard = IdentityCacheShard(positiveCapacity: 4, negativeCapacity: 4)
        let expiresAt = self.wall / 1_000_000_000 + 5
        let alice = identity("alice", expiresAt: expiresAt)
        let stored = shard.insert(
            positive: alice,
            for: key("a"),
            now: self.start,
            wallClockNanos: self.wall + 500_000_000,
            ttl: .seconds(300),
            staleGrace: .seconds(60)
        )
        #expect(stored)
        let deadline = self.start + .milliseconds(4_500)
        #expect(shard.peek(key("a")) == .positive(alice, expiresAt: deadline, staleUntil: deadline))
    }

    @Test("removing keeps the index consistent with the slots")
    func removalKeepsIndex() {
        var shard = IdentityCacheShard(positiveCapacity: 8, negativeCapacity: 8)
        for n in 0..<8 {
            self.insert(&shard, "k-\(n)", user: "u-\(n % 2)")
        }
        let removed = shard.remove(key("k-0"))
        #expect(removed)
        let removedOfUser = shard.removeAll(userID: "u-1")
        #expect(removedOfUser == 4)
        #expect(shard.count == 3)
        for n in [2, 4, 6] {
            #expect(shard.lookup(key("k-\(n)"), now: self.start) == .hit(identity("u-0")))
        }
        for n in [0, 1, 3, 5, 7] {
            #expect(shard.lookup(key("k-\(n)"), now: self.start) == .miss)
        }
        // Refill past the capacity through the moved slots.
        for n in 10..<20 {
            self.insert(&shard, "k-\(n)", user: "u-\(n)")
        }
        #expect(shard.positiveCount == 8)
        #expect(shard.lookup(key("k-19"), now: self.start) == .hit(identity("u-19")))
    }

    @Test("a shard with no capacity stores nothing")
    func zeroCapacity() {
        var shard = IdentityCacheShard(positiveCapacity: 0, negativeCapacity: 0)
        #expect(!self.insert(&shard, "a", user: "a"))
        let storedNegative = shard.insertNegative(.badSignature, for: key("b"), now: self.start, ttl: .seconds(60))
        #expect(!storedNegative)
        #expect(shard.lookup(key("a"), now: self.start) == .miss)
        #expect(shard.count == 0)
    }
}
