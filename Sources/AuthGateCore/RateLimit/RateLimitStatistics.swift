/// The counts of a ``RateLimiter`` or a ``FailedAuthTracker``, for metrics.
///
/// Each shard is read under its own lock, so the figures are not one instant's snapshot, but
/// every count in them is exact.
public struct RateLimitStatistics: Sendable, Hashable {
    /// Keys held now, idle or not.
    public var keys: Int
    /// The most keys ever held.
    public var capacity: Int
    /// New keys stored.
    public var insertions: Int
    /// Live entries pushed out because their shard was full: a flood of distinct keys, or a
    /// `maxKeys` too small for the traffic. Each one forgot a client's history.
    public var evictions: Int
    /// Idle entries dropped; forgetting them changed nothing.
    public var expirations: Int

    public init(keys: Int, capacity: Int, insertions: Int, evictions: Int, expirations: Int) {
        self.keys = keys
        self.capacity = capacity
        self.insertions = insertions
        self.evictions = evictions
        self.expirations = expirations
    }
}

extension RateLimitTable {
    /// The table's statistics.
    var statistics: RateLimitStatistics {
        let counters = self.counters
        return RateLimitStatistics(
            keys: self.count,
            capacity: self.capacity,
            insertions: counters.insertions,
            evictions: counters.evictions,
            expirations: counters.expirations
        )
    }
}
