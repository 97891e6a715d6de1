import AuthGateCore
import NIOCore
import NIOHTTP1
import Testing

/// The admission order, decided with no I/O: a config snapshot, a head, a peer and a clock in,
/// one decision out.
@Suite struct RequestAdmissionTests {
    static let legacySecret = "0123456789abcdef0123456789abcdef-legacy"
    static let betterAuthSecret = "0123456789abcdef0123456789abcdef-ba"

    static let yaml = """
        auth:
          legacy_jwt_secret: "\(legacySecret)"
          better_auth_secret: "\(betterAuthSecret)"
          legacy_refresh_path: /api/auth/refresh
        rate_limits:
          enabled: true
          ip_requests_per_minute: 60
          ip_burst: 3
          login_paths: [/api/login]
          login_requests_per_minute: 60
          login_burst: 10
        lockout:
          enabled: true
          max_failures: 2
          window_ms: 60000
        forwarding:
          forward_authorization: false
        routes:
          - path: /api/public/
            access: public
          - path: /api/login
            access: public
          - path: /api/v2/
            access: better_auth_only
        """

    /// One admission run against a fresh limiter, lockout and cache (or the given ones).
    struct Gate {
        var snapshot: ConfigSnapshot
        var state: AdmissionState
        var ids = RequestIDGenerator(seed: 7)
        var now: UInt64 = 1_000_000_000

        init(yaml: String = RequestAdmissionTests.yaml) throws {
            let config = try ConfigLoader.parse(yaml: yaml, file: nil, environment: [:])
            self.snapshot = try ConfigSnapshot(config: config, generation: 1)
            self.state = AdmissionState(
                rateLimiter: RateLimiter(),
                lockout: FailedAuthTracker(configuration: .init(maxFailures: 2, window: .seconds(60))),
                cache: IdentityCache(configuration: .init())
            )
        }

        var limits: RequestLimits { self.snapshot.exchange.requestLimits }

        mutating func admit(
            _ method: HTTPMethod = .GET,
            _ uri: String,
            headers: [(String, String)] = [],
            peer: String = "192.0.2.10"
        ) -> (Admission, HTTPRequestHead) {
            var head = HTTPRequestHead(version: .http1_1, method: method, uri: uri)
            head.headers.add(name: "Host", value: "app.example")
            for (name, value) in headers { head.headers.add(name: name, value: value) }
            let admission = RequestAdmission.admit(
                &head,
                snapshot: self.snapshot,
                limits: self.limits,
                forwarding: ForwardingContext(peerIP: peer, peerIsTrusted: false),
                requestIDs: &self.ids,
                state: self.state,
                clock: AdmissionClock(uptimeNanoseconds: self.now, epochSeconds: { 1_800_000_000 })
            )
            return (admission, head)
        }
    }

    static func legacyToken(secret: String = legacySecret, exp: Int = 1_800_000_600) -> String {
        JWTSigner.hs256(claims: .object(["sub": .string("user-1"), "exp": .number(Double(exp))]), secret: secret)
    }

    @Test func publicRouteIsForwardedWithoutItsCredentials() throws {
        var gate = try Gate()
        let (admission, head) = gate.admit(.GET, "/api/public/items?page=2", headers: [("Authorization", "Bearer abc")])
        #expect(admission.decision == .forward)
        #expect(admission.routeClass == .public)
        #expect(admission.route.access == .public)
        #expect(admission.clientIP == "192.0.2.10")
        #expect(!admission.requestID.isEmpty)
        #expect(admission.counter == nil)
        #expect(head.headers["authorization"].isEmpty)
        #expect(head.headers.first(name: "x-request-id") == admission.requestID)
        #expect(head.uri == "/api/public/items?page=2")
    }

