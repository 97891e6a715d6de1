import AuthGateCore

/// What a session lookup found.
enum SessionLookup: Sendable {
    case found(Identity)
    /// No such session, or it has expired: a definitive "no".
    case notFound
    /// The session exists, and its user is banned (Better Auth's admin plugin).
    case banned
}

/// Why a resolver could not answer; the caller answers 503 (or serves a stale entry when
/// `cache.stale_if_error_ms` allows), never 401.
struct ResolverUnavailable: Error, CustomStringConvertible {
    var reason: String
    /// The error of the transport, when there was one (a refused connection, a timeout).
    var underlying: (any Error)? = nil
    var description: String { self.reason }
}

/// Turns a Better Auth session token into the session's identity.
///
/// Called only on a cache miss, off the event loop's hot path, and only after the session
/// value's HMAC was verified locally, so forged values never reach it.
protocol SessionResolver: Sendable {
    /// - Parameters:
    ///   - token: the raw session token (what the `session` table stores).
    ///   - signedValue: `token.signature`, as the auth server expects it in its cookie.
    ///   - cookieName: the cookie the client sent it in (`__Secure-` or not), for resolvers that
    ///     ask the auth server: it reads only the name its own config produces.
    func resolve(
        token: String,
        signedValue: String,
        cookieName: String
    ) async throws(ResolverUnavailable)
        -> SessionLookup
    /// Verifies a key of Better Auth's API key plugin and counts its use: from the `apikey`
    /// table (the postgres resolver, with `usage`), or by the auth server's get-session, which
    /// then does the counting itself (the http resolver).
    func resolveAPIKey(_ key: String, usage: APIKeyUsage) async throws(ResolverUnavailable) -> APIKeyLookup
    /// Releases connections.
    func shutdown() async
}

/// What an API key lookup found.
enum APIKeyLookup: Sendable {
    /// The key's owner. `cacheable`: the key's uses are not counted (no `remaining`, no
    /// window), so the identity may be cached like a session's; otherwise every use is
    /// checked again.
    case found(Identity, cacheable: Bool)
    case refused(RejectionReason)
}

extension Identity {
    /// Builds a session identity from Better Auth's `{"session":…,"user":…}` (the get-session
    /// answer) or equivalent columns.
    static func betterAuthSession(
        userID: String,
        email: String?,
        role: String?,
        sessionID: String?,
        expiresAt: Int64?
    ) -> Identity {
        Identity(
            userID: userID,
            email: email,
            roles: role.map { $0.split(separator: ",").map { String($0.trimmingASCIISpaces()) } } ?? [],
            kind: .betterAuthSessionCookie,
            sessionID: sessionID,
            expiresAt: expiresAt
        )
    }
}
