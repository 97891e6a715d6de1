import Crypto

/// A validated configuration compiled into the form the data path reads, plus its generation.
///
/// Immutable and `Sendable`: a reload builds a new snapshot and publishes it (the generation
/// lets the hot path notice a new snapshot with one atomic load instead of retaining a shared
/// reference per request). Everything the data path needs is parsed here, once: listen
/// addresses, the upstream host/port/`Host` header and the trusted-proxy matcher. A snapshot can
/// only be built from a configuration that passes ``GatewayConfig/validate()``.
public final class ConfigSnapshot: Sendable {
    /// The configuration this snapshot was compiled from.
    public let config: GatewayConfig
    /// Set by the publisher and increased with every reload, so readers can tell snapshots apart
    /// by comparing one integer.
    public let generation: UInt64
    /// Where the proxy listener binds (`server.listen`).
    public let proxyAddress: HostAndPort
    /// Where the admin listener binds (`admin.listen`); parsed even when the admin listener is off.
    public let adminAddress: HostAndPort
    /// The backend (`upstream.url`).
    public let upstream: UpstreamTarget
    /// The auth server as a proxy target, for routes with `upstream: auth_server`; `nil` when
    /// `auth.auth_server_url` is not a plain `http://` origin.
    public let authServerUpstream: UpstreamTarget?
    /// Peers whose forwarding headers are believed (`trusted_proxies`).
    public let trustedProxies: TrustedProxies
    /// Keys, verifiers, policy and routes for authentication.
    public let auth: AuthSettings
    /// Rate limits, lockout, normalisation, forwarding and the migration policy.
    public let policy: PolicySettings
    /// Signs `X-Auth-Assertion` when `assertion.enabled`; also serves the admin JWKS.
    public let assertionSigner: IdentityAssertionSigner?
    /// The session table layout for the `postgres` resolver.
    public let sessionSchema: SessionSchema
    /// The CORS protocol for browser apps on other origins (`cors:`); `nil` when it is off.
    public let cors: CORSPolicy?
    /// What each client exchange reads, compiled.
    public let exchange: ExchangeSettings

    /// Validates `config` and compiles it.
    ///
    /// - Throws: a ``ConfigError`` (without a file) listing every issue ``GatewayConfig/validate()``
    ///   finds.
    public init(config: GatewayConfig, generation: UInt64) throws(ConfigError) {
        let issues = config.validate()
        guard issues.isEmpty else {
            throw ConfigError(file: nil, issues: issues)
        }
        // validate() has checked each of these; a failure here would be a bug in one of the two.
        guard let proxyAddress = HostAndPort(parsing: config.server.listen) else {
            throw ConfigError(file: nil, issues: [ConfigIssue(key: "server.listen", reason: "cannot be parsed")])
        }
        guard let adminAddress = HostAndPort(parsing: config.admin.listen) else {
            throw ConfigError(file: nil, issues: [ConfigIssue(key: "admin.listen", reason: "cannot be parsed")])
        }
        guard let upstream = UpstreamTarget(url: config.upstream.url) else {
            throw ConfigError(file: nil, issues: [ConfigIssue(key: "upstream.url", reason: "cannot be parsed")])
        }
        self.config = config
        self.generation = generation
        self.proxyAddress = proxyAddress
        self.adminAddress = adminAddress
        self.upstream = upstream
        self.authServerUpstream = UpstreamTarget(url: config.auth.authServerURL)
        self.policy = PolicySettings(config: config)
        self.trustedProxies = try TrustedProxies(config.trustedProxies)
        self.auth = try AuthSettings(
            config: config,
            readFile: { path in ConfigLoader.readTextFile(path, limit: 64 * 1024) }
        )
        var schema = SessionSchema()
        let store = config.sessionStore
        schema.sessionTable = store.sessionTable
        schema.userTable = store.userTable
        schema.sessionID = store.sessionIDColumn
        schema.sessionToken = store.sessionTokenColumn
        schema.sessionUserID = store.sessionUserIDColumn
        schema.sessionExpiresAt = store.sessionExpiresAtColumn
        schema.userID = store.userIDColumn
        schema.userEmail = store.userEmailColumn
        schema.userRole = store.userRoleColumn
        schema.adminPlugin = config.auth.adminPlugin
        schema.organizationPlugin = config.auth.organizationPlugin
        schema.apiKeyTable = config.auth.apiKeyTable
        self.sessionSchema = schema
        self.assertionSigner = try Self.makeAssertionSigner(config.assertion)
        self.cors = CORSPolicy(config: config.cors)
        self.exchange = ExchangeSettings(config: config)
    }

    /// The Ed25519 key used when `assertion.private_key_file` is not set: generated once per
    /// process, so reloads keep it and the published JWKS stays valid.
    static let processAssertionKey = Curve25519.Signing.PrivateKey()

    private static func makeAssertionSigner(
        _ assertion: GatewayConfig.Assertion
    ) throws(ConfigError) -> IdentityAssertionSigner? {
        guard assertion.enabled else { return nil }
        let algorithm: IdentityAssertionSigner.Algorithm
        switch assertion.algorithm {
        case .hs256:
            guard let secret = assertion.secret else {
                throw ConfigError(
                    file: nil,
                    issues: [ConfigIssue(key: "assertion.secret", reason: "is required for HS256")]
                )
            }
            algorithm = .hs256(secret: secret.value)
        case .edDSA:
            guard let path = assertion.privateKeyFile else {
                algorithm = .edDSA(Self.processAssertionKey)
                break
            }
            switch ConfigLoader.readTextFile(path, limit: 64 * 1024) {
            case .success(let pem):
                do {
                    algorithm = .edDSA(try IdentityAssertionSigner.loadEd25519PrivateKey(pem: pem))
                } catch {
                    throw ConfigError(
                        file: nil,
                        issues: [ConfigIssue(key: "assertion.private_key_file", reason: "\(path): \(error)")]
                    )
                }
            case .failure(let problem):
                throw ConfigError(
                    file: nil,
                    issues: [ConfigIssue(key: "assertion.private_key_file", reason: problem.reason)]
                )
            }
        }
        do {
            return try IdentityAssertionSigner(
                algorithm: algorithm,
                issuer: assertion.issuer,
                audience: assertion.audience,
                ttlSeconds: Int64(assertion.ttlSeconds)
            )
        } catch {
            throw ConfigError(file: nil, issues: [ConfigIssue(key: "assertion", reason: "\(error)")])
        }
    }
}
