import Crypto
import Foundation
import Testing
import _CryptoExtras

@testable import AuthGateCore

/// Parses `yaml` and returns the issues it throws, or `[]` when it loads.
private func loadIssues(_ yaml: String, environment: [String: String] = [:]) -> [ConfigIssue] {
    do {
        _ = try ConfigLoader.parse(yaml: yaml, file: "test.conf", environment: environment)
        return []
    } catch {
        return error.issues
    }
}

/// Parses `yaml` and returns the thrown error, or `nil` when it loads.
private func loadError(_ yaml: String, environment: [String: String] = [:]) -> ConfigError? {
    do {
        _ = try ConfigLoader.parse(yaml: yaml, file: "test.conf", environment: environment)
        return nil
    } catch {
        return error
    }
}

/// A fresh directory for files a test writes; removed by the caller.
private func makeTemporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("authgate-config-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

private func write(_ text: String, to path: String) throws {
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

/// The checkout's root directory, found from this file's path.
private let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url = url.deletingLastPathComponent() }
    return url.path
}()

private let secretValue = "S3CRET-VALUE-that-must-never-be-printed-0123456789"

/// One key line of a config text in the layout of `gateway.conf.example`, commented out or not.
private struct DocumentedKey {
    /// The dotted key (`auth.leeway_seconds`) or a top-level key (`routes`).
    var key: String
    /// Written as `# key: ...`.
    var commentedOut: Bool
    /// The comment lines of the paragraph (lines up to a blank line) the key is in.
    var comment: String
}

/// The name at the start of `line` if the line reads `name:` followed by a space or its end.
private func leadingKeyName(_ line: Substring) -> String? {
    let name = line.prefix { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "_" }
    guard let first = name.first, first >= "a" && first <= "z" else { return nil }
    let rest = line.dropFirst(name.count)
    guard rest.first == ":", rest.dropFirst().first.map({ $0 == " " }) ?? true else { return nil }
    return String(name)
}

/// The keys a config text mentions: a top-level `section:` opens a section, and `  key:` or
/// `  # key:` (indented by exactly two spaces) below it is `section.key`; a top-level `key:` or
/// `# key:` that is not a section is a key of its own.
private func documentedKeys(in text: String) -> [DocumentedKey] {
    let sectionNames = Set(ConfigLoader.sections.map(\.name))
    var result: [DocumentedKey] = []
    var section: String? = nil
    var paragraphKeys: [(key: String, commentedOut: Bool)] = []
    var paragraphComment: [Substring] = []
    func endParagraph() {
        let comment = paragraphComment.joined(separator: "\n")
        result += paragraphKeys.map { DocumentedKey(key: $0.key, commentedOut: $0.commentedOut, comment: comment) }
        paragraphKeys = []
        paragraphComment = []
    }
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.allSatisfy(\.isWhitespace) {
            endParagraph()
        } else if line.hasPrefix("  ") {
            let body = line.dropFirst(2)
            let commentedOut = body.hasPrefix("# ")
            if let name = leadingKeyName(commentedOut ? body.dropFirst(2) : body), let section {
                paragraphKeys.append(("\(section).\(name)", commentedOut))
            } else if body.hasPrefix("#") {
                paragraphComment.append(body)
            }
        } else if line.hasPrefix("#") {
            if line.hasPrefix("# "), let name = leadingKeyName(line.dropFirst(2)) {
                paragraphKeys.append((name, true))
            } else {
                paragraphComment.append(line)
            }
        } else if let name = leadingKeyName(line) {
            section = name
            if !sectionNames.contains(name) {
                paragraphKeys.append((name, false))
            }
        }
    }
    endParagraph()
    return result
}

/// The rows of the key tables in the README's config reference (`| `key` | type | default | env var |
/// meaning |`), by key, as their cells.
private func referenceRows(in text: String) -> [String: [String]] {
    var rows: [String: [String]] = [:]
    for line in text.split(separator: "\n") where line.hasPrefix("| `") {
        let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = cells.first, first.hasPrefix("`"), first.hasSuffix("`") else { continue }
        rows[String(first.dropFirst().dropLast())] = cells
    }
    return rows
}

/// The environment variable of each key that has one (`NAME_FILE` for a secret's `_file` key).
private var environmentVariableByKey: [String: String] {
    var variables: [String: String] = [:]
    for variable in ConfigLoader.booleanVariables { variables[variable.key] = variable.name }
    for variable in ConfigLoader.stringVariables { variables[variable.key] = variable.name }
    for variable in ConfigLoader.wordVariables { variables[variable.key] = variable.name }
    for variable in ConfigLoader.integerVariables { variables[variable.key] = variable.name }
    for variable in ConfigLoader.secretVariables {
        variables[variable.key] = variable.name
        variables[variable.key + "_file"] = variable.name + "_FILE"
    }
    return variables
}

/// The `<secret>_file` keys.
private var secretFileKeys: Set<String> {
    var keys: Set<String> = []
    for section in ConfigLoader.sections {
        for field in section.fields {
            if case .secret = field.kind { keys.insert("\(section.name).\(field.name)_file") }
        }
    }
    return keys
}

/// The keys whose default is a value (not unset): every key that is not a secret, a secret's
/// `_file` form or an optional string.
private var keysWithDefaultValues: [String] {
    var keys: [String] = []
    for section in ConfigLoader.sections {
        for field in section.fields {
            switch field.kind {
            case .secret, .optionalString: continue
            default: keys.append("\(section.name).\(field.name)")
            }
        }
    }
    return keys + [ConfigLoader.trustedProxiesKey, ConfigLoader.routesKey, ConfigLoader.rateLimitClassesKey]
}

/// A PEM file's text for a freshly generated public key.
private func rsaPublicKeyPEM() throws -> String {
    try _RSA.Signing.PrivateKey(keySize: .bits2048).publicKey.pemRepresentation
}

@Suite("ConfigLoader")
struct ConfigLoaderTests {
    // MARK: Defaults

    @Test(
        "empty and comment-only files are the default config",
        arguments: ["", "\n\n", "# only a comment\n  # and another\n", "---\n", "---\n# comment\n...\n"]
    )
    func emptyFileIsDefault(yaml: String) throws {
        let config = try ConfigLoader.parse(yaml: yaml, file: nil, environment: [:])
        #expect(config == GatewayConfig())
    }

    @Test("sections with every key commented out keep their defaults")
    func emptySectionsAreDefault() throws {
        let yaml = """
            server:
              # listen: "0.0.0.0:9999"
            upstream:
            auth:
            """
        let config = try ConfigLoader.parse(yaml: yaml, file: nil, environment: [:])
        #expect(config == GatewayConfig())
    }

