public import NIOHTTP1

/// The introspection core's answer for one request.
public enum AuthVerdict: Sendable, Hashable {
    case accepted(Identity)
    case rejected(RejectionReason)
    /// No resolver could answer and no usable cache entry exists: 503, never 401.
    case unavailable(String)
}

/// The second half of admission: what a request that needs a caller becomes once the
/// introspection core has answered.
///
/// Three steps, each a pure function whose result the handler carries out: the verdict (counted,
/// audited, and turned into a refusal or an identity), the migration policy for a legacy
/// identity whose `migration_status` is known, and the caller's own limits and identity headers.
public enum CallerAdmission {
    /// What the verdict means for the request.
    public struct VerdictOutcome: Sendable, Equatable {
        public enum Next: Sendable, Equatable {
            /// Go on to ``CallerAdmission/admit(_:head:route:snapshot:clientIP:requestID:limiter:clock:)``.
            case admit(Identity)
            /// A legacy identity under `rollout.migration_policy`: its `migration_status` decides
            /// (``CallerAdmission/migration(_:isMigrated:policy:)``).
            case checkMigration(Identity, MigrationPolicy)
            /// Refused with this error.
            case refuse(GatewayError)
        }

        public var next: Next
        /// The method the attempt is counted under (`authgate_auth_attempts_total`): the
        /// accepted one, or the plan's first.
        public var method: AuthMethod?
        /// The rejection reason counted with a failure; `nil` for a success or an outage.
        public var failureReason: RejectionReason?
        /// The audit event.
        public var audit: AdmissionAudit
        /// Whether the refusal counts towards the failed-authentication lockout.
        public var countsTowardsLockout: Bool
        /// The counter the outcome adds one to besides the attempt counters.
        public var counter: AdmissionCounter?

        /// Whether the credential was accepted.
        public var isSuccess: Bool { self.audit.success }

        /// The accepted identity, if the credential was accepted.
        public var identity: Identity? {
            switch self.next {
            case .admit(let identity), .checkMigration(let identity, _): return identity
            case .refuse: return nil
            }
        }
    }

    /// What `rollout.migration_policy` does with a legacy identity.
    public enum MigrationOutcome: Sendable, Equatable {
        /// Not migrated, or the policy is off: admit.
        case admit
        /// Migrated under `record`: admit, count it and log it.
        case admitAndRecord
        /// Migrated under `refuse`: 401 `user_migrated`, counted and audited.
        case refuse(GatewayError, AdmissionAudit)
    }

    /// What the caller's own checks decided.
    public enum Decision: Sendable, Equatable {
        /// The head now carries the identity headers (and the assertion), and no credential the
        /// route strips: forward it.
        case forward
        /// Refused; `counter` is the limit that refused it, if one did.
        case refuse(GatewayError, counter: AdmissionCounter?)
    }

    /// Reads the verdict for `plan`.
    ///
    /// A valid legacy token that the phase refuses is `method_not_allowed`, not `invalid_token`:
    /// the operator sees the rollout refusing it, and the client's token is not blamed.
    public static func verdict(
        _ verdict: AuthVerdict,
        plan: AuthenticationPlan,
        snapshot: ConfigSnapshot,
        clock: AdmissionClock
    ) -> VerdictOutcome {
        switch verdict {
        case .accepted(let identity):
            let migrationPolicy = snapshot.policy.migrationPolicy
            let next: VerdictOutcome.Next =
                identity.method == .legacy && migrationPolicy != .off
                ? .checkMigration(identity, migrationPolicy) : .admit(identity)
            return VerdictOutcome(
                next: next,
                method: identity.method,
                failureReason: nil,
                audit: AdmissionAudit(kind: .success, method: identity.method, success: true, reason: nil),
                countsTowardsLockout: false,
                counter: nil
            )
        case .rejected(var reason):
            if reason != .methodNotAllowed
                && self.isValidLegacyTokenRefusedByPhase(plan: plan, snapshot: snapshot, clock: clock)
            {
                reason = .methodNotAllowed
            }
            return VerdictOutcome(
                next: .refuse(.unauthorized(reason)),
                method: plan.attemptMethod,
                failureReason: reason,
                audit: AdmissionAudit(
                    kind: .failure,
                    method: plan.attemptMethod,
                    success: false,
                    reason: reason.rawValue
                ),
                countsTowardsLockout: plan.hadCredentials && snapshot.policy.lockoutEnabled
                    && reason.countsTowardsLockout,
                counter: nil
            )
        case .unavailable:
            return VerdictOutcome(
                next: .refuse(.authUnavailable),
                method: plan.attemptMethod,
                failureReason: nil,
                audit: AdmissionAudit(
                    kind: .failure,
                    method: plan.attemptMethod,
                    success: false,
                    reason: "auth_unavailable"
                ),
                countsTowardsLockout: false,
                counter: .authUnavailable
            )
        }
    }

