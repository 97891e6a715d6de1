/// Whether a client or an account may try to authenticate now; see ``FailedAuthTracker``.
public enum LockoutState: Sendable, Hashable {
    /// Attempts are accepted.
    case open
    /// Too many failures in the current window; attempts are refused for `retryAfterSeconds`
    /// more (rounded up, at least 1).
    case locked(retryAfterSeconds: Int)

    /// Whether attempts are refused.
    public var isLocked: Bool {
        if case .locked = self { return true }
        return false
    }
}
