/// One row of Better Auth's `apikey` table, as far as verifying a key and counting its use
/// need it. Times are milliseconds since 1970; durations are milliseconds, as the plugin
/// stores them.
public struct APIKeyRecord: Sendable, Hashable {
    public var id: String
    /// `referenceId`: the owning user (keys of `references: "organization"` have no user and
    /// are not accepted).
    public var ownerID: String
    /// `enabled` (`NULL` counts as enabled, as in the plugin).
    public var enabled: Bool
    public var expiresAt: Int64?
    /// Uses left (`nil`: unlimited).
    public var remaining: Int64?
    public var refillAmount: Int64?
    public var refillInterval: Int64?
    public var lastRefillAt: Int64?
    public var createdAt: Int64
    /// The key's own request window (`rateLimitEnabled`, `rateLimitMax` per
    /// `rateLimitTimeWindow`), counted in `requestCount` since `lastRequest`.
    public var rateLimitEnabled: Bool
    public var rateLimitTimeWindow: Int64?
    public var rateLimitMax: Int64?
    public var requestCount: Int64
    public var lastRequest: Int64?

    public init(
        id: String,
        ownerID: String,
        enabled: Bool = true,
        expiresAt: Int64? = nil,
        remaining: Int64? = nil,
        refillAmount: Int64? = nil,
        refillInterval: Int64? = nil,
        lastRefillAt: Int64? = nil,
        createdAt: Int64 = 0,
        rateLimitEnabled: Bool = true,
        rateLimitTimeWindow: Int64? = nil,
        rateLimitMax: Int64? = nil,
        requestCount: Int64 = 0,
        lastRequest: Int64? = nil
    ) {
        self.id = id
        self.ownerID = ownerID
        self.enabled = enabled
        self.expiresAt = expiresAt
        self.remaining = remaining
        self.refillAmount = refillAmount
        self.refillInterval = refillInterval
        self.lastRefillAt = lastRefillAt
        self.createdAt = createdAt
        self.rateLimitEnabled = rateLimitEnabled
        self.rateLimitTimeWindow = rateLimitTimeWindow
        self.rateLimitMax = rateLimitMax
        self.requestCount = requestCount
        self.lastRequest = lastRequest
    }
}

/// Better Auth's verification of an API key (the plugin's `validateApiKey`: enabled, expiry,
/// `remaining` with its refill, then the key's own rate limit), as a pure function of the row
/// and the clock, so the gateway counts a key's use exactly as the auth server would and both
/// can serve the same keys.
///
/// The caller holds the row locked (`SELECT … FOR UPDATE`) and writes ``Decision/accept(_:)``'s
/// update in the same transaction: concurrent uses of one key are counted one after another. A
/// refusal writes nothing (the plugin may already have spent a use when its rate limit refuses;
/// here a refused request costs nothing).
public struct APIKeyUsage: Sendable {
    /// The plugin's `rateLimit.enabled`: `false` turns every key's window off.
    public var rateLimitEnabled: Bool

    public init(rateLimitEnabled: Bool = true) {
        self.rateLimitEnabled = rateLimitEnabled
    }

    /// What a use of the key writes back.
    public struct Update: Sendable, Hashable {
        public var remaining: Int64?
        public var lastRefillAt: Int64?
        public var requestCount: Int64
        public var lastRequest: Int64?
    }

    public enum Decision: Sendable, Hashable {
        /// The key is good: write `Update` and let the request through.
        case accept(Update)
        /// The key is refused; `retryAfterMillis` when only its window is full.
        case refuse(RejectionReason, retryAfterMillis: Int64? = nil)
    }

    /// The decision for one use of `record` at `now` (milliseconds since 1970).
    public func evaluate(_ record: APIKeyRecord, now: Int64) -> Decision {
        if !record.enabled { return .refuse(.apiKeyDisabled) }
        if let expiresAt = record.expiresAt, now > expiresAt { return .refuse(.apiKeyExpired) }
        if record.remaining == 0 && record.refillAmount == nil { return .refuse(.apiKeyUsageExceeded) }

        var update = Update(
            remaining: record.remaining,
            lastRefillAt: record.lastRefillAt,
            requestCount: record.requestCount,
            lastRequest: record.lastRequest
        )
        if let remaining = record.remaining {
            if let interval = record.refillInterval, let amount = record.refillAmount, interval != 0, amount != 0,
                now - (record.lastRefillAt ?? record.createdAt) > interval
            {
                update.remaining = amount - 1
                update.lastRefillAt = now
            } else if remaining > 0 {
                update.remaining = remaining - 1
            } else {
                return .refuse(.apiKeyUsageExceeded)
            }
        }

        guard self.rateLimitEnabled, record.rateLimitEnabled else {
            update.lastRequest = now
            return .accept(update)
        }
        guard let (window, max) = self.window(of: record) else { return .accept(update) }
        guard let lastRequest = record.lastRequest, now - lastRequest <= window else {
            // The first request, or the window has passed: a new window starts.
            update.requestCount = 1
            update.lastRequest = now
            return .accept(update)
        }
        if record.requestCount >= max {
            return .refuse(.apiKeyRateLimited, retryAfterMillis: window - (now - lastRequest))
        }
        update.requestCount = record.requestCount + 1
        update.lastRequest = now
        return .accept(update)
    }

    /// Whether uses of `record` need counting at all: a key with no `remaining` and no window
    /// can be verified once and cached like a session; any other key is checked on every use.
    public func counts(_ record: APIKeyRecord) -> Bool {
        record.remaining != nil || self.window(of: record) != nil
    }

    /// The key's window (`rateLimitTimeWindow`, `rateLimitMax`) when it is enforced.
    private func window(of record: APIKeyRecord) -> (Int64, Int64)? {
        guard self.rateLimitEnabled, record.rateLimitEnabled, let window = record.rateLimitTimeWindow,
            let max = record.rateLimitMax
        else { return nil }
        return (window, max)
    }
}
