public import NIOHTTP1

/// The rollout's shared, in-memory state that admission reads and updates: the limiter
/// buckets, the lockout windows and the identity cache (a refresh evicts its credential).
public struct AdmissionState: Sendable {
    public let rateLimiter: RateLimiter
    public let lockout: FailedAuthTracker
    public let cache: IdentityCache

    public init(rateLimiter: RateLimiter, lockout: FailedAuthTracker, cache: IdentityCache) {
        self.rateLimiter = rateLimiter
        self.lockout = lockout
        self.cache = cache
    }
}

/// The clocks admission reads: monotonic nanoseconds for limits and lockout windows, and
/// wall-clock seconds for the signature check of a refreshed legacy token.
public struct AdmissionClock: Sendable {
    public var uptimeNanoseconds: UInt64
    public var epochSeconds: @Sendable () -> Int64

    public init(uptimeNanoseconds: UInt64, epochSeconds: @escaping @Sendable () -> Int64) {
        self.uptimeNanoseconds = uptimeNanoseconds
        self.epochSeconds = epochSeconds
    }
}

/// The admission order of the request path, as one function of the request head, the config
/// snapshot, the peer and the clock (and the rollout's in-memory limiter, lockout and cache):
/// validation, the forwarding rewrite, normalisation, local endpoints, the per-IP limit, CORS
/// preflights, refreshes, the route, the lockout, route-class limits, sign-out, login bodies
/// and the credential plan. No I/O: the handler carries the decision out, so the order is
/// tested here, the authenticated path included.
public enum RequestAdmission {
    /// Decides what happens to `head`, rewriting it on the way into the head that is
    /// forwarded (forwarding fields, normalised target, credentials kept from the backend).
    public static func admit(
        _ head: inout HTTPRequestHead,
        snapshot: ConfigSnapshot,
        limits: RequestLimits,
        forwarding: ForwardingContext,
        requestIDs: inout RequestIDGenerator,
        state: AdmissionState,
        clock: AdmissionClock
    ) -> Admission {
        var admission = Admission(decision: .forward, requestID: "", target: head.uri)
        // CORS: the request's Origin is looked at once, here; without `cors:` not at all.
        var corsPreflight: CORSPreflightAnswer? = nil
        if let cors = snapshot.cors {
            let decision = cors.decide(method: head.method, headers: head.headers)
            admission.cors = decision.response
            corsPreflight = decision.preflight
        }

        let framing: RequestBodyFraming
        switch RequestValidator.validate(head, limits: limits) {
        case .success(let validated):
            framing = validated
        case .failure(let error):
            admission.requestID = requestIDs.next()
            admission.counter = .rejectedRequest
            admission.decision = .invalid(error)
            return admission
        }

        let policy = snapshot.policy
        let forwarded = HeaderPolicy.rewriteRequest(
            &head,
            framing: framing,
            context: forwarding,
            trustedProxies: snapshot.trustedProxies,
            strippedHeaders: policy.strippedHeaders,
            requestIDGenerator: &requestIDs
        )
        admission.requestID = forwarded.requestID
        admission.clientIP = forwarded.clientIP
        admission.keepAlive = forwarded.clientKeepAlive
        admission.expectsContinue = forwarded.expectsContinue
        let info = ProxyStateMachine.RequestInfo(
            method: head.method,
            framing: framing,
            keepAlive: forwarded.clientKeepAlive,
            isUpgrade: forwarded.isUpgrade,
            maxBodyBytes: limits.maxBodyBytes,
            retryIdempotent: snapshot.exchange.retryIdempotent,
            requestBufferBytes: snapshot.exchange.requestBufferBytes
        )
        admission.info = info

        // One normalisation: the path matched is the path forwarded.
        switch PathNormalizer.normalize(
            target: head.uri,
            escapedSlashes: policy.escapedSlashes,
            pathParameters: policy.pathParameters
        ) {
        case .success(let target):
            // Nearly every target is already normal (the same string comes back): setting
            // it anyway would copy the head's storage.
            if target != head.uri { head.uri = target }
        case .failure(let problem):
            admission.reject(.badRequest(problem.message), counter: .badPath)
            return admission
        }
        admission.target = head.uri
        let path = Self.path(of: head.uri)
        // A route with `cors: false` leaves CORS to the backend; looked up here only for an
        // allowed origin (other requests learn it from the route match below).
        if admission.cors?.allowOrigin != nil, !snapshot.auth.routes.match(path: path).cors {
            admission.cors = nil
            corsPreflight = nil
        }

        let local = LocalEndpoint.match(method: head.method, uri: head.uri)
        if local != nil { admission.routeClass = .gateway }
        if case .health = local {
            // Probes are never limited.
            admission.decision = .answerLocally(.health)
            return admission
        }

        // Per client IP, before any crypto.
        let limiting = policy.rateLimitsEnabled
        let now = clock.uptimeNanoseconds
        if limiting {
            let decision = state.rateLimiter.check(
                RateLimitKey(namespace: "ip", value: admission.clientIP),
                limit: policy.ipLimit,
                now: now
            )
            if let error = RateLimitHeaders.error(for: decision) {
                admission.reject(error, counter: .rateLimitedIP)
                return admission
            }
        }

        // A preflight from an allowed origin is answered here: it carries no credentials.
        if let corsPreflight {
            admission.routeClass = .gateway
            admission.decision = .answerLocally(.preflight(corsPreflight))
            return admission
        }

        var forcePublic = false
        switch local {
        case .refresh:
            let route = RefreshRoute.route(
                &head,
                framing: framing,
                auth: snapshot.auth,
                legacyRefreshPath: snapshot.exchange.legacyRefreshPath,
                cache: state.cache,
                epochSeconds: clock.epochSeconds
            )
            admission.audit = route.audit
            switch route {
            case .readBody:
                // The guide's {"refresh_token": …}: judged once the body is in.
                admission.decision = .answerLocally(.refreshFromBody)
                return admission
            case .forwardToBackend:
                forcePublic = true
            case .answerHere(let signedValue):
                admission.decision = .answerLocally(.refreshSession(signedValue: signedValue))
                return admission
            case .reject(let reason):
                admission.decision = .answerLocally(.refreshRefused(reason))
                return admission
            }
        case .introspect:
            if limiting,
                let error = Self.classLimitError(
                    "introspect",
                    clientIP: admission.clientIP,
                    policy: policy,
                    limiter: state.rateLimiter,
                    now: now
                )
            {
                admission.counter = .rateLimitedClass
                admission.decision = .answerLocally(.limited(error))
                return admission
            }
            admission.decision = .answerLocally(.introspect)
            return admission
        case .flags:
            admission.decision = .answerLocally(.flags)
            return admission
        case .health, nil:
            break
        }

        let auth = snapshot.auth
        let route: RouteMatch
        if policy.pathParameters == .allow {
            switch auth.routes.match(pathWithParameters: path) {
            case .success(let match):
                route = match
            case .failure(let problem):
                admission.reject(.badRequest(problem.message), counter: .badPath)
                return admission
            }
        } else {
            route = auth.routes.match(path: path)
        }
        admission.route = route
        if !route.cors { admission.cors = nil }
        let access = forcePublic ? .public : route.access
        let isLogin = policy.isLoginPath(path)
        if !forcePublic {
            switch access {
            case _ where isLogin: admission.routeClass = .login
            case .public: admission.routeClass = .public
            case .authenticated: admission.routeClass = .authenticated
            case .betterAuthOnly: admission.routeClass = .betterAuthOnly
            }
        }

        // Lockout of a client IP, before any credential or body is looked at.
        if policy.lockoutEnabled && (access != .public || isLogin),
            let error = RateLimitHeaders.error(
                for: state.lockout.isLockedOut(RateLimitKey(namespace: "ip", value: admission.clientIP), now: now)
            )
        {
            admission.audit = AdmissionAudit(kind: .lockout, method: nil, success: false, reason: "locked_out")
            admission.reject(error, counter: .lockedOut)
            return admission
        }
        // Route classes of anonymous requests count per client IP; the login class always does.
        if limiting, access == .public || isLogin, let name = isLogin ? "login" : route.rateLimitClass,
            let error = Self.classLimitError(
                name,
                clientIP: admission.clientIP,
                policy: policy,
                limiter: state.rateLimiter,
                now: now
            )
        {
            admission.reject(error, counter: .rateLimitedClass)
            return admission
        }

        // A sign-out through the gateway evicts its session once it succeeds.
        if head.method == .POST && path == auth.signOutPath {
            let credentials = auth.extractor.extract(from: head.headers)
            if let value = credentials.sessionCookie ?? credentials.bearer,
                let key = auth.sessionCacheKey(signedValue: value)
            {
                admission.evictOnSuccess = [key]
            }
        }

        if isLogin && policy.lockoutEnabled {
            admission.countsLoginFailure = true
            if head.method == .POST && framing != .none && access == .public {
                // The account is in the body: read it (bounded) before the request goes on. (A
                // login path that also needs a credential is authenticated first, like any
                // route, and counted per client IP only.)
                admission.decision = .checkLoginBody(contentType: head.headers.first(name: "content-type"))
                return admission
            }
        }

        if access == .public {
            Self.stripCredentials(&head, route: route, snapshot: snapshot)
            admission.decision = .forward
            return admission
        }
        admission.decision = .authenticate(
            Self.plan(&head, access: access, route: route, isUpgrade: info.isUpgrade, snapshot: snapshot)
        )
        return admission
    }

