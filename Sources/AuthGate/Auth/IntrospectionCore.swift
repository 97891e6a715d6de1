import AuthGateCore
import Logging
import NIOCore

/// Either the verdict at once (a cache hit, a local JWT check: no future, no Task) or later.
enum AuthOutcome {
    case immediate(AuthVerdict)
    case pending(EventLoopFuture<AuthVerdict>)
}

/// "Who is this?" for every credential kind, behind one cache.
///
/// Verification that needs nothing remote (JWT signatures, the session cookie's HMAC, cache
/// hits) runs inline on the calling event loop. Only a cache miss that needs the auth server
/// or the database creates a Task, and concurrent misses on one credential share it.
final class IntrospectionCore: Sendable {
    let cache: IdentityCache
    let sessionFlights: SingleFlight<SessionOutcome>
    let jwks: JWKSStore?
    let sessionResolver: (any SessionResolver)?
    let metrics: GatewayMetrics
    let logger: Logger
    /// For refreshes on the auth server.
    let authServer: AuthServerClient?
    /// For opaque legacy tokens, when `auth.legacy_introspection_url` is set.
    let legacyIntrospection: LegacyIntrospectionClient?
    let legacyFlights: SingleFlight<SessionOutcome>
    /// With Better Auth's admin plugin and a database: where a Better Auth JWT's user is
    /// checked for a ban before its identity is cached (`nil`: JWTs are not checked).
    let banLookup: PostgresSessionResolver?
    let banFlights: SingleFlight<SessionOutcome>
    /// With the postgres resolver: confirms empty lookups of verified values with get-session,
    /// now and then, to notice sessions kept in Better Auth's secondaryStorage.
    let secondaryStorage: SecondaryStorageWatch?

    init(
        cache: IdentityCache,
        jwks: JWKSStore?,
        sessionResolver: (any SessionResolver)?,
        metrics: GatewayMetrics,
        logger: Logger,
        authServer: AuthServerClient? = nil,
        legacyIntrospection: LegacyIntrospectionClient? = nil,
        banLookup: PostgresSessionResolver? = nil,
        secondaryStorage: SecondaryStorageWatch? = nil
    ) {
        self.secondaryStorage = secondaryStorage
        self.banLookup = banLookup
        self.banFlights = SingleFlight(shardCount: 16)
        self.authServer = authServer
        self.legacyIntrospection = legacyIntrospection
        self.legacyFlights = SingleFlight(shardCount: 16)
        self.cache = cache
        self.sessionFlights = SingleFlight(shardCount: 16)
        self.jwks = jwks
        self.sessionResolver = sessionResolver
        self.metrics = metrics
        self.logger = logger
    }

    /// Tries `attempts` in order and folds their verdicts (``CredentialFold``): inline while
    /// each answers inline, on the lookup's future from the first that does not.
    func authenticate(_ attempts: [CredentialAttempt], settings: AuthSettings, eventLoop: any EventLoop) -> AuthOutcome
    {
        self.continueAttempts(attempts[...], settings: settings, eventLoop: eventLoop, fold: CredentialFold())
    }

    private func continueAttempts(
        _ attempts: ArraySlice<CredentialAttempt>,
        settings: AuthSettings,
        eventLoop: any EventLoop,
        fold: CredentialFold
    ) -> AuthOutcome {
        var fold = fold
        var remaining = attempts
        while let attempt = remaining.popFirst() {
            switch self.try(attempt, settings: settings, eventLoop: eventLoop) {
            case .immediate(let verdict):
                if let final = fold.add(verdict) { return .immediate(final) }
            case .pending(let future):
                let rest = remaining
                let folded = fold
                return .pending(
                    future.flatMap { verdict in
                        var fold = folded
                        if let final = fold.add(verdict) { return eventLoop.makeSucceededFuture(final) }
                        return self.continueAttempts(rest, settings: settings, eventLoop: eventLoop, fold: fold)
                            .future(on: eventLoop)
                    }
                )
            }
        }
        return .immediate(fold.result)
    }

