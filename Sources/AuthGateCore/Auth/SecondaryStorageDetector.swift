public import NIOCore

/// Notices that Better Auth keeps its sessions in a secondary storage (Redis) and not in the
/// SQL `session` table, while the gateway resolves sessions from that table
/// (`auth.session_resolver: postgres`).
///
/// Better Auth with `secondaryStorage` (and `session.storeSessionInDatabase: false`, its
/// default then) writes no `session` row: every HMAC-verified session value the postgres
/// resolver looks up comes back empty, and every user is answered 401. Nothing else fails, so
/// without this nobody is told why.
///
/// A pure state machine: it never asks the auth server, it tells its owner when to. An empty
/// lookup of a verified value may start a probe (the same value sent to the auth server's
/// get-session), at most one in flight and at most one per ``interval``; a probe that finds a
/// session the table did not have is the detection. A lookup that finds a session in the table
/// clears it (and vetoes a probe in flight: the table does hold sessions).
public struct SecondaryStorageDetector: Sendable {
    /// What the gateway knows about where Better Auth keeps its sessions.
    public enum State: Hashable, Sendable {
        /// No evidence that the table misses sessions.
        case unknown
        /// A lookup found nothing and a probe is in flight.
        case suspected
        /// get-session found a session the table did not have: the sessions are elsewhere.
        case detected
        /// Was detected; a later lookup found a session in the table.
        case cleared
    }

    /// What the owner must do.
    public enum Action: Hashable, Sendable {
        case none
        /// Ask the auth server's get-session with the value just looked up, then call
        /// ``probeFinished(sessionExists:)``.
        case probe
        /// Log the detection (once: until it is cleared, no further report).
        case reportDetected
        /// Log that the table holds sessions again.
        case reportCleared
    }

    /// Why `/ready` reports the session store as down while detected (no token, no secret).
    public static let reason =
        "Better Auth keeps sessions in secondaryStorage, not in PostgreSQL: set auth.session_resolver: http "
        + "(get-session finds sessions that the session table does not have; or auth.database_url is not "
        + "the auth server's database)"

    /// The least time between two probes.
    public let interval: TimeAmount
    public private(set) var state: State = .unknown
    /// Whether a probe is in flight (never more than one).
    public private(set) var probeInFlight = false
    private var lastProbe: NIODeadline?

    /// - Parameter interval: the least time between two probes (10 s in the gateway).
    public init(interval: TimeAmount) {
        self.interval = interval
    }

    /// Whether a found lookup may have something to change: the owner may skip
    /// ``lookupFound()`` (and its lock) while this is false.
    public var isWatching: Bool {
        self.state == .suspected || self.state == .detected
    }

    /// The resolver found no session for an HMAC-verified value.
    public mutating func lookupFoundNothing(now: NIODeadline) -> Action {
        guard !self.probeInFlight else { return .none }
        if let last = self.lastProbe, now - last < self.interval { return .none }
        self.probeInFlight = true
        self.lastProbe = now
        if self.state != .detected { self.state = .suspected }
        return .probe
    }

    /// The resolver found a session in the table.
    public mutating func lookupFound() -> Action {
        switch self.state {
        case .detected:
            self.state = .cleared
            return .reportCleared
        case .suspected:
            // The table holds sessions: whatever the probe in flight finds, it is no detection.
            self.state = .unknown
            return .none
        case .unknown, .cleared:
            return .none
        }
    }

    /// The probe finished: `true` when get-session found the session, `false` when it did
    /// not either, `nil` when it could not be asked (no conclusion).
    public mutating func probeFinished(sessionExists: Bool?) -> Action {
        precondition(self.probeInFlight, "a probe finished that was not started")
        self.probeInFlight = false
        switch self.state {
        case .suspected:
            if sessionExists == true {
                self.state = .detected
                return .reportDetected
            }
            self.state = .unknown
            return .none
        case .detected, .unknown, .cleared:
            // Detected stays detected until a lookup finds a session; unknown or cleared here
            // means a lookup found one while the probe ran.
            return .none
        }
    }

    /// The line of `/ready` for the session store: down with ``reason`` while detected.
    public var readiness: (status: Readiness.Status, reason: String?) {
        self.state == .detected ? (.down, Self.reason) : (.up, nil)
    }
}