    /// The credential plan of a request to a route that needs a caller; upgrade tokens
    /// (subprotocol, query parameter) are taken out of `head` on the way.
    static func plan(
        _ head: inout HTTPRequestHead,
        access: RouteAccess,
        route: RouteMatch,
        isUpgrade: Bool,
        snapshot: ConfigSnapshot
    ) -> AuthenticationPlan {
        let auth = snapshot.auth
        let policy = snapshot.policy
        let credentials: ExtractedCredentials
        if isUpgrade && (policy.tokenSubprotocol != nil || policy.tokenQueryParameter != nil) {
            credentials = auth.extractor.extractForUpgrade(
                from: head.headers,
                target: head.uri,
                subprotocolMarker: policy.tokenSubprotocol,
                queryParameter: policy.tokenQueryParameter
            )
            CredentialExtractor.removingUpgradeTokens(
                &head,
                subprotocolMarker: policy.tokenSubprotocol,
                queryParameter: policy.tokenQueryParameter
            )
        } else {
            credentials = auth.extractor.extract(from: head.headers)
        }
        if credentials.isMalformed {
            return AuthenticationPlan(attempts: [], hadCredentials: true, isMalformed: true)
        }
        let authPolicy =
            route.enableDualAuth == nil && route.preferBetterAuth == nil
            ? auth.policy
            : auth.policy.overriding(enableDualAuth: route.enableDualAuth, preferBetterAuth: route.preferBetterAuth)
        let attempts = authPolicy.attempts(for: credentials, access: access)
        var refusedByPolicy = false
        if attempts.isEmpty && !credentials.isEmpty {
            let everything = AuthPolicy(
                enableDualAuth: true,
                preferBetterAuth: false,
                legacyOpaqueEnabled: authPolicy.legacyOpaqueEnabled,
                acceptRawBearer: authPolicy.acceptRawBearer
            )
            refusedByPolicy = !everything.attempts(for: credentials, access: .authenticated).isEmpty
        }
        return AuthenticationPlan(
            attempts: attempts,
            hadCredentials: !credentials.isEmpty,
            refusedByPolicy: refusedByPolicy,
            bearer: credentials.bearer,
            legacyAccepted: authPolicy.accepts(.legacy, access: access)
        )
    }