    /// One attempt.
    func `try`(_ attempt: CredentialAttempt, settings: AuthSettings, eventLoop: any EventLoop) -> AuthOutcome {
        switch attempt {
        case .legacyJWT(let token):
            guard let verifier = settings.legacyVerifier else { return .immediate(.rejected(.unknownKey)) }
            return self.verifyJWT(token, kind: .legacyJWT, cacheKind: .legacyJWT) { verifier }
        case .betterAuthJWT(let token):
            let jwks = self.jwks
            let outcome = self.verifyJWT(
                token,
                kind: .betterAuthJWT,
                cacheKind: .betterAuthJWT,
                checksBan: true,
                eventLoop: eventLoop
            ) {
                settings.betterAuthVerifier(jwks: jwks?.keys ?? JWTKeySet())
            }
            guard case .immediate(.rejected(.unknownKey)) = outcome, let jwks,
                JWTVerifier.unverifiedIssuer(of: token[...]) == settings.betterAuthIssuer
            else {
                // Not the auth server's token (a legacy JWT with a kid, say): no refetch, and no
                // waiting for one.
                return outcome
            }
            // An unknown kid: the auth server may have rotated its keys. One fetch for all
            // concurrent requests, at most one per cooldown; inside the cooldown the token
            // waits for the fetch scheduled at its end rather than being refused.
            // The wait is timed as one more validation (the check above was one): a p95 of the
            // validation histogram sees tokens that wait for the JWKS.
            let waitStarted = NIODeadline.now()
            let metrics = self.metrics
            let verify: @Sendable (JWTKeySet) -> EventLoopFuture<AuthVerdict> = { keys in
                let verifier = settings.betterAuthVerifier(jwks: keys)
                return self.verifyJWT(
                    token,
                    kind: .betterAuthJWT,
                    cacheKind: .betterAuthJWT,
                    recordsLatency: false,
                    checksBan: true,
                    eventLoop: eventLoop,
                    verifier: { verifier }
                ).future(on: eventLoop)
            }
            let waited =
                jwks.refreshed(on: eventLoop).flatMap { refreshed in
                    verify(refreshed.keys).flatMap { verdict in
                        // A fetch already running may have been answered before the rotation
                        // this token comes from: then wait once more, for the next fetch.
                        guard case .rejected(.unknownKey) = verdict, refreshed.joinedRunningFetch else {
                            return eventLoop.makeSucceededFuture(verdict)
                        }
                        return jwks.refreshed(on: eventLoop).flatMap { verify($0.keys) }
                    }
                }
            return .pending(
                waited.always { _ in
                    metrics.validationLatency.record(nanoseconds: (NIODeadline.now() - waitStarted).nanoseconds)
                }
            )
        case .betterAuthSession(let value, let source):
            guard let signer = settings.sessionSigner else { return .immediate(.rejected(.badSignature)) }
            switch signer.verify(signedValue: Substring(value)) {
            case .failure(let reason):
                // A forged or mangled value never costs a lookup.
                self.metrics.forgedSessionValues.increment()
                return .immediate(.rejected(reason))
            case .success(let token):
                let cookieName: String
                if let cache = settings.cookieCache, case .cookie(_, let cacheValue?) = source,
                    let identity = cache.identity(value: cacheValue, token: token, now: Self.nowMillis())
                {
                    // Better Auth's own cookie cache vouches for the session: no lookup.
                    self.metrics.recordCacheHit(method: .betterAuth)
                    return .immediate(.accepted(identity))
                }
                if case .cookie(let name, _) = source, !name.isEmpty {
                    cookieName = name
                } else {
                    cookieName = settings.authServerCookieName
                }
                return self.resolveSession(
                    token: token,
                    signer: signer,
                    kind: source.isCookie ? .betterAuthSessionCookie : .betterAuthSessionBearer,
                    cookieName: cookieName,
                    verified: true,
                    eventLoop: eventLoop
                )
            }
        case .betterAuthRawSession(let token):
            guard let signer = settings.sessionSigner else { return .immediate(.rejected(.rawTokenNotAllowed)) }
            return self.resolveSession(
                token: Substring(token),
                signer: signer,
                kind: .betterAuthSessionBearer,
                cookieName: settings.authServerCookieName,
                eventLoop: eventLoop
            )
        case .legacyOpaque(let token):
            return self.introspectLegacy(token, eventLoop: eventLoop)
        case .betterAuthAPIKey(let key):
            guard let usage = settings.apiKeyUsage else { return .immediate(.rejected(.apiKeyInvalid)) }
            return self.resolveAPIKey(key, usage: usage, eventLoop: eventLoop)
        }
    }