    /// A file that sets every key (but the `_file` forms) to a valid value other than its default.
    static let everyKeyYAML = """
        server:
          listen: "[::1]:8181"
          event_loops: 4
          drain_timeout_ms: 5_000
          client_idle_timeout_ms: 30000
          backlog: 256
          escaped_slashes: reject
          path_parameters: allow
          request_header_timeout_ms: 5000
          request_body_timeout_ms: 15000
        upstream:
          url: http://backend.internal:3000
          max_connections_per_loop: 64
          max_waiters_per_loop: 0
          connect_timeout_ms: 1500
          response_timeout_ms: 20000
          idle_timeout_ms: 45000
          retry_idempotent: false
          request_buffer_bytes: 0
          max_connections_per_client_ip: 8
        limits:
          max_header_bytes: 32768
          max_header_count: 50
          max_uri_bytes: 4096
          max_body_bytes: 10485760
        admin:
          enabled: false
          listen: 127.0.0.1:9191
        logging:
          level: debug
          format: text
          access_log: yes
        auth:
          enable_dual_auth: false
          prefer_better_auth: true
          auth_server_url: http://auth.internal:3001
          better_auth_secret: "0123456789abcdef0123456789abcdef-ba"
          better_auth_jwt_secret: "0123456789abcdef0123456789abcdef-jwt"
          better_auth_secrets: "2:0123456789abcdef0123456789abcdef-ba2,1:0123456789abcdef0123456789abcdef-ba"
          better_auth_jwt_secrets: "7:0123456789abcdef0123456789abcdef-jwt7"
          legacy_jwt_secret: "0123456789abcdef0123456789abcdef-legacy"
          database_url: postgres://u:p@db:5432/app
          session_resolver: postgres
          cookie_prefix: my-app
          accept_secure_cookie: false
          accept_raw_bearer: true
          leeway_seconds: 5
          max_token_bytes: 4096
          legacy_public_key_file: /etc/authgate/legacy.pem
          legacy_issuer: https://api.example.com
          legacy_audience: example-app
          legacy_introspection_url: https://api.example.com/oauth/introspect
          legacy_refresh_path: /api/v1/token/refresh
          jwt_issuer: https://auth.example.com/issuer
          jwt_audience: example-audience
          jwks_refresh_cooldown_ms: 10000
          jwks_refresh_interval_ms: 60000
          jwks_enabled: false
          admin_plugin: true
          organization_plugin: true
          api_key_plugin: true
          api_key_header: X-Service-Key
          api_key_table: auth.apikey
          api_key_rate_limit: false
          trust_cookie_cache: true
          cookie_cache_strategy: jwt
          cookie_cache_version: "2"
          legacy_keys:
            - kid: key-2026
              alg: HS256
              secret: "0123456789abcdef0123456789abcdef-k2026"
            - alg: RS256
              public_key_file: /etc/authgate/legacy-2.pem
          auth_server_timeout_ms: 750
          sign_out_path: /api/auth/logout
        cache:
          max_entries: 5000
          max_negative_entries: 0
          positive_ttl_ms: 30000
          negative_ttl_ms: 1000
          stale_if_error_ms: 120000
        session_store:
          session_table: public.better_auth_sessions
          user_table: auth.users
          session_id_column: session_id
          session_token_column: session_token
          session_user_id_column: user_id
          session_expires_at_column: expires_at
          user_id_column: uid
          user_email_column: mail
          user_role_column: role
        trusted_proxies:
          - 10.0.0.0/8
          - "fd00::/8"
        routes:
          - path: /api/health
            access: public
          - path: /api/admin/
            access: better_auth_only
          - path: /api/
            access: authenticated
          - path: /api/legacy-report
            rate_limit_class: reports
            upstream: auth_server
            enable_dual_auth: false
            prefer_better_auth: true
            cors: false
        rate_limit_classes:
          - name: reports
            requests_per_minute: 60
            burst: 5
        rollout:
          better_auth_rollout_percent: 25
          enable_oauth: true
          show_migration_banner: true
          migration_policy: refuse
          users_table: app.users
          users_id_column: user_id
          migration_status_column: status
          migration_status_ttl_ms: 5000
        rate_limits:
          enabled: false
          ip_requests_per_minute: 600
          ip_burst: 20
          user_requests_per_minute: 300
          user_burst: 10
          login_paths: [/login, /signup]
          login_requests_per_minute: 5
          login_burst: 2
          introspect_requests_per_minute: 60
          introspect_burst: 6
          max_tracked_keys: 1000
        lockout:
          enabled: false
          max_failures: 3
          window_ms: 60000
          email_field: username
          max_body_bytes: 1024
          store: postgres
          store_timeout_ms: 250
        forwarding:
          forward_authorization: false
          forward_session_cookie: false
          strip_headers: [X-Tenant-Override]
        assertion:
          enabled: true
          algorithm: HS256
          private_key_file: /etc/authgate/assertion.pem
          secret: "0123456789abcdef0123456789abcdef-assert"
          issuer: gateway
          audience: backend
          ttl_seconds: 10
        websocket:
          token_subprotocol: access_token
          token_query_parameter: token
          revalidate_interval_ms: 0
        reload:
          watch_file: false
          watch_interval_ms: 500
        audit:
          enabled: false
          table: audit.events
          queue_capacity: 1024
          batch_size: 50
          flush_interval_ms: 20
          spill_file: /tmp/spill.jsonl
          retry_interval_ms: 100
        metrics:
          active_sessions_interval_ms: 0
        cors:
          allowed_origins: ["https://app.example.com", "http://localhost:5173"]
          allow_credentials: true
          allowed_methods: [GET, POST]
          allowed_headers: [Authorization, X-Requested-With]
          exposed_headers: [X-Request-Id]
          max_age_seconds: 60
        """

    @Test("the every-key file sets every key but the _file forms")
    func everyKeyYAMLCoversTheSchema() {
        let written = documentedKeys(in: Self.everyKeyYAML).map(\.key).sorted()
        #expect(!secretFileKeys.isEmpty)
        #expect(written == ConfigLoader.knownKeys.filter { !secretFileKeys.contains($0) }.sorted())
    }

