import Yams

#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads `gateway.conf` (YAML) and the environment into a validated ``GatewayConfig``.
///
/// The file is walked as a YAML node tree rather than decoded with `Codable` so that every
/// problem can be reported at once with its full key path: unknown keys (with a "did you mean"
/// suggestion), values of the wrong type, unreadable secret files, bad environment variables and,
/// last, everything ``GatewayConfig/validate()`` finds. A missing section or key keeps its
/// default, so an empty file (or one with only comments) is the default configuration.
///
/// Order of precedence, lowest first: built-in defaults, the file, the environment. Secrets can
/// be given inline (`better_auth_secret: ...`), as a file (`better_auth_secret_file: /path`,
/// relative to the config file's directory) or through the environment (`BETTER_AUTH_SECRET`,
/// `BETTER_AUTH_SECRET_FILE`). A secret file that is UTF-8 text is trimmed of surrounding
/// whitespace; any other file is a binary key, used byte for byte. An environment secret must be
/// valid UTF-8 (it is refused, never altered). No issue, error or description ever contains a
/// secret's value.
public enum ConfigLoader {
    /// The largest config file the loader reads.
    static let maximumConfigFileBytes = 4 * 1024 * 1024
    /// The largest secret file the loader reads.
    static let maximumSecretFileBytes = 64 * 1024

    /// Reads and parses the config file at `path`, applies `environment` and validates.
    ///
    /// - Throws: a ``ConfigError`` naming `path` with every issue found; an unreadable file is one
    ///   issue with key `""`.
    public static func load(path: String, environment: [String: String]) throws(ConfigError) -> GatewayConfig {
        switch readTextFile(path, limit: maximumConfigFileBytes) {
        case .success(let text):
            return try parse(yaml: text, file: path, environment: environment)
        case .failure(let problem):
            throw ConfigError(
                file: path,
                issues: [ConfigIssue(key: "", reason: "cannot read the file: \(problem.reason)")]
            )
        }
    }