    /// The 429 of route class `name`'s limit for `clientIP` (or, given `userID`, for this
    /// user); `nil` when the request is within it or the class has no limit.
    public static func classLimitError(
        _ name: String,
        clientIP: String,
        userID: String? = nil,
        policy: PolicySettings,
        limiter: RateLimiter,
        now: UInt64
    ) -> GatewayError? {
        guard let limit = policy.classLimits[name] else { return nil }
        let key =
            userID.map { RateLimitKey(namespace: limit.userNamespace, value: $0) }
            ?? RateLimitKey(namespace: limit.ipNamespace, value: clientIP)
        return RateLimitHeaders.error(for: limiter.check(key, limit: limit.limit, now: now))
    }

    /// Removes the credentials the config keeps from the backend (`forwarding.*`); requests to
    /// the auth server keep them, it needs them.
    public static func stripCredentials(_ head: inout HTTPRequestHead, route: RouteMatch, snapshot: ConfigSnapshot) {
        let policy = snapshot.policy
        guard route.upstream == .backend, !policy.forwardAuthorization || !policy.forwardSessionCookie else {
            return
        }
        let extractor = snapshot.auth.extractor
        CredentialForwarding.strip(
            &head.headers,
            authorization: !policy.forwardAuthorization,
            sessionCookieNames: policy.forwardSessionCookie ? [] : [extractor.cookieName, extractor.secureCookieName]
        )
    }

    /// The path of a request target: everything before the query.
    public static func path(of target: String) -> Substring {
        target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? target[...]
    }
}

extension Admission {
    fileprivate mutating func reject(_ error: GatewayError, counter: AdmissionCounter) {
        self.counter = counter
        self.decision = .reject(error)
    }
}
