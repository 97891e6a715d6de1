import Atomics
public import AuthGateCore
import NIOCore

/// A monotonically increasing counter; one relaxed atomic add per event.
public final class Counter: Sendable {
    private let storage = ManagedAtomic<Int>(0)
    public init() {}
    @inline(__always) public func increment(by amount: Int = 1) {
        self.storage.wrappingIncrement(by: amount, ordering: .relaxed)
    }
    public var value: Int { self.storage.load(ordering: .relaxed) }
}

/// A value that goes up and down (open connections, queue depth).
public final class Gauge: Sendable {
    private let storage = ManagedAtomic<Int>(0)
    public init() {}
    @inline(__always) public func increment() { self.storage.wrappingIncrement(ordering: .relaxed) }
    @inline(__always) public func decrement() { self.storage.wrappingDecrement(ordering: .relaxed) }
    public func set(_ value: Int) { self.storage.store(value, ordering: .relaxed) }
    public var value: Int { self.storage.load(ordering: .relaxed) }
}

/// A Prometheus histogram with fixed buckets, lock-free: one atomic add for the bucket, one
/// for the count and one for the sum (kept in microseconds).
public final class Histogram: Sendable {
    /// Upper bounds in seconds.
    public let bounds: [Double]
    private let boundsMicros: [Int]
    private let buckets: [ManagedAtomic<Int>]
    private let count = ManagedAtomic<Int>(0)
    private let sumMicros = ManagedAtomic<Int>(0)

    public init(bounds: [Double]) {
        self.bounds = bounds
        self.boundsMicros = bounds.map { Int($0 * 1_000_000) }
        self.buckets = bounds.map { _ in ManagedAtomic<Int>(0) }
    }

    /// Records a duration given in nanoseconds.
    @inline(__always) public func record(nanoseconds: Int64) {
        let micros = Int(nanoseconds / 1_000)
        // Store per bucket (not cumulative); the exporter accumulates.
        var index = 0
        while index < self.boundsMicros.count && micros > self.boundsMicros[index] { index += 1 }
        if index < self.buckets.count {
            self.buckets[index].wrappingIncrement(ordering: .relaxed)
        }
        self.count.wrappingIncrement(ordering: .relaxed)
        self.sumMicros.wrappingIncrement(by: micros, ordering: .relaxed)
    }

    /// Cumulative bucket counts, total count and sum in seconds.
    public func snapshot() -> (cumulative: [Int], count: Int, sum: Double) {
        var running = 0
        var cumulative: [Int] = []
        cumulative.reserveCapacity(self.buckets.count)
        for bucket in self.buckets {
            running += bucket.load(ordering: .relaxed)
            cumulative.append(running)
        }
        return (cumulative, self.count.load(ordering: .relaxed), Double(self.sumMicros.load(ordering: .relaxed)) / 1e6)
    }
}

/// Every metric of the gateway, created once at start and shared by all event loops.
///
/// The handles are plain atomics rather than swift-metrics factories: the data path records on
/// every request, and a relaxed atomic add is the cheapest thing that stays exact.
public final class GatewayMetrics: Sendable {
    /// The `route_class` label: what kind of route answered.
    /// The class a request is counted under (`route_class`), decided by admission.
    public typealias RouteClass = AuthGateCore.RouteClass

    /// The `outcome` label of `better_auth_token_validations_total`.
    public enum ValidationOutcome: Int, CaseIterable, Sendable {
        case valid, invalid, error
        var label: String {
            switch self {
            case .valid: return "valid"
            case .invalid: return "invalid"
            case .error: return "error"
            }
        }
    }

    /// The `auth_method` label values: `legacy`, `better-auth`, and `none` (no credential).
    static let methodLabels = ["legacy", "better-auth", "none"]
    @inline(__always) static func methodIndex(_ method: AuthMethod?) -> Int {
        switch method {
        case .legacy: return 0
        case .betterAuth: return 1
        case nil: return 2
        }
    }
    /// The `reason` label values: every rejection reason, then `auth_unavailable`.
    static let reasonLabels = RejectionReason.allCases.map(\.rawValue) + ["auth_unavailable"]
    static let reasonIndex: [RejectionReason: Int] = Dictionary(
        uniqueKeysWithValues: RejectionReason.allCases.enumerated().map { ($1, $0) }
    )