    /// The plan had no attempt at all: why it is refused.
    public static func emptyPlanReason(_ plan: AuthenticationPlan) -> RejectionReason {
        // A credential that no accepted system can even parse is malformed, not missing.
        plan.refusedByPolicy ? .methodNotAllowed : plan.hadCredentials ? .malformed : .missingCredential
    }

    /// `rollout.migration_policy` for a legacy identity whose `migration_status` is known.
    public static func migration(_ identity: Identity, isMigrated: Bool, policy: MigrationPolicy) -> MigrationOutcome {
        guard isMigrated else { return .admit }
        switch policy {
        case .refuse:
            return .refuse(
                .unauthorized(.userMigrated),
                AdmissionAudit(
                    kind: .failure,
                    method: .legacy,
                    success: false,
                    reason: RejectionReason.userMigrated.rawValue
                )
            )
        case .record:
            return .admitAndRecord
        case .off:
            return .admit
        }
    }

    /// The caller is known: the route's impersonation rule, the per-user and route-class
    /// limits, then the identity headers (and the signed assertion) replace every credential the
    /// backend must not see: ``check(_:route:snapshot:clientIP:limiter:clock:)`` followed by
    /// ``prepareForwardedHead(_:identity:route:snapshot:requestID:clock:)``.
    public static func admit(
        _ identity: Identity,
        head: inout HTTPRequestHead,
        route: RouteMatch,
        snapshot: ConfigSnapshot,
        clientIP: String,
        requestID: String,
        limiter: RateLimiter,
        clock: AdmissionClock
    ) -> Decision {
        let decision = Self.check(
            identity,
            route: route,
            snapshot: snapshot,
            clientIP: clientIP,
            limiter: limiter,
            clock: clock
        )
        if case .forward = decision {
            Self.prepareForwardedHead(
                &head,
                identity: identity,
                route: route,
                snapshot: snapshot,
                requestID: requestID,
                clock: clock
            )
        }
        return decision
    }

    /// The caller's own checks, which need nothing of the head: the route's impersonation rule,
    /// then the per-user and route-class limits.
    public static func check(
        _ identity: Identity,
        route: RouteMatch,
        snapshot: ConfigSnapshot,
        clientIP: String,
        limiter: RateLimiter,
        clock: AdmissionClock
    ) -> Decision {
        if identity.impersonatedBy != nil && !route.allowImpersonation {
            return .refuse(.impersonationNotAllowed, counter: nil)
        }
        let policy = snapshot.policy
        if policy.rateLimitsEnabled {
            let now = clock.uptimeNanoseconds
            if let refusal = RateLimitHeaders.error(
                for: limiter.check(
                    RateLimitKey(namespace: "user", value: identity.userID),
                    limit: policy.userLimit,
                    now: now
                )
            ) {
                return .refuse(refusal, counter: .rateLimitedUser)
            }
            if let name = route.rateLimitClass,
                let refusal = RequestAdmission.classLimitError(
                    name,
                    clientIP: clientIP,
                    userID: identity.userID,
                    policy: policy,
                    limiter: limiter,
                    now: now
                )
            {
                return .refuse(refusal, counter: .rateLimitedClass)
            }
        }
        return .forward
    }

    /// The head an admitted caller's request goes upstream with: the identity headers (and the
    /// signed assertion) in place of every credential the backend must not see.
    ///
    /// Edits `head` in place; ``ProxyStateMachine/authenticated(editing:)`` runs it on the head
    /// the machine holds, so the header storage is never copied.
    public static func prepareForwardedHead(
        _ head: inout HTTPRequestHead,
        identity: Identity,
        route: RouteMatch,
        snapshot: ConfigSnapshot,
        requestID: String,
        clock: AdmissionClock
    ) {
        if let apiKeyHeader = snapshot.auth.extractor.apiKeyHeader {
            // The key is the gateway's to check; the backend gets its owner, never the key.
            head.headers.remove(name: apiKeyHeader)
        }
        IdentityHeaders.add(identity, to: &head.headers)
        if let signer = snapshot.assertionSigner {
            let assertion = signer.sign(
                identity: identity,
                method: head.method.rawValue,
                path: String(RequestAdmission.path(of: head.uri)),
                requestID: requestID,
                now: clock.epochSeconds()
            )
            head.headers.add(name: "X-Auth-Assertion", value: assertion)
        }
        RequestAdmission.stripCredentials(&head, route: route, snapshot: snapshot)
    }

    private static func isValidLegacyTokenRefusedByPhase(
        plan: AuthenticationPlan,
        snapshot: ConfigSnapshot,
        clock: AdmissionClock
    ) -> Bool {
        guard !plan.legacyAccepted, let bearer = plan.bearer, TokenShape(classifying: bearer) == .jwt,
            let verifier = snapshot.auth.legacyVerifier
        else { return false }
        if case .success = verifier.verify(bearer, now: clock.epochSeconds()) { return true }
        return false
    }
}
