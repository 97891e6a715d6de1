import Crypto

/// The authentication part of a config snapshot, compiled once per reload: keys parsed,
/// verifiers built, routes compiled. Everything the request path needs, nothing it must parse.
/// A class: the request path takes it from the snapshot with one reference count, not a copy
/// of every field.
public final class AuthSettings: Sendable {
    public let policy: AuthPolicy
    public let extractor: CredentialExtractor
    public let routes: RouteTable
    /// Verifies legacy JWTs with the keys of `legacy_keys` plus the shorthand `legacy_jwt_secret`
    /// (HS256) and `legacy_public_key_file` (RS256), all without `kid` but those listed with
    /// one; `nil` when no legacy key is configured.
    public let legacyVerifier: JWTVerifier?
    /// The HS256 key from `better_auth_jwt_secret`, merged with the fetched JWKS for Better Auth
    /// JWTs.
    public let betterAuthStaticKeys: JWTKeySet
    public let betterAuthIssuer: String
    public let betterAuthAudience: String
    /// Checks the HMAC of Better Auth session values locally; `nil` without `better_auth_secret`
    /// (then session credentials are rejected).
    public let sessionSigner: SessionTokenSigner?
    /// With `auth.trust_cookie_cache`: how Better Auth's cookie cache is read.
    public let cookieCache: CookieCacheSettings?
    /// With `auth.api_key_plugin`: how a key's uses are counted (`nil`: API keys are not read).
    public let apiKeyUsage: APIKeyUsage?
    public let leewaySeconds: Int64
    public let maxTokenBytes: Int
    /// The cookie name the auth server reads (`<prefix>.session_token`).
    public let authServerCookieName: String
    public let authServerURL: String
    public let signOutPath: String

    init(config: GatewayConfig, readFile: (String) -> Result<String, ConfigProblem>) throws(ConfigError) {
        let auth = config.auth
        var issues: [ConfigIssue] = []
        self.policy = AuthPolicy(
            enableDualAuth: auth.enableDualAuth,
            preferBetterAuth: auth.preferBetterAuth,
            legacyOpaqueEnabled: auth.legacyIntrospectionURL != nil,
            acceptRawBearer: auth.acceptRawBearer
        )
        self.extractor = CredentialExtractor(
            cookiePrefix: auth.cookiePrefix,
            acceptSecureCookie: auth.acceptSecureCookie,
            readsCookieCache: auth.trustCookieCache,
            apiKeyHeader: auth.apiKeyPlugin ? auth.apiKeyHeader.lowercased() : nil
        )
        self.apiKeyUsage = auth.apiKeyPlugin ? APIKeyUsage(rateLimitEnabled: auth.apiKeyRateLimit) : nil
        self.routes = RouteTable(
            rules: config.routes.map { route in
                var rule = RouteTable.Rule(
                    path: route.path,
                    access: route.access,
                    rateLimitClass: route.rateLimitClass,
                    upstream: route.upstream,
                    enableDualAuth: route.enableDualAuth,
                    preferBetterAuth: route.preferBetterAuth,
                    cors: route.cors
                )
                rule.allowImpersonation = route.allowImpersonation
                return rule
            }
        )
        self.leewaySeconds = Int64(auth.leewaySeconds)
        self.maxTokenBytes = auth.maxTokenBytes

        var legacyKeys: [JWTKey] = []
        if let secret = auth.legacyJWTSecret {
            do {
                legacyKeys.append(try JWTKey.hs256(secret: secret.bytes))
            } catch {
                issues.append(ConfigIssue(key: "auth.legacy_jwt_secret", reason: "unusable as an HS256 key"))
            }
        }
        if let path = auth.legacyPublicKeyFile {
            switch readFile(path) {
            case .success(let pem):
                do {
                    legacyKeys.append(try JWTKey.rsa(pem: pem, algorithm: .rs256))
                } catch {
                    issues.append(
                        ConfigIssue(
                            key: "auth.legacy_public_key_file",
                            reason: "\(path): not a usable RSA public key (\(error))"
                        )
                    )
                }
            case .failure(let problem):
                issues.append(ConfigIssue(key: "auth.legacy_public_key_file", reason: problem.reason))
            }
        }
        for (index, entry) in auth.legacyKeys.enumerated() {
            let key = "auth.legacy_keys[\(index)]"
            let algorithm = entry.algorithm
            if algorithm == .hs256 {
                guard let secret = entry.secret else {
                    issues.append(ConfigIssue(key: "\(key).secret", reason: "is required for HS256"))
                    continue
                }
                do {
                    legacyKeys.append(try JWTKey.hs256(secret: secret.bytes, kid: entry.kid))
                } catch {
                    issues.append(ConfigIssue(key: "\(key).secret", reason: "unusable as an HS256 key"))
                }
                continue
            }
            guard let path = entry.publicKeyFile else {
                issues.append(
                    ConfigIssue(key: "\(key).public_key_file", reason: "is required for \(entry.algorithm.rawValue)")
                )
                continue
            }
            switch readFile(path) {
            case .success(let pem):
                do {
                    legacyKeys.append(try JWTKey.publicKey(pem: pem, algorithm: algorithm, kid: entry.kid))
                } catch {
                    issues.append(
                        ConfigIssue(
                            key: "\(key).public_key_file",
                            reason: "\(path): not a usable \(entry.algorithm.rawValue) public key (\(error))"
                        )
                    )
                }
            case .failure(let problem):
                issues.append(ConfigIssue(key: "\(key).public_key_file", reason: problem.reason))
            }
        }
        self.legacyVerifier =
            legacyKeys.isEmpty
            ? nil
            : JWTVerifier(
                keySet: JWTKeySet(keys: legacyKeys),
                issuer: auth.legacyIssuer,
                audience: auth.legacyAudience,
                leewaySeconds: Int64(auth.leewaySeconds),
                maxTokenBytes: auth.maxTokenBytes
            )

        var staticKeys: [JWTKey] = []
        for (secret, key) in Self.rotation(
            auth.betterAuthJWTSecrets,
            "auth.better_auth_jwt_secrets",
            then: auth.betterAuthJWTSecret,
            "auth.better_auth_jwt_secret",
            issues: &issues
        ) {
            do {
                staticKeys.append(try JWTKey.hs256(secret: secret))
            } catch {
                issues.append(ConfigIssue(key: key, reason: "unusable as an HS256 key"))
            }
        }
        self.betterAuthStaticKeys = JWTKeySet(keys: staticKeys)
        let origin = auth.authServerURL.hasSuffix("/") ? String(auth.authServerURL.dropLast()) : auth.authServerURL
        self.authServerURL = origin
        self.betterAuthIssuer = auth.jwtIssuer ?? origin
        self.betterAuthAudience = auth.jwtAudience ?? origin
        let sessionSecrets = Self.rotation(
            auth.betterAuthSecrets,
            "auth.better_auth_secrets",
            then: auth.betterAuthSecret,
            "auth.better_auth_secret",
            issues: &issues
        ).map(\.secret)
        self.sessionSigner = sessionSecrets.isEmpty ? nil : SessionTokenSigner(secrets: sessionSecrets)
        if auth.trustCookieCache, !sessionSecrets.isEmpty {
            self.cookieCache = CookieCacheSettings(
                strategy: auth.cookieCacheStrategy,
                version: auth.cookieCacheVersion,
                secrets: sessionSecrets,
                adminPlugin: auth.adminPlugin,
                organizationPlugin: auth.organizationPlugin
            )
        } else {
            self.cookieCache = nil
        }
        self.authServerCookieName = "\(auth.cookiePrefix).session_token"
        self.signOutPath = auth.signOutPath
        if !issues.isEmpty {
            throw ConfigError(file: nil, issues: issues)
        }
    }