    @Test("every key is read into its field")
    func everyKeyIsRead() throws {
        let config = try ConfigLoader.parse(yaml: Self.everyKeyYAML, file: nil, environment: [:])
        var expected = GatewayConfig()
        expected.server.listen = "[::1]:8181"
        expected.server.eventLoops = 4
        expected.server.drainTimeoutMs = 5000
        expected.server.clientIdleTimeoutMs = 30000
        expected.server.backlog = 256
        expected.server.requestHeaderTimeoutMs = 5000
        expected.server.requestBodyTimeoutMs = 15000
        expected.upstream.url = "http://backend.internal:3000"
        expected.upstream.maxConnectionsPerLoop = 64
        expected.upstream.maxWaitersPerLoop = 0
        expected.upstream.connectTimeoutMs = 1500
        expected.upstream.responseTimeoutMs = 20000
        expected.upstream.idleTimeoutMs = 45000
        expected.upstream.retryIdempotent = false
        expected.upstream.requestBufferBytes = 0
        expected.upstream.maxConnectionsPerClientIP = 8
        expected.limits.maxHeaderBytes = 32768
        expected.limits.maxHeaderCount = 50
        expected.limits.maxURIBytes = 4096
        expected.limits.maxBodyBytes = 10_485_760
        expected.admin.enabled = false
        expected.admin.listen = "127.0.0.1:9191"
        expected.logging.level = .debug
        expected.logging.format = .text
        expected.logging.accessLog = true
        expected.auth.enableDualAuth = false
        expected.auth.preferBetterAuth = true
        expected.auth.authServerURL = "http://auth.internal:3001"
        expected.auth.betterAuthSecret = Secret("0123456789abcdef0123456789abcdef-ba")
        expected.auth.betterAuthJWTSecret = Secret("0123456789abcdef0123456789abcdef-jwt")
        expected.auth.betterAuthSecrets = Secret(
            "2:0123456789abcdef0123456789abcdef-ba2,1:0123456789abcdef0123456789abcdef-ba"
        )
        expected.auth.betterAuthJWTSecrets = Secret("7:0123456789abcdef0123456789abcdef-jwt7")
        expected.auth.legacyJWTSecret = Secret("0123456789abcdef0123456789abcdef-legacy")
        expected.auth.databaseURL = Secret("postgres://u:p@db:5432/app")
        expected.auth.sessionResolver = .postgres
        expected.auth.cookiePrefix = "my-app"
        expected.auth.acceptSecureCookie = false
        expected.auth.acceptRawBearer = true
        expected.auth.leewaySeconds = 5
        expected.auth.maxTokenBytes = 4096
        expected.auth.legacyPublicKeyFile = "/etc/authgate/legacy.pem"
        expected.auth.legacyIssuer = "https://api.example.com"
        expected.auth.legacyAudience = "example-app"
        expected.auth.legacyIntrospectionURL = "https://api.example.com/oauth/introspect"
        expected.auth.legacyRefreshPath = "/api/v1/token/refresh"
        expected.auth.jwtIssuer = "https://auth.example.com/issuer"
        expected.auth.jwtAudience = "example-audience"
        expected.auth.jwksRefreshCooldownMs = 10000
        expected.auth.jwksRefreshIntervalMs = 60000
        expected.auth.jwksEnabled = false
        expected.auth.adminPlugin = true
        expected.auth.organizationPlugin = true
        expected.auth.apiKeyPlugin = true
        expected.auth.apiKeyHeader = "X-Service-Key"
        expected.auth.apiKeyTable = "auth.apikey"
        expected.auth.apiKeyRateLimit = false
        expected.auth.trustCookieCache = true
        expected.auth.cookieCacheStrategy = .jwt
        expected.auth.cookieCacheVersion = "2"
        expected.auth.legacyKeys = [
            .init(kid: "key-2026", algorithm: .hs256, secret: Secret("0123456789abcdef0123456789abcdef-k2026")),
            .init(algorithm: .rs256, publicKeyFile: "/etc/authgate/legacy-2.pem"),
        ]
        expected.auth.authServerTimeoutMs = 750
        expected.auth.signOutPath = "/api/auth/logout"
        expected.cache.maxEntries = 5000
        expected.cache.maxNegativeEntries = 0
        expected.cache.positiveTTLMs = 30000
        expected.cache.negativeTTLMs = 1000
        expected.cache.staleIfErrorMs = 120_000
        expected.sessionStore.sessionTable = "public.better_auth_sessions"
        expected.sessionStore.userTable = "auth.users"
        expected.sessionStore.sessionIDColumn = "session_id"
        expected.sessionStore.sessionTokenColumn = "session_token"
        expected.sessionStore.sessionUserIDColumn = "user_id"
        expected.sessionStore.sessionExpiresAtColumn = "expires_at"
        expected.sessionStore.userIDColumn = "uid"
        expected.sessionStore.userEmailColumn = "mail"
        expected.sessionStore.userRoleColumn = "role"
        expected.trustedProxies = ["10.0.0.0/8", "fd00::/8"]
        expected.routes = [
            GatewayConfig.Route(path: "/api/health", access: .public),
            GatewayConfig.Route(path: "/api/admin/", access: .betterAuthOnly),
            GatewayConfig.Route(path: "/api/", access: .authenticated),
            {
                var route = GatewayConfig.Route(path: "/api/legacy-report", access: .authenticated)
                route.rateLimitClass = "reports"
                route.upstream = .authServer
                route.enableDualAuth = false
                route.preferBetterAuth = true
                route.cors = false
                return route
            }(),
        ]
        expected.server.escapedSlashes = .reject
        expected.server.pathParameters = .allow
        expected.rateLimitClasses = [GatewayConfig.RateLimitClass(name: "reports", requestsPerMinute: 60, burst: 5)]
        expected.rollout.betterAuthRolloutPercent = 25
        expected.rollout.enableOAuth = true
        expected.rollout.showMigrationBanner = true
        expected.rollout.migrationPolicy = .refuse
        expected.rollout.usersTable = "app.users"
        expected.rollout.usersIDColumn = "user_id"
        expected.rollout.migrationStatusColumn = "status"
        expected.rollout.migrationStatusTTLMs = 5000
        expected.rateLimits.enabled = false
        expected.rateLimits.ipRequestsPerMinute = 600
        expected.rateLimits.ipBurst = 20
        expected.rateLimits.userRequestsPerMinute = 300
        expected.rateLimits.userBurst = 10
        expected.rateLimits.loginPaths = ["/login", "/signup"]
        expected.rateLimits.loginRequestsPerMinute = 5
        expected.rateLimits.loginBurst = 2
        expected.rateLimits.introspectRequestsPerMinute = 60
        expected.rateLimits.introspectBurst = 6
        expected.rateLimits.maxTrackedKeys = 1000
        expected.lockout.enabled = false
        expected.lockout.maxFailures = 3
        expected.lockout.windowMs = 60000
        expected.lockout.emailField = "username"
        expected.lockout.maxBodyBytes = 1024
        expected.lockout.store = .postgres
        expected.lockout.storeTimeoutMs = 250
        expected.forwarding.forwardAuthorization = false
        expected.forwarding.forwardSessionCookie = false
        expected.forwarding.stripHeaders = ["X-Tenant-Override"]
        expected.assertion.enabled = true
        expected.assertion.algorithm = .hs256
        expected.assertion.privateKeyFile = "/etc/authgate/assertion.pem"
        expected.assertion.secret = Secret("0123456789abcdef0123456789abcdef-assert")
        expected.assertion.issuer = "gateway"
        expected.assertion.audience = "backend"
        expected.assertion.ttlSeconds = 10
        expected.websocket.tokenSubprotocol = "access_token"
        expected.websocket.tokenQueryParameter = "token"
        expected.websocket.revalidateIntervalMs = 0
        expected.reload.watchFile = false
        expected.reload.watchIntervalMs = 500
        expected.audit.enabled = false
        expected.audit.table = "audit.events"
        expected.audit.queueCapacity = 1024
        expected.audit.batchSize = 50
        expected.audit.flushIntervalMs = 20
        expected.audit.spillFile = "/tmp/spill.jsonl"
        expected.audit.retryIntervalMs = 100
        expected.metrics.activeSessionsIntervalMs = 0
        expected.cors.allowedOrigins = ["https://app.example.com", "http://localhost:5173"]
        expected.cors.allowCredentials = true
        expected.cors.allowedMethods = ["GET", "POST"]
        expected.cors.allowedHeaders = ["Authorization", "X-Requested-With"]
        expected.cors.exposedHeaders = ["X-Request-Id"]
        expected.cors.maxAgeSeconds = 60
        // Field by field first, so a failure names the field; then the whole value, so a field
        // added to the model without a line here fails too.
        #expect(config.auth.sessionResolver == .postgres)
        #expect(config.auth.cookiePrefix == "my-app")
        #expect(config.auth.acceptSecureCookie == false)
        #expect(config.auth.acceptRawBearer == true)
        #expect(config.auth.leewaySeconds == 5)
        #expect(config.auth.maxTokenBytes == 4096)
        #expect(config.auth.legacyPublicKeyFile == "/etc/authgate/legacy.pem")
        #expect(config.auth.legacyIssuer == "https://api.example.com")
        #expect(config.auth.legacyAudience == "example-app")
        #expect(config.auth.legacyIntrospectionURL == "https://api.example.com/oauth/introspect")
        #expect(config.auth.legacyRefreshPath == "/api/v1/token/refresh")
        #expect(config.auth.jwtIssuer == "https://auth.example.com/issuer")
        #expect(config.auth.jwtAudience == "example-audience")
        #expect(config.auth.jwksRefreshCooldownMs == 10000)
        #expect(config.auth.authServerTimeoutMs == 750)
        #expect(config.auth.signOutPath == "/api/auth/logout")
        #expect(config.cache == expected.cache)
        #expect(config.sessionStore == expected.sessionStore)
        #expect(config.routes == expected.routes)
        #expect(config == expected)
        #expect(config != GatewayConfig())
    }

