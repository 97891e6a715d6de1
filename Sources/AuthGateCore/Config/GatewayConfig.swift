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
    public var rollout: Rollout = .init()
    public var rateLimits: RateLimits = .init()
    /// Named rate-limit classes that routes refer to (`rate_limit_class:`).
    public var rateLimitClasses: [RateLimitClass] = []
    public var lockout: Lockout = .init()
    public var forwarding: Forwarding = .init()
    public var assertion: Assertion = .init()
    public var websocket: WebSocket = .init()
    public var reload: Reload = .init()
    public var audit: Audit = .init()
    public var metrics: Metrics = .init()
    public var cors: CORS = .init()

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
        /// What a `%2F` or `%5C` in the path means: `decode` (it is a `/`, and the decoded path is
        /// matched and forwarded) or `reject` (400).
        public var escapedSlashes: EscapedSlashHandling = .decode
        /// What a `;` in the path (raw, or `%3B`) means: `reject` (400) or `allow` (forwarded;
        /// routes match the path with every segment's `;parameters` removed, the way Tomcat and
        /// Spring read it).
        public var pathParameters: PathParameterHandling = .reject
        /// The whole request head must arrive within this: from the accept for a connection's
        /// first request, from its first byte for later ones (408, then close).
        public var requestHeaderTimeoutMs: Int = 10_000
        /// The longest wait between two reads of a request body (408, or both connections
        /// closed if the response has started).
        public var requestBodyTimeoutMs: Int = 60_000
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
        /// A request body up to this many bytes is read whole before a backend connection is
        /// leased; larger ones stream. 0 disables.
        public var requestBufferBytes: Int = 65_536
        /// Backend connections one client IP may hold at once per event loop (503 above);
        /// 0 = no cap.
        public var maxConnectionsPerClientIP: Int = 64
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
        public var level: LogLevel = .info
        /// `json` or `text`.
        public var format: LogFormat = .json
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
        /// `BETTER_AUTH_SECRETS`: Better Auth's versioned session secrets,
        /// `"<version>:<secret>,…"` (``VersionedSecrets``), current first; with
        /// `better_auth_secret` also set, that one is verified too, as the oldest.
        public var betterAuthSecrets: Secret? = nil
        /// `BETTER_AUTH_JWT_SECRETS`: the HS256 JWT secrets of a rotation, in the same form.
        public var betterAuthJWTSecrets: Secret? = nil
        /// `LEGACY_JWT_SECRET`: verifies the legacy backend's HS256 tokens.
        public var legacyJWTSecret: Secret? = nil
        /// `auth.legacy_keys`: the legacy issuer's verification keys, for rotation and for
        /// tokens with a `kid`; `legacy_jwt_secret` and `legacy_public_key_file` are shorthand
        /// for one key without `kid` each, added to these.
        public var legacyKeys: [LegacyKey] = []
        /// `auth.jwks_refresh_interval_ms`: how often the Better Auth JWKS is fetched even when
        /// no token names an unknown `kid` (0: only at start and on unknown `kid`s).
        public var jwksRefreshIntervalMs: Int = 300_000
        /// `auth.jwks_enabled`: whether the auth server's JWKS is fetched (false: Better Auth
        /// JWTs are verified only with the HS256 secret, and nothing asks an auth server that
        /// has no JWT plugin for keys).
        public var jwksEnabled: Bool = true
        /// `auth.admin_plugin`: the auth server runs Better Auth's admin plugin, so users can
        /// be banned (`banned`, `banExpires`: refused, 401 `user_banned`) and sessions opened
        /// by an admin as another user (`impersonatedBy`: `X-Auth-Impersonated-By`).
        public var adminPlugin: Bool = false
        /// `auth.organization_plugin`: the auth server runs Better Auth's organization plugin:
        /// the session's active organization and the user's role in it reach the backend
        /// (`X-Auth-Organization-Id`, `X-Auth-Organization-Role`).
        public var organizationPlugin: Bool = false
        /// `auth.api_key_plugin`: the auth server runs Better Auth's API key plugin: a key in
        /// ``apiKeyHeader`` is verified (the `apikey` table with the postgres resolver, the auth
        /// server's get-session with the http resolver) and reaches the backend as its owner,
        /// with `X-Auth-Method: api-key`.
        public var apiKeyPlugin: Bool = false
        /// `auth.api_key_header`: the request header that carries the key (the plugin's
        /// `apiKeyHeaders`), `x-api-key` by default; removed before the request is forwarded.
        public var apiKeyHeader: String = "x-api-key"
        /// `auth.api_key_table`: the plugin's table, for the postgres resolver.
        public var apiKeyTable: String = "apikey"
        /// `auth.api_key_rate_limit`: the plugin's `rateLimit.enabled`: whether a key's own
        /// window (`rateLimitMax` requests per `rateLimitTimeWindow`) is enforced by the
        /// postgres resolver, as Better Auth enforces it.
        public var apiKeyRateLimit: Bool = true
        /// `auth.trust_cookie_cache`: a session cookie that comes with a valid Better Auth
        /// cookie cache (`<prefix>.session_data`) is accepted on the cache's word, with no
        /// lookup; revocation then waits for the cache's `maxAge`.
        public var trustCookieCache: Bool = false
        /// `auth.cookie_cache_strategy`: `compact` or `jwt` (`session.cookieCache.strategy`).
        public var cookieCacheStrategy: SessionCookieCache.Strategy = .compact
        /// `auth.cookie_cache_version`: `session.cookieCache.version` of the auth server.
        public var cookieCacheVersion: String = "1"
        /// `DATABASE_URL`: PostgreSQL for sessions and the audit log.
        public var databaseURL: Secret? = nil
        /// How Better Auth sessions are resolved: `http` (the auth server's get-session) or
        /// `postgres` (the session table, through `database_url`).
        public var sessionResolver: SessionResolverKind = .http
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

        /// One entry of `auth.legacy_keys`: a key pinned to `alg`, with the `kid` it answers to
        /// (none: tokens with any `kid` or none), and exactly one of `secret` (`secret_file`,
        /// read at load time) for HS256 or `public_key_file` for RS256, PS256, ES256 and EdDSA.
        public struct LegacyKey: Sendable, Equatable {
            /// The `kid` tokens must name; `nil` accepts any `kid` and none.
            public var kid: String?
            /// `HS256`, `RS256`, `PS256`, `ES256` or `EdDSA`.
            public var algorithm: JWTAlgorithm
            /// The HS256 secret (inline or from `secret_file`).
            public var secret: Secret?
            /// A PEM public key, read when the config is compiled.
            public var publicKeyFile: String?

            public init(
                kid: String? = nil,
                algorithm: JWTAlgorithm,
                secret: Secret? = nil,
                publicKeyFile: String? = nil
            ) {
                self.kid = kid
                self.algorithm = algorithm
                self.secret = secret
                self.publicKeyFile = publicKeyFile
            }
        }
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
        /// A path prefix ending in `/` (matches everything below it) or an exact path, matched
        /// against the normalised path.
        public var path: String
        /// `public`, `authenticated` or `better_auth_only`.
        public var access: RouteAccess
        /// A rate-limit class: `login`, `introspect` or a name from `rate_limit_classes`.
        public var rateLimitClass: String? = nil
        /// Where the route is forwarded: `backend` (`upstream.url`) or `auth_server`
        /// (`auth.auth_server_url`).
        public var upstream: RouteUpstream = .backend
        /// Overrides `auth.enable_dual_auth` for this route.
        public var enableDualAuth: Bool? = nil
        /// Overrides `auth.prefer_better_auth` for this route.
        public var preferBetterAuth: Bool? = nil
        /// `false`: the gateway does not handle CORS on this route (no preflight answers, no
        /// CORS headers added, the backend's own relayed as they are), as if `cors:` were unset.
        public var cors: Bool = true
        /// `false`: a Better Auth session an admin opened as another user (`impersonatedBy`,
        /// admin plugin) is refused on this route with 403 `impersonation_not_allowed`.
        public var allowImpersonation: Bool = true
        public init(path: String, access: RouteAccess) {
            self.path = path
            self.access = access
        }
    }

    /// `rollout:` — the gradual move of users to Better Auth.
    public struct Rollout: Sendable, Equatable {
        /// `BETTER_AUTH_ROLLOUT_PERCENT`: the share of users (a stable cohort by a hash of the
        /// user id) whose frontend is told to use Better Auth.
        public var betterAuthRolloutPercent: Int = 100
        /// `enable_oauth` of the flags endpoint (social sign-in through Better Auth).
        public var enableOAuth: Bool = false
        /// `show_migration_banner` of the flags endpoint, for users of the cohort not yet on
        /// Better Auth.
        public var showMigrationBanner: Bool = false
        /// What a legacy token of a user whose `migration_status` is `migrated` gets: `off` (not
        /// looked up), `refuse` (401 `user_migrated`) or `record` (passes, counted and logged).
        public var migrationPolicy: MigrationPolicy = .off
        /// The legacy user table holding `migration_status`.
        public var usersTable: String = "users"
        /// Its key column, matched against the legacy token's `sub`.
        public var usersIDColumn: String = "id"
        /// The column holding `pending` or `migrated`.
        public var migrationStatusColumn: String = "migration_status"
        /// How long a looked-up `migration_status` is cached.
        public var migrationStatusTTLMs: Int = 60_000
        public init() {}
    }

    /// `rate_limits:` — GCRA limits per client IP, per user and per route class.
    public struct RateLimits: Sendable, Equatable {
        public var enabled: Bool = true
        /// Sustained rate per client IP, checked before any credential is looked at.
        public var ipRequestsPerMinute: Int = 6_000
        /// Requests a client IP may send at once.
        public var ipBurst: Int = 200
        /// Sustained rate per authenticated user.
        public var userRequestsPerMinute: Int = 3_000
        public var userBurst: Int = 100
        /// The login and sign-up routes of both auth systems; they get the `login` class.
        public var loginPaths: [String] = [
            "/api/auth/sign-in/email", "/api/auth/sign-up/email", "/api/auth/login",
        ]
        /// The `login` class, per client IP.
        public var loginRequestsPerMinute: Int = 30
        public var loginBurst: Int = 10
        /// The `introspect` class (`POST /api/auth-proxy/introspect`), per client IP.
        public var introspectRequestsPerMinute: Int = 600
        public var introspectBurst: Int = 60
        /// Keys (IPs, users, classes) tracked at most; idle ones are dropped first.
        public var maxTrackedKeys: Int = 100_000
        public init() {}
    }

    /// One entry of `rate_limit_classes:`.
    public struct RateLimitClass: Sendable, Equatable {
        public var name: String
        public var requestsPerMinute: Int
        public var burst: Int
        public init(name: String, requestsPerMinute: Int, burst: Int) {
            self.name = name
            self.requestsPerMinute = requestsPerMinute
            self.burst = burst
        }
    }

    /// `lockout:` — failed-authentication lockout per client IP and per account.
    public struct Lockout: Sendable, Equatable {
        public var enabled: Bool = true
        /// Failures allowed in the window; the next attempt gets 429.
        public var maxFailures: Int = 5
        /// The window, from the first counted failure.
        public var windowMs: Int = 900_000
        /// The field of a login body (JSON or form) that names the account.
        public var emailField: String = "email"
        /// Login bodies larger than this are not read for the account (the IP still counts).
        public var maxBodyBytes: Int = 8_192
        /// Where per-account failure counts live: `memory` (each instance counts alone) or
        /// `postgres` (one count per account over every instance sharing `auth.database_url`;
        /// per-IP counts stay in memory). Read at start.
        public var store: LockoutStoreKind = .memory
        /// The longest a lockout query may take (`store: postgres`) before the login goes on
        /// with this instance's in-memory count.
        public var storeTimeoutMs: Int = 500
        public init() {}
    }

    /// `forwarding:` — which credentials travel on to the backend.
    public struct Forwarding: Sendable, Equatable {
        /// Forward the client's `Authorization` header.
        public var forwardAuthorization: Bool = true
        /// Forward the Better Auth session cookie (other cookies always pass).
        public var forwardSessionCookie: Bool = true
        /// Header names removed from requests of peers that are not trusted proxies, in
        /// addition to ``StrippedForwardingHeaders/defaultNames`` (the list extends the
        /// defaults, it cannot shorten them).
        public var stripHeaders: [String] = []
        public init() {}
    }

    /// `assertion:` — the optional `X-Auth-Assertion` JWT for zero-trust backends.
    public struct Assertion: Sendable, Equatable {
        public var enabled: Bool = false
        /// `EdDSA` (Ed25519, public keys on the admin listener's `/.well-known/jwks.json`) or
        /// `HS256` (with `secret`).
        public var algorithm: IdentityAssertionAlgorithm = .edDSA
        /// PKCS#8 PEM Ed25519 private key; without it a key is generated at start.
        public var privateKeyFile: String? = nil
        /// `AUTHGATE_ASSERTION_SECRET`: the HS256 key.
        public var secret: Secret? = nil
        public var issuer: String = "authgate"
        /// `aud` of the assertion: the backend.
        public var audience: String = "legacy-backend"
        public var ttlSeconds: Int = 30
        public init() {}
    }

    /// `websocket:` — authentication of upgrade requests.
    public struct WebSocket: Sendable, Equatable {
        /// A `Sec-WebSocket-Protocol` entry that announces the next entry as the token; empty
        /// disables.
        public var tokenSubprotocol: String = "bearer"
        /// A query parameter carrying the token (for example `access_token`); unset disables.
        public var tokenQueryParameter: String? = nil
        /// How often an open tunnel's credential is checked again (0 = only on eviction).
        public var revalidateIntervalMs: Int = 30_000
        public init() {}
    }

    /// `audit:` — the authentication audit trail in PostgreSQL.
    public struct Audit: Sendable, Equatable {
        /// Write audit rows (needs `auth.database_url`; without it nothing is written).
        public var enabled: Bool = true
        /// The audit table.
        public var table: String = "auth_audit_log"
        /// Events held in memory at most; beyond it they go to the spill file.
        public var queueCapacity: Int = 65_536
        /// Rows per insert.
        public var batchSize: Int = 500
        /// A partial batch is written after this long.
        public var flushIntervalMs: Int = 200
        /// Append-only file for events PostgreSQL could not take; replayed in order when it is back.
        public var spillFile: String = "/var/lib/authgate/audit-spill.jsonl"
        /// How often a down database is tried again.
        public var retryIntervalMs: Int = 1_000
        public init() {}
    }

    /// `metrics:` — what the admin listener's `/metrics` counts beyond the request path.
    public struct Metrics: Sendable, Equatable {
        /// How often `better_auth_active_sessions` is counted in the session table (0 = only
        /// from the cache).
        public var activeSessionsIntervalMs: Int = 30_000
        public init() {}
    }

    /// `cors:` — cross-origin requests from browser apps served on other origins (the Fetch
    /// standard's CORS protocol). Off while `allowed_origins` is empty.
    ///
    /// When on, the gateway owns the CORS headers of every route that does not say `cors: false`:
    /// it answers preflights from allowed origins itself (after the per-IP rate limit, before
    /// authentication), adds `Access-Control-Allow-Origin` and `Vary: Origin` to every answer to
    /// an allowed origin (its own errors included) and drops `Access-Control-*` headers a backend
    /// sends.
    public struct CORS: Sendable, Equatable {
        /// Serialized origins (`https://app.example.com`, `http://localhost:5173`) compared
        /// byte for byte with the request's `Origin`; or `["*"]` alone, without credentials.
        public var allowedOrigins: [String] = []
        /// Send `Access-Control-Allow-Credentials: true`, so that browsers send cookies and
        /// `Authorization` with `credentials: "include"` and let the script read the answer.
        public var allowCredentials: Bool = false
        /// Methods a preflight may ask for (case-sensitive, as browsers send them).
        public var allowedMethods: [String] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        /// Request headers a preflight may ask for (case-insensitive).
        public var allowedHeaders: [String] = ["Authorization", "Content-Type"]
        /// Response headers beyond the CORS-safelisted ones that scripts may read.
        public var exposedHeaders: [String] = ["Retry-After", "X-Request-Id"]
        /// How long browsers may cache a preflight answer.
        public var maxAgeSeconds: Int = 600
        public init() {}
    }

    /// `reload:` — when the config file is read again (SIGHUP and `POST /admin/reload` always).
    public struct Reload: Sendable, Equatable {
        /// Reload when the file's content changes.
        public var watchFile: Bool = true
        /// How often the file is checked.
        public var watchIntervalMs: Int = 1_000
        public init() {}
    }
}