    /// A key of Better Auth's API key plugin: the cache for a key whose uses are not counted,
    /// else the resolver on every use. Uses are not shared between requests (each one counts).
    private func resolveAPIKey(_ key: String, usage: APIKeyUsage, eventLoop: any EventLoop) -> AuthOutcome {
        let cacheKey = CredentialKey(kind: .apiKey, credential: key)
        let (cachedVerdict, stale) = self.cached(cacheKey, as: .betterAuthAPIKey)
        if let cachedVerdict { return .immediate(cachedVerdict) }
        guard let resolver = self.sessionResolver else {
            return .immediate(.unavailable("no session resolver configured"))
        }
        let cache = self.cache
        let metrics = self.metrics
        let logger = self.logger
        let invalidation = cache.invalidationToken(for: cacheKey)
        let future = eventLoop.makeFutureWithTask { () async -> SessionOutcome in
            let started = NIODeadline.now()
            defer { metrics.validationLatency.record(nanoseconds: (NIODeadline.now() - started).nanoseconds) }
            do throws(ResolverUnavailable) {
                switch try await resolver.resolveAPIKey(key, usage: usage) {
                case .found(let identity, let cacheable):
                    metrics.recordValidation(method: .betterAuth, outcome: .valid)
                    if cacheable {
                        cache.storePositive(cacheKey, identity, ifNotInvalidatedSince: invalidation)
                    }
                    return .found(identity)
                case .refused(let reason):
                    metrics.recordValidation(method: .betterAuth, outcome: .invalid)
                    if reason != .apiKeyRateLimited && reason != .apiKeyUsageExceeded {
                        // Spent keys recover when their window passes or they are refilled.
                        cache.storeNegative(cacheKey, reason)
                    }
                    return .refused(reason)
                }
            } catch {
                metrics.recordValidation(method: .betterAuth, outcome: .error)
                metrics.resolverFailures.increment()
                logger.warning("api key lookup unavailable", metadata: ["reason": "\(error.reason)"])
                return .unavailable(error.reason)
            }
        }
        return .pending(
            future.map { self.verdict(for: $0, stale: stale, as: .betterAuthAPIKey, notFound: .apiKeyInvalid) }
        )
    }

    /// An opaque legacy token: the cache, else one RFC 7662 call shared by concurrent requests.
    private func introspectLegacy(_ token: String, eventLoop: any EventLoop) -> AuthOutcome {
        guard let client = self.legacyIntrospection else { return .immediate(.rejected(.inactive)) }
        let key = CredentialKey(kind: .introspection, credential: token)
        let (cachedVerdict, stale) = self.cached(key, as: nil)
        if let cachedVerdict { return .immediate(cachedVerdict) }
        let cache = self.cache
        let metrics = self.metrics
        let invalidation = cache.invalidationToken(for: key)
        let future = self.legacyFlights.run(key: key, on: eventLoop) {
            eventLoop.makeFutureWithTask { () async -> SessionOutcome in
                let started = NIODeadline.now()
                defer { metrics.validationLatency.record(nanoseconds: (NIODeadline.now() - started).nanoseconds) }
                do throws(ResolverUnavailable) {
                    switch try await client.introspect(token) {
                    case .found(let identity):
                        metrics.recordValidation(method: .legacy, outcome: .valid)
                        cache.storePositive(key, identity, ifNotInvalidatedSince: invalidation)
                        return .found(identity)
                    case .notFound, .banned:
                        metrics.recordValidation(method: .legacy, outcome: .invalid)
                        cache.storeNegative(key, .inactive)
                        return .notFound
                    }
                } catch {
                    metrics.recordValidation(method: .legacy, outcome: .error)
                    metrics.resolverFailures.increment()
                    return .unavailable(error.reason)
                }
            }
        }
        return .pending(future.map { self.verdict(for: $0, stale: stale, as: nil, notFound: .inactive) })
    }