    @Test("optional strings left empty are unset; an empty routes list is the default")
    func optionalStringsAndRoutesEmpty() throws {
        let yaml = """
            auth:
              legacy_public_key_file:
              legacy_issuer: ~
              legacy_audience: null
              legacy_introspection_url:
              jwt_issuer:
              jwt_audience:
            session_store:
              user_role_column:
            routes:
            """
        #expect(try ConfigLoader.parse(yaml: yaml, file: nil, environment: [:]) == GatewayConfig())
        #expect(try ConfigLoader.parse(yaml: "routes: []\n", file: nil, environment: [:]) == GatewayConfig())
    }

    @Test("a route without access: is authenticated, and the rules keep their order")
    func routeDefaults() throws {
        let yaml = """
            routes:
              - path: /b/
              - {path: /a, access: public}
              - path: /b/
                access: better_auth_only
            """
        let config = try ConfigLoader.parse(yaml: yaml, file: nil, environment: [:])
        #expect(
            config.routes == [
                GatewayConfig.Route(path: "/b/", access: .authenticated),
                GatewayConfig.Route(path: "/a", access: .public),
                GatewayConfig.Route(path: "/b/", access: .betterAuthOnly),
            ]
        )
    }

    @Test(
        "malformed routes are issues naming the rule",
        arguments: [
            ("routes: /api/public/\n", "routes", "expected a list of {path, access} rules, got a string"),
            ("routes: {path: /x}\n", "routes", "expected a list of {path, access} rules, got a mapping"),
            ("routes: 5\n", "routes", "expected a list of {path, access} rules, got an integer"),
            ("routes:\n  - /api/public/\n", "routes[0]", "expected a mapping with path: and access:, got a string"),
            ("routes:\n  - [/x, public]\n", "routes[0]", "expected a mapping with path: and access:, got a list"),
            (
                "routes:\n  - path: /a\n  -\n", "routes[1]",
                "expected a mapping with path: and access:, got nothing (null)"
            ),
            ("routes:\n  - access: public\n", "routes[0].path", "is required"),
            ("routes:\n  - path: /x\n    acess: public\n", "routes[0].acess", "unknown key; did you mean access?"),
            ("routes:\n  - path: /x\n    methods: [GET]\n", "routes[0].methods", "unknown key"),
            (
                "routes:\n  - path: /x\n    access: admin\n", "routes[0].access",
                "\"admin\" is not an access level; expected public, authenticated or better_auth_only"
            ),
            (
                "routes:\n  - path: /x\n    access: Public\n", "routes[0].access",
                "\"Public\" is not an access level; expected public, authenticated or better_auth_only"
            ),
            (
                "routes:\n  - path: /x\n    access:\n", "routes[0].access",
                "expected an access level, got nothing; remove the key to use the default"
            ),
            ("routes:\n  - path: api/public/\n", "routes[0].path", "\"api/public/\" must start with /"),
            ("routes:\n  - path: \"\"\n    access: public\n", "routes[0].path", "\"\" must start with /"),
            (
                "routes:\n  - path: /ok\n  - path: nope\n    access: public\n", "routes[1].path",
                "\"nope\" must start with /"
            ),
        ]
    )
    func malformedRoutes(yaml: String, key: String, reason: String) {
        #expect(loadIssues(yaml) == [ConfigIssue(key: key, reason: reason)])
    }

    @Test("a route path that is not a string is an issue")
    func routePathNotAString() {
        let issues = loadIssues("routes:\n  - path: [a]\n    access: public\n")
        #expect(
            issues.first
                == ConfigIssue(key: "routes[0].path", reason: "expected a path such as /api/public/, got a list")
        )
        #expect(issues.allSatisfy { $0.key == "routes[0].path" })
    }

    @Test("an empty trusted_proxies list trusts nobody; a secret left empty is unset")
    func emptyListAndNullSecret() throws {
        let yaml = """
            trusted_proxies: []
            auth:
              better_auth_secret:
            """
        let config = try ConfigLoader.parse(yaml: yaml, file: nil, environment: [:])
        #expect(config.trustedProxies.isEmpty)
        #expect(config.auth.betterAuthSecret == nil)
    }

    // MARK: Unknown keys

    @Test(
        "unknown keys name the full path and suggest a close known key",
        arguments: [
            ("server:\n  listn: 0.0.0.0:8080\n", "server.listn", "did you mean server.listen?"),
            ("sever:\n  listen: 0.0.0.0:8080\n", "sever", "did you mean server?"),
            ("server:\n  eventLoops: 2\n", "server.eventLoops", "did you mean server.event_loops?"),
            (
                "upstream:\n  connectTimeoutMs: 5\n", "upstream.connectTimeoutMs",
                "did you mean upstream.connect_timeout_ms?"
            ),
            ("server:\n  url: http://x:1\n", "server.url", "did you mean upstream.url?"),
            ("listen: 0.0.0.0:8080\n", "listen", "did you mean server.listen?"),
            (
                "auth:\n  better_auth_secret_fil: /x\n", "auth.better_auth_secret_fil",
                "did you mean auth.better_auth_secret_file?"
            ),
            ("trusted_proxie: []\n", "trusted_proxie", "did you mean trusted_proxies?"),
            ("route: []\n", "route", "did you mean routes?"),
            ("auth:\n  cookie_prefx: x\n", "auth.cookie_prefx", "did you mean auth.cookie_prefix?"),
            ("auth:\n  signOutPath: /x\n", "auth.signOutPath", "did you mean auth.sign_out_path?"),
            ("auth:\n  max_entries: 5\n", "auth.max_entries", "did you mean cache.max_entries?"),
            ("cache:\n  max_entres: 5\n", "cache.max_entres", "did you mean cache.max_entries?"),
            ("cache:\n  positiv_ttl_ms: 5\n", "cache.positiv_ttl_ms", "did you mean cache.positive_ttl_ms?"),
            (
                "session_store:\n  session_tabel: s\n", "session_store.session_tabel",
                "did you mean session_store.session_table?"
            ),
            ("sesion_store:\n  user_table: u\n", "sesion_store", "did you mean session_store?"),
        ]
    )
    func unknownKeySuggestion(yaml: String, key: String, suggestion: String) {
        let issues = loadIssues(yaml)
        #expect(issues.count == 1)
        #expect(issues.first?.key == key)
        #expect(issues.first?.reason == "unknown key; \(suggestion)")
    }

    @Test("an unknown key far from every known key gets no suggestion")
    func unknownKeyWithoutSuggestion() {
        let issues = loadIssues("upstream:\n  tls_certificate: /etc/cert.pem\n")
        #expect(issues == [ConfigIssue(key: "upstream.tls_certificate", reason: "unknown key")])
    }

    // MARK: Types

    @Test(
        "values of the wrong type are issues naming the expected type",
        arguments: [
            ("server:\n  backlog: lots\n", "server.backlog", "expected an integer, got a string"),
            ("server:\n  backlog: \"100\"\n", "server.backlog", "expected an integer, got a quoted string"),
            ("server:\n  backlog: 1.5\n", "server.backlog", "expected an integer, got a decimal number"),
            ("server:\n  backlog: true\n", "server.backlog", "expected an integer, got a boolean"),
            ("server:\n  backlog: [1]\n", "server.backlog", "expected an integer, got a list"),
            ("server:\n  backlog:\n", "server.backlog", "expected an integer, got nothing (null)"),
            (
                "limits:\n  max_body_bytes: 99999999999999999999\n", "limits.max_body_bytes",
                "expected an integer, got a number too large for 64 bits"
            ),
            ("admin:\n  enabled: maybe\n", "admin.enabled", "expected true or false, got a string"),
            ("admin:\n  enabled: 1\n", "admin.enabled", "expected true or false, got an integer"),
            ("admin:\n  enabled: \"true\"\n", "admin.enabled", "expected true or false, got a quoted string"),
            ("server:\n  listen: [a, b]\n", "server.listen", "expected a string, got a list"),
            ("server:\n  listen: {host: a}\n", "server.listen", "expected a string, got a mapping"),
            (
                "server:\n  listen:\n", "server.listen",
                "expected a string, got nothing; remove the key to use the default"
            ),
            ("server: 8080\n", "server", "expected a mapping of server settings, got an integer"),
            ("auth: [a]\n", "auth", "expected a mapping of auth settings, got a list"),
            (
                "trusted_proxies: 10.0.0.0/8\n", "trusted_proxies",
                "expected a list of addresses or CIDRs such as [\"10.0.0.0/8\"], got a string"
            ),
            (
                "trusted_proxies:\n", "trusted_proxies",
                "expected a list of addresses or CIDRs, got nothing; write [] to trust no proxy"
            ),
            ("trusted_proxies:\n  - [a]\n", "trusted_proxies[0]", "expected an address or CIDR, got a list"),
            (
                "auth:\n  accept_raw_bearer: \"yes\"\n", "auth.accept_raw_bearer",
                "expected true or false, got a quoted string"
            ),
            ("auth:\n  leeway_seconds: 1.5\n", "auth.leeway_seconds", "expected an integer, got a decimal number"),
            ("auth:\n  legacy_issuer: [a]\n", "auth.legacy_issuer", "expected a string, got a list"),
            (
                "auth:\n  session_resolver:\n", "auth.session_resolver",
                "expected a string, got nothing; remove the key to use the default"
            ),
            ("cache:\n  max_entries: many\n", "cache.max_entries", "expected an integer, got a string"),
            ("cache: 5\n", "cache", "expected a mapping of cache settings, got an integer"),
            ("session_store: [a]\n", "session_store", "expected a mapping of session_store settings, got a list"),
            ("session_store:\n  user_table: {a: b}\n", "session_store.user_table", "expected a string, got a mapping"),
        ]
    )
    func wrongType(yaml: String, key: String, reason: String) {
        #expect(loadIssues(yaml) == [ConfigIssue(key: key, reason: reason)])
    }

    @Test("booleans accept the YAML spellings true/false/yes/no/on/off")
    func yamlBooleans() throws {
        for (text, expected) in [
            ("true", true), ("True", true), ("yes", true), ("on", true), ("false", false), ("NO", false),
            ("off", false),
        ] {
            let config = try ConfigLoader.parse(yaml: "logging:\n  access_log: \(text)\n", file: nil, environment: [:])
            #expect(config.logging.accessLog == expected, "\(text)")
        }
    }

    @Test(
        "a top level that is not a mapping is an issue",
        arguments: [("- server\n- upstream\n", "a list"), ("hello\n", "a string"), ("42\n", "an integer")]
    )
    func topLevelNotMapping(yaml: String, got: String) {
        let issues = loadIssues(yaml)
        #expect(issues.count == 1)
        #expect(issues.first?.key == "")
        #expect(
            issues.first?.reason == "the top level must be a mapping of sections (server:, upstream:, ...), got \(got)"
        )
    }

    @Test("invalid YAML is one issue with the line, and without the file's text")
    func syntaxError() throws {
        let yaml = """
            server:
              listen: "0.0.0.0:8080"
            auth:
              better_auth_secret: "\(secretValue)
              legacy_jwt_secret: [unclosed
            """
        let error = try #require(loadError(yaml))
        #expect(error.file == "test.conf")
        #expect(error.issues.count == 1)
        #expect(error.issues.first?.key == "")
        #expect(error.issues.first?.reason.hasPrefix("invalid YAML at line ") == true)
        #expect(!error.description.contains(secretValue))
        #expect(!error.description.contains("S3CRET"))
    }

    @Test("a syntax error on the line that holds a secret does not quote that line")
    func syntaxErrorOnSecretLine() throws {
        let yaml = """
            auth:
              better_auth_secret: \(secretValue): oops
            """
        let error = try #require(loadError(yaml))
        #expect(error.issues.count == 1)
        #expect(error.issues.first?.reason.hasPrefix("invalid YAML at line 2, column ") == true)
        #expect(!error.description.contains("S3CRET"))
        #expect(!String(reflecting: error).contains("S3CRET"))
    }

    @Test("duplicate keys are an issue")
    func duplicateKeys() {
        let issues = loadIssues("server:\n  backlog: 1\n  backlog: 2\n")
        #expect(issues.count == 1)
        #expect(issues.first?.reason.contains("duplicate key backlog") == true)
    }

    // MARK: Collecting

    @Test("all issues are collected, from the walk, the environment and validation")
    func manyIssuesAtOnce() {
        let yaml = """
            server:
              listn: 0.0.0.0:8080
              backlog: lots
              event_loops: 1000
            upstream:
              url: https://backend:443
              connect_timeout_ms: 0
            logging:
              level: verbose
            admin:
              enabled: maybe
            trusted_proxies:
              - 10.0.0.0/8
              - not-an-address
            """
        let issues = loadIssues(yaml, environment: ["ENABLE_DUAL_AUTH": "perhaps"])
        #expect(
            issues.map(\.key) == [
                "server.listn",
                "server.backlog",
                "admin.enabled",
                "ENABLE_DUAL_AUTH",
                "server.event_loops",
                "upstream.url",
                "upstream.connect_timeout_ms",
                "logging.level",
                "trusted_proxies[1]",
            ]
        )
        #expect(
            issues.first { $0.key == "upstream.url" }?.reason
                == "TLS upstreams are not supported yet; use http://host:port"
        )
    }

    @Test("the error description prints FILE: KEY: REASON per issue")
    func errorDescription() throws {
        let error = try #require(loadError("server:\n  backlog: x\n  listn: a\n"))
        #expect(
            error.description == """
                test.conf: server.backlog: expected an integer, got a string
                test.conf: server.listn: unknown key; did you mean server.listen?
                """
        )
        let withoutFile = ConfigError(
            file: nil,
            issues: [ConfigIssue(key: "a.b", reason: "bad"), ConfigIssue(key: "", reason: "whole")]
        )
        #expect(withoutFile.description == "a.b: bad\nwhole")
    }

    // MARK: Files

    @Test("load reads a file; an unreadable file is one issue with an empty key")
    func loadFromDisk() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/gateway.conf"
        try write("server:\n  backlog: 77\n", to: path)
        let config = try ConfigLoader.load(path: path, environment: [:])
        #expect(config.server.backlog == 77)

        let missing = directory + "/missing.conf"
        do {
            _ = try ConfigLoader.load(path: missing, environment: [:])
            Issue.record("a missing file loaded")
        } catch {
            #expect(error.file == missing)
            #expect(error.issues == [ConfigIssue(key: "", reason: "cannot read the file: No such file or directory")])
            #expect(error.description == "\(missing): cannot read the file: No such file or directory")
        }

        do {
            _ = try ConfigLoader.load(path: directory, environment: [:])
            Issue.record("a directory loaded")
        } catch {
            #expect(error.issues.count == 1)
            #expect(error.issues.first?.key == "")
        }
    }

    @Test("a secret can come from <name>_file, relative to the config file, trimmed")
    func secretFromYAMLFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try write("  \(secretValue)\n\n", to: directory + "/ba_secret")
        try write("postgres://u:p@db/app\n", to: directory + "/db_url")
        try write(
            """
            auth:
              better_auth_secret_file: ba_secret
              database_url_file: \(directory)/db_url
            """,
            to: directory + "/gateway.conf"
        )
        let config = try ConfigLoader.load(path: directory + "/gateway.conf", environment: [:])
        #expect(config.auth.betterAuthSecret?.value == secretValue)
        #expect(config.auth.databaseURL?.value == "postgres://u:p@db/app")
    }

    @Test("secret files that are missing or empty, or given twice, are issues")
    func secretFileProblems() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try write(" \n", to: directory + "/empty")
        let yaml = """
            auth:
              better_auth_secret_file: \(directory)/missing
              legacy_jwt_secret_file: \(directory)/empty
              better_auth_jwt_secret: "\(secretValue)"
              better_auth_jwt_secret_file: \(directory)/empty
            """
        let issues = loadIssues(yaml)
        #expect(
            issues == [
                ConfigIssue(
                    key: "auth.better_auth_jwt_secret_file",
                    reason: "set either auth.better_auth_jwt_secret or auth.better_auth_jwt_secret_file, not both"
                ),
                ConfigIssue(
                    key: "auth.better_auth_secret_file",
                    reason: "cannot read \(directory)/missing: No such file or directory"
                ),
                ConfigIssue(key: "auth.legacy_jwt_secret_file", reason: "the file \(directory)/empty is empty"),
            ]
        )
    }

    // MARK: Environment

    @Test("environment variables override the file")
    func environmentOverrides() throws {
        let yaml = """
            server:
              listen: 0.0.0.0:8080
            auth:
              enable_dual_auth: true
              prefer_better_auth: false
              better_auth_secret: "file-secret-file-secret-file-secret"
            logging:
              level: info
            """
        let environment = [
            "ENABLE_DUAL_AUTH": "false",
            "PREFER_BETTER_AUTH": "YES",
            "AUTH_SERVER_URL": "https://auth.example.com",
            "BETTER_AUTH_SECRET": "env-secret-env-secret-env-secret-1",
            "BETTER_AUTH_JWT_SECRET": "env-jwt-secret-env-jwt-secret-env-1",
            "LEGACY_JWT_SECRET": "env-legacy-secret-env-legacy-secret",
            "DATABASE_URL": "postgresql://a:b@db/x",
            "AUTHGATE_LISTEN": "127.0.0.1:8081",
            "AUTHGATE_ADMIN_LISTEN": "127.0.0.1:9091",
            "AUTHGATE_UPSTREAM_URL": "http://10.1.2.3:2001",
            "AUTHGATE_LOG_LEVEL": "DEBUG",
            "UNRELATED": "ignored",
        ]
        let config = try ConfigLoader.parse(yaml: yaml, file: nil, environment: environment)
        #expect(config.auth.enableDualAuth == false)
        #expect(config.auth.preferBetterAuth == true)
        #expect(config.auth.authServerURL == "https://auth.example.com")
        #expect(config.auth.betterAuthSecret?.value == "env-secret-env-secret-env-secret-1")
        #expect(config.auth.betterAuthJWTSecret?.value == "env-jwt-secret-env-jwt-secret-env-1")
        #expect(config.auth.legacyJWTSecret?.value == "env-legacy-secret-env-legacy-secret")
        #expect(config.auth.databaseURL?.value == "postgresql://a:b@db/x")
        #expect(config.server.listen == "127.0.0.1:8081")
        #expect(config.admin.listen == "127.0.0.1:9091")
        #expect(config.upstream.url == "http://10.1.2.3:2001")
        #expect(config.logging.level == .debug)
    }

    @Test(
        "boolean environment variables accept true/false/1/0/yes/no in any case",
        arguments: [
            ("true", true), ("TRUE", true), ("1", true), ("yes", true), ("Yes", true),
            ("false", false), ("False", false), ("0", false), ("no", false), ("NO", false),
        ]
    )
    func environmentBooleans(text: String, expected: Bool) throws {
        let config = try ConfigLoader.parse(
            yaml: "auth:\n  enable_dual_auth: \(!expected)\n  prefer_better_auth: \(!expected)\n",
            file: nil,
            environment: ["ENABLE_DUAL_AUTH": text, "PREFER_BETTER_AUTH": text]
        )
        #expect(config.auth.enableDualAuth == expected)
        #expect(config.auth.preferBetterAuth == expected)
    }

    @Test("a bad boolean environment variable is an issue naming the variable")
    func badEnvironmentBoolean() {
        let issues = loadIssues("", environment: ["PREFER_BETTER_AUTH": "maybe", "ENABLE_DUAL_AUTH": "on"])
        #expect(
            issues == [
                ConfigIssue(key: "ENABLE_DUAL_AUTH", reason: "expected true, false, 1, 0, yes or no, got \"on\""),
                ConfigIssue(key: "PREFER_BETTER_AUTH", reason: "expected true, false, 1, 0, yes or no, got \"maybe\""),
            ]
        )
    }

    @Test("an empty environment variable counts as unset")
    func emptyEnvironmentVariable() throws {
        let config = try ConfigLoader.parse(
            yaml: "",
            file: nil,
            environment: ["PREFER_BETTER_AUTH": "", "AUTHGATE_LISTEN": "", "BETTER_AUTH_SECRET": ""]
        )
        #expect(config == GatewayConfig())
    }

    @Test("a secret can come from NAME_FILE in the environment")
    func secretFromEnvironmentFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try write("\(secretValue)\n", to: directory + "/legacy")
        try write("\t\(secretValue)-jwt \n", to: directory + "/jwt")
        let config = try ConfigLoader.parse(
            yaml: "auth:\n  legacy_jwt_secret: \"file-value-file-value-file-value-123\"\n",
            file: nil,
            environment: [
                "LEGACY_JWT_SECRET_FILE": directory + "/legacy",
                "BETTER_AUTH_JWT_SECRET_FILE": directory + "/jwt",
            ]
        )
        #expect(config.auth.legacyJWTSecret?.value == secretValue)
        #expect(config.auth.betterAuthJWTSecret?.value == "\(secretValue)-jwt")
    }

    @Test("NAME and NAME_FILE together, or an unreadable NAME_FILE, are issues")
    func environmentFileProblems() {
        let issues = loadIssues(
            "",
            environment: [
                "BETTER_AUTH_SECRET": secretValue,
                "BETTER_AUTH_SECRET_FILE": "/nonexistent/secret",
                "DATABASE_URL_FILE": "/nonexistent/db",
            ]
        )
        #expect(
            issues == [
                ConfigIssue(
                    key: "BETTER_AUTH_SECRET_FILE",
                    reason: "set either BETTER_AUTH_SECRET or BETTER_AUTH_SECRET_FILE, not both"
                ),
                ConfigIssue(
                    key: "DATABASE_URL_FILE",
                    reason: "cannot read /nonexistent/db: No such file or directory"
                ),
            ]
        )
    }

    @Test("a validation issue about a value from the environment says where it came from")
    func environmentOriginInIssues() {
        let issues = loadIssues("", environment: ["AUTHGATE_LISTEN": "nowhere", "LEGACY_JWT_SECRET": "short"])
        #expect(issues.map(\.key) == ["server.listen", "auth.legacy_jwt_secret"])
        #expect(issues.first?.reason.hasSuffix("(set by AUTHGATE_LISTEN)") == true)
        #expect(issues.last?.reason.hasSuffix("(set by LEGACY_JWT_SECRET)") == true)
    }

    @Test("session_resolver: postgres takes database_url from the environment and never prints it")
    func postgresResolverWithEnvironmentURL() throws {
        let yaml = "auth:\n  session_resolver: postgres\n"
        #expect(
            loadIssues(yaml) == [
                ConfigIssue(key: "auth.session_resolver", reason: "postgres needs auth.database_url (or DATABASE_URL)")
            ]
        )
        let config = try ConfigLoader.parse(
            yaml: yaml,
            file: nil,
            environment: ["DATABASE_URL": "postgres://u:p@db:5432/app"]
        )
        #expect(config.auth.sessionResolver == .postgres)
        #expect(config.auth.databaseURL?.value == "postgres://u:p@db:5432/app")
        let issues = loadIssues(yaml, environment: ["DATABASE_URL": "postgres://u:hunter2@db:5432"])
        #expect(issues.map(\.key) == ["auth.database_url"])
        #expect(issues.first?.reason.hasSuffix("(set by DATABASE_URL)") == true)
        #expect(!"\(issues)".contains("hunter2"))
    }

    // MARK: Secrets stay secret

    @Test("no issue or description ever contains a secret's value")
    func secretsNeverPrinted() throws {
        let short = "tooShortSecretXYZ"
        let badURL = "mysql://root:hunter2secretpw@db/app"
        let yamlCases = [
            "auth:\n  better_auth_secret: \(short)\n",
            "auth:\n  legacy_jwt_secret: [\(short)]\n",
            "auth:\n  better_auth_jwt_secret: {\(short): 1}\n",
            "auth:\n  database_url: \"\(badURL)\"\n",
            "auth:\n  better_auth_secret: \(short)\n  better_auth_secret_file: /nonexistent\n",
        ]
        for yaml in yamlCases {
            let error = try #require(loadError(yaml), "\(yaml)")
            let text = error.description + error.issues.map(\.reason).joined() + String(reflecting: error)
            #expect(!text.contains(short), "\(yaml)")
            #expect(!text.contains("hunter2"), "\(yaml)")
        }
        let environmentCases: [[String: String]] = [
            ["BETTER_AUTH_SECRET": short],
            ["LEGACY_JWT_SECRET": short],
            ["BETTER_AUTH_JWT_SECRET": short],
            ["DATABASE_URL": badURL],
        ]
        for environment in environmentCases {
            let error = try #require(loadError("", environment: environment), "\(environment.keys)")
            let text = error.description + String(reflecting: error)
            #expect(!text.contains(short))
            #expect(!text.contains("hunter2"))
        }
        let config = try ConfigLoader.parse(yaml: "", file: nil, environment: ["LEGACY_JWT_SECRET": secretValue])
        #expect(!String(describing: config).contains(secretValue))
        #expect(!String(reflecting: config).contains(secretValue))
    }

    // MARK: The example file and the reference

    @Test("gateway.conf.example loads cleanly and holds exactly the built-in defaults")
    func exampleFileLoads() throws {
        let config = try ConfigLoader.load(path: repositoryRoot + "/gateway.conf.example", environment: [:])
        #expect(config == GatewayConfig())
    }

    @Test("gateway.conf.example writes out every key that has a default and comments out the others")
    func exampleWritesEveryDefault() throws {
        let example = try String(contentsOfFile: repositoryRoot + "/gateway.conf.example", encoding: .utf8)
        let entries = documentedKeys(in: example)
        // Together with exampleFileLoads this pins every default the example states.
        #expect(entries.filter { !$0.commentedOut }.map(\.key).sorted() == keysWithDefaultValues.sorted())
        #expect(
            entries.filter(\.commentedOut).map(\.key).sorted()
                == Set(ConfigLoader.knownKeys).subtracting(keysWithDefaultValues).sorted()
        )
    }

    @Test("gateway.conf.example documents every key once, in its section, with its default, range and variable")
    func exampleDocumentsEveryKey() throws {
        let example = try String(contentsOfFile: repositoryRoot + "/gateway.conf.example", encoding: .utf8)
        let entries = documentedKeys(in: example)
        let keys = ConfigLoader.knownKeys
        #expect(keys.count == 143)
        #expect(Set(keys).count == keys.count)
        // Each known key exactly once, and nothing that is not a key.
        #expect(entries.map(\.key).sorted() == keys.sorted())
        let byKey = Dictionary(entries.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        for key in keys {
            guard let entry = byKey[key] else {
                Issue.record("gateway.conf.example lacks \(key)")
                continue
            }
            #expect(!entry.comment.isEmpty, "gateway.conf.example does not explain \(key)")
            #expect(entry.comment.lowercased().contains("default"), "gateway.conf.example gives no default for \(key)")
        }
        for bound in ConfigLoader.integerFields {
            let range =
                bound.range.upperBound == Int64.max
                ? ">= \(bound.range.lowerBound)" : "\(bound.range.lowerBound)-\(bound.range.upperBound)"
            #expect(
                byKey[bound.key]?.comment.contains(range) == true,
                "gateway.conf.example: \(bound.key) lacks \(range)"
            )
        }
        for (key, variable) in environmentVariableByKey {
            #expect(byKey[key]?.comment.contains(variable) == true, "gateway.conf.example: \(key) lacks \(variable)")
        }
        for variable in ConfigLoader.environmentVariables {
            #expect(environmentVariableByKey.values.contains(variable), "\(variable) belongs to no key")
        }
    }

    @Test("the README's config reference has a row for every key, with its range and variable")
    func referenceDocumentsEveryKey() throws {
        let reference = try String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)
        let rows = referenceRows(in: reference)
        let keys = ConfigLoader.knownKeys
        #expect(keys.count == 143)
        for key in keys {
            guard let cells = rows[key] else {
                Issue.record("README config reference lacks \(key)")
                continue
            }
            #expect(cells.count == 5, "README config reference: the row of \(key) has \(cells.count) cells, not 5")
            guard cells.count == 5 else { continue }
            #expect(!cells[2].isEmpty, "README config reference gives no default for \(key)")
            #expect(cells[4].count > 10, "README config reference does not explain \(key)")
            let variable = environmentVariableByKey[key].map { "`\($0)`" } ?? "—"
            #expect(cells[3] == variable, "README config reference: \(key) should name \(variable) as its variable")
        }
        // No row for a key that does not exist (a dotted key in a known section).
        let sectionNames = Set(ConfigLoader.sections.map(\.name))
        for key in rows.keys {
            guard let section = key.split(separator: ".").first.map(String.init), sectionNames.contains(section) else {
                continue
            }
            #expect(keys.contains(key), "README config reference documents \(key), which is not a key")
        }
        for bound in ConfigLoader.integerFields {
            let range =
                bound.range.upperBound == Int64.max
                ? "≥ \(bound.range.lowerBound)" : "Range \(bound.range.lowerBound)–\(bound.range.upperBound)"
            #expect(
                rows[bound.key]?.last?.contains(range) == true,
                "README config reference: \(bound.key) lacks \(range)"
            )
        }
    }

    @Test("both documents describe the rollout phases as the policy implements them")
    func rolloutPhasesDocumented() throws {
        let example = try String(contentsOfFile: repositoryRoot + "/gateway.conf.example", encoding: .utf8)
        let reference = try String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)
        let phases = [
            ("1 infrastructure", true, false), ("2–3 beta, gradual", true, true), ("4 complete", false, true),
            ("rollback", false, false),
        ]
        for (phase, dual, prefer) in phases {
            let policy = AuthPolicy(
                enableDualAuth: dual,
                preferBetterAuth: prefer,
                legacyOpaqueEnabled: false,
                acceptRawBearer: false
            )
            let names = policy.methods(for: .authenticated).map { $0 == .legacy ? "legacy" : "Better Auth" }
            let accepted = names.count == 1 ? "\(names[0]) only" : "\(names[0]) first, then \(names[1])"
            #expect(
                reference.contains("| \(phase) | \(dual) | \(prefer) | \(accepted) |"),
                "README config reference lacks the row of phase \(phase)"
            )
            let exampleLine = example.split(separator: "\n").contains { line in
                line.hasPrefix("#")
                    && line.split(separator: " ").joined(separator: " ").contains("\(dual) \(prefer) \(accepted)")
            }
            #expect(exampleLine, "gateway.conf.example lacks the line of phase \(phase)")
        }
    }
}

