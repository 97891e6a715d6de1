import AuthGateCore
import NIOHTTP1
import Testing

/// What a request that needs a caller becomes once the introspection core has answered, with
/// no I/O: the verdict, the migration policy, and the caller's own limits and headers.
@Suite struct CallerAdmissionTests {
    static let yaml = """
        auth:
          legacy_jwt_secret: "\(RequestAdmissionTests.legacySecret)"
          better_auth_secret: "\(RequestAdmissionTests.betterAuthSecret)"
          database_url: postgres://authgate@127.0.0.1:5432/app
        rate_limits:
          enabled: true
          user_requests_per_minute: 60
          user_burst: 2
        lockout:
          enabled: true
        rollout:
          migration_policy: refuse
        forwarding:
          forward_authorization: false
        assertion:
          enabled: true
          algorithm: HS256
          secret: "assertion-secret-0123456789abcdef0123456789"
        routes:
          - path: /api/v2/
            access: better_auth_only
          - path: /api/admin/
            allow_impersonation: true
        """

    static let clock = AdmissionClock(uptimeNanoseconds: 1_000_000_000, epochSeconds: { 1_800_000_000 })

    static func snapshot(_ yaml: String = Self.yaml) throws -> ConfigSnapshot {
        try ConfigSnapshot(config: ConfigLoader.parse(yaml: yaml, file: nil, environment: [:]), generation: 1)
    }

    static func identity(_ kind: CredentialKind = .legacyJWT, user: String = "user-1") -> Identity {
        Identity(userID: user, email: "u@example.com", roles: ["admin"], kind: kind, sessionID: "s-1", expiresAt: nil)
    }

    static let plan = AuthenticationPlan(
        attempts: [.legacyJWT("t")],
        hadCredentials: true
    )

    @Test func anAcceptedLegacyIdentityUnderAMigrationPolicyChecksItsStatus() throws {
        let outcome = CallerAdmission.verdict(
            .accepted(Self.identity()),
            plan: Self.plan,
            snapshot: try Self.snapshot(),
            clock: Self.clock
        )
        #expect(outcome.next == .checkMigration(Self.identity(), .refuse))
        #expect(outcome.isSuccess)
        #expect(outcome.method == .legacy)
        #expect(outcome.identity == Self.identity())
        #expect(outcome.audit == AdmissionAudit(kind: .success, method: .legacy, success: true, reason: nil))
        #expect(!outcome.countsTowardsLockout)
    }

    @Test func anAcceptedBetterAuthIdentityIsAdmittedWithoutAMigrationCheck() throws {
        let identity = Self.identity(.betterAuthSessionCookie)
        let outcome = CallerAdmission.verdict(
            .accepted(identity),
            plan: Self.plan,
            snapshot: try Self.snapshot(),
            clock: Self.clock
        )
        #expect(outcome.next == .admit(identity))
        #expect(outcome.method == .betterAuth)
    }

