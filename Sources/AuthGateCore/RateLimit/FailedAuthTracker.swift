public import NIOCore

/// Counts failed authentications per client address or per account and locks the key out after
/// too many, against password guessing and credential stuffing.
///
/// Fixed window: a key's window opens at its first counted failure and lasts
/// ``Configuration/window``. Once ``Configuration/maxFailures`` failures fall in the window, the
/// key is locked until the window ends; then the count starts again from zero. With the defaults
/// (5 failures, 15 minutes) five wrong passwords lock the sixth attempt out until 15 minutes after
/// the first of the five. Failures recorded while locked are counted but do not extend the
/// window, so a locked client hammering the endpoint is not locked out for ever.
///
/// Keys are ``RateLimitKey`` hashes, so neither addresses nor emails (personal data) are kept in
/// memory. The storage is bounded like ``RateLimiter``'s: at most ``Configuration/maxKeys`` keys
/// over independently locked shards; a full shard forgets keys whose window has passed first,
/// then evicts by CLOCK. An evicted key forgets its failures, which can only make the tracker more
/// lenient for it; ``statistics`` counts evictions.
///
/// Time is passed in as nanoseconds on a monotonic clock (`NIODeadline.now().uptimeNanoseconds`).
public final class FailedAuthTracker: Sendable {
    /// Thresholds and size.
    public struct Configuration: Sendable, Hashable {
        /// Failures within one window that lock a key; must be positive.
        public var maxFailures: Int
        /// How long a window lasts from its first failure; must be positive.
        public var window: TimeAmount
        /// The most keys tracked, over all shards.
        public var maxKeys: Int
        /// The number of shards requested; rounded down to a power of two and to at most
        /// `maxKeys`.
        public var shardCount: Int

        /// - Parameters:
        ///   - maxFailures: failures within one window that lock a key.
        ///   - window: how long a window lasts from its first failure.
        ///   - maxKeys: the most keys tracked.
        ///   - shardCount: how many independently locked shards to use.
        public init(
            maxFailures: Int = 5,
            window: TimeAmount = .minutes(15),
            maxKeys: Int = 100_000,
            shardCount: Int = 16
        ) {
            self.maxFailures = maxFailures
            self.window = window
            self.maxKeys = maxKeys
            self.shardCount = shardCount
        }
    }

    /// The configuration the tracker was made with.
    public let configuration: Configuration
    private let windowNanos: UInt64
    private let table: RateLimitTable<FailureWindow>

    /// A tracker with the thresholds and bound of `configuration`.
    public init(configuration: Configuration = Configuration()) {
        precondition(configuration.maxFailures > 0, "maxFailures must be positive")
        precondition(configuration.window > .zero, "window must be positive")
        self.configuration = configuration
        self.windowNanos = UInt64(configuration.window.nanoseconds)
        self.table = RateLimitTable(maxKeys: configuration.maxKeys, shardCount: configuration.shardCount)
    }

    /// Whether `key` may try to authenticate at `now`.
    public func isLockedOut(_ key: RateLimitKey, now: UInt64) -> LockoutState {
        self.table.update(key, now: now) { window in
            guard let current = window else { return .open }
            guard now < current.endsAt else {
                // The window has passed: forgetting it is the same as resetting the count.
                window = nil
                return .open
            }
            return self.state(of: current, now: now)
        }
    }

    /// Counts a failed authentication of `key` at `now`.
    ///
    /// - Returns: the state of `key`'s next attempt.
    @discardableResult
    public func recordFailure(_ key: RateLimitKey, now: UInt64) -> LockoutState {
        self.table.update(key, now: now) { window in
            var current: FailureWindow
            if let stored = window, now < stored.endsAt {
                current = stored
                current.failures = current.failures == .max ? .max : current.failures + 1
            } else {
                current = FailureWindow(endsAt: saturatingAdd(now, self.windowNanos), failures: 1)
            }
            window = current
            return self.state(of: current, now: now)
        }
    }

    /// ``isLockedOut(_:now:)`` at `NIODeadline.now()`.
    public func isLockedOut(_ key: RateLimitKey) -> LockoutState {
        self.isLockedOut(key, now: NIODeadline.now().uptimeNanoseconds)
    }

    /// ``recordFailure(_:now:)`` at `NIODeadline.now()`.
    @discardableResult
    public func recordFailure(_ key: RateLimitKey) -> LockoutState {
        self.recordFailure(key, now: NIODeadline.now().uptimeNanoseconds)
    }

    /// Forgets `key`'s failures: an account that signed in successfully, or an operator
    /// unlocking it. Do not reset a client address on success: an attacker with one valid account
    /// could then clear their address's count between guesses at other accounts.
    ///
    /// - Returns: whether it was tracked.
    @discardableResult
    public func reset(_ key: RateLimitKey) -> Bool {
        self.table.remove(key)
    }

    /// Drops every key whose window has passed, one shard at a time; meant for a periodic timer.
    ///
    /// - Returns: how many keys were dropped.
    @discardableResult
    public func sweep(now: UInt64) -> Int {
        self.table.sweep(now: now)
    }

    /// The keys tracked now, expired or not yet swept.
    public var count: Int { self.table.count }

    /// Counts for metrics.
    public var statistics: RateLimitStatistics { self.table.statistics }

    /// Each shard's key count, for tests of the bound.
    func shardCounts() -> [Int] {
        self.table.shardCounts()
    }

    private func state(of window: FailureWindow, now: UInt64) -> LockoutState {
        guard window.failures >= self.configuration.maxFailures else { return .open }
        return .locked(retryAfterSeconds: max(1, secondsRoundedUp(window.endsAt - now)))
    }
}

/// A key's current failure window.
struct FailureWindow: RateLimitShardValue {
    /// When the window that opened at the first counted failure closes.
    var endsAt: UInt64
    /// Failures counted in it.
    var failures: Int

    var idleAt: UInt64 { self.endsAt }
}
