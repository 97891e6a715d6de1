/// The answer of ``RateLimiter/check(_:limit:now:)``, with what the response headers need.
public enum RateLimitDecision: Sendable, Hashable {
    /// The request conforms and was counted.
    ///
    /// - `limit`: the quota (``RateLimit/burst``);
    /// - `remaining`: how many more requests would pass right now;
    /// - `resetSeconds`: seconds until the quota is full again, rounded up.
    case allowed(limit: Int, remaining: Int, resetSeconds: Int)
    /// The request does not conform and was not counted.
    ///
    /// - `limit`: the quota (``RateLimit/burst``);
    /// - `retryAfterSeconds`: seconds until one request would pass, rounded up, at least 1;
    /// - `resetSeconds`: seconds until the quota is full again, rounded up.
    case limited(limit: Int, retryAfterSeconds: Int, resetSeconds: Int)

    /// Whether the request may go on.
    public var isAllowed: Bool {
        if case .allowed = self { return true }
        return false
    }

    /// The quota, either way.
    public var limit: Int {
        switch self {
        case .allowed(let limit, _, _), .limited(let limit, _, _):
            return limit
        }
    }

    /// How many more requests would pass right now; 0 when limited.
    public var remaining: Int {
        switch self {
        case .allowed(_, let remaining, _):
            return remaining
        case .limited:
            return 0
        }
    }

    /// Seconds until the quota is full again.
    public var resetSeconds: Int {
        switch self {
        case .allowed(_, _, let reset), .limited(_, _, let reset):
            return reset
        }
    }
}