    // MARK: - JWTs

    private func verifyJWT(
        _ token: String,
        kind: CredentialKind,
        cacheKind: CredentialKey.Kind,
        recordsLatency: Bool = true,
        checksBan: Bool = false,
        eventLoop: (any EventLoop)? = nil,
        verifier: () -> JWTVerifier
    ) -> AuthOutcome {
        let key = CredentialKey(kind: cacheKind, credential: token)
        switch self.cache.lookup(key) {
        case .hit(let identity):
            self.metrics.recordCacheHit(method: kind.method)
            return .immediate(.accepted(identity))
        case .negativeHit(let reason):
            return .immediate(.rejected(reason))
        case .stale, .miss:
            break
        }
        let started = NIODeadline.now()
        let result = verifier().verify(token, now: Self.nowSeconds())
        if recordsLatency {
            self.metrics.validationLatency.record(nanoseconds: (NIODeadline.now() - started).nanoseconds)
        }
        switch result {
        case .success(let jwt):
            self.metrics.recordValidation(method: kind.method, outcome: .valid)
            var kind = kind
            if kind == .betterAuthJWT && jwt.header.algorithm == .hs256 { kind = .betterAuthHS256JWT }
            let identity = Identity(
                userID: jwt.subject,
                email: jwt.email,
                roles: Self.roles(from: jwt.claims),
                kind: kind,
                sessionID: jwt[claim: "sid"]?.stringValue ?? jwt[claim: "jti"]?.stringValue,
                expiresAt: jwt.expiresAt
            )
            if checksBan, let lookup = self.banLookup, let eventLoop {
                return .pending(self.checkBan(of: identity, key: key, lookup: lookup, eventLoop: eventLoop))
            }
            self.cache.storePositive(key, identity)
            return .immediate(.accepted(identity))
        case .failure(let reason):
            self.metrics.recordValidation(method: kind.method, outcome: .invalid)
            return .immediate(.rejected(reason))
        }
    }

    /// A verified Better Auth JWT's user, checked for an admin-plugin ban before the identity is
    /// cached: a banned user's JWTs are refused until their `exp`, not only their sessions.
    /// Concurrent misses on one token share the lookup.
    private func checkBan(
        of identity: Identity,
        key: CredentialKey,
        lookup: PostgresSessionResolver,
        eventLoop: any EventLoop
    ) -> EventLoopFuture<AuthVerdict> {
        let cache = self.cache
        let metrics = self.metrics
        let invalidation = cache.invalidationToken(for: key)
        return self.banFlights.run(key: key, on: eventLoop) {
            eventLoop.makeFutureWithTask { () async -> SessionOutcome in
                do throws(ResolverUnavailable) {
                    if try await lookup.ban(userID: identity.userID).isInEffect(now: Self.nowSeconds()) {
                        cache.storeNegative(key, .userBanned)
                        return .refused(.userBanned)
                    }
                    cache.storePositive(key, identity, ifNotInvalidatedSince: invalidation)
                    return .found(identity)
                } catch {
                    metrics.resolverFailures.increment()
                    return .unavailable(error.reason)
                }
            }
        }.map { self.verdict(for: $0, stale: nil, as: nil, notFound: .userBanned) }
    }

    /// `role` (string, comma-separated) or `roles` (array of strings).
    static func roles(from claims: JSONValue) -> [String] {
        if case .array(let values)? = claims["roles"] {
            return values.compactMap(\.stringValue)
        }
        if let role = claims["role"]?.stringValue {
            return role.split(separator: ",").map { String($0.trimmingASCIISpaces()) }.filter { !$0.isEmpty }
        }
        return []
    }

    // MARK: - Sessions

