extension GatewayConfig {
    /// The `logging.level` values: swift-log's `Logger.Level` raw values.
    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
    /// The `logging.format` values.
    public static let logFormats = ["json", "text"]
    /// Minimum length in bytes of the HMAC secrets (`better_auth_secret`, `better_auth_jwt_secret`,
    /// `legacy_jwt_secret`): an HS256 key shorter than the hash (RFC 7518 §3.2) is guessable.
    public static let minimumSecretBytes = 32

    /// The accepted range of every integer setting, by YAML key. The reference documentation
    /// quotes these; the validator enforces them.
    static let integerBounds: [(key: String, range: ClosedRange<Int64>, unit: String)] = [
        ("server.event_loops", 0...256, "threads (0 = one per core)"),
        ("server.drain_timeout_ms", 1...600_000, "ms"),
        ("server.client_idle_timeout_ms", 1...86_400_000, "ms"),
        ("server.backlog", 1...65_535, "connections"),
        ("server.request_header_timeout_ms", 1...3_600_000, "ms"),
        ("server.request_body_timeout_ms", 1...3_600_000, "ms"),
        ("upstream.max_connections_per_loop", 1...10_000, "connections"),
        ("upstream.max_waiters_per_loop", 0...1_000_000, "requests"),
        ("upstream.connect_timeout_ms", 1...300_000, "ms"),
        ("upstream.response_timeout_ms", 1...3_600_000, "ms"),
        ("upstream.idle_timeout_ms", 1...86_400_000, "ms"),
        ("upstream.request_buffer_bytes", 0...16_777_216, "bytes (0 = stream every body)"),
        ("upstream.max_connections_per_client_ip", 0...10_000, "connections (0 = no cap)"),
        ("limits.max_header_bytes", 1...1_048_576, "bytes"),
        ("limits.max_header_count", 1...10_000, "headers"),
        ("limits.max_uri_bytes", 1...1_048_576, "bytes"),
        ("limits.max_body_bytes", 0...Int64.max, "bytes (0 = no limit)"),
        ("auth.leeway_seconds", 0...3_600, "seconds"),
        ("auth.max_token_bytes", 256...1_048_576, "bytes"),
        ("auth.jwks_refresh_cooldown_ms", 0...86_400_000, "ms"),
        ("auth.jwks_refresh_interval_ms", 0...86_400_000, "ms (0 = no periodic refresh)"),
        ("auth.auth_server_timeout_ms", 1...300_000, "ms"),
        ("cache.max_entries", 1...100_000_000, "entries"),
        ("cache.max_negative_entries", 0...100_000_000, "entries"),
        ("cache.positive_ttl_ms", 0...86_400_000, "ms"),
        ("cache.negative_ttl_ms", 0...86_400_000, "ms"),
        ("cache.stale_if_error_ms", 0...86_400_000, "ms (0 = fail closed)"),
        ("rollout.better_auth_rollout_percent", 0...100, "percent"),
        ("rollout.migration_status_ttl_ms", 0...86_400_000, "ms"),
        ("rate_limits.ip_requests_per_minute", 1...100_000_000, "requests/minute"),
        ("rate_limits.ip_burst", 1...1_000_000, "requests"),
        ("rate_limits.user_requests_per_minute", 1...100_000_000, "requests/minute"),
        ("rate_limits.user_burst", 1...1_000_000, "requests"),
        ("rate_limits.login_requests_per_minute", 1...100_000_000, "requests/minute"),
        ("rate_limits.login_burst", 1...1_000_000, "requests"),
        ("rate_limits.introspect_requests_per_minute", 1...100_000_000, "requests/minute"),
        ("rate_limits.introspect_burst", 1...1_000_000, "requests"),
        ("rate_limits.max_tracked_keys", 16...100_000_000, "keys"),
        ("lockout.max_failures", 1...1_000, "failures"),
        ("lockout.window_ms", 1_000...86_400_000, "ms"),
        ("lockout.max_body_bytes", 64...1_048_576, "bytes"),
        ("lockout.store_timeout_ms", 10...10_000, "ms"),
        ("assertion.ttl_seconds", 1...3_600, "seconds"),
        ("websocket.revalidate_interval_ms", 0...86_400_000, "ms (0 = only on eviction)"),
        ("audit.queue_capacity", 16...10_000_000, "events"),
        ("audit.batch_size", 1...10_000, "rows"),
        ("audit.flush_interval_ms", 1...60_000, "ms"),
        ("audit.retry_interval_ms", 10...600_000, "ms"),
        ("metrics.active_sessions_interval_ms", 0...86_400_000, "ms (0 = only from the cache)"),
        ("reload.watch_interval_ms", 100...3_600_000, "ms"),
        ("cors.max_age_seconds", 0...86_400, "seconds"),
    ]

