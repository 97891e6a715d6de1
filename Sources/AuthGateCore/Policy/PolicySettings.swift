/// What a legacy token of an already migrated user gets (`rollout.migration_policy`).
public enum MigrationPolicy: String, Sendable, Hashable, CaseIterable {
    /// `migration_status` is not looked up.
    case off
    /// 401 `user_migrated`: the user must sign in with Better Auth.
    case refuse
    /// The request passes; it is counted and logged.
    case record
}

/// The rollout policy of a config snapshot, compiled once per reload: rate limits, lockout,
/// path normalisation, credential forwarding, WebSocket token places and the migration policy.
/// Everything the request path needs, nothing it must parse. A class: the request path takes
/// it from the snapshot with one reference count, not a copy of every field.
public final class PolicySettings: Sendable {
    /// A route class's limit and the key namespaces of its two scopes.
    public struct ClassLimit: Sendable {
        public let limit: RateLimit
        /// Keys of anonymous callers (per client IP).
        public let ipNamespace: String
        /// Keys of authenticated callers (per user).
        public let userNamespace: String

        init(name: String, limit: RateLimit) {
            self.limit = limit
            self.ipNamespace = "class-ip:" + name
            self.userNamespace = "class-user:" + name
        }
    }

    public let rateLimitsEnabled: Bool
    public let ipLimit: RateLimit
    public let userLimit: RateLimit
    /// Route classes by name, `login` and `introspect` included.
    public let classLimits: [String: ClassLimit]
    public let loginLimit: RateLimit
    public let introspectLimit: RateLimit
    /// Normalised login and sign-up paths of both auth systems.
    public let loginPaths: [String]
    public let lockoutEnabled: Bool
    public let lockoutEmailField: String
    public let lockoutMaxBodyBytes: Int
    public let escapedSlashes: EscapedSlashHandling
    /// `server.path_parameters`.
    public let pathParameters: PathParameterHandling
    public let forwardAuthorization: Bool
    public let forwardSessionCookie: Bool
    /// Removed from untrusted peers' requests: the defaults and `forwarding.strip_headers`.
    public let strippedHeaders: StrippedForwardingHeaders
    /// `nil` when disabled.
    public let tokenSubprotocol: String?
    public let tokenQueryParameter: String?
    public let migrationPolicy: MigrationPolicy
    public let rolloutPercent: Int
    public let enableOAuth: Bool
    public let showMigrationBanner: Bool

    public init(config: GatewayConfig) {
        let limits = config.rateLimits
        self.rateLimitsEnabled = limits.enabled
        self.ipLimit = RateLimit(requestsPerMinute: limits.ipRequestsPerMinute, burst: limits.ipBurst)
        self.userLimit = RateLimit(requestsPerMinute: limits.userRequestsPerMinute, burst: limits.userBurst)
        self.loginLimit = RateLimit(requestsPerMinute: limits.loginRequestsPerMinute, burst: limits.loginBurst)
        self.introspectLimit = RateLimit(
            requestsPerMinute: limits.introspectRequestsPerMinute,
            burst: limits.introspectBurst
        )
        var classes = [
            "login": ClassLimit(name: "login", limit: self.loginLimit),
            "introspect": ClassLimit(name: "introspect", limit: self.introspectLimit),
        ]
        for rateClass in config.rateLimitClasses {
            classes[rateClass.name] = ClassLimit(
                name: rateClass.name,
                limit: RateLimit(requestsPerMinute: rateClass.requestsPerMinute, burst: rateClass.burst)
            )
        }
        self.classLimits = classes
        self.escapedSlashes = config.server.escapedSlashes
        self.pathParameters = config.server.pathParameters
        self.loginPaths = limits.loginPaths.map { path in
            (try? PathNormalizer.normalize(target: path, escapedSlashes: .decode).get()) ?? path
        }
        self.lockoutEnabled = config.lockout.enabled && limits.enabled
        self.lockoutEmailField = config.lockout.emailField
        self.lockoutMaxBodyBytes = config.lockout.maxBodyBytes
        self.forwardAuthorization = config.forwarding.forwardAuthorization
        self.forwardSessionCookie = config.forwarding.forwardSessionCookie
        self.strippedHeaders = StrippedForwardingHeaders(extraNames: config.forwarding.stripHeaders)
        self.tokenSubprotocol = config.websocket.tokenSubprotocol.isEmpty ? nil : config.websocket.tokenSubprotocol
        self.tokenQueryParameter = config.websocket.tokenQueryParameter
        self.migrationPolicy = config.rollout.migrationPolicy
        self.rolloutPercent = config.rollout.betterAuthRolloutPercent
        self.enableOAuth = config.rollout.enableOAuth
        self.showMigrationBanner = config.rollout.showMigrationBanner
    }

    /// Whether `path` (normalised, no query) is a login or sign-up path; allocation-free.
    public func isLoginPath(_ path: Substring) -> Bool {
        self.loginPaths.contains { $0.utf8Equals(path) }
    }
}
