/// The typed model of `gateway.conf`.
///
/// Every field has a production default, so an empty file is a valid config that proxies
/// `0.0.0.0:8080` to `http://127.0.0.1:2000`. The model is plain data: ``ConfigLoader`` fills it
/// from YAML and the environment, ``GatewayConfig/validate()`` checks it as a whole, and
/// ``ConfigSnapshot`` compiles it into the immutable form the data path reads.
public struct GatewayConfig: Sendable, Equatable {
    public var server: Server
    public var upstream: Upstream
    public var limits: Limits
    public var admin: Admin
    public var logging: Logging
    public var auth: Auth
    /// Peers (CIDRs or single addresses) whose `X-Forwarded-*` and `X-Request-Id` are believed.
    public var trustedProxies: [String]
    public var cache: Cache = .init()
    public var sessionStore: SessionStore = .init()
    /// Route rules, first match wins; paths not matched are `authenticated`.
    public var routes: [Route] = []

    public init(
        server: Server = .init(),
        upstream: Upstream = .init(),
        limits: Limits = .init(),
        admin: Admin = .init(),
        logging: Logging = .init(),
        auth: Auth = .init(),
        trustedProxies: [String] = ["127.0.0.1/32", "::1/128"]
    ) {
        self.server = server
        self.upstream = upstream
        self.limits = limits
        self.admin = admin
        self.logging = logging
        self.auth = auth
        self.trustedProxies = trustedProxies
    }

    /// `server:` — the proxy listener and its connection handling.
    public struct Server: Sendable, Equatable {
        /// `host:port` of the proxy listener (`[::1]:8080` for IPv6).
        public var listen: String = "0.0.0.0:8080"
        /// Event loop threads; 0 means one per core.
        public var eventLoops: Int = 0
        /// How long SIGTERM waits for in-flight requests before closing them.
        public var drainTimeoutMs: Int = 10_000
        /// A client connection with no traffic for this long is closed.
        public var clientIdleTimeoutMs: Int = 60_000
        /// Listen backlog.
        public var backlog: Int = 1024
        public init() {}
    }

    /// `upstream:` — the legacy backend and the keep-alive pool in front of it.
    public struct Upstream: Sendable, Equatable {
        /// `http://host:port` of the backend (no path, no TLS yet).
        public var url: String = "http://127.0.0.1:2000"
        /// Connections each event loop may hold open to the backend.
        public var maxConnectionsPerLoop: Int = 128
        /// Requests that may wait for a connection per event loop before 503.
        public var maxWaitersPerLoop: Int = 1024
        /// Time allowed to open a TCP connection to the backend before 502.
        public var connectTimeoutMs: Int = 2_000
        /// Time from the request being sent to the response head arriving before 504.
        public var responseTimeoutMs: Int = 30_000
        /// An idle pooled connection is closed after this long.
        public var idleTimeoutMs: Int = 60_000
        /// Retry an idempotent request without a body once on a fresh connection when a reused
        /// connection fails before any response byte.
        public var retryIdempotent: Bool = true
        public init() {}
    }

    /// `limits:` — request size limits enforced before anything reaches the backend.
    public struct Limits: Sendable, Equatable {
        /// Total bytes of header names and values (431 above).
        public var maxHeaderBytes: Int = 16 * 1024
        /// Number of header fields (431 above).
        public var maxHeaderCount: Int = 100
        /// Bytes of the request target (414 above).
        public var maxURIBytes: Int = 8 * 1024
        /// Bytes of a request body (413 above); 0 disables the limit.
        public var maxBodyBytes: Int64 = 0
        public init() {}
    }

    /// `admin:` — the operators' listener (`/health`, `/ready`, `/metrics`, `/admin/...`).
    public struct Admin: Sendable, Equatable {
        /// Whether the admin listener runs at all.
        public var enabled: Bool = true
        /// `host:port` of the admin listener; keep it on loopback or a private network.
        public var listen: String = "127.0.0.1:9090"
        public init() {}
    }

    /// `logging:` — structured logs.
    public struct Logging: Sendable, Equatable {
        /// `trace`, `debug`, `info`, `notice`, `warning`, `error`, `critical`.
        public var level: String = "info"
        /// `json` or `text`.
        public var format: String = "json"
        /// Log one line per proxied request.
        public var accessLog: Bool = false
        public init() {}
    }