    @Test func authenticatedRoutePlansTheLegacyTokenFirst() throws {
        var gate = try Gate()
        let token = Self.legacyToken()
        let (admission, head) = gate.admit(.GET, "/api/orders", headers: [("Authorization", "Bearer \(token)")])
        guard case .authenticate(let plan) = admission.decision else {
            Issue.record("expected a plan, got \(admission.decision)")
            return
        }
        #expect(plan.attempts.first == .legacyJWT(token))
        #expect(plan.hadCredentials)
        #expect(!plan.isMalformed)
        #expect(plan.attemptMethod == .legacy)
        #expect(plan.legacyAccepted)
        #expect(admission.routeClass == .authenticated)
        // The head keeps its credential until the verdict: the backend never sees it, but the
        // strip happens once the caller is known.
        #expect(head.headers.first(name: "authorization") == "Bearer \(token)")
        // The plan's token is one the snapshot's legacy keys accept: the whole local check.
        let verifier = try #require(gate.snapshot.auth.legacyVerifier)
        guard case .success(let claims) = verifier.verify(Substring(token), now: 1_800_000_000) else {
            Issue.record("the legacy key refused the token")
            return
        }
        #expect(claims.subject == "user-1")
    }

    @Test func noCredentialIsAnEmptyPlanThatIsNotMalformed() throws {
        var gate = try Gate()
        let (admission, _) = gate.admit(.GET, "/api/orders")
        #expect(admission.decision == .authenticate(AuthenticationPlan(attempts: [], hadCredentials: false)))
    }

    @Test func betterAuthOnlyRouteRefusesALegacyTokenByPolicy() throws {
        var gate = try Gate()
        let (admission, _) = gate.admit(
            .GET,
            "/api/v2/me",
            headers: [("Authorization", "Bearer \(Self.legacyToken())")]
        )
        guard case .authenticate(let plan) = admission.decision else {
            Issue.record("expected a plan, got \(admission.decision)")
            return
        }
        #expect(admission.routeClass == .betterAuthOnly)
        #expect(!plan.legacyAccepted)
        #expect(plan.attempts.allSatisfy { $0.method == .betterAuth })
    }

    @Test func ambiguousFramingIsInvalidWithNoRequestInfo() throws {
        var gate = try Gate()
        let (admission, _) = gate.admit(
            .POST,
            "/api/orders",
            headers: [("Content-Length", "3"), ("Content-Length", "4")]
        )
        guard case .invalid(let error) = admission.decision else {
            Issue.record("expected invalid, got \(admission.decision)")
            return
        }
        #expect(error.status == .badRequest)
        #expect(admission.info == nil)
        #expect(admission.counter == .rejectedRequest)
        #expect(!admission.requestID.isEmpty)
    }

    @Test func theNormalisedPathIsMatchedAndForwarded() throws {
        var gate = try Gate()
        let (admission, head) = gate.admit(.GET, "/api/public/../orders")
        #expect(head.uri == "/api/orders")
        #expect(admission.target == "/api/orders")
        #expect(admission.route.access == .authenticated)
        guard case .authenticate = admission.decision else {
            Issue.record("a traversal out of a public prefix must not stay public: \(admission.decision)")
            return
        }
    }

    @Test func healthIsAnsweredLocallyAndNeverLimited() throws {
        var gate = try Gate()
        for _ in 0..<10 {
            let (admission, _) = gate.admit(.GET, "/health")
            #expect(admission.decision == .answerLocally(.health))
            #expect(admission.routeClass == .gateway)
        }
    }

    @Test func theClientIPLimitRefusesTheRequestAfterTheBurst() throws {
        var gate = try Gate()
        for _ in 0..<3 {
            #expect(gate.admit(.GET, "/api/public/a").0.decision == .forward)
        }
        let (refused, _) = gate.admit(.GET, "/api/public/a")
        guard case .reject(let error) = refused.decision else {
            Issue.record("expected a 429, got \(refused.decision)")
            return
        }
        #expect(error.status == .tooManyRequests)
        #expect(refused.counter == .rateLimitedIP)
        // Another client has its own bucket.
        #expect(gate.admit(.GET, "/api/public/a", peer: "192.0.2.11").0.decision == .forward)
    }

