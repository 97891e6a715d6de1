/// A rate limit enforced with GCRA: a quota of `burst` requests that may arrive at once,
/// refilled at `requestsPerMinute` per minute.
///
/// GCRA (the generic cell rate algorithm) is a token bucket of depth `burst` expressed as a
/// single timestamp per key, the theoretical arrival time (TAT): the time at which the bucket
/// will be full again. With the emission interval `T = 60 s / requestsPerMinute` and the burst
/// offset `burst × T`:
///
/// - a request at `now` conforms when `max(TAT, now) + T − burst × T ≤ now`, and then moves the
///   TAT to `max(TAT, now) + T`;
/// - a non-conforming request changes nothing, so being limited never pushes the next allowed
///   request further away.
///
/// A new (or idle, `TAT ≤ now`) key can therefore send `burst` requests back to back, and from
/// then on one request every `T`, `requestsPerMinute` per minute sustained. (In the textbook
/// notation the tolerance is `τ = (burst − 1) × T` and the test is `TAT − τ ≤ now`; it is the
/// same rule.)
public struct RateLimit: Sendable, Hashable {
    /// The sustained rate, per minute.
    public let requestsPerMinute: Int
    /// The most requests that may arrive at once from a full bucket; the quota advertised in
    /// `RateLimit-Limit`.
    public let burst: Int

    /// A limit of `requestsPerMinute` sustained with bursts of `burst`; both must be positive.
    public init(requestsPerMinute: Int, burst: Int) {
        precondition(requestsPerMinute > 0, "requestsPerMinute must be positive")
        precondition(burst > 0, "burst must be positive")
        self.requestsPerMinute = requestsPerMinute
        self.burst = burst
    }

    /// `T`: the time one request's worth of quota takes to come back, in nanoseconds; at least 1.
    public var emissionIntervalNanos: UInt64 {
        max(1, 60 * nanosPerSecond / UInt64(self.requestsPerMinute))
    }

    /// `burst × T`: how far ahead of `now` the TAT may run, in nanoseconds; saturates.
    public var burstOffsetNanos: UInt64 {
        let (product, overflow) = self.emissionIntervalNanos.multipliedReportingOverflow(by: UInt64(self.burst))
        return overflow ? .max : product
    }
}

let nanosPerSecond: UInt64 = 1_000_000_000

/// `nanos` in whole seconds, rounded up, clamped to `Int`.
func secondsRoundedUp(_ nanos: UInt64) -> Int {
    let seconds = nanos / nanosPerSecond + (nanos % nanosPerSecond == 0 ? 0 : 1)
    return seconds > UInt64(Int.max) ? Int.max : Int(seconds)
}

/// `lhs + rhs`, or `UInt64.max` if that overflows.
func saturatingAdd(_ lhs: UInt64, _ rhs: UInt64) -> UInt64 {
    let (sum, overflow) = lhs.addingReportingOverflow(rhs)
    return overflow ? .max : sum
}

/// `lhs − rhs`, or 0 if that would be negative.
func saturatingSubtract(_ lhs: UInt64, _ rhs: UInt64) -> UInt64 {
    lhs > rhs ? lhs - rhs : 0
}