/// A setting whose value is one of a few words (`escaped_slashes: decode`): an enum whose raw
/// values are exactly the words `gateway.conf` accepts, in the order error messages list them.
///
/// The loader reads such a setting straight into its enum and reports any other word, so the
/// typed ``GatewayConfig`` never holds a value the gateway cannot act on.
public protocol ConfigWord: RawRepresentable, CaseIterable, Sendable, Hashable where RawValue == String {}

extension EscapedSlashHandling: ConfigWord {}
extension PathParameterHandling: ConfigWord {}
extension MigrationPolicy: ConfigWord {}
extension RouteAccess: ConfigWord {}
extension RouteUpstream: ConfigWord {}
extension JWTAlgorithm: ConfigWord {}
extension SessionCookieCache.Strategy: ConfigWord {}

/// `logging.level`: swift-log's `Logger.Level` raw values, least severe first.
public enum LogLevel: String, ConfigWord {
    case trace
    case debug
    case info
    case notice
    case warning
    case error
    case critical
}

/// `logging.format`: how log lines are written.
public enum LogFormat: String, ConfigWord {
    /// One JSON object per line.
    case json
    /// swift-log's plain `StreamLogHandler` text.
    case text
}

/// `auth.session_resolver`: where Better Auth sessions are looked up.
public enum SessionResolverKind: String, ConfigWord {
    /// The auth server's get-session endpoint.
    case http
    /// The session table, through `auth.database_url`.
    case postgres
}