    @Test func aLockedOutClientIsRefusedBeforeItsCredentialIsLookedAt() throws {
        var gate = try Gate()
        let key = RateLimitKey(namespace: "ip", value: "192.0.2.10")
        _ = gate.state.lockout.recordFailure(key, now: gate.now)
        _ = gate.state.lockout.recordFailure(key, now: gate.now)
        let (admission, _) = gate.admit(
            .GET,
            "/api/orders",
            headers: [("Authorization", "Bearer \(Self.legacyToken())")]
        )
        guard case .reject(let error) = admission.decision else {
            Issue.record("expected a lockout, got \(admission.decision)")
            return
        }
        #expect(error.status == .tooManyRequests)
        #expect(admission.counter == .lockedOut)
        #expect(admission.audit == AdmissionAudit(kind: .lockout, method: nil, success: false, reason: "locked_out"))
        // Public routes are not locked.
        #expect(gate.admit(.GET, "/api/public/a").0.decision == .forward)
    }

    @Test func aPublicLoginWithABodyIsReadForItsAccount() throws {
        var gate = try Gate()
        let (admission, _) = gate.admit(
            .POST,
            "/api/login",
            headers: [("Content-Type", "application/json"), ("Content-Length", "20")]
        )
        #expect(admission.decision == .checkLoginBody(contentType: "application/json"))
        #expect(admission.countsLoginFailure)
        #expect(admission.routeClass == .login)
    }

    @Test func aLegacyRefreshGoesToTheBackendsRefreshPath() throws {
        var gate = try Gate()
        let expired = Self.legacyToken(exp: 1_700_000_000)
        let (admission, head) = gate.admit(
            .POST,
            "/api/auth-proxy/refresh?x=1",
            headers: [("Authorization", "Bearer \(expired)")]
        )
        #expect(admission.decision == .forward)
        #expect(head.uri == "/api/auth/refresh?x=1")
        #expect(admission.target == "/api/auth-proxy/refresh?x=1")
        #expect(admission.routeClass == .gateway)
        #expect(admission.audit == AdmissionAudit(kind: .refresh, method: .legacy, success: true, reason: nil))
    }

    @Test func aForgedRefreshIsRefusedHere() throws {
        var gate = try Gate()
        let forged = Self.legacyToken(secret: "another-secret-another-secret-0123")
        let (admission, head) = gate.admit(
            .POST,
            "/api/auth-proxy/refresh",
            headers: [("Authorization", "Bearer \(forged)")]
        )
        #expect(admission.decision == .answerLocally(.refreshRefused(.badSignature)))
        #expect(head.uri == "/api/auth-proxy/refresh")
        #expect(admission.audit?.success == false)
    }

    @Test func aRefreshWithoutAHeaderCredentialReadsItsBody() throws {
        var gate = try Gate()
        let (admission, _) = gate.admit(.POST, "/api/auth-proxy/refresh", headers: [("Content-Length", "30")])
        #expect(admission.decision == .answerLocally(.refreshFromBody))
        #expect(admission.audit == nil)
    }

    @Test func aBetterAuthSessionRefreshIsAnsweredByTheAuthServer() throws {
        var gate = try Gate()
        let signed = SessionTokenSigner(secret: Self.betterAuthSecret).cookieValue(token: "session-token-1")
        let (admission, _) = gate.admit(
            .POST,
            "/api/auth-proxy/refresh",
            headers: [("Cookie", "better-auth.session_token=\(signed)")]
        )
        let expected = SessionTokenSigner(secret: Self.betterAuthSecret).signedValue(token: "session-token-1")
        #expect(admission.decision == .answerLocally(.refreshSession(signedValue: expected)))
        #expect(admission.audit == AdmissionAudit(kind: .refresh, method: .betterAuth, success: true, reason: nil))
    }

    @Test func aSignOutEvictsItsSessionOnceItSucceeds() throws {
        var gate = try Gate()
        let signed = SessionTokenSigner(secret: Self.betterAuthSecret).cookieValue(token: "session-token-2")
        let (admission, _) = gate.admit(
            .POST,
            "/api/auth/sign-out",
            headers: [("Cookie", "better-auth.session_token=\(signed)")]
        )
        #expect(admission.evictOnSuccess == [CredentialKey(kind: .sessionCookie, credential: "session-token-2")])
    }

    @Test func anOversizedTargetIsA414() throws {
        var gate = try Gate()
        let (admission, _) = gate.admit(.GET, "/api/" + String(repeating: "a", count: 9_000))
        guard case .invalid(let error) = admission.decision else {
            Issue.record("expected invalid, got \(admission.decision)")
            return
        }
        #expect(error.status == .uriTooLong)
    }
}