@Suite("ConfigSnapshot")
struct ConfigSnapshotTests {
    @Test("the default config compiles into a snapshot")
    func defaultSnapshot() throws {
        let snapshot = try ConfigSnapshot(config: GatewayConfig(), generation: 7)
        #expect(snapshot.generation == 7)
        #expect(snapshot.proxyAddress.description == "0.0.0.0:8080")
        #expect(snapshot.adminAddress.description == "127.0.0.1:9090")
        #expect(snapshot.upstream.host == "127.0.0.1")
        #expect(snapshot.upstream.port == 2000)
        #expect(snapshot.upstream.hostHeader == "127.0.0.1:2000")
        #expect(snapshot.trustedProxies.contains(ip: "127.0.0.1"))
        #expect(snapshot.trustedProxies.contains(ip: "::1"))
        #expect(!snapshot.trustedProxies.contains(ip: "10.0.0.1"))
    }

    @Test("an invalid config does not compile, and every issue is reported")
    func invalidSnapshot() {
        var config = GatewayConfig()
        config.server.listen = "nope"
        config.trustedProxies = ["10.0.0.0/8", "garbage"]
        do {
            _ = try ConfigSnapshot(config: config, generation: 1)
            Issue.record("an invalid config compiled")
        } catch {
            #expect(error.file == nil)
            #expect(error.issues.map(\.key) == ["server.listen", "trusted_proxies[1]"])
        }
    }
}