/// `lockout.store`: where per-account failure counts live.
public enum LockoutStoreKind: String, ConfigWord {
    /// Each instance counts alone.
    case memory
    /// One count per account over every instance sharing `auth.database_url`.
    case postgres
}

/// `assertion.algorithm`: how the `X-Auth-Assertion` JWT is signed.
public enum IdentityAssertionAlgorithm: String, ConfigWord {
    /// Ed25519; the public keys are on the admin listener's `/.well-known/jwks.json`.
    case edDSA = "EdDSA"
    /// HMAC-SHA256 with `assertion.secret`.
    case hs256 = "HS256"
}

/// A secret that never prints itself: not through `description`, `debugDescription`, nor
/// reflection (`dump`, `Mirror`, the default description of a type that holds one), so a
/// configuration, a service or an error carrying one can be logged whole.
///
/// Held as bytes: a secret read from a `*_file` may be binary (a random HMAC key), and is used
/// as exactly the bytes of the file. Inline and environment secrets are their UTF-8 bytes.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The secret's bytes; read them only where they are used.
    public let bytes: [UInt8]
    /// A secret from text, as its UTF-8 bytes.
    public init(_ value: String) { self.bytes = Array(value.utf8) }
    /// A secret from raw bytes (a binary key file).
    public init(bytes: [UInt8]) { self.bytes = bytes }
    /// The secret as text, for secrets that are text by nature (`database_url`, the assertion
    /// secret); invalid UTF-8 is replaced, so use ``bytes`` for keys and ``isUTF8`` to validate.
    public var value: String { String(decoding: self.bytes, as: UTF8.self) }
    /// Whether ``bytes`` are valid UTF-8 text.
    public var isUTF8: Bool { String(validating: self.bytes, as: UTF8.self) != nil }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    /// No children: the value stays out of `dump` and `Mirror`.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