    /// The `rollout.migration_policy` values.
    public static let migrationPolicies = ["off", "refuse", "record"]
    /// The `server.escaped_slashes` values.
    public static let escapedSlashModes = ["decode", "reject"]
    /// The `assertion.algorithm` values.
    public static let assertionAlgorithms = ["EdDSA", "HS256"]
    /// The `upstream` values of a route.
    public static let routeUpstreams = ["backend", "auth_server"]
    /// Rate-limit classes every config has (`rate_limits.login_*`, `rate_limits.introspect_*`).
    public static let builtInRateLimitClasses = ["login", "introspect"]

    /// Checks the configuration as a whole and returns every problem found, section by section; an
    /// empty array means the configuration can be compiled into a ``ConfigSnapshot``.
    ///
    /// Checked: listen addresses (`host:port`, port 1...65535 or 0 for any free port; admin and
    /// proxy not on the same port of overlapping hosts), the upstream URL (`http://host[:port]`,
    /// no path, query, credentials or TLS), the auth server origin, integer ranges
    /// (``integerBounds``), log level and format, every `trusted_proxies` entry, and secret
    /// lengths. No issue text contains a secret's value.
    public func validate() -> [ConfigIssue] {
        var issues: [ConfigIssue] = []
        func add(_ key: String, _ reason: String) {
            issues.append(ConfigIssue(key: key, reason: reason))
        }

        // server
        let proxyAddress = Self.checkListen(self.server.listen, key: "server.listen", add: add)
        self.checkInteger("server.event_loops", Int64(self.server.eventLoops), add: add)
        self.checkInteger("server.drain_timeout_ms", Int64(self.server.drainTimeoutMs), add: add)
        self.checkInteger("server.client_idle_timeout_ms", Int64(self.server.clientIdleTimeoutMs), add: add)
        self.checkInteger("server.backlog", Int64(self.server.backlog), add: add)
        self.checkInteger("server.request_header_timeout_ms", Int64(self.server.requestHeaderTimeoutMs), add: add)
        self.checkInteger("server.request_body_timeout_ms", Int64(self.server.requestBodyTimeoutMs), add: add)

        // upstream
        if case .failure(let problem) = UpstreamTarget.parse(self.upstream.url) {
            add("upstream.url", problem.reason)
        }
        self.checkInteger("upstream.max_connections_per_loop", Int64(self.upstream.maxConnectionsPerLoop), add: add)
        self.checkInteger("upstream.max_waiters_per_loop", Int64(self.upstream.maxWaitersPerLoop), add: add)
        self.checkInteger("upstream.connect_timeout_ms", Int64(self.upstream.connectTimeoutMs), add: add)
        self.checkInteger("upstream.response_timeout_ms", Int64(self.upstream.responseTimeoutMs), add: add)
        self.checkInteger("upstream.idle_timeout_ms", Int64(self.upstream.idleTimeoutMs), add: add)
        self.checkInteger("upstream.request_buffer_bytes", Int64(self.upstream.requestBufferBytes), add: add)
        self.checkInteger(
            "upstream.max_connections_per_client_ip",
            Int64(self.upstream.maxConnectionsPerClientIP),
            add: add
        )

        // limits
        self.checkInteger("limits.max_header_bytes", Int64(self.limits.maxHeaderBytes), add: add)
        self.checkInteger("limits.max_header_count", Int64(self.limits.maxHeaderCount), add: add)
        self.checkInteger("limits.max_uri_bytes", Int64(self.limits.maxURIBytes), add: add)
        self.checkInteger("limits.max_body_bytes", self.limits.maxBodyBytes, add: add)

        // admin
        let adminAddress = Self.checkListen(self.admin.listen, key: "admin.listen", add: add)
        // Port 0 means "any free port" (tests), so two such listeners never collide.
        if self.admin.enabled, let proxy = proxyAddress, let admin = adminAddress, proxy.port == admin.port,
            proxy.port != 0,
            proxy.host.lowercased() == admin.host.lowercased() || proxy.isWildcard || admin.isWildcard
        {
            add(
                "admin.listen",
                "\(admin) would share port \(admin.port) with server.listen \(proxy); use another port"
            )
        }

        // logging
        if !Self.logLevels.contains(self.logging.level) {
            let hint =
                Self.logLevels.contains(self.logging.level.lowercased())
                ? "; did you mean \(self.logging.level.lowercased())?" : ""
            add(
                "logging.level",
                "\"\(self.logging.level)\" is not a log level; expected one of "
                    + "\(Self.logLevels.joined(separator: ", "))\(hint)"
            )
        }
        if !Self.logFormats.contains(self.logging.format) {
            add("logging.format", "\"\(self.logging.format)\" is not a log format; expected json or text")
        }

        // auth
        if case .failure(let problem) = ConfigSyntax.HTTPOrigin.parse(self.auth.authServerURL, allowRootPath: false) {
            add("auth.auth_server_url", problem.reason)
        }
        Self.checkHMACSecret(self.auth.betterAuthSecret, key: "auth.better_auth_secret", add: add)
        Self.checkVersionedSecrets(self.auth.betterAuthSecrets, key: "auth.better_auth_secrets", add: add)
        if SessionCookieCache.Strategy(rawValue: self.auth.cookieCacheStrategy) == nil {
            add(
                "auth.cookie_cache_strategy",
                "\"\(self.auth.cookieCacheStrategy)\" is not read by the gateway; expected compact or jwt "
                    + "(jwe caches are encrypted for the auth server alone: leave trust_cookie_cache off)"
            )
        }
        if self.auth.trustCookieCache && self.auth.betterAuthSecret == nil && self.auth.betterAuthSecrets == nil {
            add(
                "auth.trust_cookie_cache",
                "needs auth.better_auth_secret (or better_auth_secrets): the cache is signed with it"
            )
        }
        let apiKeyHeader = self.auth.apiKeyHeader.lowercased()
        if apiKeyHeader.isEmpty || !apiKeyHeader.utf8.allSatisfy(HTTPCharacterClass.isToken) {
            add("auth.api_key_header", "\"\(self.auth.apiKeyHeader)\" is not an HTTP header name")
        } else if ["authorization", "cookie", "host", "content-length", "transfer-encoding", "connection"]
            .contains(apiKeyHeader) || apiKeyHeader.hasPrefix("x-auth-")
        {
            add("auth.api_key_header", "\"\(self.auth.apiKeyHeader)\" is a header the gateway reads or writes itself")
        }
        if !SessionSchema.isValidIdentifier(self.auth.apiKeyTable) {
            add(
                "auth.api_key_table",
                "\"\(self.auth.apiKeyTable)\" is not a plain SQL identifier (letters, digits, _; optionally schema.name)"
            )
        }
        Self.checkVersionedSecrets(self.auth.betterAuthJWTSecrets, key: "auth.better_auth_jwt_secrets", add: add)
        Self.checkHMACSecret(self.auth.betterAuthJWTSecret, key: "auth.better_auth_jwt_secret", add: add)
        Self.checkHMACSecret(self.auth.legacyJWTSecret, key: "auth.legacy_jwt_secret", add: add)
        if let databaseURL = self.auth.databaseURL, !databaseURL.isUTF8 {
            add("auth.database_url", "is not UTF-8 text (value not shown)")
        } else if let databaseURL = self.auth.databaseURL {
            // Never quote the value: it carries the database password.
            let lowered = databaseURL.value.lowercased()
            if databaseURL.value.isEmpty {
                add("auth.database_url", "is empty")
            } else if !(lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://")) {
                add("auth.database_url", "must be a postgres:// or postgresql:// URL (value not shown)")
            }
        }

        self.checkInteger("auth.leeway_seconds", Int64(self.auth.leewaySeconds), add: add)
        self.checkInteger("auth.max_token_bytes", Int64(self.auth.maxTokenBytes), add: add)
        self.checkInteger("auth.jwks_refresh_cooldown_ms", Int64(self.auth.jwksRefreshCooldownMs), add: add)
        self.checkInteger("auth.jwks_refresh_interval_ms", Int64(self.auth.jwksRefreshIntervalMs), add: add)
        Self.checkLegacyKeys(self.auth.legacyKeys, add: add)
        self.checkInteger("auth.auth_server_timeout_ms", Int64(self.auth.authServerTimeoutMs), add: add)
        switch self.auth.sessionResolver {
        case "http":
            break
        case "postgres":
            if self.auth.databaseURL == nil {
                add("auth.session_resolver", "postgres needs auth.database_url (or DATABASE_URL)")
            }
        default:
            add(
                "auth.session_resolver",
                "\"\(self.auth.sessionResolver)\" is not a resolver; expected http or postgres"
            )
        }
        // The session resolver and the cross-instance eviction listener both use the URL.
        if let url = self.auth.databaseURL, !url.value.isEmpty,
            url.value.lowercased().hasPrefix("postgres"), DatabaseURL(url.value) == nil
        {
            add("auth.database_url", "is not a valid postgres://user:password@host:port/database URL (value not shown)")
        }
        let prefix = self.auth.cookiePrefix
        if !SessionSchema.isValidIdentifier(prefix.replacingDashes()) || prefix.contains(".") {
            add("auth.cookie_prefix", "\"\(self.auth.cookiePrefix)\" must be letters, digits, '-' or '_'")
        }
        for (key, path) in [
            ("auth.legacy_refresh_path", self.auth.legacyRefreshPath), ("auth.sign_out_path", self.auth.signOutPath),
        ]
        where !path.hasPrefix("/") {
            add(key, "\"\(path)\" must be an absolute path starting with /")
        }
        if let url = self.auth.legacyIntrospectionURL, !url.hasPrefix("http://") && !url.hasPrefix("https://") {
            add("auth.legacy_introspection_url", "\"\(url)\" must be an http:// or https:// URL")
        }

        // cache
        self.checkInteger("cache.max_entries", Int64(self.cache.maxEntries), add: add)
        self.checkInteger("cache.max_negative_entries", Int64(self.cache.maxNegativeEntries), add: add)
        self.checkInteger("cache.positive_ttl_ms", Int64(self.cache.positiveTTLMs), add: add)
        self.checkInteger("cache.negative_ttl_ms", Int64(self.cache.negativeTTLMs), add: add)
        self.checkInteger("cache.stale_if_error_ms", Int64(self.cache.staleIfErrorMs), add: add)

        // session_store
        let store = self.sessionStore
        for (key, name) in [
            ("session_store.session_table", store.sessionTable), ("session_store.user_table", store.userTable),
            ("session_store.session_id_column", store.sessionIDColumn),
            ("session_store.session_token_column", store.sessionTokenColumn),
            ("session_store.session_user_id_column", store.sessionUserIDColumn),
            ("session_store.session_expires_at_column", store.sessionExpiresAtColumn),
            ("session_store.user_id_column", store.userIDColumn),
            ("session_store.user_email_column", store.userEmailColumn),
            ("session_store.user_role_column", store.userRoleColumn ?? "role"),
        ] where !SessionSchema.isValidIdentifier(name) {
            add(key, "\"\(name)\" is not a plain SQL identifier (letters, digits, _; optionally schema.name)")
        }

        if !Self.escapedSlashModes.contains(self.server.escapedSlashes) {
            add("server.escaped_slashes", "\"\(self.server.escapedSlashes)\" is not one of decode, reject")
        }
        if PathParameterHandling(rawValue: self.server.pathParameters) == nil {
            add("server.path_parameters", "\"\(self.server.pathParameters)\" is not one of reject, allow")
        }
        for (index, name) in self.forwarding.stripHeaders.enumerated()
        where !StrippedForwardingHeaders.isValidName(name) {
            add("forwarding.strip_headers[\(index)]", "\"\(name)\" is not a header name (an HTTP token)")
        }

        // rollout
        let rollout = self.rollout
        self.checkInteger("rollout.better_auth_rollout_percent", Int64(rollout.betterAuthRolloutPercent), add: add)
        self.checkInteger("rollout.migration_status_ttl_ms", Int64(rollout.migrationStatusTTLMs), add: add)
        if !Self.migrationPolicies.contains(rollout.migrationPolicy) {
            add("rollout.migration_policy", "\"\(rollout.migrationPolicy)\" is not one of off, refuse, record")
        } else if rollout.migrationPolicy != "off" && self.auth.databaseURL == nil {
            add(
                "rollout.migration_policy",
                "\"\(rollout.migrationPolicy)\" reads the users table: set auth.database_url"
            )
        }
        for (key, name) in [
            ("rollout.users_table", rollout.usersTable), ("rollout.users_id_column", rollout.usersIDColumn),
            ("rollout.migration_status_column", rollout.migrationStatusColumn),
        ] where !SessionSchema.isValidIdentifier(name) {
            add(key, "\"\(name)\" is not a plain SQL identifier (letters, digits, _; optionally schema.name)")
        }

        // rate_limits
        let limits = self.rateLimits
        for (key, value) in [
            ("rate_limits.ip_requests_per_minute", limits.ipRequestsPerMinute),
            ("rate_limits.ip_burst", limits.ipBurst),
            ("rate_limits.user_requests_per_minute", limits.userRequestsPerMinute),
            ("rate_limits.user_burst", limits.userBurst),
            ("rate_limits.login_requests_per_minute", limits.loginRequestsPerMinute),
            ("rate_limits.login_burst", limits.loginBurst),
            ("rate_limits.introspect_requests_per_minute", limits.introspectRequestsPerMinute),
            ("rate_limits.introspect_burst", limits.introspectBurst),
            ("rate_limits.max_tracked_keys", limits.maxTrackedKeys),
        ] {
            self.checkInteger(key, Int64(value), add: add)
        }
        for (index, path) in limits.loginPaths.enumerated() where !path.hasPrefix("/") {
            add("rate_limits.login_paths[\(index)]", "\"\(path)\" must start with /")
        }
        var classNames = Set(Self.builtInRateLimitClasses)
        for (index, rateClass) in self.rateLimitClasses.enumerated() {
            let key = "rate_limit_classes[\(index)]"
            if rateClass.name.isEmpty
                || !rateClass.name.utf8.allSatisfy({
                    $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || (48...57).contains($0)
                        || (97...122).contains($0)
                })
            {
                add("\(key).name", "\"\(rateClass.name)\" must be lower-case letters, digits, - or _")
            } else if !classNames.insert(rateClass.name).inserted {
                add("\(key).name", "\"\(rateClass.name)\" is defined twice (login and introspect are built in)")
            }
            if !(1...100_000_000).contains(rateClass.requestsPerMinute) {
                add(
                    "\(key).requests_per_minute",
                    "must be 1...100000000 requests/minute, got \(rateClass.requestsPerMinute)"
                )
            }
            if !(1...1_000_000).contains(rateClass.burst) {
                add("\(key).burst", "must be 1...1000000 requests, got \(rateClass.burst)")
            }
        }

        // lockout
        self.checkInteger("lockout.max_failures", Int64(self.lockout.maxFailures), add: add)
        self.checkInteger("lockout.window_ms", Int64(self.lockout.windowMs), add: add)
        self.checkInteger("lockout.max_body_bytes", Int64(self.lockout.maxBodyBytes), add: add)
        if self.lockout.emailField.isEmpty {
            add("lockout.email_field", "is empty")
        }
        self.checkInteger("lockout.store_timeout_ms", Int64(self.lockout.storeTimeoutMs), add: add)
        switch self.lockout.store {
        case "memory":
            break
        case "postgres":
            if self.auth.databaseURL == nil {
                add("lockout.store", "postgres needs auth.database_url (or DATABASE_URL)")
            }
        default:
            add("lockout.store", "\"\(self.lockout.store)\" is not a store; expected memory or postgres")
        }

        // assertion
        let assertion = self.assertion
        self.checkInteger("assertion.ttl_seconds", Int64(assertion.ttlSeconds), add: add)
        Self.checkHMACSecret(assertion.secret, key: "assertion.secret", add: add)
        if !Self.assertionAlgorithms.contains(assertion.algorithm) {
            add("assertion.algorithm", "\"\(assertion.algorithm)\" is not one of EdDSA, HS256")
        } else if assertion.enabled && assertion.algorithm == "HS256" && assertion.secret == nil {
            add("assertion.secret", "HS256 assertions need a secret (AUTHGATE_ASSERTION_SECRET)")
        }
        if assertion.audience.isEmpty { add("assertion.audience", "is empty") }
        if assertion.issuer.isEmpty { add("assertion.issuer", "is empty") }

        // websocket
        self.checkInteger("websocket.revalidate_interval_ms", Int64(self.websocket.revalidateIntervalMs), add: add)
        for (key, value) in [
            ("websocket.token_subprotocol", self.websocket.tokenSubprotocol),
            ("websocket.token_query_parameter", self.websocket.tokenQueryParameter ?? "x"),
        ] where !value.utf8.allSatisfy(Self.isTokenCharacter) {
            add(key, "\"\(value)\" must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~)")
        }
        if self.websocket.tokenQueryParameter?.isEmpty == true {
            add("websocket.token_query_parameter", "is empty; remove the key to disable it")
        }

        // reload
        self.checkInteger("reload.watch_interval_ms", Int64(self.reload.watchIntervalMs), add: add)

        // audit, metrics
        self.checkInteger("audit.queue_capacity", Int64(self.audit.queueCapacity), add: add)
        self.checkInteger("audit.batch_size", Int64(self.audit.batchSize), add: add)
        self.checkInteger("audit.flush_interval_ms", Int64(self.audit.flushIntervalMs), add: add)
        self.checkInteger("audit.retry_interval_ms", Int64(self.audit.retryIntervalMs), add: add)
        if !SessionSchema.isValidIdentifier(self.audit.table) {
            add(
                "audit.table",
                "\"\(self.audit.table)\" is not a plain SQL identifier (letters, digits, _; optionally schema.name)"
            )
        }
        if self.audit.spillFile.isEmpty {
            add("audit.spill_file", "is empty")
        }
        self.checkInteger(
            "metrics.active_sessions_interval_ms",
            Int64(self.metrics.activeSessionsIntervalMs),
            add: add
        )

        // routes
        for (index, route) in self.routes.enumerated() {
            if !route.path.hasPrefix("/") {
                add("routes[\(index)].path", "\"\(route.path)\" must start with /")
            }
            if !Self.routeUpstreams.contains(route.upstream) {
                add("routes[\(index)].upstream", "\"\(route.upstream)\" is not one of backend, auth_server")
            } else if route.upstream == "auth_server", case .failure = UpstreamTarget.parse(self.auth.authServerURL) {
                add(
                    "routes[\(index)].upstream",
                    "auth_server needs auth.auth_server_url to be a plain http://host:port origin (TLS upstreams are not supported yet)"
                )
            }
            if let rateClass = route.rateLimitClass, !classNames.contains(rateClass) {
                add(
                    "routes[\(index)].rate_limit_class",
                    "\"\(rateClass)\" is not a class; define it in rate_limit_classes (built in: login, introspect)"
                )
            }
            if RouteAccess(rawValue: route.access) == nil {
                add(
                    "routes[\(index)].access",
                    "\"\(route.access)\" is not an access level; expected public, authenticated or better_auth_only"
                )
            }
        }

        // cors
        self.validateCORS(add: add)

        // trusted_proxies
        for (index, entry) in self.trustedProxies.enumerated() {
            if case .failure(let problem) = TrustedProxies.parseEntry(entry) {
                add("trusted_proxies[\(index)]", problem.reason)
            }
        }
        return issues
    }

