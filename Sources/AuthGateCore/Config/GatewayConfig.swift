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
        public var enabled: Bool = true
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
        public init() {}
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