    /// The secrets of a rotation, current first: those of `versioned` (Better Auth's
    /// `"<version>:<secret>,…"`), then `single` unless it is one of them; each with the key
    /// that configured it.
    static func rotation(
        _ versioned: Secret?,
        _ versionedKey: String,
        then single: Secret?,
        _ singleKey: String,
        issues: inout [ConfigIssue]
    ) -> [(secret: [UInt8], key: String)] {
        var secrets: [(secret: [UInt8], key: String)] = []
        if let versioned {
            switch VersionedSecrets.parse(versioned.bytes) {
            case .success(let entries):
                secrets = entries.map { ($0.secret, versionedKey) }
            case .failure(let problem):
                issues.append(ConfigIssue(key: versionedKey, reason: problem.message))
            }
        }
        if let single, !secrets.contains(where: { $0.secret == single.bytes }) {
            secrets.append((single.bytes, singleKey))
        }
        return secrets
    }

    /// The identity cache's key for a signed session value (cookie or bearer), or `nil` when
    /// its HMAC does not verify or no secret is configured: what a sign-out evicts and what an
    /// open tunnel is revoked by.
    public func sessionCacheKey(signedValue: Substring) -> CredentialKey? {
        guard let signer = self.sessionSigner, case .success(let token) = signer.verify(signedValue: signedValue) else {
            return nil
        }
        return CredentialKey(kind: .sessionCookie, credential: token)
    }

    /// A verifier for Better Auth JWTs with the current key set (static HS256 key plus JWKS).
    public func betterAuthVerifier(jwks: JWTKeySet) -> JWTVerifier {
        JWTVerifier(
            keySet: self.betterAuthStaticKeys.isEmpty ? jwks : jwks.merging(self.betterAuthStaticKeys),
            issuer: self.betterAuthIssuer,
            audience: self.betterAuthAudience,
            leewaySeconds: self.leewaySeconds,
            maxTokenBytes: self.maxTokenBytes
        )
    }
}
