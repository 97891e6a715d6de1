/// The response headers that tell a client where it stands against a limit.
///
/// Field names and meanings follow draft-ietf-httpapi-ratelimit-headers in its widely deployed
/// form: `RateLimit-Limit` is the quota (``RateLimit/burst``), `RateLimit-Remaining` how many
/// more requests would pass right now, `RateLimit-Reset` the seconds until the quota is full
/// again. A refused request also gets `Retry-After` (RFC 9110) in seconds, the header clients
/// and proxies actually act on.
public enum RateLimitHeaders {
    /// The headers for `decision`, in a fixed order.
    public static func headers(for decision: RateLimitDecision) -> [(String, String)] {
        switch decision {
        case .allowed(let limit, let remaining, let reset):
            return [
                ("RateLimit-Limit", String(limit)),
                ("RateLimit-Remaining", String(remaining)),
                ("RateLimit-Reset", String(reset)),
            ]
        case .limited(let limit, let retryAfter, let reset):
            return [
                ("RateLimit-Limit", String(limit)),
                ("RateLimit-Remaining", "0"),
                ("RateLimit-Reset", String(reset)),
                ("Retry-After", String(retryAfter)),
            ]
        }
    }

    /// The 429 `rate_limited` error for a refused request, with all the headers of `decision`;
    /// `nil` when the request was allowed.
    public static func error(for decision: RateLimitDecision) -> GatewayError? {
        guard case .limited(_, let retryAfter, _) = decision else { return nil }
        var error = GatewayError.tooManyRequests(retryAfterSeconds: retryAfter, reason: .rateLimited)
        error.headers = Self.headers(for: decision)
        return error
    }

    /// The 429 `locked_out` error for a locked key, with `Retry-After`; `nil` when open.
    public static func error(for state: LockoutState) -> GatewayError? {
        guard case .locked(let retryAfter) = state else { return nil }
        return .tooManyRequests(retryAfterSeconds: retryAfter, reason: .lockedOut)
    }
}