    /// `cors:`: serialized origins (or `*` alone, without credentials), HTTP tokens for the
    /// method and header names, and the preflight cache time.
    private func validateCORS(add: (String, String) -> Void) {
        let cors = self.cors
        self.checkInteger("cors.max_age_seconds", Int64(cors.maxAgeSeconds), add: add)
        for (index, origin) in cors.allowedOrigins.enumerated() {
            let key = "cors.allowed_origins[\(index)]"
            if origin == "*" {
                if cors.allowedOrigins.count > 1 {
                    add(key, "* allows every origin and must be the only entry")
                } else if cors.allowCredentials {
                    add(
                        key,
                        "* cannot be used with cors.allow_credentials: true (browsers refuse a credentialed answer to Access-Control-Allow-Origin: *); list the origins"
                    )
                }
                continue
            }
            switch CORSPolicy.serializedOrigin(origin) {
            case .success(let serialized) where serialized != origin:
                add(key, "\"\(origin)\" is not written as browsers send Origin; write \"\(serialized)\"")
            case .success:
                break
            case .failure(let problem):
                add(key, problem.reason)
            }
        }
        let normalizedMethods = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]
        for (index, method) in cors.allowedMethods.enumerated() {
            let key = "cors.allowed_methods[\(index)]"
            if method == "*" {
                add(key, "* is not accepted (browsers ignore it for requests with credentials); list the methods")
            } else if method.isEmpty || !method.utf8.allSatisfy(Self.isTokenCharacter) {
                add(key, "\"\(method)\" is not an HTTP method name")
            } else if method != method.uppercased(), normalizedMethods.contains(method.uppercased()) {
                add(
                    key,
                    "browsers send \(method.uppercased()) in capitals and methods are case-sensitive; write \(method.uppercased())"
                )
            }
        }
        for (list, names) in [
            ("cors.allowed_headers", cors.allowedHeaders), ("cors.exposed_headers", cors.exposedHeaders),
        ] {
            for (index, name) in names.enumerated() {
                let key = "\(list)[\(index)]"
                if name == "*" {
                    add(
                        key,
                        "* is not accepted (browsers ignore it for requests with credentials, and it never covers Authorization); list the header names"
                    )
                } else if name.isEmpty || !name.utf8.allSatisfy(Self.isTokenCharacter) {
                    add(key, "\"\(name)\" is not a header name")
                }
            }
        }
    }

    private func checkInteger(_ key: String, _ value: Int64, add: (String, String) -> Void) {
        guard let bound = Self.integerBounds.first(where: { $0.key == key }) else {
            preconditionFailure("no bounds for \(key)")
        }
        guard !bound.range.contains(value) else { return }
        if bound.range.upperBound == Int64.max {
            add(key, "must be at least \(bound.range.lowerBound) \(bound.unit), got \(value)")
        } else {
            add(key, "must be \(bound.range.lowerBound)...\(bound.range.upperBound) \(bound.unit), got \(value)")
        }
    }

    private static func checkListen(
        _ text: String,
        key: String,
        add: (String, String) -> Void
    ) -> HostAndPort? {
        switch HostAndPort.parse(text) {
        case .success(let address):
            return address
        case .failure(let problem):
            add(key, problem.reason)
            return nil
        }
    }

    /// RFC 9110 `tchar`.
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// The algorithms an `auth.legacy_keys` entry may name.
    static let legacyKeyAlgorithms = ["HS256", "RS256", "PS256", "ES256", "EdDSA"]

    /// Each `auth.legacy_keys` entry: a known `alg`, a secret for HS256 and a public key file
    /// for the others (never both), a non-empty `kid` when one is given.
    private static func checkLegacyKeys(_ keys: [GatewayConfig.Auth.LegacyKey], add: (String, String) -> Void) {
        for (index, entry) in keys.enumerated() {
            let key = "auth.legacy_keys[\(index)]"
            if let kid = entry.kid, kid.isEmpty {
                add("\(key).kid", "is empty; remove it for a key that accepts any kid")
            }
            guard !entry.algorithm.isEmpty else { continue }  // "is required" was reported by the loader
            guard Self.legacyKeyAlgorithms.contains(entry.algorithm) else {
                add(
                    "\(key).alg",
                    "\"\(entry.algorithm)\" is not one of \(Self.legacyKeyAlgorithms.joined(separator: ", "))"
                )
                continue
            }
            if entry.algorithm == "HS256" {
                if entry.publicKeyFile != nil {
                    add("\(key).public_key_file", "an HS256 key takes secret or secret_file, not a public key")
                }
                if entry.secret == nil {
                    add("\(key).secret", "is required for HS256 (or secret_file)")
                }
                Self.checkHMACSecret(entry.secret, key: "\(key).secret", add: add)
            } else {
                if entry.secret != nil {
                    add(
                        "\(key).secret",
                        "\(entry.algorithm) verifies with a public key: set public_key_file, not a secret"
                    )
                }
                if entry.publicKeyFile == nil {
                    add("\(key).public_key_file", "is required for \(entry.algorithm)")
                }
            }
        }
    }

    private static func checkVersionedSecrets(_ secrets: Secret?, key: String, add: (String, String) -> Void) {
        guard let secrets else { return }
        switch VersionedSecrets.parse(secrets.bytes) {
        case .failure(let problem):
            add(key, problem.message)
        case .success(let entries):
            for entry in entries where entry.secret.count < Self.minimumSecretBytes {
                add(
                    key,
                    "version \(entry.version) is too short: an HMAC secret must be at least "
                        + "\(Self.minimumSecretBytes) bytes (value not shown)"
                )
            }
        }
    }

    private static func checkHMACSecret(_ secret: Secret?, key: String, add: (String, String) -> Void) {
        guard let secret else { return }
        if secret.bytes.isEmpty {
            add(key, "is empty")
        } else if secret.bytes.count < Self.minimumSecretBytes {
            add(key, "is too short: an HMAC secret must be at least \(Self.minimumSecretBytes) bytes (value not shown)")
        }
    }
}

extension String {
    fileprivate func replacingDashes() -> String {
        String(self.map { $0 == "-" ? "_" : $0 })
    }
}