    /// `authgate_http_requests_total{route_class,status_class}`: [route class][status class 1...5].
    public let requestsByClass: [[Counter]] = RouteClass.allCases.map { _ in (0...5).map { _ in Counter() } }
    /// `better_auth_attempts_total{auth_method}`.
    let attemptsByMethod: [Counter] = methodLabels.map { _ in Counter() }
    /// `better_auth_success_total{auth_method}`.
    let successesByMethod: [Counter] = methodLabels.map { _ in Counter() }
    /// `better_auth_failures_total{auth_method,reason}`.
    let failuresByMethodReason: [[Counter]] = methodLabels.map { _ in reasonLabels.map { _ in Counter() } }
    /// `better_auth_token_validations_total{auth_method,outcome}`.
    let validationsByMethodOutcome: [[Counter]] = methodLabels.map { _ in
        ValidationOutcome.allCases.map { _ in Counter() }
    }
    /// `better_auth_token_cache_hits_total{auth_method}`.
    let cacheHitsByMethod: [Counter] = methodLabels.map { _ in Counter() }
    /// `better_auth_active_sessions`.
    public let activeSessions = Gauge()
    public let upstreamLatency = Histogram(bounds: [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
    ])
    public let openConnections = Gauge()
    public let acceptedConnections = Counter()
    public let upstreamConnectionsOpened = Counter()
    public let upstreamConnectFailures = Counter()
    public let upstreamTimeouts = Counter()
    public let upstreamRetries = Counter()
    public let rejectedRequests = Counter()
    public let activeTunnels = Gauge()
    public let authUnavailable = Counter()
    public let sessionLookups = Counter()
    public let resolverFailures = Counter()
    public let staleServed = Counter()
    public let forgedSessionValues = Counter()
    /// Empty postgres lookups confirmed with get-session (``SecondaryStorageWatch``), by answer.
    public let sessionStoreProbesMissingFromTable = Counter()
    public let sessionStoreProbesNotFound = Counter()
    public let sessionStoreProbeFailures = Counter()
    public let jwksFetches = Counter()
    public let cacheNotifications = Counter()
    public let validationLatency = Histogram(bounds: [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
    ])
    public let configReloads = Counter()
    public let configReloadFailures = Counter()
    /// 429 answers, by cause.
    public let rateLimitedIP = Counter()
    public let rateLimitedUser = Counter()
    public let rateLimitedClass = Counter()
    public let lockedOut = Counter()
    /// Failures counted towards the lockout (rejected tokens, 401 on login paths).
    public let lockoutFailures = Counter()
    /// Queries of the shared lockout store (`lockout.store: postgres`) that failed or timed
    /// out; the login went on with the in-memory count.
    public let lockoutStoreFailures = Counter()
    /// Requests refused 400 because their path could not be normalised.
    public let badPaths = Counter()
    /// Legacy tokens of users whose `migration_status` is `migrated`, by what the policy did.
    public let migratedLegacyRefused = Counter()
    public let migratedLegacyRecorded = Counter()
    public let migrationStatusFailures = Counter()
    /// Tunnels closed because their credential was revoked.
    public let tunnelsRevoked = Counter()
    /// Keys the rate limiter and the lockout track now (set on scrape).
    public let rateLimiterKeys = Gauge()

    // MARK: Audit trail (issue 5)

    /// Events recorded and not yet stored (queued, or taken by the writer and in flight).
    public let auditQueueDepth = Gauge()
    /// Events PostgreSQL acknowledged (direct inserts and replays).
    public let auditEventsWritten = Counter()
    /// Events appended to the spill file.
    public let auditEventsSpilled = Counter()
    /// Events replayed from the spill file into PostgreSQL.
    public let auditEventsReplayed = Counter()
    /// Audit inserts (direct or replay) that failed.
    public let auditWriteFailures = Counter()

    public init() {}

