import AuthGateCore
import NIOHTTP1
import Testing

/// The authenticated request path end to end without I/O: admission plans the attempts, an
/// in-memory resolver answers them, the fold and the caller's admission decide, and the head
/// that would go upstream is checked.
@Suite struct AuthPathTests {
    /// Answers attempts from a table, as the introspection core would from its cache.
    struct InMemoryResolver {
        var verdicts: [CredentialAttempt: AuthVerdict]

        func authenticate(_ attempts: [CredentialAttempt]) -> AuthVerdict {
            var fold = CredentialFold()
            for attempt in attempts {
                if let final = fold.add(self.verdicts[attempt] ?? .rejected(.badSignature)) { return final }
            }
            return fold.result
        }
    }

    enum Outcome: Equatable {
        case forwarded(HTTPRequestHead)
        case refused(GatewayError)
    }

    /// Runs one request through the whole path.
    static func run(
        _ gate: inout RequestAdmissionTests.Gate,
        _ uri: String,
        headers: [(String, String)],
        resolver: InMemoryResolver
    ) -> Outcome {
        var (admission, head) = gate.admit(.GET, uri, headers: headers)
        guard case .authenticate(let plan) = admission.decision else {
            Issue.record("expected a plan, got \(admission.decision)")
            return .refused(.notFound)
        }
        let verdict =
            plan.attempts.isEmpty
            ? .rejected(CallerAdmission.emptyPlanReason(plan)) : resolver.authenticate(plan.attempts)
        let clock = AdmissionClock(uptimeNanoseconds: gate.now, epochSeconds: { 1_800_000_000 })
        let outcome = CallerAdmission.verdict(verdict, plan: plan, snapshot: gate.snapshot, clock: clock)
        guard case .admit(let identity) = outcome.next else {
            if case .refuse(let error) = outcome.next { return .refused(error) }
            Issue.record("no migration policy is configured")
            return .refused(.notFound)
        }
        switch CallerAdmission.admit(
            identity,
            head: &head,
            route: admission.route,
            snapshot: gate.snapshot,
            clientIP: admission.clientIP,
            requestID: admission.requestID,
            limiter: gate.state.rateLimiter,
            clock: clock
        ) {
        case .forward: return .forwarded(head)
        case .refuse(let error, _): return .refused(error)
        }
    }

    static let identity = Identity(
        userID: "user-1",
        email: "u@example.com",
        roles: ["member"],
        kind: .legacyJWT,
        sessionID: nil,
        expiresAt: nil
    )

    @Test func anAcceptedLegacyTokenReachesTheBackendAsIdentityHeadersOnly() throws {
        var gate = try RequestAdmissionTests.Gate()
        let token = RequestAdmissionTests.legacyToken()
        let resolver = InMemoryResolver(verdicts: [.legacyJWT(token): .accepted(Self.identity)])
        let outcome = Self.run(
            &gate,
            "/api/orders",
            headers: [("Authorization", "Bearer \(token)"), ("X-Auth-User-Id", "admin"), ("X-Auth-Roles", "admin")],
            resolver: resolver
        )
        guard case .forwarded(let head) = outcome else {
            Issue.record("expected the request forwarded, got \(outcome)")
            return
        }
        #expect(head.headers["x-auth-user-id"] == ["user-1"])
        #expect(head.headers["x-auth-roles"] == ["member"])
        #expect(head.headers["x-auth-method"] == ["legacy"])
        #expect(head.headers["authorization"].isEmpty)
    }

    @Test func aRefusedTokenIs401WithItsReason() throws {
        var gate = try RequestAdmissionTests.Gate()
        let token = RequestAdmissionTests.legacyToken()
        let outcome = Self.run(
            &gate,
            "/api/orders",
            headers: [("Authorization", "Bearer \(token)")],
            resolver: InMemoryResolver(verdicts: [.legacyJWT(token): .rejected(.expired)])
        )
        #expect(outcome == .refused(.unauthorized(.expired)))
    }

    @Test func anAuthorityThatCannotAnswerIs503() throws {
        var gate = try RequestAdmissionTests.Gate()
        let token = RequestAdmissionTests.legacyToken()
        let outcome = Self.run(
            &gate,
            "/api/orders",
            headers: [("Authorization", "Bearer \(token)")],
            resolver: InMemoryResolver(verdicts: [.legacyJWT(token): .unavailable("down")])
        )
        #expect(outcome == .refused(.authUnavailable))
    }

    @Test func aRequestWithoutCredentialsIs401MissingCredential() throws {
        var gate = try RequestAdmissionTests.Gate()
        let outcome = Self.run(&gate, "/api/orders", headers: [], resolver: InMemoryResolver(verdicts: [:]))
        #expect(outcome == .refused(.unauthorized(.missingCredential)))
    }

    @Test func aValidLegacyTokenOnABetterAuthOnlyRouteIsMethodNotAllowed() throws {
        var gate = try RequestAdmissionTests.Gate()
        let token = RequestAdmissionTests.legacyToken()
        let outcome = Self.run(
            &gate,
            "/api/v2/orders",
            headers: [("Authorization", "Bearer \(token)")],
            resolver: InMemoryResolver(verdicts: [.legacyJWT(token): .accepted(Self.identity)])
        )
        #expect(outcome == .refused(.unauthorized(.methodNotAllowed)))
    }
}