    /// A session token whose HMAC was checked (or a raw token where allowed): the cache, else
    /// one lookup shared by concurrent requests. The token is copied and re-signed for the
    /// resolver only on a miss, so a cache hit costs one SHA-256 and one shard lookup.
    private func resolveSession(
        token rawToken: Substring,
        signer: SessionTokenSigner,
        kind: CredentialKind,
        cookieName: String,
        verified: Bool = false,
        eventLoop: any EventLoop
    ) -> AuthOutcome {
        let key = CredentialKey(kind: .sessionCookie, credential: rawToken)
        let (cachedVerdict, stale) = self.cached(key, as: kind)
        if let cachedVerdict { return .immediate(cachedVerdict) }
        guard let resolver = self.sessionResolver else {
            return .immediate(.unavailable("no session resolver configured"))
        }
        let token = String(rawToken)
        let signedValue = signer.signedValue(token: token)
        let invalidation = self.cache.invalidationToken(for: key)
        let cache = self.cache
        let metrics = self.metrics
        let logger = self.logger
        // Only values whose HMAC was verified here are ever confirmed with the auth server.
        let watch = verified ? self.secondaryStorage : nil
        let future = self.sessionFlights.run(key: key, on: eventLoop) {
            metrics.sessionLookups.increment()
            return eventLoop.makeFutureWithTask { () async -> SessionOutcome in
                let started = NIODeadline.now()
                defer { metrics.validationLatency.record(nanoseconds: (NIODeadline.now() - started).nanoseconds) }
                do throws(ResolverUnavailable) {
                    var lookup = try await resolver.resolve(
                        token: token,
                        signedValue: signedValue,
                        cookieName: cookieName
                    )
                    if let watch {
                        lookup = await watch.review(
                            lookup,
                            token: token,
                            signedValue: signedValue,
                            cookieName: cookieName
                        )
                    }
                    switch lookup {
                    case .found(let identity):
                        metrics.recordValidation(method: .betterAuth, outcome: .valid)
                        cache.storePositive(key, identity, ifNotInvalidatedSince: invalidation)
                        return .found(identity)
                    case .notFound:
                        metrics.recordValidation(method: .betterAuth, outcome: .invalid)
                        cache.storeNegative(key, .sessionNotFound)
                        return .notFound
                    case .banned:
                        metrics.recordValidation(method: .betterAuth, outcome: .invalid)
                        cache.storeNegative(key, .userBanned)
                        return .refused(.userBanned)
                    }
                } catch {
                    metrics.recordValidation(method: .betterAuth, outcome: .error)
                    metrics.resolverFailures.increment()
                    logger.warning("session resolver unavailable", metadata: ["reason": "\(error.reason)"])
                    return .unavailable(error.reason)
                }
            }
        }
        return .pending(future.map { self.verdict(for: $0, stale: stale, as: kind, notFound: .sessionNotFound) })
    }

    /// The cache's answer: a verdict to use now, or nothing (ask the authority) with the stale
    /// identity to fall back on if the authority cannot be reached.
    private func cached(_ key: CredentialKey, as kind: CredentialKind?) -> (AuthVerdict?, stale: Identity?) {
        let answer = StaleIfError.cached(self.cache.lookup(key), as: kind)
        if case .accepted(let identity) = answer.verdict {
            self.metrics.recordCacheHit(method: identity.method)
        }
        return (answer.verdict, answer.stale)
    }

    /// A remote lookup's outcome as a verdict (``StaleIfError``), counting a stale answer served.
    private func verdict(
        for outcome: SessionOutcome,
        stale: Identity?,
        as kind: CredentialKind?,
        notFound: RejectionReason
    ) -> AuthVerdict {
        let answer = StaleIfError.verdict(for: outcome, stale: stale, as: kind, notFound: notFound)
        if answer.servedStale { self.metrics.staleServed.increment() }
        return answer.verdict
    }

    static func nowMillis() -> Int64 {
        Timestamp.epochMillis()
    }

    static func nowSeconds() -> Int64 {
        Int64(Timestamp.epochSeconds())
    }
}

extension AuthOutcome {
    func future(on eventLoop: any EventLoop) -> EventLoopFuture<AuthVerdict> {
        switch self {
        case .immediate(let verdict): return eventLoop.makeSucceededFuture(verdict)
        case .pending(let future): return future
        }
    }
}
