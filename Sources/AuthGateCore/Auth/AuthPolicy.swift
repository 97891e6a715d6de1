/// What a route demands of its callers.
public enum RouteAccess: String, Sendable, Hashable, CaseIterable {
    /// No credential needed (identity headers are still stripped).
    case `public`
    /// Any credential the rollout flags accept.
    case authenticated
    /// Only Better Auth credentials, whatever the flags say.
    case betterAuthOnly = "better_auth_only"

    /// The order of strictness: `public` (0) < `authenticated` (1) < `better_auth_only` (2).
    ///
    /// A level is stricter than another when every request it lets through the other lets
    /// through too, and not the reverse: `authenticated` refuses the anonymous requests
    /// `public` passes, and `better_auth_only` refuses the legacy credentials `authenticated`
    /// may accept (under every setting of the rollout flags). The route table matches rules
    /// stricter than its default without regard to case (``RouteTable``).
    public var strictness: Int {
        switch self {
        case .public: return 0
        case .authenticated: return 1
        case .betterAuthOnly: return 2
        }
    }

    /// Whether this level refuses everything `other` refuses, and more.
    public func isStricter(than other: RouteAccess) -> Bool {
        self.strictness > other.strictness
    }
}

/// One way to try a credential, in the order the policy decided.
public enum CredentialAttempt: Sendable, Hashable {
    /// A JWT verified against the legacy backend's keys (HS256 secret, RS256 public key).
    case legacyJWT(String)
    /// An opaque legacy token resolved by the RFC 7662 introspection endpoint.
    case legacyOpaque(String)
    /// A JWT verified against the Better Auth JWKS (EdDSA, ES256, RS256, PS256) or the shared
    /// HS256 `BETTER_AUTH_JWT_SECRET`.
    case betterAuthJWT(String)
    /// A signed session value (`token.signature`) from the cookie or a bearer header.
    case betterAuthSession(String, source: SessionValueSource)
    /// A raw session token without signature (only when `accept_raw_bearer` is on).
    case betterAuthRawSession(String)
    /// A key of Better Auth's API key plugin, from its header (`x-api-key`).
    case betterAuthAPIKey(String)

    public var method: AuthMethod {
        switch self {
        case .legacyJWT, .legacyOpaque: return .legacy
        case .betterAuthJWT, .betterAuthSession, .betterAuthRawSession, .betterAuthAPIKey: return .betterAuth
        }
    }
}

/// Where a signed Better Auth session value was found: the auth server is asked with the cookie
/// the client used, since Better Auth reads only the one name its config produces
/// (`__Secure-<prefix>.session_token` over HTTPS).
public enum SessionValueSource: Sendable, Hashable {
    /// `Authorization: Bearer` (the auth server is asked with `<prefix>.session_token`).
    case bearer
    /// The session cookie under this name, as the client sent it, with the cookie cache
    /// (`<prefix>.session_data`) that came with it when it is read.
    case cookie(name: String, cacheValue: String? = nil)

    /// Whether the value came from a cookie.
    public var isCookie: Bool {
        if case .cookie = self { return true }
        return false
    }
}

/// The rollout flags' decision: which credentials are tried, in which order.
///
/// | `enable_dual_auth` | `prefer_better_auth` | order |
/// |---|---|---|
/// | true | false | legacy, then Better Auth |
/// | true | true | Better Auth, then legacy |
/// | false | true | Better Auth only |
/// | false | false | legacy only |
///
/// A route marked `better_auth_only` drops the legacy attempts whatever the flags say.
public struct AuthPolicy: Sendable, Hashable {
    public var enableDualAuth: Bool
    public var preferBetterAuth: Bool
    public var legacyOpaqueEnabled: Bool
    public var acceptRawBearer: Bool

    public init(enableDualAuth: Bool, preferBetterAuth: Bool, legacyOpaqueEnabled: Bool, acceptRawBearer: Bool) {
        self.enableDualAuth = enableDualAuth
        self.preferBetterAuth = preferBetterAuth
        self.legacyOpaqueEnabled = legacyOpaqueEnabled
        self.acceptRawBearer = acceptRawBearer
    }

    /// This policy with a route's overrides of the rollout flags applied; a `nil` override keeps
    /// the global flag.
    ///
    /// Lets one route (say `/api/admin/`) move ahead of or stay behind the global rollout phase.
    public func overriding(enableDualAuth: Bool?, preferBetterAuth: Bool?) -> AuthPolicy {
        var policy = self
        if let enableDualAuth {
            policy.enableDualAuth = enableDualAuth
        }
        if let preferBetterAuth {
            policy.preferBetterAuth = preferBetterAuth
        }
        return policy
    }

    /// Which methods are accepted at all, in order.
    public func methods(for access: RouteAccess) -> [AuthMethod] {
        if access == .betterAuthOnly { return [.betterAuth] }
        switch (self.enableDualAuth, self.preferBetterAuth) {
        case (true, false): return [.legacy, .betterAuth]
        case (true, true): return [.betterAuth, .legacy]
        case (false, true): return [.betterAuth]
        case (false, false): return [.legacy]
        }
    }

    /// Whether an identity obtained by `method` may pass a route with `access` now.
    ///
    /// Checked after every cache hit too: a cached answer never skips what the route requires.
    public func accepts(_ method: AuthMethod, access: RouteAccess) -> Bool {
        self.methods(for: access).contains(method)
    }

    /// The attempts for the credentials a request carries, in the order the flags give.
    ///
    /// A bearer JWT can be either system's (both may use HS256), so it is offered to each
    /// accepted system in order; the session cookie and the API key are Better Auth's alone.
    public func attempts(for credentials: ExtractedCredentials, access: RouteAccess) -> [CredentialAttempt] {
        var result: [CredentialAttempt] = []
        result.reserveCapacity(3)
        // The bearer is classified and copied once, whichever systems it is offered to.
        let bearer = credentials.bearer.map { (token: String($0), shape: TokenShape(classifying: $0)) }
        for method in self.methods(for: access) {
            switch method {
            case .legacy:
                if let bearer {
                    switch bearer.shape {
                    case .jwt: result.append(.legacyJWT(bearer.token))
                    case .rawOpaque where self.legacyOpaqueEnabled: result.append(.legacyOpaque(bearer.token))
                    default: break
                    }
                }
            case .betterAuth:
                if let bearer {
                    switch bearer.shape {
                    case .jwt: result.append(.betterAuthJWT(bearer.token))
                    case .signedSession: result.append(.betterAuthSession(bearer.token, source: .bearer))
                    case .rawOpaque where self.acceptRawBearer: result.append(.betterAuthRawSession(bearer.token))
                    default: break
                    }
                }
                if let key = credentials.apiKey {
                    // Better Auth reads the key before the cookie (its get-session hook).
                    result.append(.betterAuthAPIKey(String(key)))
                }
                if let cookie = credentials.sessionCookie {
                    let name = credentials.sessionCookieName ?? ""
                    result.append(
                        .betterAuthSession(
                            String(cookie),
                            source: .cookie(name: name, cacheValue: credentials.sessionData.map(String.init))
                        )
                    )
                }
            }
        }
        return result
    }
}