extension ConfigSnapshotTests {
    /// The issues of compiling `config`, or `[]` when it compiles.
    private func snapshotIssues(_ config: GatewayConfig) -> [ConfigIssue] {
        do {
            _ = try ConfigSnapshot(config: config, generation: 1)
            return []
        } catch {
            #expect(error.file == nil)
            return error.issues
        }
    }

    @Test("a legacy_public_key_file that does not exist is an issue")
    func missingPublicKeyFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = GatewayConfig()
        config.auth.legacyPublicKeyFile = directory + "/missing.pem"
        #expect(config.validate() == [], "the file is checked when compiling, not by validate()")
        let issues = snapshotIssues(config)
        #expect(issues.map(\.key) == ["auth.legacy_public_key_file"])
        #expect(issues.first?.reason.contains("No such file or directory") == true)
    }

    @Test(
        "a legacy_public_key_file that is not an RSA public key in PEM is an issue",
        arguments: ["not a key at all\n", "", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "p256"]
    )
    func unusablePublicKeyFile(content: String) throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/legacy.pem"
        // A valid PEM public key, but not RSA: it must not be taken for an RS256 key.
        try write(content == "p256" ? P256.Signing.PrivateKey().publicKey.pemRepresentation : content, to: path)
        var config = GatewayConfig()
        config.auth.legacyPublicKeyFile = path
        let issues = snapshotIssues(config)
        #expect(issues.map(\.key) == ["auth.legacy_public_key_file"])
        #expect(issues.first?.reason.hasPrefix("\(path): not a usable RSA public key") == true)
    }

    @Test("an RSA public key in PEM compiles into the legacy verifier")
    func usablePublicKeyFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/legacy.pem"
        try write(try rsaPublicKeyPEM(), to: path)
        var config = GatewayConfig()
        #expect(try ConfigSnapshot(config: config, generation: 1).auth.legacyVerifier == nil)
        config.auth.legacyPublicKeyFile = path
        #expect(snapshotIssues(config) == [])
        let snapshot = try ConfigSnapshot(config: config, generation: 1)
        #expect(snapshot.auth.legacyVerifier != nil)
    }

    @Test("validation problems are reported before the key file is read")
    func validationComesFirst() throws {
        var config = GatewayConfig()
        config.auth.legacyPublicKeyFile = "/nonexistent/legacy.pem"
        config.auth.sessionResolver = .postgres  // without a database_url
        // validate() fails first, so the file is not looked at.
        #expect(snapshotIssues(config).map(\.key) == ["auth.session_resolver"])
    }

    @Test("routes, cookie names and the session schema are compiled from the config")
    func compiledAuthSettings() throws {
        var config = GatewayConfig()
        config.auth.cookiePrefix = "my-app"
        config.auth.authServerURL = "https://auth.example.com"
        config.routes = [
            GatewayConfig.Route(path: "/api/health", access: .public),
            GatewayConfig.Route(path: "/api/admin/", access: .betterAuthOnly),
            GatewayConfig.Route(path: "/api/", access: .public),
        ]
        config.sessionStore.sessionTable = "public.user_sessions"
        config.sessionStore.userRoleColumn = "role"
        let snapshot = try ConfigSnapshot(config: config, generation: 1)
        let routes = snapshot.auth.routes
        #expect(routes.access(forTarget: "/api/health") == .public)
        #expect(routes.access(forTarget: "/api/health?x=1") == .public)
        #expect(routes.access(forTarget: "/api/admin") == .betterAuthOnly)
        #expect(routes.access(forTarget: "/api/admin/users") == .betterAuthOnly)
        #expect(routes.access(forTarget: "/api/anything") == .public)
        #expect(routes.access(forTarget: "/other") == .authenticated)
        #expect(snapshot.auth.authServerCookieName == "my-app.session_token")
        #expect(snapshot.auth.betterAuthIssuer == "https://auth.example.com")
        #expect(snapshot.auth.betterAuthAudience == "https://auth.example.com")
        #expect(snapshot.sessionSchema.sessionTable == "public.user_sessions")
        #expect(snapshot.sessionSchema.userRole == "role")
        #expect(snapshot.sessionSchema.lookupSQL.contains("FROM \"public\".\"user_sessions\" s"))
    }
}