    /// Parses YAML text, applies `environment` and validates.
    ///
    /// - Parameters:
    ///   - yaml: the configuration text.
    ///   - file: the path it came from, for messages and for resolving relative `*_file` paths.
    ///   - environment: the process environment (pass `ProcessInfo.processInfo.environment`).
    /// - Throws: a ``ConfigError`` with every issue found.
    public static func parse(
        yaml: String,
        file: String?,
        environment: [String: String]
    ) throws(ConfigError) -> GatewayConfig {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigError(file: file, issues: [ConfigIssue(key: "", reason: describeYAMLError(error))])
        }
        var walker = Walker(baseDirectory: file.map(directory(of:)))
        walker.walkRoot(root)
        walker.applyEnvironment(environment)
        var issues = walker.issues
        for issue in walker.config.validate(refusedWords: walker.refusedWords) {
            var issue = issue
            if let positions = walker.legacyKeyPositions {
                issue.key = renumber(issue.key, list: "auth.legacy_keys", positions: positions)
            }
            if let origin = walker.origins[issue.key] {
                issue.reason += " (\(origin))"
            }
            issues.append(issue)
        }
        guard issues.isEmpty else {
            throw ConfigError(file: file, issues: issues)
        }
        return walker.config
    }

    /// `key` with the index after `list` replaced by the entry's position in the file:
    /// `auth.legacy_keys[0].secret` becomes `auth.legacy_keys[2].secret` when the file's first
    /// two entries were left out.
    static func renumber(_ key: String, list: String, positions: [Int]) -> String {
        let prefix = list + "["
        guard key.hasPrefix(prefix) else { return key }
        let rest = key.dropFirst(prefix.count)
        guard let close = rest.firstIndex(of: "]"), let index = Int(rest[..<close]), positions.indices.contains(index)
        else { return key }
        return "\(prefix)\(positions[index])\(rest[close...])"
    }

    // MARK: - Schema

    /// How one YAML key is read, where it is stored and what it may hold: the one place that
    /// states each setting's type, its range (integers) or its words (choices).
    enum FieldKind {
        /// An integer; ``GatewayConfig/validate()`` checks it against the range, and `unit`
        /// completes its message (`must be 1...300000 ms, got 0`).
        case integer(WritableKeyPath<GatewayConfig, Int>, ClosedRange<Int64>, unit: String)
        /// As ``integer(_:_:unit:)``, for settings that need 64 bits on every platform.
        case integer64(WritableKeyPath<GatewayConfig, Int64>, ClosedRange<Int64>, unit: String)
        case boolean(WritableKeyPath<GatewayConfig, Bool>)
        case string(WritableKeyPath<GatewayConfig, String>)
        case optionalString(WritableKeyPath<GatewayConfig, String?>)
        /// Also accepts `<name>_file`.
        case secret(WritableKeyPath<GatewayConfig, Secret?>)
        /// A YAML list of strings.
        case stringList(WritableKeyPath<GatewayConfig, [String]>)
        /// One of a few words, read straight into its enum; any other word is an issue.
        case words(Words<GatewayConfig>)
        /// `auth.legacy_keys`: a list of `{kid, alg, secret | secret_file | public_key_file}`.
        case legacyKeyList(WritableKeyPath<GatewayConfig, [GatewayConfig.Auth.LegacyKey]>)

        /// A choice setting stored at `keyPath`: its words are the raw values of `Value`.
        static func words<Value: ConfigWord>(
            _ keyPath: WritableKeyPath<GatewayConfig, Value>,
            _ wording: Wording
        ) -> FieldKind {
            .words(Words(keyPath, wording))
        }
    }

    /// A choice setting of some `Root` (the config, a route, a legacy key): the words it accepts
    /// and how a wrong one is reported, with the enum's type erased so that settings of
    /// different enums sit in one table.
    struct Words<Root> {
        /// The accepted words, in the order messages list them (the enum's `allCases`).
        let words: [String]
        let wording: Wording
        /// Stores the case named `word`, or returns `false` when there is none.
        let assign: (inout Root, String) -> Bool
        /// The word of the value stored in `root`.
        let word: (Root) -> String

        init<Value: ConfigWord>(_ keyPath: WritableKeyPath<Root, Value>, _ wording: Wording) {
            self.words = Value.allCases.map(\.rawValue)
            self.wording = wording
            self.assign = { root, word in
                guard let value = Value(rawValue: word) else { return false }
                root[keyPath: keyPath] = value
                return true
            }
            self.word = { root in root[keyPath: keyPath].rawValue }
        }

        /// Why `word` is refused, in the setting's own wording.
        func reason(for word: String) -> String {
            self.wording.reason(for: word, words: self.words)
        }
    }

    /// How a refused word is reported.
    struct Wording {
        /// What the word is not (`a resolver`: `"redis" is not a resolver; expected http or
        /// postgres`); `nil` gives `"x" is not one of a, b`.
        var noun: String?
        /// List every word as `one of a, b, c` rather than `a, b or c`.
        var listsAsOneOf = false
        /// Appended in parentheses.
        var note: String? = nil
        /// Suggest the lower-cased word when it is one (`INFO`: `did you mean info?`).
        var suggestsLowercase = false

        /// `"x" is not one of a, b, c`.
        static let oneOf = Wording(noun: nil)

        /// `"x" is not <noun>; expected a, b or c`.
        static func not(_ noun: String) -> Wording {
            Wording(noun: noun)
        }

        func reason(for word: String, words: [String]) -> String {
            guard let noun = self.noun else {
                return "\"\(word)\" is not one of \(words.joined(separator: ", "))"
            }
            var text = "\"\(word)\" is not \(noun); expected "
            if self.listsAsOneOf || words.count < 2 {
                text += "one of \(words.joined(separator: ", "))"
            } else {
                text += "\(words.dropLast().joined(separator: ", ")) or \(words[words.count - 1])"
            }
            if let note = self.note {
                text += " (\(note))"
            }
            if self.suggestsLowercase, words.contains(word.lowercased()) {
                text += "; did you mean \(word.lowercased())?"
            }
            return text
        }
    }

    struct Field {
        var name: String
        var kind: FieldKind
    }

    struct Section {
        var name: String
        var fields: [Field]
    }

    /// The sections of `gateway.conf` and their keys, in documentation order.
    static var sections: [Section] {
        [
            Section(
                name: "server",
                fields: [
                    Field(name: "listen", kind: .string(\.server.listen)),
                    Field(
                        name: "event_loops",
                        kind: .integer(\.server.eventLoops, 0...256, unit: "threads (0 = one per core)")
                    ),
                    Field(
                        name: "drain_timeout_ms",
                        kind: .integer(\.server.drainTimeoutMs, 1...600_000, unit: "ms")
                    ),
                    Field(
                        name: "client_idle_timeout_ms",
                        kind: .integer(\.server.clientIdleTimeoutMs, 1...86_400_000, unit: "ms")
                    ),
                    Field(
                        name: "backlog",
                        kind: .integer(\.server.backlog, 1...65_535, unit: "connections")
                    ),
                    Field(name: "escaped_slashes", kind: .words(\.server.escapedSlashes, .oneOf)),
                    Field(name: "path_parameters", kind: .words(\.server.pathParameters, .oneOf)),
                    Field(
                        name: "request_header_timeout_ms",
                        kind: .integer(\.server.requestHeaderTimeoutMs, 1...3_600_000, unit: "ms")
                    ),
                    Field(
                        name: "request_body_timeout_ms",
                        kind: .integer(\.server.requestBodyTimeoutMs, 1...3_600_000, unit: "ms")
                    ),
                ]
            ),
            Section(
                name: "upstream",
                fields: [
                    Field(name: "url", kind: .string(\.upstream.url)),
                    Field(
                        name: "max_connections_per_loop",
                        kind: .integer(\.upstream.maxConnectionsPerLoop, 1...10_000, unit: "connections")
                    ),
                    Field(
                        name: "max_waiters_per_loop",
                        kind: .integer(\.upstream.maxWaitersPerLoop, 0...1_000_000, unit: "requests")
                    ),
                    Field(
                        name: "connect_timeout_ms",
                        kind: .integer(\.upstream.connectTimeoutMs, 1...300_000, unit: "ms")
                    ),
                    Field(
                        name: "response_timeout_ms",
                        kind: .integer(\.upstream.responseTimeoutMs, 1...3_600_000, unit: "ms")
                    ),
                    Field(
                        name: "idle_timeout_ms",
                        kind: .integer(\.upstream.idleTimeoutMs, 1...86_400_000, unit: "ms")
                    ),
                    Field(name: "retry_idempotent", kind: .boolean(\.upstream.retryIdempotent)),
                    Field(
                        name: "request_buffer_bytes",
                        kind: .integer(
                            \.upstream.requestBufferBytes,
                            0...16_777_216,
                            unit: "bytes (0 = stream every body)"
                        )
                    ),
                    Field(
                        name: "max_connections_per_client_ip",
                        kind: .integer(
                            \.upstream.maxConnectionsPerClientIP,
                            0...10_000,
                            unit: "connections (0 = no cap)"
                        )
                    ),
                ]
            ),
            Section(
                name: "limits",
                fields: [
                    Field(
                        name: "max_header_bytes",
                        kind: .integer(\.limits.maxHeaderBytes, 1...1_048_576, unit: "bytes")
                    ),
                    Field(
                        name: "max_header_count",
                        kind: .integer(\.limits.maxHeaderCount, 1...10_000, unit: "headers")
                    ),
                    Field(
                        name: "max_uri_bytes",
                        kind: .integer(\.limits.maxURIBytes, 1...1_048_576, unit: "bytes")
                    ),
                    Field(
                        name: "max_body_bytes",
                        kind: .integer64(\.limits.maxBodyBytes, 0...Int64.max, unit: "bytes (0 = no limit)")
                    ),
                ]
            ),
            Section(
                name: "admin",
                fields: [
                    Field(name: "enabled", kind: .boolean(\.admin.enabled)),
                    Field(name: "listen", kind: .string(\.admin.listen)),
                ]
            ),
            Section(
                name: "logging",
                fields: [
                    Field(name: "level", kind: .words(\.logging.level, Self.logLevelWording)),
                    Field(name: "format", kind: .words(\.logging.format, .not("a log format"))),
                    Field(name: "access_log", kind: .boolean(\.logging.accessLog)),
                ]
            ),
            Section(
                name: "auth",
                fields: [
                    Field(name: "enable_dual_auth", kind: .boolean(\.auth.enableDualAuth)),
                    Field(name: "prefer_better_auth", kind: .boolean(\.auth.preferBetterAuth)),
                    Field(name: "auth_server_url", kind: .string(\.auth.authServerURL)),
                    Field(name: "better_auth_secret", kind: .secret(\.auth.betterAuthSecret)),
                    Field(name: "better_auth_jwt_secret", kind: .secret(\.auth.betterAuthJWTSecret)),
                    Field(name: "better_auth_secrets", kind: .secret(\.auth.betterAuthSecrets)),
                    Field(name: "better_auth_jwt_secrets", kind: .secret(\.auth.betterAuthJWTSecrets)),
                    Field(name: "legacy_jwt_secret", kind: .secret(\.auth.legacyJWTSecret)),
                    Field(name: "database_url", kind: .secret(\.auth.databaseURL)),
                    Field(name: "session_resolver", kind: .words(\.auth.sessionResolver, .not("a resolver"))),
                    Field(name: "cookie_prefix", kind: .string(\.auth.cookiePrefix)),
                    Field(name: "accept_secure_cookie", kind: .boolean(\.auth.acceptSecureCookie)),
                    Field(name: "accept_raw_bearer", kind: .boolean(\.auth.acceptRawBearer)),
                    Field(
                        name: "leeway_seconds",
                        kind: .integer(\.auth.leewaySeconds, 0...3_600, unit: "seconds")
                    ),
                    Field(
                        name: "max_token_bytes",
                        kind: .integer(\.auth.maxTokenBytes, 256...1_048_576, unit: "bytes")
                    ),
                    Field(name: "legacy_public_key_file", kind: .optionalString(\.auth.legacyPublicKeyFile)),
                    Field(name: "legacy_issuer", kind: .optionalString(\.auth.legacyIssuer)),
                    Field(name: "legacy_audience", kind: .optionalString(\.auth.legacyAudience)),
                    Field(name: "legacy_introspection_url", kind: .optionalString(\.auth.legacyIntrospectionURL)),
                    Field(name: "legacy_refresh_path", kind: .string(\.auth.legacyRefreshPath)),
                    Field(name: "jwt_issuer", kind: .optionalString(\.auth.jwtIssuer)),
                    Field(name: "jwt_audience", kind: .optionalString(\.auth.jwtAudience)),
                    Field(
                        name: "jwks_refresh_cooldown_ms",
                        kind: .integer(\.auth.jwksRefreshCooldownMs, 0...86_400_000, unit: "ms")
                    ),
                    Field(
                        name: "jwks_refresh_interval_ms",
                        kind: .integer(
                            \.auth.jwksRefreshIntervalMs,
                            0...86_400_000,
                            unit: "ms (0 = no periodic refresh)"
                        )
                    ),
                    Field(name: "jwks_enabled", kind: .boolean(\.auth.jwksEnabled)),
                    Field(name: "admin_plugin", kind: .boolean(\.auth.adminPlugin)),
                    Field(name: "organization_plugin", kind: .boolean(\.auth.organizationPlugin)),
                    Field(name: "api_key_plugin", kind: .boolean(\.auth.apiKeyPlugin)),
                    Field(name: "api_key_header", kind: .string(\.auth.apiKeyHeader)),
                    Field(name: "api_key_table", kind: .string(\.auth.apiKeyTable)),
                    Field(name: "api_key_rate_limit", kind: .boolean(\.auth.apiKeyRateLimit)),
                    Field(name: "trust_cookie_cache", kind: .boolean(\.auth.trustCookieCache)),
                    Field(
                        name: "cookie_cache_strategy",
                        kind: .words(\.auth.cookieCacheStrategy, Self.cookieCacheStrategyWording)
                    ),
                    Field(name: "cookie_cache_version", kind: .string(\.auth.cookieCacheVersion)),
                    Field(name: "legacy_keys", kind: .legacyKeyList(\.auth.legacyKeys)),
                    Field(
                        name: "auth_server_timeout_ms",
                        kind: .integer(\.auth.authServerTimeoutMs, 1...300_000, unit: "ms")
                    ),
                    Field(name: "sign_out_path", kind: .string(\.auth.signOutPath)),
                ]
            ),
            Section(
                name: "cache",
                fields: [
                    Field(
                        name: "max_entries",
                        kind: .integer(\.cache.maxEntries, 1...100_000_000, unit: "entries")
                    ),
                    Field(
                        name: "max_negative_entries",
                        kind: .integer(\.cache.maxNegativeEntries, 0...100_000_000, unit: "entries")
                    ),
                    Field(
                        name: "positive_ttl_ms",
                        kind: .integer(\.cache.positiveTTLMs, 0...86_400_000, unit: "ms")
                    ),
                    Field(
                        name: "negative_ttl_ms",
                        kind: .integer(\.cache.negativeTTLMs, 0...86_400_000, unit: "ms")
                    ),
                    Field(
                        name: "stale_if_error_ms",
                        kind: .integer(\.cache.staleIfErrorMs, 0...86_400_000, unit: "ms (0 = fail closed)")
                    ),
                ]
            ),
            Section(
                name: "session_store",
                fields: [
                    Field(name: "session_table", kind: .string(\.sessionStore.sessionTable)),
                    Field(name: "user_table", kind: .string(\.sessionStore.userTable)),
                    Field(name: "session_id_column", kind: .string(\.sessionStore.sessionIDColumn)),
                    Field(name: "session_token_column", kind: .string(\.sessionStore.sessionTokenColumn)),
                    Field(name: "session_user_id_column", kind: .string(\.sessionStore.sessionUserIDColumn)),
                    Field(name: "session_expires_at_column", kind: .string(\.sessionStore.sessionExpiresAtColumn)),
                    Field(name: "user_id_column", kind: .string(\.sessionStore.userIDColumn)),
                    Field(name: "user_email_column", kind: .string(\.sessionStore.userEmailColumn)),
                    Field(name: "user_role_column", kind: .optionalString(\.sessionStore.userRoleColumn)),
                ]
            ),
            Section(
                name: "rollout",
                fields: [
                    Field(
                        name: "better_auth_rollout_percent",
                        kind: .integer(\.rollout.betterAuthRolloutPercent, 0...100, unit: "percent")
                    ),
                    Field(name: "enable_oauth", kind: .boolean(\.rollout.enableOAuth)),
                    Field(name: "show_migration_banner", kind: .boolean(\.rollout.showMigrationBanner)),
                    Field(name: "migration_policy", kind: .words(\.rollout.migrationPolicy, .oneOf)),
                    Field(name: "users_table", kind: .string(\.rollout.usersTable)),
                    Field(name: "users_id_column", kind: .string(\.rollout.usersIDColumn)),
                    Field(name: "migration_status_column", kind: .string(\.rollout.migrationStatusColumn)),
                    Field(
                        name: "migration_status_ttl_ms",
                        kind: .integer(\.rollout.migrationStatusTTLMs, 0...86_400_000, unit: "ms")
                    ),
                ]
            ),
            Section(
                name: "rate_limits",
                fields: [
                    Field(name: "enabled", kind: .boolean(\.rateLimits.enabled)),
                    Field(
                        name: "ip_requests_per_minute",
                        kind: .integer(\.rateLimits.ipRequestsPerMinute, 1...100_000_000, unit: "requests/minute")
                    ),
                    Field(
                        name: "ip_burst",
                        kind: .integer(\.rateLimits.ipBurst, 1...1_000_000, unit: "requests")
                    ),
                    Field(
                        name: "user_requests_per_minute",
                        kind: .integer(\.rateLimits.userRequestsPerMinute, 1...100_000_000, unit: "requests/minute")
                    ),
                    Field(
                        name: "user_burst",
                        kind: .integer(\.rateLimits.userBurst, 1...1_000_000, unit: "requests")
                    ),
                    Field(name: "login_paths", kind: .stringList(\.rateLimits.loginPaths)),
                    Field(
                        name: "login_requests_per_minute",
                        kind: .integer(\.rateLimits.loginRequestsPerMinute, 1...100_000_000, unit: "requests/minute")
                    ),
                    Field(
                        name: "login_burst",
                        kind: .integer(\.rateLimits.loginBurst, 1...1_000_000, unit: "requests")
                    ),
                    Field(
                        name: "introspect_requests_per_minute",
                        kind: .integer(
                            \.rateLimits.introspectRequestsPerMinute,
                            1...100_000_000,
                            unit: "requests/minute"
                        )
                    ),
                    Field(
                        name: "introspect_burst",
                        kind: .integer(\.rateLimits.introspectBurst, 1...1_000_000, unit: "requests")
                    ),
                    Field(
                        name: "max_tracked_keys",
                        kind: .integer(\.rateLimits.maxTrackedKeys, 16...100_000_000, unit: "keys")
                    ),
                ]
            ),
            Section(
                name: "lockout",
                fields: [
                    Field(name: "enabled", kind: .boolean(\.lockout.enabled)),
                    Field(
                        name: "max_failures",
                        kind: .integer(\.lockout.maxFailures, 1...1_000, unit: "failures")
                    ),
                    Field(
                        name: "window_ms",
                        kind: .integer(\.lockout.windowMs, 1_000...86_400_000, unit: "ms")
                    ),
                    Field(name: "email_field", kind: .string(\.lockout.emailField)),
                    Field(
                        name: "max_body_bytes",
                        kind: .integer(\.lockout.maxBodyBytes, 64...1_048_576, unit: "bytes")
                    ),
                    Field(name: "store", kind: .words(\.lockout.store, .not("a store"))),
                    Field(
                        name: "store_timeout_ms",
                        kind: .integer(\.lockout.storeTimeoutMs, 10...10_000, unit: "ms")
                    ),
                ]
            ),
            Section(
                name: "forwarding",
                fields: [
                    Field(name: "forward_authorization", kind: .boolean(\.forwarding.forwardAuthorization)),
                    Field(name: "forward_session_cookie", kind: .boolean(\.forwarding.forwardSessionCookie)),
                    Field(name: "strip_headers", kind: .stringList(\.forwarding.stripHeaders)),
                ]
            ),
            Section(
                name: "assertion",
                fields: [
                    Field(name: "enabled", kind: .boolean(\.assertion.enabled)),
                    Field(name: "algorithm", kind: .words(\.assertion.algorithm, .oneOf)),
                    Field(name: "private_key_file", kind: .optionalString(\.assertion.privateKeyFile)),
                    Field(name: "secret", kind: .secret(\.assertion.secret)),
                    Field(name: "issuer", kind: .string(\.assertion.issuer)),
                    Field(name: "audience", kind: .string(\.assertion.audience)),
                    Field(
                        name: "ttl_seconds",
                        kind: .integer(\.assertion.ttlSeconds, 1...3_600, unit: "seconds")
                    ),
                ]
            ),
            Section(
                name: "websocket",
                fields: [
                    Field(name: "token_subprotocol", kind: .string(\.websocket.tokenSubprotocol)),
                    Field(name: "token_query_parameter", kind: .optionalString(\.websocket.tokenQueryParameter)),
                    Field(
                        name: "revalidate_interval_ms",
                        kind: .integer(
                            \.websocket.revalidateIntervalMs,
                            0...86_400_000,
                            unit: "ms (0 = only on eviction)"
                        )
                    ),
                ]
            ),
            Section(
                name: "audit",
                fields: [
                    Field(name: "enabled", kind: .boolean(\.audit.enabled)),
                    Field(name: "table", kind: .string(\.audit.table)),
                    Field(
                        name: "queue_capacity",
                        kind: .integer(\.audit.queueCapacity, 16...10_000_000, unit: "events")
                    ),
                    Field(
                        name: "batch_size",
                        kind: .integer(\.audit.batchSize, 1...10_000, unit: "rows")
                    ),
                    Field(
                        name: "flush_interval_ms",
                        kind: .integer(\.audit.flushIntervalMs, 1...60_000, unit: "ms")
                    ),
                    Field(name: "spill_file", kind: .string(\.audit.spillFile)),
                    Field(
                        name: "retry_interval_ms",
                        kind: .integer(\.audit.retryIntervalMs, 10...600_000, unit: "ms")
                    ),
                ]
            ),
            Section(
                name: "metrics",
                fields: [
                    Field(
                        name: "active_sessions_interval_ms",
                        kind: .integer(
                            \.metrics.activeSessionsIntervalMs,
                            0...86_400_000,
                            unit: "ms (0 = only from the cache)"
                        )
                    )
                ]
            ),
            Section(
                name: "reload",
                fields: [
                    Field(name: "watch_file", kind: .boolean(\.reload.watchFile)),
                    Field(
                        name: "watch_interval_ms",
                        kind: .integer(\.reload.watchIntervalMs, 100...3_600_000, unit: "ms")
                    ),
                ]
            ),
            Section(
                name: "cors",
                fields: [
                    Field(name: "allowed_origins", kind: .stringList(\.cors.allowedOrigins)),
                    Field(name: "allow_credentials", kind: .boolean(\.cors.allowCredentials)),
                    Field(name: "allowed_methods", kind: .stringList(\.cors.allowedMethods)),
                    Field(name: "allowed_headers", kind: .stringList(\.cors.allowedHeaders)),
                    Field(name: "exposed_headers", kind: .stringList(\.cors.exposedHeaders)),
                    Field(
                        name: "max_age_seconds",
                        kind: .integer(\.cors.maxAgeSeconds, 0...86_400, unit: "seconds")
                    ),
                ]
            ),
        ]
    }

    /// The top-level list of named rate-limit classes.
    static let rateLimitClassesKey = "rate_limit_classes"

    /// The top-level list of route rules.
    static let routesKey = "routes"
    /// The keys of one route rule.
    static let routeKeys = [
        "path", "access", "rate_limit_class", "upstream", "enable_dual_auth", "prefer_better_auth", "cors",
        "allow_impersonation",
    ]

    /// `routes[].access`.
    static var routeAccessWords: Words<GatewayConfig.Route> { Words(\.access, .not("an access level")) }
    /// `routes[].upstream`.
    static var routeUpstreamWords: Words<GatewayConfig.Route> { Words(\.upstream, .oneOf) }
    /// `auth.legacy_keys[].alg`.
    static var legacyKeyAlgorithmWords: Words<GatewayConfig.Auth.LegacyKey> { Words(\.algorithm, .oneOf) }

    /// `logging.level`: every level listed, and a capitalised one (`INFO`) gets a suggestion.
    static let logLevelWording = Wording(noun: "a log level", listsAsOneOf: true, suggestsLowercase: true)
    /// `auth.cookie_cache_strategy`: Better Auth's third strategy, `jwe`, is explained.
    static let cookieCacheStrategyWording = Wording(
        noun: "read by the gateway",
        note: "jwe caches are encrypted for the auth server alone: leave trust_cookie_cache off"
    )

    /// An integer setting of the schema: its dotted key, its range and unit, and how to read it.
    struct IntegerField {
        /// `section.name`.
        let key: String
        /// The field's name within its section.
        let name: String
        let range: ClosedRange<Int64>
        /// Completes the out-of-range message (`must be 1...300000 ms, got 0`).
        let unit: String
        let value: (GatewayConfig) -> Int64
    }

    /// Every integer setting of ``sections``, in table order.
    static var integerFields: [IntegerField] {
        sections.flatMap { integerFields(of: $0) }
    }

    /// The integer settings of the section named `name`, in table order.
    static func integerFields(of name: String) -> [IntegerField] {
        sections.first { $0.name == name }.map { integerFields(of: $0) } ?? []
    }

    private static func integerFields(of section: Section) -> [IntegerField] {
        section.fields.compactMap { field in
            let key = "\(section.name).\(field.name)"
            switch field.kind {
            case .integer(let keyPath, let range, let unit):
                return IntegerField(key: key, name: field.name, range: range, unit: unit) {
                    Int64($0[keyPath: keyPath])
                }
            case .integer64(let keyPath, let range, let unit):
                return IntegerField(key: key, name: field.name, range: range, unit: unit) { $0[keyPath: keyPath] }
            default:
                return nil
            }
        }
    }

    /// Every choice setting: those of ``sections`` and of the route rules and legacy keys, by
    /// dotted key (`routes[].access`), with their words.
    static var wordFields: [(key: String, words: [String])] {
        let sectionWords = sections.flatMap { section in
            section.fields.compactMap { field -> (key: String, words: [String])? in
                guard case .words(let choice) = field.kind else { return nil }
                return ("\(section.name).\(field.name)", choice.words)
            }
        }
        return sectionWords + [
            ("\(routesKey)[].access", routeAccessWords.words),
            ("\(routesKey)[].upstream", routeUpstreamWords.words),
            ("auth.legacy_keys[].alg", legacyKeyAlgorithmWords.words),
        ]
    }

    /// The top-level list of trusted proxies.
    static let trustedProxiesKey = "trusted_proxies"

    /// Every key the file may contain, as dotted paths (including the `*_file` secret forms).
    static var knownKeys: [String] {
        var keys: [String] = []
        for section in sections {
            for field in section.fields {
                keys.append("\(section.name).\(field.name)")
                if case .secret = field.kind {
                    keys.append("\(section.name).\(field.name)_file")
                }
            }
        }
        keys.append(trustedProxiesKey)
        keys.append(routesKey)
        keys.append(rateLimitClassesKey)
        return keys
    }

    /// Environment variables that override a boolean setting.
    static var booleanVariables: [(name: String, key: String, path: WritableKeyPath<GatewayConfig, Bool>)] {
        [
            ("ENABLE_DUAL_AUTH", "auth.enable_dual_auth", \.auth.enableDualAuth),
            ("PREFER_BETTER_AUTH", "auth.prefer_better_auth", \.auth.preferBetterAuth),
        ]
    }

    /// Environment variables that override a plain string setting.
    static var stringVariables: [(name: String, key: String, path: WritableKeyPath<GatewayConfig, String>)] {
        [
            ("AUTH_SERVER_URL", "auth.auth_server_url", \.auth.authServerURL),
            ("AUTHGATE_LISTEN", "server.listen", \.server.listen),
            ("AUTHGATE_ADMIN_LISTEN", "admin.listen", \.admin.listen),
            ("AUTHGATE_UPSTREAM_URL", "upstream.url", \.upstream.url),
        ]
    }

    /// Environment variables that override a choice setting; their words are read in any case.
    static var wordVariables: [(name: String, key: String, words: Words<GatewayConfig>)] {
        // Log levels are conventionally written in capitals in the environment.
        [("AUTHGATE_LOG_LEVEL", "logging.level", Words(\.logging.level, logLevelWording))]
    }

    /// Environment variables that override a secret; each is also read as `NAME_FILE`.
    static var secretVariables: [(name: String, key: String, path: WritableKeyPath<GatewayConfig, Secret?>)] {
        [
            ("BETTER_AUTH_SECRET", "auth.better_auth_secret", \.auth.betterAuthSecret),
            ("BETTER_AUTH_JWT_SECRET", "auth.better_auth_jwt_secret", \.auth.betterAuthJWTSecret),
            ("BETTER_AUTH_SECRETS", "auth.better_auth_secrets", \.auth.betterAuthSecrets),
            ("BETTER_AUTH_JWT_SECRETS", "auth.better_auth_jwt_secrets", \.auth.betterAuthJWTSecrets),
            ("LEGACY_JWT_SECRET", "auth.legacy_jwt_secret", \.auth.legacyJWTSecret),
            ("DATABASE_URL", "auth.database_url", \.auth.databaseURL),
            ("AUTHGATE_ASSERTION_SECRET", "assertion.secret", \.assertion.secret),
        ]
    }

    /// Environment variables that override an integer setting.
    static var integerVariables: [(name: String, key: String, path: WritableKeyPath<GatewayConfig, Int>)] {
        [
            ("BETTER_AUTH_ROLLOUT_PERCENT", "rollout.better_auth_rollout_percent", \.rollout.betterAuthRolloutPercent)
        ]
    }

    /// The keys of one `auth.legacy_keys` entry.
    static let legacyKeyKeys = ["kid", "alg", "secret", "secret_file", "public_key_file"]

    /// What ``decodeEnvironment(_:)`` puts in place of a value that is not valid UTF-8: it holds
    /// a NUL, which no real environment value can, so the loader can refuse it by name.
    public static let invalidUTF8EnvironmentValue = "\u{0}<not UTF-8>"

    /// The process environment from its raw `NAME=value` entries (`environ`), without altering
    /// a byte: a value that is not valid UTF-8 becomes ``invalidUTF8EnvironmentValue`` (the
    /// loader refuses it if it reads that variable, so a secret is never silently changed into
    /// another key), an entry whose name is not UTF-8 or that has no `=` is skipped.
    public static func decodeEnvironment(_ entries: some Sequence<[UInt8]>) -> [String: String] {
        var result: [String: String] = [:]
        for entry in entries {
            guard let equals = entry.firstIndex(of: UInt8(ascii: "=")),
                let name = String(validating: entry[..<equals], as: UTF8.self)
            else { continue }
            let value = String(validating: entry[(equals + 1)...], as: UTF8.self)
            result[name] = value ?? invalidUTF8EnvironmentValue
        }
        return result
    }

    /// Every environment variable the loader reads.
    static var environmentVariables: [String] {
        booleanVariables.map(\.name) + stringVariables.map(\.name) + wordVariables.map(\.name)
            + integerVariables.map(\.name) + secretVariables.flatMap { [$0.name, $0.name + "_FILE"] }
    }

    // MARK: - Walking the tree

    struct Walker {
        var config = GatewayConfig()
        var issues: [ConfigIssue] = []
        /// Where a value came from when not from the file itself, by key; appended to its issues.
        var origins: [String: String] = [:]
        /// The number validation gives each `auth.legacy_keys` entry of the config (its place among
        /// the file's mapping entries), when entries without a usable `alg` were left out (`nil`:
        /// none was).
        var legacyKeyPositions: [Int]? = nil
        /// Words of choice settings that are none of their enum's, by key, with the reason;
        /// ``GatewayConfig/validate(refusedWords:)`` reports them where the setting is checked.
        var refusedWords: [String: String] = [:]
        let baseDirectory: String?

        init(baseDirectory: String?) {
            self.baseDirectory = baseDirectory
        }

        mutating func add(_ key: String, _ reason: String) {
            self.issues.append(ConfigIssue(key: key, reason: reason))
        }

        mutating func walkRoot(_ root: Node?) {
            guard let root else { return }
            guard case .mapping(let mapping) = root else {
                if case .scalar(let scalar) = root, case .null = ScalarValue(scalar) { return }
                self.add(
                    "",
                    "the top level must be a mapping of sections (server:, upstream:, ...), got \(describe(root))"
                )
                return
            }
            let sections = ConfigLoader.sections
            for (keyNode, value) in mapping {
                guard let key = keyName(keyNode, path: "") else { continue }
                if let section = sections.first(where: { $0.name == key }) {
                    self.walkSection(section, value)
                } else if key == ConfigLoader.trustedProxiesKey {
                    self.walkTrustedProxies(value)
                } else if key == ConfigLoader.routesKey {
                    self.walkRoutes(value)
                } else if key == ConfigLoader.rateLimitClassesKey {
                    self.walkRateLimitClasses(value)
                } else {
                    self.add(
                        key,
                        unknownKeyReason(
                            key,
                            siblings: sections.map(\.name) + [
                                ConfigLoader.trustedProxiesKey, ConfigLoader.routesKey,
                                ConfigLoader.rateLimitClassesKey,
                            ]
                        )
                    )
                }
            }
        }

        mutating func keyName(_ node: Node, path: String) -> String? {
            guard case .scalar(let scalar) = node else {
                self.add(path, "keys must be plain names, got \(describe(node)) as a key")
                return nil
            }
            return scalar.string
        }

        mutating func walkSection(_ section: Section, _ node: Node) {
            let mapping: Node.Mapping
            switch node {
            case .mapping(let value):
                mapping = value
            case .scalar(let scalar) where ScalarValue(scalar) == .null:
                return  // `server:` with every key commented out
            default:
                self.add(section.name, "expected a mapping of \(section.name) settings, got \(describe(node))")
                return
            }
            var inlineSecrets: Set<String> = []
            var secretFiles: [String: (path: String, keyPath: WritableKeyPath<GatewayConfig, Secret?>)] = [:]
            for (keyNode, value) in mapping {
                guard let name = keyName(keyNode, path: section.name) else { continue }
                let key = "\(section.name).\(name)"
                if let field = section.fields.first(where: { $0.name == name }) {
                    if case .secret = field.kind { inlineSecrets.insert(field.name) }
                    self.read(field.kind, key: key, value)
                } else if name.hasSuffix("_file"),
                    let field = section.fields.first(where: { $0.name + "_file" == name }),
                    case .secret(let keyPath) = field.kind
                {
                    if let path = self.string(value, key: key, expected: "a file path") {
                        secretFiles[field.name] = (path, keyPath)
                    }
                } else {
                    let siblings = section.fields.flatMap { field -> [String] in
                        if case .secret = field.kind { return [field.name, field.name + "_file"] }
                        return [field.name]
                    }
                    self.add(key, unknownKeyReason(name, siblings: siblings, section: section.name))
                }
            }
            for (name, source) in secretFiles.sorted(by: { $0.key < $1.key }) {
                let key = "\(section.name).\(name)"
                if inlineSecrets.contains(name) {
                    self.add("\(key)_file", "set either \(key) or \(key)_file, not both")
                    continue
                }
                let path = self.resolve(source.path)
                switch readSecretFile(path) {
                case .success(let bytes):
                    self.config[keyPath: source.keyPath] = Secret(bytes: bytes)
                    self.origins[key] = "read from \(path) given by \(key)_file"
                case .failure(let problem):
                    self.add("\(key)_file", problem.reason)
                }
            }
        }

        mutating func read(_ kind: FieldKind, key: String, _ node: Node) {
            switch kind {
            case .integer(let keyPath, _, _):
                if let value = self.integer(node, key: key) {
                    guard let narrowed = Int(exactly: value) else {
                        self.add(key, "\(value) is out of range")
                        return
                    }
                    self.config[keyPath: keyPath] = narrowed
                }
            case .integer64(let keyPath, _, _):
                if let value = self.integer(node, key: key) {
                    self.config[keyPath: keyPath] = value
                }
            case .boolean(let keyPath):
                guard case .scalar(let scalar) = node, case .boolean(let value) = ScalarValue(scalar) else {
                    self.add(key, "expected true or false, got \(describe(node))")
                    return
                }
                self.config[keyPath: keyPath] = value
            case .string(let keyPath):
                if let value = self.string(node, key: key, expected: "a string") {
                    self.config[keyPath: keyPath] = value
                }
            case .words(let choice):
                if let text = self.string(node, key: key, expected: "a string") {
                    if !choice.assign(&self.config, text) {
                        self.refusedWords[key] = choice.reason(for: text)
                    }
                }
            case .optionalString(let keyPath):
                if case .scalar(let scalar) = node, ScalarValue(scalar) == .null {
                    self.config[keyPath: keyPath] = nil
                    return
                }
                if let value = self.string(node, key: key, expected: "a string") {
                    self.config[keyPath: keyPath] = value
                }
            case .secret(let keyPath):
                if case .scalar(let scalar) = node, ScalarValue(scalar) == .null {
                    self.config[keyPath: keyPath] = nil  // `better_auth_secret:` left empty means unset
                    return
                }
                // `string` never quotes the value, so this is safe for secrets.
                if let value = self.string(node, key: key, expected: "a string") {
                    self.config[keyPath: keyPath] = Secret(value)
                }
            case .stringList(let keyPath):
                switch node {
                case .sequence(let sequence):
                    var values: [String] = []
                    for (index, element) in sequence.enumerated() {
                        if let value = self.string(element, key: "\(key)[\(index)]", expected: "a string") {
                            values.append(value)
                        }
                    }
                    self.config[keyPath: keyPath] = values
                case .scalar(let scalar) where ScalarValue(scalar) == .null:
                    self.config[keyPath: keyPath] = []
                default:
                    self.add(key, "expected a list of strings, got \(describe(node))")
                }
            case .legacyKeyList(let keyPath):
                self.walkLegacyKeys(node, key: key, into: keyPath)
            }
        }

        /// `auth.legacy_keys`: each entry `{kid?, alg, secret | secret_file | public_key_file}`;
        /// a `secret_file` is read here (relative to the config file), a `public_key_file` when
        /// the config is compiled. Which combinations are valid is checked by validation.
        mutating func walkLegacyKeys(
            _ node: Node,
            key: String,
            into keyPath: WritableKeyPath<GatewayConfig, [GatewayConfig.Auth.LegacyKey]>
        ) {
            switch node {
            case .sequence(let sequence):
                var keys: [GatewayConfig.Auth.LegacyKey] = []
                var positions: [Int] = []
                // Validation has always numbered the entries that are mappings.
                var mappings = 0
                for (index, element) in sequence.enumerated() {
                    let elementKey = "\(key)[\(index)]"
                    guard case .mapping(let mapping) = element else {
                        self.add(
                            elementKey,
                            "expected a mapping with alg: and secret:, secret_file: or public_key_file:, got \(describe(element))"
                        )
                        continue
                    }
                    mappings += 1
                    // `.hs256` until `alg:` is read; an entry without a usable `alg` is left out.
                    var entry = GatewayConfig.Auth.LegacyKey(algorithm: .hs256)
                    var hasAlgorithm = false
                    var refusedAlgorithm = false
                    var secretFile: String? = nil
                    for (keyNode, value) in mapping {
                        guard let name = keyName(keyNode, path: elementKey) else { continue }
                        let fieldKey = "\(elementKey).\(name)"
                        switch name {
                        case "kid":
                            entry.kid = self.string(value, key: fieldKey, expected: "a key id")
                        case "alg":
                            if let text = self.string(value, key: fieldKey, expected: "an algorithm") {
                                hasAlgorithm = ConfigLoader.legacyKeyAlgorithmWords.assign(&entry, text)
                                refusedAlgorithm = !hasAlgorithm
                                if refusedAlgorithm {
                                    self.add(fieldKey, ConfigLoader.legacyKeyAlgorithmWords.reason(for: text))
                                }
                            }
                        case "secret":
                            // `string` never quotes the value, so this is safe for secrets.
                            entry.secret = self.string(value, key: fieldKey, expected: "a string").map { Secret($0) }
                        case "secret_file":
                            secretFile = self.string(value, key: fieldKey, expected: "a file path")
                        case "public_key_file":
                            entry.publicKeyFile = self.string(value, key: fieldKey, expected: "a file path").map {
                                self.resolve($0)
                            }
                        default:
                            self.add(fieldKey, unknownKeyReason(name, siblings: ConfigLoader.legacyKeyKeys))
                        }
                    }
                    if !hasAlgorithm && !refusedAlgorithm {
                        self.add("\(elementKey).alg", "is required (HS256, RS256, PS256, ES256 or EdDSA)")
                    }
                    if let secretFile {
                        if entry.secret != nil {
                            self.add("\(elementKey).secret_file", "set either secret or secret_file, not both")
                        } else {
                            let path = self.resolve(secretFile)
                            switch readSecretFile(path) {
                            case .success(let bytes):
                                entry.secret = Secret(bytes: bytes)
                                self.origins["\(elementKey).secret"] =
                                    "read from \(path) given by \(elementKey).secret_file"
                            case .failure(let problem):
                                self.add("\(elementKey).secret_file", problem.reason)
                            }
                        }
                    }
                    if hasAlgorithm {
                        positions.append(mappings - 1)
                        keys.append(entry)
                    } else if entry.kid?.isEmpty == true {
                        // Validation will not see this entry; the one check that needs no `alg`.
                        self.add("\(elementKey).kid", "is empty; remove it for a key that accepts any kid")
                    }
                }
                self.config[keyPath: keyPath] = keys
                self.legacyKeyPositions = positions.count == mappings ? nil : positions
            case .scalar(let scalar) where ScalarValue(scalar) == .null:
                self.config[keyPath: keyPath] = []
            default:
                self.add(
                    key,
                    "expected a list of {kid, alg, secret | secret_file | public_key_file}, got \(describe(node))"
                )
            }
        }

        mutating func optionalBoolean(_ node: Node, key: String) -> Bool? {
            guard case .scalar(let scalar) = node, case .boolean(let value) = ScalarValue(scalar) else {
                self.add(key, "expected true or false, got \(describe(node))")
                return nil
            }
            return value
        }

        mutating func integer(_ node: Node, key: String) -> Int64? {
            guard case .scalar(let scalar) = node else {
                self.add(key, "expected an integer, got \(describe(node))")
                return nil
            }
            switch ScalarValue(scalar) {
            case .integer(let value):
                return value
            case .integerOverflow:
                self.add(key, "expected an integer, got a number too large for 64 bits")
                return nil
            default:
                self.add(key, "expected an integer, got \(describe(node))")
                return nil
            }
        }

        /// A scalar's text; never quotes the value in an issue (it may be a secret).
        mutating func string(_ node: Node, key: String, expected: String) -> String? {
            guard case .scalar(let scalar) = node else {
                self.add(key, "expected \(expected), got \(describe(node))")
                return nil
            }
            if ScalarValue(scalar) == .null {
                self.add(key, "expected \(expected), got nothing; remove the key to use the default")
                return nil
            }
            return scalar.string
        }

        mutating func walkTrustedProxies(_ node: Node) {
            let key = ConfigLoader.trustedProxiesKey
            switch node {
            case .sequence(let sequence):
                var entries: [String] = []
                for (index, element) in sequence.enumerated() {
                    let elementKey = "\(key)[\(index)]"
                    guard case .scalar(let scalar) = element else {
                        self.add(elementKey, "expected an address or CIDR, got \(describe(element))")
                        continue
                    }
                    if ScalarValue(scalar) == .null {
                        self.add(elementKey, "is empty; expected an address or CIDR")
                        continue
                    }
                    entries.append(scalar.string)
                }
                self.config.trustedProxies = entries
            case .scalar(let scalar) where ScalarValue(scalar) == .null:
                self.add(key, "expected a list of addresses or CIDRs, got nothing; write [] to trust no proxy")
            default:
                self.add(key, "expected a list of addresses or CIDRs such as [\"10.0.0.0/8\"], got \(describe(node))")
            }
        }

        mutating func walkRoutes(_ node: Node) {
            let key = ConfigLoader.routesKey
            switch node {
            case .sequence(let sequence):
                var routes: [GatewayConfig.Route] = []
                for (index, element) in sequence.enumerated() {
                    let elementKey = "\(key)[\(index)]"
                    guard case .mapping(let mapping) = element else {
                        self.add(elementKey, "expected a mapping with path: and access:, got \(describe(element))")
                        continue
                    }
                    var path: String? = nil
                    // A refused word keeps the default; validation reports it by the rule's index.
                    var route = GatewayConfig.Route(path: "", access: .authenticated)
                    var refused: [String: String] = [:]
                    for (keyNode, value) in mapping {
                        guard let name = keyName(keyNode, path: elementKey) else { continue }
                        switch name {
                        case "rate_limit_class":
                            route.rateLimitClass = self.string(
                                value,
                                key: "\(elementKey).rate_limit_class",
                                expected: "a rate-limit class name"
                            )
                        case "upstream":
                            if let text = self.string(
                                value,
                                key: "\(elementKey).upstream",
                                expected: "backend or auth_server"
                            ) {
                                if !ConfigLoader.routeUpstreamWords.assign(&route, text) {
                                    refused["upstream"] = ConfigLoader.routeUpstreamWords.reason(for: text)
                                }
                            }
                        case "enable_dual_auth":
                            route.enableDualAuth = self.optionalBoolean(value, key: "\(elementKey).enable_dual_auth")
                        case "prefer_better_auth":
                            route.preferBetterAuth = self.optionalBoolean(
                                value,
                                key: "\(elementKey).prefer_better_auth"
                            )
                        case "cors":
                            if let value = self.optionalBoolean(value, key: "\(elementKey).cors") {
                                route.cors = value
                            }
                        case "allow_impersonation":
                            if let value = self.optionalBoolean(value, key: "\(elementKey).allow_impersonation") {
                                route.allowImpersonation = value
                            }
                        case "path":
                            path = self.string(
                                value,
                                key: "\(elementKey).path",
                                expected: "a path such as /api/public/"
                            )
                        case "access":
                            if let text = self.string(value, key: "\(elementKey).access", expected: "an access level") {
                                if !ConfigLoader.routeAccessWords.assign(&route, text) {
                                    refused["access"] = ConfigLoader.routeAccessWords.reason(for: text)
                                }
                            }
                        default:
                            self.add(
                                "\(elementKey).\(name)",
                                unknownKeyReason(name, siblings: ConfigLoader.routeKeys)
                            )
                        }
                    }
                    guard let path else {
                        self.add("\(elementKey).path", "is required")
                        continue
                    }
                    route.path = path
                    for (field, reason) in refused {
                        self.refusedWords["\(key)[\(routes.count)].\(field)"] = reason
                    }
                    routes.append(route)
                }
                self.config.routes = routes
            case .scalar(let scalar) where ScalarValue(scalar) == .null:
                self.config.routes = []
            default:
                self.add(key, "expected a list of {path, access} rules, got \(describe(node))")
            }
        }

        mutating func walkRateLimitClasses(_ node: Node) {
            let key = ConfigLoader.rateLimitClassesKey
            switch node {
            case .sequence(let sequence):
                var classes: [GatewayConfig.RateLimitClass] = []
                for (index, element) in sequence.enumerated() {
                    let elementKey = "\(key)[\(index)]"
                    guard case .mapping(let mapping) = element else {
                        self.add(
                            elementKey,
                            "expected a mapping with name:, requests_per_minute: and burst:, got \(describe(element))"
                        )
                        continue
                    }
                    var name: String? = nil
                    var rate: Int64? = nil
                    var burst: Int64? = nil
                    for (keyNode, value) in mapping {
                        guard let field = keyName(keyNode, path: elementKey) else { continue }
                        switch field {
                        case "name": name = self.string(value, key: "\(elementKey).name", expected: "a class name")
                        case "requests_per_minute": rate = self.integer(value, key: "\(elementKey).requests_per_minute")
                        case "burst": burst = self.integer(value, key: "\(elementKey).burst")
                        default:
                            self.add(
                                "\(elementKey).\(field)",
                                unknownKeyReason(field, siblings: ["name", "requests_per_minute", "burst"])
                            )
                        }
                    }
                    for (field, present) in [
                        ("name", name != nil), ("requests_per_minute", rate != nil), ("burst", burst != nil),
                    ]
                    where !present {
                        self.add("\(elementKey).\(field)", "is required")
                    }
                    guard let name, let rate, let burst else { continue }
                    classes.append(
                        GatewayConfig.RateLimitClass(
                            name: name,
                            requestsPerMinute: Int(clamping: rate),
                            burst: Int(clamping: burst)
                        )
                    )
                }
                self.config.rateLimitClasses = classes
            case .scalar(let scalar) where ScalarValue(scalar) == .null:
                self.config.rateLimitClasses = []
            default:
                self.add(key, "expected a list of {name, requests_per_minute, burst}, got \(describe(node))")
            }
        }

        func resolve(_ path: String) -> String {
            guard !path.hasPrefix("/"), let baseDirectory, !baseDirectory.isEmpty else { return path }
            return baseDirectory.hasSuffix("/") ? baseDirectory + path : baseDirectory + "/" + path
        }

        // MARK: Environment

        mutating func applyEnvironment(_ environment: [String: String]) {
            var undecodable: Set<String> = []
            for name in ConfigLoader.environmentVariables
            where environment[name] == ConfigLoader.invalidUTF8EnvironmentValue {
                undecodable.insert(name)
                self.add(name, "is not valid UTF-8 text; refused rather than altered (a binary key belongs in a file)")
            }
            func value(_ name: String) -> String? {
                guard !undecodable.contains(name), let value = environment[name], !value.isEmpty else { return nil }
                return value
            }
            for variable in ConfigLoader.booleanVariables {
                guard let text = value(variable.name) else { continue }
                switch text.trimmingWhitespace().lowercased() {
                case "true", "1", "yes":
                    self.config[keyPath: variable.path] = true
                    self.origins[variable.key] = "set by \(variable.name)"
                case "false", "0", "no":
                    self.config[keyPath: variable.path] = false
                    self.origins[variable.key] = "set by \(variable.name)"
                default:
                    self.add(variable.name, "expected true, false, 1, 0, yes or no, got \"\(text)\"")
                }
            }
            for variable in ConfigLoader.stringVariables {
                guard let text = value(variable.name) else { continue }
                self.config[keyPath: variable.path] = text
                self.origins[variable.key] = "set by \(variable.name)"
            }
            for variable in ConfigLoader.wordVariables {
                guard let text = value(variable.name)?.lowercased() else { continue }
                // The variable replaces the file's word, refused or not.
                let accepted = variable.words.assign(&self.config, text)
                self.refusedWords[variable.key] = accepted ? nil : variable.words.reason(for: text)
                self.origins[variable.key] = "set by \(variable.name)"
            }
            for variable in ConfigLoader.integerVariables {
                guard let text = value(variable.name) else { continue }
                guard let number = Int(text.trimmingWhitespace()) else {
                    self.add(variable.name, "expected an integer, got \"\(text)\"")
                    continue
                }
                self.config[keyPath: variable.path] = number
                self.origins[variable.key] = "set by \(variable.name)"
            }
            for variable in ConfigLoader.secretVariables {
                let fileVariable = variable.name + "_FILE"
                switch (value(variable.name), value(fileVariable)) {
                case (nil, nil):
                    continue
                case (.some, .some):
                    self.add(fileVariable, "set either \(variable.name) or \(fileVariable), not both")
                case (.some(let secret), nil):
                    self.config[keyPath: variable.path] = Secret(secret)
                    self.origins[variable.key] = "set by \(variable.name)"
                case (nil, .some(let path)):
                    switch readSecretFile(path) {
                    case .success(let bytes):
                        self.config[keyPath: variable.path] = Secret(bytes: bytes)
                        self.origins[variable.key] = "read from \(path) given by \(fileVariable)"
                    case .failure(let problem):
                        self.add(fileVariable, problem.reason)
                    }
                }
            }
        }
    }

    // MARK: - Helpers

    /// A plain-scalar interpretation close to YAML 1.1, as Yams resolves it, but decimal only.
    enum ScalarValue: Equatable {
        case null
        case boolean(Bool)
        case integer(Int64)
        case integerOverflow
        case fraction
        case string

        init(_ scalar: Node.Scalar) {
            guard scalar.style == .plain || scalar.style == .any else {
                self = .string  // quoted, literal or folded: always a string
                return
            }
            let text = scalar.string
            switch text {
            case "", "~", "null", "Null", "NULL":
                self = .null
                return
            default:
                break
            }
            switch text.lowercased() {
            case "true", "yes", "on":
                self = .boolean(true)
                return
            case "false", "no", "off":
                self = .boolean(false)
                return
            default:
                break
            }
            var utf8 = Substring(text).utf8
            var negative = false
            if let sign = utf8.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
                negative = sign == UInt8(ascii: "-")
                utf8 = utf8.dropFirst()
            }
            if let first = utf8.first, ConfigSyntax.isASCIIDigit(first),
                utf8.allSatisfy({ ConfigSyntax.isASCIIDigit($0) || $0 == UInt8(ascii: "_") })
            {
                var value: Int64 = 0
                for byte in utf8 where byte != UInt8(ascii: "_") {
                    let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
                    let digit = Int64(byte &- UInt8(ascii: "0"))
                    let (next, overflow2) =
                        negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
                    if overflow1 || overflow2 {
                        self = .integerOverflow
                        return
                    }
                    value = next
                }
                self = .integer(value)
                return
            }
            if Double(text) != nil || [".inf", "-.inf", "+.inf", ".nan"].contains(text.lowercased()) {
                self = .fraction
                return
            }
            self = .string
        }
    }

    /// What a node is, for "expected X, got Y"; never the node's value.
    static func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            switch ScalarValue(scalar) {
            case .null: return "nothing (null)"
            case .boolean: return "a boolean"
            case .integer, .integerOverflow: return "an integer"
            case .fraction: return "a decimal number"
            case .string: return scalar.style == .plain || scalar.style == .any ? "a string" : "a quoted string"
            }
        }
    }

    /// `unknown key` with a suggestion: a sibling within edit distance 2 (or equal ignoring case,
    /// `_` and `-`), else a key with the same name in another section.
    static func unknownKeyReason(_ name: String, siblings: [String], section: String? = nil) -> String {
        let qualify = { (sibling: String) in section.map { "\($0).\(sibling)" } ?? sibling }
        let normalized = normalizeKey(name)
        var best: (name: String, distance: Int)?
        for sibling in siblings {
            let distance = normalizeKey(sibling) == normalized ? 0 : editDistance(name.lowercased(), sibling)
            if distance <= 2, distance < (best?.distance ?? Int.max) {
                best = (sibling, distance)
            }
        }
        if let best {
            return "unknown key; did you mean \(qualify(best.name))?"
        }
        let elsewhere = knownKeys.first { key in
            let leaf = key.split(separator: ".").last.map(String.init) ?? key
            return normalizeKey(leaf) == normalized && key != qualify(leaf)
        }
        if let elsewhere {
            return "unknown key; did you mean \(elsewhere)?"
        }
        return "unknown key"
    }

    static func normalizeKey(_ key: String) -> String {
        String(key.lowercased().filter { $0 != "_" && $0 != "-" })
    }

    /// Levenshtein distance over Unicode scalars.
    static func editDistance(_ lhs: String, _ rhs: String) -> Int {
        let a = Array(lhs.unicodeScalars)
        let b = Array(rhs.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = Array(repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// A YAML syntax error as one line, without the snippet of the file that Yams' own
    /// description includes (the offending line could hold a secret).
    static func describeYAMLError(_ error: any Error) -> String {
        guard let error = error as? YamlError else { return "not valid YAML" }
        func located(_ problem: String, _ mark: Mark, _ context: YamlError.Context?) -> String {
            var text = "invalid YAML at line \(mark.line), column \(mark.column): \(problem)"
            if let context {
                text += " (\(context.text) at line \(context.mark.line))"
            }
            return text
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            return located(problem, mark, context)
        case .reader(let problem, _, _, _):
            return "cannot decode the file as UTF-8 text: \(problem)"
        case .duplicatedKeysInMapping(let duplicates, let context):
            let names = duplicates.sorted().joined(separator: ", ")
            return "invalid YAML: duplicate key \(names) in the mapping at line \(context.mark.line)"
        default:
            return "not valid YAML"
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return path[..<slash].isEmpty ? "/" : String(path[..<slash])
    }

    /// A secret file's bytes: UTF-8 text is trimmed of surrounding whitespace (`echo s > file`
    /// leaves a newline), anything else is a binary key and kept byte for byte. An empty file
    /// (or only whitespace) is a problem, not an empty secret.
    static func readSecretFile(_ path: String) -> Result<[UInt8], ConfigProblem> {
        switch readFileBytes(path, limit: maximumSecretFileBytes) {
        case .success(let bytes):
            let secret: [UInt8]
            if let text = String(validating: bytes, as: UTF8.self) {
                secret = Array(text.trimmingWhitespace().utf8)
            } else {
                secret = bytes
            }
            guard !secret.isEmpty else { return .failure(ConfigProblem("the file \(path) is empty")) }
            return .success(secret)
        case .failure(let problem):
            return .failure(ConfigProblem("cannot read \(path): \(problem.reason)"))
        }
    }

    /// The content of the config file at `path` (at most 4 MiB), or `nil` when it cannot be read:
    /// what the file watcher compares between two polls.
    public static func fileContent(_ path: String) -> String? {
        try? readTextFile(path, limit: maximumConfigFileBytes).get()
    }

    /// Reads a whole UTF-8 text file with plain stdio, so errors carry `strerror` text.
    static func readTextFile(_ path: String, limit: Int) -> Result<String, ConfigProblem> {
        switch readFileBytes(path, limit: limit) {
        case .success(let bytes):
            guard let text = String(validating: bytes, as: UTF8.self) else {
                return .failure(ConfigProblem("not UTF-8 text"))
            }
            return .success(text)
        case .failure(let problem):
            return .failure(problem)
        }
    }

    /// Reads a whole file (at most `limit` bytes) with plain stdio.
    static func readFileBytes(_ path: String, limit: Int) -> Result<[UInt8], ConfigProblem> {
        guard let handle = fopen(path, "rb") else {
            return .failure(ConfigProblem(String(cString: strerror(errno))))
        }
        defer { fclose(handle) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in
                fread(buffer.baseAddress, 1, buffer.count, handle)
            }
            bytes.append(contentsOf: chunk[0..<count])
            guard bytes.count <= limit else {
                return .failure(ConfigProblem("larger than \(limit) bytes"))
            }
            if count < chunk.count {
                if ferror(handle) != 0 {
                    return .failure(ConfigProblem(String(cString: strerror(errno))))
                }
                break
            }
        }
        return .success(bytes)
    }
}

extension String {
    /// The string without leading and trailing whitespace and newlines.
    fileprivate func trimmingWhitespace() -> String {
        guard let start = self.firstIndex(where: { !$0.isWhitespace }),
            let end = self.lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return String(self[start...end])
    }
}
