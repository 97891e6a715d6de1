import Crypto

/// The rollout cohort of a user: a stable bucket in `0..<100` derived from the user id, so a
/// user stays on the same side of a percentage rollout across requests, gateway processes,
/// restarts and platforms, and raising the percentage only ever adds users.
///
/// The hash is fixed and documented so the frontend, analytics or a SQL query reproduce the
/// gateway's decision exactly:
///
///     bucket = UInt32(big-endian, first 4 bytes of SHA-256(UTF-8 bytes of the user id)) % 100
///
/// - Python: `int(hashlib.sha256(user_id.encode('utf-8')).hexdigest()[:8], 16) % 100`
/// - PostgreSQL:
///   `('x' || substr(encode(sha256(convert_to(id, 'UTF8')), 'hex'), 1, 8))::bit(32)::bigint % 100`
/// - JavaScript: `new DataView(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(id)))
///   .getUint32(0) % 100`
///
/// For example `user-1` is in bucket 52 and `user-2` in bucket 7. Never change the hash: every
/// user would switch cohorts at once.
public enum RolloutCohort {
    /// The user's bucket, in `0..<100`.
    public static func bucket(userID: String) -> Int {
        var hasher = SHA256()
        var id = userID
        id.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        let digest = hasher.finalize()
        let prefix = digest.withUnsafeBytes { UInt32(bigEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) }
        return Int(prefix % 100)
    }

    /// Whether the user is among the first `percent` percent: `bucket < percent`.
    ///
    /// `0` (or less) includes nobody, `100` (or more) everybody; the users included at a
    /// percentage stay included at every higher one.
    public static func isInRollout(userID: String, percent: Int) -> Bool {
        if percent <= 0 { return false }
        if percent >= 100 { return true }
        return Self.bucket(userID: userID) < percent
    }
}
