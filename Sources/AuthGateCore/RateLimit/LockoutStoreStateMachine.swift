/// What the gateway does around each query of the shared lockout store (``SharedLockout``):
/// whether PostgreSQL is reachable, so that an outage is logged once when it starts and once
/// when it ends rather than once per login, and when to delete expired rows.
///
/// Every query ends in ``queryFinished(succeeded:)``; a query that did not finish within
/// `lockout.store_timeout_ms` counts as failed. A recorded failure asks
/// ``failureRecorded(now:)`` whether to sweep: at most once per ``Configuration/sweepInterval``,
/// the first time at the first recorded failure, so only logins cause database work.
public struct LockoutStoreStateMachine: Sendable {
    /// How often expired rows are deleted.
    public struct Configuration: Sendable, Hashable {
        /// Nanoseconds between two sweeps.
        public var sweepIntervalNanos: UInt64

        /// - Parameter sweepIntervalNanos: nanoseconds between two sweeps (monotonic clock).
        public init(sweepIntervalNanos: UInt64 = 600 * 1_000_000_000) {
            self.sweepIntervalNanos = sweepIntervalNanos
        }
    }

    /// Whether the store answers.
    public enum State: Sendable, Hashable {
        /// The last query succeeded (or none has run yet).
        case reachable
        /// The last `failedQueries` queries failed.
        case unreachable(failedQueries: Int)
    }

    /// What to log after a query.
    public enum Action: Sendable, Hashable {
        /// Nothing new.
        case none
        /// The first failure after a success: log that logins use the in-memory count now.
        case logUnavailable
        /// The first success after failures: log that the shared count is back.
        case logRecovered(failedQueries: Int)
    }

    public let configuration: Configuration
    public private(set) var state: State = .reachable
    private var nextSweepAt: UInt64? = nil

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// A query finished (or timed out, `succeeded` false).
    public mutating func queryFinished(succeeded: Bool) -> Action {
        switch (self.state, succeeded) {
        case (.reachable, true):
            return .none
        case (.reachable, false):
            self.state = .unreachable(failedQueries: 1)
            return .logUnavailable
        case (.unreachable(let failed), false):
            self.state = .unreachable(failedQueries: failed == .max ? failed : failed + 1)
            return .none
        case (.unreachable(let failed), true):
            self.state = .reachable
            return .logRecovered(failedQueries: failed)
        }
    }

    /// A failure was stored at `now` (monotonic nanoseconds): whether to delete expired rows
    /// now.
    public mutating func failureRecorded(now: UInt64) -> Bool {
        if let next = self.nextSweepAt, now < next { return false }
        let (sum, overflow) = now.addingReportingOverflow(self.configuration.sweepIntervalNanos)
        self.nextSweepAt = overflow ? .max : sum
        return true
    }
}