    @inline(__always) public func recordResponse(status: Int, routeClass: RouteClass) {
        let cls = status / 100
        if cls >= 1 && cls <= 5 { self.requestsByClass[routeClass.rawValue][cls].increment() }
    }

    /// A request on an authenticated route, counted with its verdict: `method` is the system
    /// that accepted it, or for a failure the one its first credential was offered to (`nil`:
    /// it carried none), the same label as its ``recordSuccess(method:)`` or
    /// ``recordFailure(method:reason:)``.
    @inline(__always) public func recordAttempt(method: AuthMethod?) {
        self.attemptsByMethod[Self.methodIndex(method)].increment()
    }

    @inline(__always) public func recordSuccess(method: AuthMethod) {
        self.successesByMethod[Self.methodIndex(method)].increment()
    }

    /// A 401 (`reason`) or, with `reason` nil, a 503 because nothing could decide.
    public func recordFailure(method: AuthMethod?, reason: RejectionReason?) {
        let reasonIndex = reason.flatMap { Self.reasonIndex[$0] } ?? (Self.reasonLabels.count - 1)
        self.failuresByMethodReason[Self.methodIndex(method)][reasonIndex].increment()
    }

    /// A credential verified or resolved (not served from the cache).
    @inline(__always) public func recordValidation(method: AuthMethod, outcome: ValidationOutcome) {
        self.validationsByMethodOutcome[Self.methodIndex(method)][outcome.rawValue].increment()
    }

    @inline(__always) public func recordCacheHit(method: AuthMethod) {
        self.cacheHitsByMethod[Self.methodIndex(method)].increment()
    }

    /// Totals over every label, for tests and logs.
    public var authAttemptsTotal: Int { self.attemptsByMethod.reduce(0) { $0 + $1.value } }
    public var authSuccessesTotal: Int { self.successesByMethod.reduce(0) { $0 + $1.value } }
    public var authFailuresTotal: Int { self.failuresByMethodReason.joined().reduce(0) { $0 + $1.value } }
    public var tokenValidationsTotal: Int { self.validationsByMethodOutcome.joined().reduce(0) { $0 + $1.value } }
    public var tokenCacheHitsTotal: Int { self.cacheHitsByMethod.reduce(0) { $0 + $1.value } }

