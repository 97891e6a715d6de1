extension GatewayConfig {
    /// Minimum length in bytes of the HMAC secrets (`better_auth_secret`, `better_auth_jwt_secret`,
    /// `legacy_jwt_secret`): an HS256 key shorter than the hash (RFC 7518 §3.2) is guessable.
    public static let minimumSecretBytes = 32

    /// Rate-limit classes every config has (`rate_limits.login_*`, `rate_limits.introspect_*`).
    public static let builtInRateLimitClasses = ["login", "introspect"]

    /// Checks the configuration as a whole and returns every problem found, section by section; an
    /// empty array means the configuration can be compiled into a ``ConfigSnapshot``.
    ///
    /// Checked: listen addresses (`host:port`, port 1...65535 or 0 for any free port; admin and
    /// proxy not on the same port of overlapping hosts), the upstream URL (`http://host[:port]`,
    /// no path, query, credentials or TLS), the auth server origin, integer ranges (as the
    /// loader's schema states them), every `trusted_proxies` entry, and secret lengths. Choice
    /// settings are enums, so a value built in code is always one of their words; a word of the
    /// file that is none of theirs is reported by ``ConfigLoader`` in this same list. No issue
    /// text contains a secret's value.
    public func validate() -> [ConfigIssue] {
        self.validate(refusedWords: [:])
    }

    /// ``validate()``, with the words the loader refused (by key, with their reasons) reported
    /// where their settings are checked, so a file's issues come in the order of its sections.
    func validate(refusedWords: [String: String]) -> [ConfigIssue] {
        var issues: [ConfigIssue] = []
        func add(_ key: String, _ reason: String) {
            issues.append(ConfigIssue(key: key, reason: reason))
        }
        func refused(_ key: String) {
            if let reason = refusedWords[key] {
                add(key, reason)
            }
        }

        // server
        let proxyAddress = Self.checkListen(self.server.listen, key: "server.listen", add: add)
        self.checkIntegers(of: "server", add: add)

        // upstream
        if case .failure(let problem) = UpstreamTarget.parse(self.upstream.url) {
            add("upstream.url", problem.reason)
        }
        self.checkIntegers(of: "upstream", add: add)

        // limits
        self.checkIntegers(of: "limits", add: add)

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

        refused("logging.level")
        refused("logging.format")

        // auth
        if case .failure(let problem) = ConfigSyntax.HTTPOrigin.parse(self.auth.authServerURL, allowRootPath: false) {
            add("auth.auth_server_url", problem.reason)
        }
        Self.checkHMACSecret(self.auth.betterAuthSecret, key: "auth.better_auth_secret", add: add)
        Self.checkVersionedSecrets(self.auth.betterAuthSecrets, key: "auth.better_auth_secrets", add: add)
        refused("auth.cookie_cache_strategy")
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

        self.checkIntegers(of: "auth", where: { $0 != "auth_server_timeout_ms" }, add: add)
        Self.checkLegacyKeys(self.auth.legacyKeys, add: add)
        self.checkIntegers(of: "auth", where: { $0 == "auth_server_timeout_ms" }, add: add)
        refused("auth.session_resolver")
        if self.auth.sessionResolver == .postgres && self.auth.databaseURL == nil {
            add("auth.session_resolver", "postgres needs auth.database_url (or DATABASE_URL)")
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
        self.checkIntegers(of: "cache", add: add)

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

        refused("server.escaped_slashes")
        refused("server.path_parameters")
        for (index, name) in self.forwarding.stripHeaders.enumerated()
        where !StrippedForwardingHeaders.isValidName(name) {
            add("forwarding.strip_headers[\(index)]", "\"\(name)\" is not a header name (an HTTP token)")
        }

        // rollout
        let rollout = self.rollout
        self.checkIntegers(of: "rollout", add: add)
        refused("rollout.migration_policy")
        if rollout.migrationPolicy != .off && self.auth.databaseURL == nil {
            add(
                "rollout.migration_policy",
                "\"\(rollout.migrationPolicy.rawValue)\" reads the users table: set auth.database_url"
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
        self.checkIntegers(of: "rate_limits", add: add)
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
        self.checkIntegers(of: "lockout", where: { $0 != "store_timeout_ms" }, add: add)
        if self.lockout.emailField.isEmpty {
            add("lockout.email_field", "is empty")
        }
        self.checkIntegers(of: "lockout", where: { $0 == "store_timeout_ms" }, add: add)
        refused("lockout.store")
        if self.lockout.store == .postgres && self.auth.databaseURL == nil {
            add("lockout.store", "postgres needs auth.database_url (or DATABASE_URL)")
        }

        // assertion
        let assertion = self.assertion
        self.checkIntegers(of: "assertion", add: add)
        Self.checkHMACSecret(assertion.secret, key: "assertion.secret", add: add)
        refused("assertion.algorithm")
        if assertion.enabled && assertion.algorithm == .hs256 && assertion.secret == nil {
            add("assertion.secret", "HS256 assertions need a secret (AUTHGATE_ASSERTION_SECRET)")
        }
        if assertion.audience.isEmpty { add("assertion.audience", "is empty") }
        if assertion.issuer.isEmpty { add("assertion.issuer", "is empty") }

        // websocket
        self.checkIntegers(of: "websocket", add: add)
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
        self.checkIntegers(of: "reload", add: add)

        // audit, metrics
        self.checkIntegers(of: "audit", add: add)
        if !SessionSchema.isValidIdentifier(self.audit.table) {
            add(
                "audit.table",
                "\"\(self.audit.table)\" is not a plain SQL identifier (letters, digits, _; optionally schema.name)"
            )
        }
        if self.audit.spillFile.isEmpty {
            add("audit.spill_file", "is empty")
        }
        self.checkIntegers(of: "metrics", add: add)

        // routes
        for (index, route) in self.routes.enumerated() {
            if !route.path.hasPrefix("/") {
                add("routes[\(index)].path", "\"\(route.path)\" must start with /")
            }
            refused("routes[\(index)].upstream")
            if route.upstream == .authServer, case .failure = UpstreamTarget.parse(self.auth.authServerURL) {
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
            refused("routes[\(index)].access")
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
        self.checkIntegers(of: "cors", add: add)
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

    /// Checks the integer settings of the schema's `section` (those whose field name `include`
    /// takes, in table order) against the range the schema gives each.
    private func checkIntegers(
        of section: String,
        where include: (String) -> Bool = { _ in true },
        add: (String, String) -> Void
    ) {
        for field in ConfigLoader.integerFields(of: section) where include(field.name) {
            let value = field.value(self)
            guard !field.range.contains(value) else { continue }
            if field.range.upperBound == Int64.max {
                add(field.key, "must be at least \(field.range.lowerBound) \(field.unit), got \(value)")
            } else {
                add(
                    field.key,
                    "must be \(field.range.lowerBound)...\(field.range.upperBound) \(field.unit), got \(value)"
                )
            }
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

    /// Each `auth.legacy_keys` entry: a secret for HS256 and a public key file for the others
    /// (never both), a non-empty `kid` when one is given.
    private static func checkLegacyKeys(_ keys: [GatewayConfig.Auth.LegacyKey], add: (String, String) -> Void) {
        for (index, entry) in keys.enumerated() {
            let key = "auth.legacy_keys[\(index)]"
            if let kid = entry.kid, kid.isEmpty {
                add("\(key).kid", "is empty; remove it for a key that accepts any kid")
            }
            if entry.algorithm == .hs256 {
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
                        "\(entry.algorithm.rawValue) verifies with a public key: set public_key_file, not a secret"
                    )
                }
                if entry.publicKeyFile == nil {
                    add("\(key).public_key_file", "is required for \(entry.algorithm.rawValue)")
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