    /// `auth:` — the rollout flags and the credentials of both auth systems.
    ///
    /// Secrets are ``Secret`` values: they never appear in `description`, logs or errors.
    public struct Auth: Sendable, Equatable {
        /// `ENABLE_DUAL_AUTH`.
        public var enableDualAuth: Bool = true
        /// `PREFER_BETTER_AUTH`.
        public var preferBetterAuth: Bool = false
        /// `AUTH_SERVER_URL`: the Better Auth server's origin.
        public var authServerURL: String = "http://127.0.0.1:3001"
        /// `BETTER_AUTH_SECRET`: signs session cookies.
        public var betterAuthSecret: Secret? = nil
        /// `BETTER_AUTH_JWT_SECRET`: verifies HS256 Better Auth JWTs.
        public var betterAuthJWTSecret: Secret? = nil
        /// `LEGACY_JWT_SECRET`: verifies the legacy backend's HS256 tokens.
        public var legacyJWTSecret: Secret? = nil
        /// `DATABASE_URL`: PostgreSQL for sessions and the audit log.
        public var databaseURL: Secret? = nil
        /// How Better Auth sessions are resolved: `http` (the auth server's get-session) or
        /// `postgres` (the session table, through `database_url`).
        public var sessionResolver: String = "http"
        /// Better Auth's `advanced.cookiePrefix`; the cookie is `<prefix>.session_token`.
        public var cookiePrefix: String = "better-auth"
        /// Also accept the `__Secure-<prefix>.session_token` cookie.
        public var acceptSecureCookie: Bool = true
        /// Accept a bearer session token without its signature (Better Auth's bearer plugin
        /// does unless `requireSignature`).
        public var acceptRawBearer: Bool = false
        /// Clock skew allowed on `exp` and `nbf`.
        public var leewaySeconds: Int = 30
        /// Longer credentials are rejected before any parsing.
        public var maxTokenBytes: Int = 8192
        /// PEM file with the legacy backend's RS256 public key (optional).
        public var legacyPublicKeyFile: String? = nil
        /// Required `iss` of legacy tokens, if set.
        public var legacyIssuer: String? = nil
        /// Required `aud` of legacy tokens, if set.
        public var legacyAudience: String? = nil
        /// RFC 7662 endpoint for opaque legacy tokens (optional).
        public var legacyIntrospectionURL: String? = nil
        /// Where `POST /api/auth-proxy/refresh` sends legacy tokens (a path on the backend).
        public var legacyRefreshPath: String = "/api/auth/refresh"
        /// `iss` of Better Auth JWTs; defaults to `auth_server_url`.
        public var jwtIssuer: String? = nil
        /// `aud` of Better Auth JWTs; defaults to `auth_server_url`.
        public var jwtAudience: String? = nil
        /// Minimum time between two JWKS fetches triggered by unknown `kid`s.
        public var jwksRefreshCooldownMs: Int = 30_000
        /// Time allowed for one call to the auth server (get-session, JWKS).
        public var authServerTimeoutMs: Int = 2_000
        /// Requests to this path that carry a session evict it from the cache once answered.
        public var signOutPath: String = "/api/auth/sign-out"
        public init() {}
    }

    /// `cache:` — the identity cache in front of every resolver.
    public struct Cache: Sendable, Equatable {
        /// Positive entries kept at most.
        public var maxEntries: Int = 100_000
        /// Negative entries kept at most (separate bound, so a flood of bad tokens cannot evict
        /// good sessions).
        public var maxNegativeEntries: Int = 10_000
        /// How long an accepted credential is trusted without asking again (never past its
        /// own expiry).
        public var positiveTTLMs: Int = 60_000
        /// How long a rejected credential is remembered.
        public var negativeTTLMs: Int = 5_000
        /// How long an expired entry may still be served when the resolver is unreachable; 0
        /// fails closed (503).
        public var staleIfErrorMs: Int = 0
        public init() {}
    }

    /// `session_store:` — table and column names for the `postgres` session resolver.
    public struct SessionStore: Sendable, Equatable {
        public var sessionTable: String = "session"
        public var userTable: String = "user"
        public var sessionIDColumn: String = "id"
        public var sessionTokenColumn: String = "token"
        public var sessionUserIDColumn: String = "userId"
        public var sessionExpiresAtColumn: String = "expiresAt"
        public var userIDColumn: String = "id"
        public var userEmailColumn: String = "email"
        public var userRoleColumn: String? = nil
        public init() {}
    }

    /// One entry of `routes:`.
    public struct Route: Sendable, Equatable {
        /// A path prefix ending in `/` (matches everything below it) or an exact path.
        public var path: String
        /// `public`, `authenticated` or `better_auth_only`.
        public var access: String
        public init(path: String, access: String) {
            self.path = path
            self.access = access
        }
    }
}

/// A secret string that never prints itself.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret's value; read it only where it is used.
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}