    /// Prometheus text exposition format, version 0.0.4.
    public func render() -> String {
        var out = ""
        out.reserveCapacity(4096)
        out += "# HELP authgate_http_requests_total Requests answered, by route class and status class.\n"
        out += "# TYPE authgate_http_requests_total counter\n"
        for routeClass in RouteClass.allCases {
            for cls in 1...5 {
                let value = self.requestsByClass[routeClass.rawValue][cls].value
                out +=
                    "authgate_http_requests_total{route_class=\"\(routeClass.label)\",status_class=\"\(cls)xx\"} \(value)\n"
            }
        }
        let latency = self.upstreamLatency.snapshot()
        out += "# HELP authgate_upstream_latency_seconds Time from the request sent to the response head.\n"
        out += "# TYPE authgate_upstream_latency_seconds histogram\n"
        for (index, bound) in self.upstreamLatency.bounds.enumerated() {
            out += "authgate_upstream_latency_seconds_bucket{le=\"\(bound)\"} \(latency.cumulative[index])\n"
        }
        out += "authgate_upstream_latency_seconds_bucket{le=\"+Inf\"} \(latency.count)\n"
        out += "authgate_upstream_latency_seconds_sum \(latency.sum)\n"
        out += "authgate_upstream_latency_seconds_count \(latency.count)\n"
        func counter(_ name: String, _ help: String, _ value: Int) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n\(name) \(value)\n"
        }
        func gauge(_ name: String, _ help: String, _ value: Int) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n\(name) \(value)\n"
        }
        gauge("authgate_open_connections", "Client connections open now.", self.openConnections.value)
        counter("authgate_connections_accepted_total", "Client connections accepted.", self.acceptedConnections.value)
        gauge("authgate_active_tunnels", "WebSocket and other upgraded tunnels open now.", self.activeTunnels.value)
        counter(
            "authgate_upstream_connections_opened_total",
            "Connections opened to the backend.",
            self.upstreamConnectionsOpened.value
        )
        counter(
            "authgate_upstream_connect_failures_total",
            "Failed connection attempts to the backend.",
            self.upstreamConnectFailures.value
        )
        counter("authgate_upstream_timeouts_total", "Requests answered 504.", self.upstreamTimeouts.value)
        counter("authgate_upstream_retries_total", "Idempotent requests retried.", self.upstreamRetries.value)
        counter(
            "authgate_rejected_requests_total",
            "Requests refused by the gateway's own checks.",
            self.rejectedRequests.value
        )
        func labelled(_ name: String, _ help: String, _ series: [(String, Int)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n"
            for (labels, value) in series { out += "\(name){\(labels)} \(value)\n" }
        }
        let methods = Self.methodLabels
        labelled(
            "better_auth_attempts_total",
            "Requests that needed authentication, by the system their first credential was offered to (none: no credential).",
            methods.indices.map { ("auth_method=\"\(methods[$0])\"", self.attemptsByMethod[$0].value) }
        )
        labelled(
            "better_auth_success_total",
            "Requests authenticated, by method.",
            methods.indices.dropLast().map { ("auth_method=\"\(methods[$0])\"", self.successesByMethod[$0].value) }
        )
        var failures: [(String, Int)] = []
        for method in methods.indices {
            for (reason, label) in Self.reasonLabels.enumerated() {
                let value = self.failuresByMethodReason[method][reason].value
                // Zero series for impossible pairs would only add noise; a series appears once it moves.
                if value > 0 || label == "missing_credential" || label == "auth_unavailable" {
                    failures.append(("auth_method=\"\(methods[method])\",reason=\"\(label)\"", value))
                }
            }
        }
        labelled(
            "better_auth_failures_total",
            "Requests refused with 401 (or 503 auth_unavailable), by method and reason.",
            failures
        )
        counter(
            "authgate_auth_unavailable_total",
            "Requests answered 503 because no resolver answered.",
            self.authUnavailable.value
        )
        var validations: [(String, Int)] = []
        for method in methods.indices.dropLast() {
            for outcome in ValidationOutcome.allCases {
                validations.append(
                    (
                        "auth_method=\"\(methods[method])\",outcome=\"\(outcome.label)\"",
                        self.validationsByMethodOutcome[method][outcome.rawValue].value
                    )
                )
            }
        }
        labelled(
            "better_auth_token_validations_total",
            "Credentials verified or resolved (not served from the cache), by method and outcome.",
            validations
        )
        labelled(
            "better_auth_token_cache_hits_total",
            "Credentials served from the identity cache, by method.",
            methods.indices.dropLast().map { ("auth_method=\"\(methods[$0])\"", self.cacheHitsByMethod[$0].value) }
        )
        gauge(
            "better_auth_active_sessions",
            "Live Better Auth sessions (counted in the session table, or distinct sessions in the cache).",
            self.activeSessions.value
        )
        counter(
            "authgate_session_lookups_total",
            "Session lookups sent to the resolver (after single-flight).",
            self.sessionLookups.value
        )
        counter(
            "authgate_resolver_failures_total",
            "Session lookups that failed to reach the resolver.",
            self.resolverFailures.value
        )
        counter(
            "authgate_stale_identities_served_total",
            "Expired cache entries served because the resolver was down.",
            self.staleServed.value
        )
        counter(
            "authgate_forged_session_values_total",
            "Session values whose HMAC did not verify.",
            self.forgedSessionValues.value
        )
        out +=
            "# HELP authgate_session_store_probes_total Empty postgres session lookups confirmed with the auth "
            + "server's get-session, by its answer (found: the session lives elsewhere, Better Auth's secondaryStorage).\n"
        out += "# TYPE authgate_session_store_probes_total counter\n"
        for (result, value) in [
            ("found", self.sessionStoreProbesMissingFromTable.value),
            ("not_found", self.sessionStoreProbesNotFound.value),
            ("error", self.sessionStoreProbeFailures.value),
        ] {
            out += "authgate_session_store_probes_total{result=\"\(result)\"} \(value)\n"
        }
        counter("authgate_jwks_fetches_total", "Successful JWKS fetches.", self.jwksFetches.value)
        counter(
            "authgate_cache_notifications_total",
            "Cache evictions received over PostgreSQL LISTEN/NOTIFY.",
            self.cacheNotifications.value
        )
        let validation = self.validationLatency.snapshot()
        out +=
            "# HELP better_auth_token_validation_seconds Time to validate a credential not served from the cache: "
            + "JWT checks, session lookups, introspection calls, JWKS waits.\n"
        out += "# TYPE better_auth_token_validation_seconds histogram\n"
        for (index, bound) in self.validationLatency.bounds.enumerated() {
            out += "better_auth_token_validation_seconds_bucket{le=\"\(bound)\"} \(validation.cumulative[index])\n"
        }
        out += "better_auth_token_validation_seconds_bucket{le=\"+Inf\"} \(validation.count)\n"
        out += "better_auth_token_validation_seconds_sum \(validation.sum)\n"
        out += "better_auth_token_validation_seconds_count \(validation.count)\n"
        out += "# HELP authgate_rate_limited_requests_total Requests answered 429, by cause.\n"
        out += "# TYPE authgate_rate_limited_requests_total counter\n"
        for (cause, value) in [
            ("ip", self.rateLimitedIP.value), ("user", self.rateLimitedUser.value),
            ("route_class", self.rateLimitedClass.value), ("lockout", self.lockedOut.value),
        ] {
            out += "authgate_rate_limited_requests_total{cause=\"\(cause)\"} \(value)\n"
        }
        counter(
            "authgate_auth_failures_counted_total",
            "Failures counted towards the lockout (rejected tokens, 401 answers on login paths).",
            self.lockoutFailures.value
        )
        counter(
            "authgate_lockout_store_failures_total",
            "Lockout queries to PostgreSQL (lockout.store: postgres) that failed or timed out; the login went on with the in-memory count.",
            self.lockoutStoreFailures.value
        )
        gauge(
            "authgate_rate_limiter_keys",
            "Keys tracked by the rate limiter and the lockout (bounded by rate_limits.max_tracked_keys).",
            self.rateLimiterKeys.value
        )
        counter(
            "authgate_bad_paths_total",
            "Requests refused because their path could not be normalised.",
            self.badPaths.value
        )
        out +=
            "# HELP authgate_migrated_legacy_tokens_total Legacy tokens of users already migrated, by what the policy did.\n"
        out += "# TYPE authgate_migrated_legacy_tokens_total counter\n"
        out += "authgate_migrated_legacy_tokens_total{action=\"refused\"} \(self.migratedLegacyRefused.value)\n"
        out += "authgate_migrated_legacy_tokens_total{action=\"recorded\"} \(self.migratedLegacyRecorded.value)\n"
        counter(
            "authgate_migration_status_failures_total",
            "migration_status lookups that failed (the user counted as not migrated).",
            self.migrationStatusFailures.value
        )
        counter(
            "authgate_tunnels_revoked_total",
            "Tunnels closed because their credential was revoked.",
            self.tunnelsRevoked.value
        )
        // Audit trail (issue 5).
        gauge(
            "authgate_audit_queue_depth",
            "Audit events recorded and not yet in PostgreSQL or the spill file.",
            self.auditQueueDepth.value
        )
        counter(
            "authgate_audit_events_written_total",
            "Audit events written to PostgreSQL (directly or replayed).",
            self.auditEventsWritten.value
        )
        counter(
            "authgate_audit_events_spilled_total",
            "Audit events appended to the spill file.",
            self.auditEventsSpilled.value
        )
        counter(
            "authgate_audit_events_replayed_total",
            "Audit events replayed from the spill file into PostgreSQL.",
            self.auditEventsReplayed.value
        )
        counter(
            "authgate_audit_write_failures_total",
            "Audit inserts that failed (the events went to the spill file).",
            self.auditWriteFailures.value
        )
        counter("authgate_config_reloads_total", "Successful configuration reloads.", self.configReloads.value)
        counter(
            "authgate_config_reload_failures_total",
            "Rejected configuration reloads.",
            self.configReloadFailures.value
        )
        return out
    }
}
