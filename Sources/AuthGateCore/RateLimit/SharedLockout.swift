import Crypto

/// The per-account failure count that several gateway instances share through PostgreSQL
/// (`lockout.store: postgres`), so that N instances behind nginx allow `max_failures` attempts
/// per account in total rather than N × `max_failures`.
///
/// The rules are those of ``FailedAuthTracker``, kept in one row per account of
/// ``table``: a window opens at the first failure and lasts `lockout.window_ms`; a failure
/// in a window that has passed opens a new one with a count of 1; once the count reaches
/// `max_failures`, attempts are refused until the window ends. Every instance also keeps its own
/// in-memory count (``FailedAuthTracker``), and an account is refused when *either* count says
/// so: the shared one is exact across instances, the local one is what is left when PostgreSQL
/// does not answer (fail open: an outage of the database must not become an outage of every
/// login) and is never more lenient than the `memory` store.
///
/// The account is stored as ``accountDigest(_:)``, never as the email. This type does no I/O;
/// the gateway runs ``selectSQL`` and ``recordFailureSQL`` and hands the result to
/// ``state(shared:local:maxFailures:)``.
public enum SharedLockout {
    /// The table `authgate db migrate` creates (migration 004).
    public static let table = "authgate_lockout_failures"

    /// What the shared store said about one account.
    public enum Answer: Sendable, Hashable {
        /// The account's current window: the failures counted in it and the milliseconds until
        /// it ends.
        case window(failures: Int, remainingMs: Int64)
        /// No current window: no failure yet, or the last window has passed.
        case clear
        /// The store failed or did not answer within `lockout.store_timeout_ms`.
        case unavailable
    }

    /// The state of an account's next attempt, from the shared count and this instance's own.
    ///
    /// - Parameters:
    ///   - shared: what the store answered.
    ///   - local: the in-memory tracker's state for the same account.
    ///   - maxFailures: `lockout.max_failures`.
    /// - Returns: locked when either count has reached `maxFailures` (with the later of the two
    ///   ends); with the store unavailable, the local state alone.
    public static func state(shared: Answer, local: LockoutState, maxFailures: Int) -> LockoutState {
        guard case .window(let failures, let remainingMs) = shared, failures >= maxFailures, remainingMs > 0 else {
            return local
        }
        let seconds = Int(min(remainingMs, Int64(Int32.max)) + 999) / 1000
        let sharedSeconds = max(1, seconds)
        if case .locked(let localSeconds) = local {
            return .locked(retryAfterSeconds: max(localSeconds, sharedSeconds))
        }
        return .locked(retryAfterSeconds: sharedSeconds)
    }

    /// The key of `email` (trimmed and lower-cased by ``LoginEmail``) in ``table``: the
    /// lowercase hex SHA-256 of a domain prefix and the email's UTF-8 bytes.
    ///
    /// Unlike ``RateLimitKey`` it is the same in every process, as a shared count needs. It is
    /// unkeyed: whoever can read the table and guesses an email can confirm that it failed to
    /// sign in recently, which tells them less than the same database's user tables, where the
    /// emails of the accounts are in clear; the table never holds an email itself.
    public static func accountDigest(_ email: String) -> String {
        var hasher = SHA256()
        hasher.update(data: Array("authgate-lockout-account\u{0}".utf8))
        hasher.update(data: Array(email.utf8))
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in hasher.finalize() {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The account's current window: binds `$1` the digest; no row, or one row of `failures`
    /// (integer) and the milliseconds left (bigint).
    public static let selectSQL = """
        SELECT failures, (EXTRACT(EPOCH FROM (window_ends_at - now())) * 1000)::bigint \
        FROM \(table) WHERE account_key = $1 AND window_ends_at > now()
        """

    /// Counts one failure, atomically over every instance: binds `$1` the digest and `$2` the
    /// window in milliseconds (bigint); one row of the new `failures` and the milliseconds left
    /// of its window. A window that has passed starts again at 1 (both `CASE`s read the row as
    /// it was, so they agree); the count saturates instead of overflowing.
    public static let recordFailureSQL = """
        INSERT INTO \(table) AS f (account_key, failures, window_ends_at) \
        VALUES ($1, 1, now() + $2::bigint * interval '1 millisecond') \
        ON CONFLICT (account_key) DO UPDATE SET \
        failures = CASE WHEN f.window_ends_at > now() \
        THEN (CASE WHEN f.failures < 2147483647 THEN f.failures + 1 ELSE f.failures END) ELSE 1 END, \
        window_ends_at = CASE WHEN f.window_ends_at > now() THEN f.window_ends_at ELSE EXCLUDED.window_ends_at END \
        RETURNING failures, (EXTRACT(EPOCH FROM (window_ends_at - now())) * 1000)::bigint
        """

    /// Deletes the rows whose window has passed (they mean the same as no row).
    public static let sweepSQL = "DELETE FROM \(table) WHERE window_ends_at <= now()"
}