    @Test func aRejectedCredentialIs401AndCountsTowardsTheLockout() throws {
        let outcome = CallerAdmission.verdict(
            .rejected(.badSignature),
            plan: Self.plan,
            snapshot: try Self.snapshot(),
            clock: Self.clock
        )
        #expect(outcome.next == .refuse(.unauthorized(.badSignature)))
        #expect(outcome.failureReason == .badSignature)
        #expect(outcome.countsTowardsLockout)
        #expect(outcome.identity == nil)
        #expect(
            outcome.audit == AdmissionAudit(kind: .failure, method: .legacy, success: false, reason: "bad_signature")
        )
    }

    @Test func aRejectionWithoutCredentialsDoesNotCountTowardsTheLockout() throws {
        let plan = AuthenticationPlan(attempts: [], hadCredentials: false)
        let outcome = CallerAdmission.verdict(
            .rejected(.missingCredential),
            plan: plan,
            snapshot: try Self.snapshot(),
            clock: Self.clock
        )
        #expect(outcome.next == .refuse(.unauthorized(.missingCredential)))
        #expect(!outcome.countsTowardsLockout)
        #expect(outcome.method == nil)
    }

    @Test func aValidLegacyTokenRefusedByThePhaseIsMethodNotAllowed() throws {
        let snapshot = try Self.snapshot()
        let token = RequestAdmissionTests.legacyToken()
        let plan = AuthenticationPlan(attempts: [], hadCredentials: true, bearer: token[...], legacyAccepted: false)
        let outcome = CallerAdmission.verdict(
            .rejected(.badSignature),
            plan: plan,
            snapshot: snapshot,
            clock: Self.clock
        )
        #expect(outcome.next == .refuse(.unauthorized(.methodNotAllowed)))

        let forged = RequestAdmissionTests.legacyToken(secret: "another-secret-0123456789abcdef0123456")
        let forgedPlan = AuthenticationPlan(
            attempts: [],
            hadCredentials: true,
            bearer: forged[...],
            legacyAccepted: false
        )
        let forgedOutcome = CallerAdmission.verdict(
            .rejected(.badSignature),
            plan: forgedPlan,
            snapshot: snapshot,
            clock: Self.clock
        )
        #expect(forgedOutcome.next == .refuse(.unauthorized(.badSignature)))
    }

    @Test func anOutageIs503AndNeverALockoutFailure() throws {
        let outcome = CallerAdmission.verdict(
            .unavailable("connection refused"),
            plan: Self.plan,
            snapshot: try Self.snapshot(),
            clock: Self.clock
        )
        #expect(outcome.next == .refuse(.authUnavailable))
        #expect(outcome.counter == .authUnavailable)
        #expect(outcome.failureReason == nil)
        #expect(!outcome.countsTowardsLockout)
        #expect(outcome.audit.reason == "auth_unavailable")
    }

    @Test func anEmptyPlanIsMissingMalformedOrRefusedByPolicy() {
        #expect(
            CallerAdmission.emptyPlanReason(AuthenticationPlan(attempts: [], hadCredentials: false))
                == .missingCredential
        )
        #expect(CallerAdmission.emptyPlanReason(AuthenticationPlan(attempts: [], hadCredentials: true)) == .malformed)
        #expect(
            CallerAdmission.emptyPlanReason(
                AuthenticationPlan(attempts: [], hadCredentials: true, refusedByPolicy: true)
            )
                == .methodNotAllowed
        )
    }

    @Test func theMigrationPolicyRefusesRecordsOrAdmits() {
        let identity = Self.identity()
        guard
            case .refuse(let error, let audit) = CallerAdmission.migration(identity, isMigrated: true, policy: .refuse)
        else {
            Issue.record("a migrated user under refuse must be refused")
            return
        }
        #expect(error == .unauthorized(.userMigrated))
        #expect(audit.reason == "user_migrated")
        #expect(CallerAdmission.migration(identity, isMigrated: true, policy: .record) == .admitAndRecord)
        #expect(CallerAdmission.migration(identity, isMigrated: true, policy: .off) == .admit)
        #expect(CallerAdmission.migration(identity, isMigrated: false, policy: .refuse) == .admit)
    }

    @Test func anAdmittedCallerGetsIdentityHeadersAndAnAssertionAndLosesItsToken() throws {
        let snapshot = try Self.snapshot()
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/api/orders?page=1")
        head.headers.add(name: "Authorization", value: "Bearer secret-token")
        let decision = CallerAdmission.admit(
            Self.identity(),
            head: &head,
            route: RouteMatch(access: .authenticated),
            snapshot: snapshot,
            clientIP: "192.0.2.1",
            requestID: "req-1",
            limiter: RateLimiter(),
            clock: Self.clock
        )
        #expect(decision == .forward)
        #expect(head.headers["authorization"].isEmpty)
        #expect(head.headers["x-auth-user-id"] == ["user-1"])
        #expect(head.headers["x-auth-user-email"] == ["u@example.com"])
        #expect(head.headers["x-auth-roles"] == ["admin"])
        let assertion = try #require(head.headers.first(name: "x-auth-assertion"))
        #expect(assertion.split(separator: ".", omittingEmptySubsequences: false).count == 3)
    }

    @Test func anImpersonatedSessionNeedsARouteThatAllowsIt() throws {
        let snapshot = try Self.snapshot()
        var identity = Self.identity(.betterAuthSessionCookie)
        identity.impersonatedBy = "admin-1"
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/api/orders")
        let refused = CallerAdmission.admit(
            identity,
            head: &head,
            route: RouteMatch(access: .authenticated, allowImpersonation: false),
            snapshot: snapshot,
            clientIP: "192.0.2.1",
            requestID: "req-1",
            limiter: RateLimiter(),
            clock: Self.clock
        )
        #expect(refused == .refuse(.impersonationNotAllowed, counter: nil))
        #expect(head.headers["x-auth-user-id"].isEmpty)

        let allowed = RouteMatch(access: .authenticated)
        let admitted = CallerAdmission.admit(
            identity,
            head: &head,
            route: allowed,
            snapshot: snapshot,
            clientIP: "192.0.2.1",
            requestID: "req-1",
            limiter: RateLimiter(),
            clock: Self.clock
        )
        #expect(admitted == .forward)
    }

    @Test func thePerUserLimitRefusesAfterItsBurst() throws {
        let snapshot = try Self.snapshot()
        let limiter = RateLimiter()
        var decisions: [CallerAdmission.Decision] = []
        for _ in 0..<3 {
            var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/api/orders")
            decisions.append(
                CallerAdmission.admit(
                    Self.identity(),
                    head: &head,
                    route: RouteMatch(access: .authenticated),
                    snapshot: snapshot,
                    clientIP: "192.0.2.1",
                    requestID: "req-1",
                    limiter: limiter,
                    clock: Self.clock
                )
            )
        }
        #expect(decisions[0] == .forward)
        #expect(decisions[1] == .forward)
        guard case .refuse(let error, let counter) = decisions[2] else {
            Issue.record("the third request must be over the burst of 2, got \(decisions[2])")
            return
        }
        #expect(error.status == .tooManyRequests)
        #expect(counter == .rateLimitedUser)
    }
}
