import Testing

@testable import AuthGateCore

/// The default config with one change, validated.
private func issues(_ change: (inout GatewayConfig) -> Void) -> [ConfigIssue] {
    var config = GatewayConfig()
    change(&config)
    return config.validate()
}

/// The issues of loading `yaml`, or `[]` when it loads: choice settings are read (and their
/// words refused) by the loader.
private func loadIssues(_ yaml: String) -> [ConfigIssue] {
    do {
        _ = try ConfigLoader.parse(yaml: yaml, file: nil, environment: [:])
        return []
    } catch {
        return error.issues
    }
}

/// Sets an integer setting by its YAML key, through the loader's schema.
private func setInteger(_ key: String, to value: Int64, in config: inout GatewayConfig) {
    for section in ConfigLoader.sections {
        for field in section.fields where "\(section.name).\(field.name)" == key {
            switch field.kind {
            case .integer(let keyPath, _, _): config[keyPath: keyPath] = Int(value)
            case .integer64(let keyPath, _, _): config[keyPath: keyPath] = value
            default: Issue.record("\(key) is not an integer setting")
            }
            return
        }
    }
    Issue.record("no setting \(key)")
}

@Suite("GatewayConfig.validate")
struct ConfigValidationTests {
    @Test("the default config is valid")
    func defaultIsValid() {
        #expect(GatewayConfig().validate() == [])
    }

    // MARK: Listen addresses

    @Test(
        "listen addresses parse as host:port or [v6]:port",
        arguments: [
            ("0.0.0.0:8080", "0.0.0.0", 8080, "0.0.0.0:8080"),
            ("127.0.0.1:1", "127.0.0.1", 1, "127.0.0.1:1"),
            ("[::]:65535", "::", 65535, "[::]:65535"),
            ("[::1]:9090", "::1", 9090, "[::1]:9090"),
            ("[2001:db8::1]:443", "2001:db8::1", 443, "[2001:db8::1]:443"),
            ("localhost:8080", "localhost", 8080, "localhost:8080"),
            ("gateway_1.internal:80", "gateway_1.internal", 80, "gateway_1.internal:80"),
            ("127.0.0.1:0", "127.0.0.1", 0, "127.0.0.1:0"),
        ]
    )
    func validListen(text: String, host: String, port: Int, description: String) throws {
        let parsed = try #require(HostAndPort(parsing: text))
        #expect(parsed.host == host)
        #expect(parsed.port == port)
        #expect(parsed.description == description)
        #expect(issues { $0.server.listen = text } == [])
    }

    @Test(
        "malformed listen addresses are issues",
        arguments: [
            "", "8080", ":8080", "0.0.0.0", "0.0.0.0:", "0.0.0.0:65536", "0.0.0.0:-1", "0.0.0.0:http",
            "0.0.0.0:8080x", "::1:8080", "[::1]", "[::1]8080", "[::1:8080", "[nope]:80", "256.0.0.1:80",
            "1.2.3:80", "bad host:80", "-bad.example:80", "a..b:80", "http://0.0.0.0:8080",
        ]
    )
    func invalidListen(text: String) {
        #expect(HostAndPort(parsing: text) == nil)
        let found = issues { $0.server.listen = text }
        #expect(found.count == 1)
        #expect(found.first?.key == "server.listen")
        let adminFound = issues { $0.admin.listen = text }
        #expect(adminFound.map(\.key) == ["admin.listen"])
    }

    @Test(
        "the admin listener may not share the proxy's port on an overlapping host",
        arguments: [
            ("0.0.0.0:8080", "127.0.0.1:8080", true),
            ("127.0.0.1:8080", "0.0.0.0:8080", true),
            ("127.0.0.1:8080", "127.0.0.1:8080", true),
            ("[::]:8080", "127.0.0.1:8080", true),
            ("localhost:8080", "LOCALHOST:8080", true),
            ("127.0.0.1:8080", "127.0.0.2:8080", false),
            ("0.0.0.0:8080", "127.0.0.1:8081", false),
            ("0.0.0.0:0", "0.0.0.0:0", false),
        ]
    )
    func adminPortConflict(proxy: String, admin: String, conflicts: Bool) {
        let found = issues {
            $0.server.listen = proxy
            $0.admin.listen = admin
        }
        #expect(found.map(\.key) == (conflicts ? ["admin.listen"] : []))
        let disabled = issues {
            $0.server.listen = proxy
            $0.admin.listen = admin
            $0.admin.enabled = false
        }
        #expect(disabled == [], "a disabled admin listener cannot conflict")
    }

    // MARK: Upstream

    @Test(
        "upstream.url accepts http://host[:port] with at most a trailing /",
        arguments: [
            ("http://127.0.0.1:2000", "127.0.0.1", 2000, "127.0.0.1:2000"),
            ("http://backend", "backend", 80, "backend"),
            ("http://backend:80/", "backend", 80, "backend"),
            ("HTTP://Backend.Internal:8080/", "Backend.Internal", 8080, "Backend.Internal:8080"),
            ("http://[::1]:2000", "::1", 2000, "[::1]:2000"),
            ("http://[fd00::5]", "fd00::5", 80, "[fd00::5]"),
        ]
    )
    func validUpstream(url: String, host: String, port: Int, hostHeader: String) throws {
        let target = try #require(UpstreamTarget(url: url))
        #expect(target.host == host)
        #expect(target.port == port)
        #expect(target.hostHeader == hostHeader)
        #expect(issues { $0.upstream.url = url } == [])
    }

    @Test(
        "upstream.url rejects TLS, paths, queries, credentials and garbage",
        arguments: [
            ("https://backend:443", "TLS upstreams are not supported yet; use http://host:port"),
            (
                "http://backend/api",
                "must not have a path (found \"/api\"); the request path is forwarded unchanged, "
                    + "so a base path cannot be configured"
            ),
            ("http://backend:2000/?x=1", "must not have a query (?...)"),
            ("http://backend?x=1", "must not have a query (?...)"),
            ("http://backend#top", "must not have a fragment (#...)"),
            ("http://user:hunter2@backend:2000", "must not contain credentials (user:password@)"),
            ("backend:2000", "is not a URL; expected http://host[:port]"),
            ("ftp://backend", "the scheme \"ftp\" is not supported; expected http://host[:port]"),
            ("http://backend:0", "the port 0 is out of range 1...65535"),
            ("http://backend:99999", "the port 99999 is out of range 1...65535"),
            ("http://backend:2o00", "the port \"2o00\" is not a number 1...65535"),
            ("http://", "the host is missing"),
            ("", "is empty; expected http://host[:port]"),
        ]
    )
    func invalidUpstream(url: String, reason: String) {
        #expect(UpstreamTarget(url: url) == nil)
        #expect(issues { $0.upstream.url = url } == [ConfigIssue(key: "upstream.url", reason: reason)])
    }

    // MARK: Integers

    @Test("every integer setting is checked against its bounds", arguments: ConfigLoader.integerFields.map(\.key))
    func integerBounds(key: String) throws {
        let bound = try #require(ConfigLoader.integerFields.first { $0.key == key })
        let lower = bound.range.lowerBound
        let upper = bound.range.upperBound
        #expect(issues { setInteger(key, to: lower, in: &$0) } == [], "\(key) = \(lower)")
        let below = issues { setInteger(key, to: lower - 1, in: &$0) }
        #expect(below.map(\.key) == [key], "\(key) = \(lower - 1)")
        #expect(below.first?.reason.hasSuffix("got \(lower - 1)") == true)
        if upper != Int64.max {
            #expect(issues { setInteger(key, to: upper, in: &$0) } == [], "\(key) = \(upper)")
            #expect(issues { setInteger(key, to: upper + 1, in: &$0) }.map(\.key) == [key], "\(key) = \(upper + 1)")
        }
    }

    @Test("timeouts must be positive and the range is in the message")
    func timeoutMessages() {
        #expect(
            issues { $0.upstream.connectTimeoutMs = 0 }
                == [ConfigIssue(key: "upstream.connect_timeout_ms", reason: "must be 1...300000 ms, got 0")]
        )
        #expect(
            issues { $0.limits.maxBodyBytes = -1 }
                == [
                    ConfigIssue(key: "limits.max_body_bytes", reason: "must be at least 0 bytes (0 = no limit), got -1")
                ]
        )
        #expect(issues { $0.server.eventLoops = 256 } == [])
        #expect(issues { $0.server.eventLoops = 257 }.map(\.key) == ["server.event_loops"])
    }

    @Test("every integer key of the schema has bounds")
    func boundsCoverSchema() {
        var schemaKeys: [String] = []
        for section in ConfigLoader.sections {
            for field in section.fields {
                switch field.kind {
                case .integer, .integer64: schemaKeys.append("\(section.name).\(field.name)")
                default: break
                }
            }
        }
        #expect(schemaKeys == ConfigLoader.integerFields.map(\.key))
    }

    // MARK: Logging

    @Test("logging.level is one of the swift-log levels", arguments: LogLevel.allCases.map(\.rawValue))
    func validLevel(level: String) {
        #expect(loadIssues("logging:\n  level: \(level)\n") == [])
    }

    @Test("a bad level is an issue; a capitalised one gets a suggestion")
    func invalidLevel() {
        #expect(
            loadIssues("logging:\n  level: verbose\n") == [
                ConfigIssue(
                    key: "logging.level",
                    reason: "\"verbose\" is not a log level; expected one of "
                        + "trace, debug, info, notice, warning, error, critical"
                )
            ]
        )
        #expect(loadIssues("logging:\n  level: INFO\n").first?.reason.hasSuffix("did you mean info?") == true)
    }

    @Test("logging.format is json or text")
    func format() {
        #expect(loadIssues("logging:\n  format: text\n") == [])
        #expect(loadIssues("logging:\n  format: json\n") == [])
        #expect(
            loadIssues("logging:\n  format: xml\n")
                == [ConfigIssue(key: "logging.format", reason: "\"xml\" is not a log format; expected json or text")]
        )
    }

    // MARK: Auth

    @Test(
        "auth.auth_server_url is an http(s) origin",
        arguments: [
            ("http://127.0.0.1:3001", true), ("https://auth.example.com", true), ("https://[::1]:8443", true),
            ("https://auth.example.com/", false), ("https://auth.example.com/api/auth", false),
            ("ftp://auth.example.com", false), ("auth.example.com", false), ("https://a:b@auth.example.com", false),
            ("https://auth.example.com?x", false),
        ]
    )
    func authServerURL(url: String, valid: Bool) {
        let found = issues { $0.auth.authServerURL = url }
        #expect(found.map(\.key) == (valid ? [] : ["auth.auth_server_url"]))
    }

    @Test("HMAC secrets need 32 bytes, and the issue never shows the value")
    func secretLength() {
        let short = String(repeating: "k", count: 31)
        let exact = String(repeating: "k", count: 32)
        let cases: [(String, WritableKeyPath<GatewayConfig, Secret?>)] = [
            ("auth.better_auth_secret", \.auth.betterAuthSecret),
            ("auth.better_auth_jwt_secret", \.auth.betterAuthJWTSecret),
            ("auth.legacy_jwt_secret", \.auth.legacyJWTSecret),
        ]
        for (key, keyPath) in cases {
            #expect(issues { $0[keyPath: keyPath] = Secret(exact) } == [], "\(key)")
            let found = issues { $0[keyPath: keyPath] = Secret(short) }
            #expect(found.map(\.key) == [key])
            #expect(found.allSatisfy { !$0.description.contains(short) })
            #expect(issues { $0[keyPath: keyPath] = Secret("") } == [ConfigIssue(key: key, reason: "is empty")])
        }
        // Bytes, not characters: 8 four-byte characters are 32 bytes.
        #expect(issues { $0.auth.legacyJWTSecret = Secret(String(repeating: "🔑", count: 8)) } == [])
    }

    @Test("database_url must be a PostgreSQL URL, and the issue never shows it")
    func databaseURL() {
        #expect(issues { $0.auth.databaseURL = Secret("postgres://u:p@db:5432/app") } == [])
        #expect(issues { $0.auth.databaseURL = Secret("POSTGRESQL://u:p@db/app") } == [])
        let found = issues { $0.auth.databaseURL = Secret("mysql://root:hunter2@db/app") }
        #expect(found.map(\.key) == ["auth.database_url"])
        #expect(!found.description.contains("hunter2"))
        #expect(issues { $0.auth.databaseURL = Secret("") }.map(\.key) == ["auth.database_url"])
    }

    // MARK: API key plugin

    @Test(
        "auth.api_key_header is a header name the gateway does not own",
        arguments: ["", "x api key", "x-api-key:", "Authorization", "cookie", "Host", "X-Auth-Key", "x-auth-user-id"]
    )
    func badAPIKeyHeader(name: String) {
        #expect(issues { $0.auth.apiKeyHeader = name }.map(\.key) == ["auth.api_key_header"])
    }

    @Test("auth.api_key_header accepts other names; auth.api_key_table is a plain identifier")
    func apiKeyNames() {
        #expect(issues { $0.auth.apiKeyHeader = "X-Service-Key" } == [])
        #expect(issues { $0.auth.apiKeyTable = "auth.apikey" } == [])
        #expect(issues { $0.auth.apiKeyTable = "apikey; DROP TABLE user" }.map(\.key) == ["auth.api_key_table"])
    }

    // MARK: Session resolver

    @Test("auth.session_resolver is http or postgres", arguments: ["redis", "HTTP", "Postgres", "", "pg", "http "])
    func badSessionResolver(resolver: String) {
        #expect(
            loadIssues("auth:\n  session_resolver: \"\(resolver)\"\n") == [
                ConfigIssue(
                    key: "auth.session_resolver",
                    reason: "\"\(resolver)\" is not a resolver; expected http or postgres"
                )
            ]
        )
    }

    @Test("the postgres resolver needs a database_url")
    func postgresNeedsDatabaseURL() {
        #expect(issues { $0.auth.sessionResolver = .http } == [])
        #expect(
            issues { $0.auth.sessionResolver = .postgres } == [
                ConfigIssue(key: "auth.session_resolver", reason: "postgres needs auth.database_url (or DATABASE_URL)")
            ]
        )
        #expect(
            issues {
                $0.auth.sessionResolver = .postgres
                $0.auth.databaseURL = Secret("postgres://u:p@db:5432/app")
            } == []
        )
    }

    @Test("lockout.store is memory or postgres, and postgres needs a database_url")
    func lockoutStore() {
        #expect(issues { $0.lockout.store = .memory } == [])
        #expect(
            issues { $0.lockout.store = .postgres } == [
                ConfigIssue(key: "lockout.store", reason: "postgres needs auth.database_url (or DATABASE_URL)")
            ]
        )
        #expect(
            issues {
                $0.lockout.store = .postgres
                $0.auth.databaseURL = Secret("postgres://u:p@db:5432/app")
            } == []
        )
        for bad in ["redis", "Postgres", "", "pg"] {
            #expect(
                loadIssues("lockout:\n  store: \"\(bad)\"\n") == [
                    ConfigIssue(key: "lockout.store", reason: "\"\(bad)\" is not a store; expected memory or postgres")
                ]
            )
        }
        #expect(
            issues { $0.lockout.storeTimeoutMs = 5 } == [
                ConfigIssue(key: "lockout.store_timeout_ms", reason: "must be 10...10000 ms, got 5")
            ]
        )
    }

    @Test(
        "the postgres resolver accepts a database_url it can parse",
        arguments: [
            "postgres://u:p@db:5432/app", "postgresql://u@db/app", "postgres://db/app",
            "postgres://u:p@[::1]:5432/app", "postgres://u:p%40ss@db:6432/app?sslmode=require",
        ]
    )
    func parseableDatabaseURL(url: String) {
        #expect(DatabaseURL(url) != nil)
        let found = issues {
            $0.auth.sessionResolver = .postgres
            $0.auth.databaseURL = Secret(url)
        }
        #expect(found == [])
    }

    @Test(
        "the postgres resolver rejects a database_url it cannot parse, without showing it",
        arguments: [
            "postgres://u:hunter2@db:5432", "postgres://u:hunter2@db:5432/", "postgres://u:hunter2@db:port/app",
            "postgres://u:hunter2@:5432/app", "postgres://u:hunter2@db:0/app", "postgres://u:hunter2@db:70000/app",
        ]
    )
    func unparseableDatabaseURL(url: String) {
        #expect(DatabaseURL(url) == nil)
        let found = issues {
            $0.auth.sessionResolver = .postgres
            $0.auth.databaseURL = Secret(url)
        }
        #expect(
            found == [
                ConfigIssue(
                    key: "auth.database_url",
                    reason: "is not a valid postgres://user:password@host:port/database URL (value not shown)"
                )
            ]
        )
        #expect(!"\(found)".contains("hunter2"))
    }

    @Test("a database_url that is not postgres at all is rejected with the postgres resolver too")
    func foreignDatabaseURLWithPostgresResolver() {
        let found = issues {
            $0.auth.sessionResolver = .postgres
            $0.auth.databaseURL = Secret("mysql://root:hunter2@db/app")
        }
        #expect(!found.isEmpty)
        #expect(found.allSatisfy { $0.key == "auth.database_url" })
        #expect(!"\(found)".contains("hunter2"))
    }

    // MARK: Cookies, paths, URLs

    @Test(
        "auth.cookie_prefix accepts cookie-name prefixes",
        arguments: ["better-auth", "my_app", "App2", "x", "_internal", String(repeating: "p", count: 63)]
    )
    func validCookiePrefix(prefix: String) {
        #expect(issues { $0.auth.cookiePrefix = prefix } == [])
    }

    @Test(
        "auth.cookie_prefix rejects what cannot begin a cookie name",
        arguments: [
            "", "bad prefix", "a;b", "a=b", "2fa", "a/b", "a\"b", "ä-app", "a,b", "x\u{0}",
            String(repeating: "p", count: 64),
        ]
    )
    func badCookiePrefix(prefix: String) {
        #expect(
            issues { $0.auth.cookiePrefix = prefix } == [
                ConfigIssue(key: "auth.cookie_prefix", reason: "\"\(prefix)\" must be letters, digits, '-' or '_'")
            ]
        )
    }

    @Test(
        "legacy_refresh_path and sign_out_path must be absolute paths",
        arguments: ["api/auth/refresh", "", "auth", "http://backend/api/auth/refresh", " /x"]
    )
    func relativePaths(path: String) {
        #expect(
            issues { $0.auth.legacyRefreshPath = path } == [
                ConfigIssue(
                    key: "auth.legacy_refresh_path",
                    reason: "\"\(path)\" must be an absolute path starting with /"
                )
            ]
        )
        #expect(
            issues { $0.auth.signOutPath = path } == [
                ConfigIssue(key: "auth.sign_out_path", reason: "\"\(path)\" must be an absolute path starting with /")
            ]
        )
    }

    @Test("absolute legacy_refresh_path and sign_out_path are accepted")
    func absolutePaths() {
        #expect(issues { $0.auth.legacyRefreshPath = "/api/v2/refresh" } == [])
        #expect(issues { $0.auth.signOutPath = "/" } == [])
    }

    @Test(
        "legacy_introspection_url must be http(s)",
        arguments: [
            ("https://api.example.com/oauth/introspect", true), ("http://127.0.0.1:2000/introspect", true),
            ("ftp://api.example.com/introspect", false), ("api.example.com/introspect", false),
            ("/oauth/introspect", false), ("", false), ("httpx://a", false),
        ]
    )
    func introspectionURL(url: String, valid: Bool) {
        let expected =
            valid
            ? []
            : [
                ConfigIssue(
                    key: "auth.legacy_introspection_url",
                    reason: "\"\(url)\" must be an http:// or https:// URL"
                )
            ]
        #expect(issues { $0.auth.legacyIntrospectionURL = url } == expected)
    }

    // MARK: Integer bounds of the auth and cache settings

    @Test(
        "the auth and cache integers have their documented bounds",
        arguments: [
            ("auth.leeway_seconds", 0, 3_600, "seconds"),
            ("auth.max_token_bytes", 256, 1_048_576, "bytes"),
            ("auth.jwks_refresh_cooldown_ms", 0, 86_400_000, "ms"),
            ("auth.jwks_refresh_interval_ms", 0, 86_400_000, "ms (0 = no periodic refresh)"),
            ("auth.auth_server_timeout_ms", 1, 300_000, "ms"),
            ("cache.max_entries", 1, 100_000_000, "entries"),
            ("cache.max_negative_entries", 0, 100_000_000, "entries"),
            ("cache.positive_ttl_ms", 0, 86_400_000, "ms"),
            ("cache.negative_ttl_ms", 0, 86_400_000, "ms"),
            ("cache.stale_if_error_ms", 0, 86_400_000, "ms (0 = fail closed)"),
        ] as [(String, Int64, Int64, String)]
    )
    func authAndCacheBounds(key: String, lower: Int64, upper: Int64, unit: String) throws {
        let bound = try #require(ConfigLoader.integerFields.first { $0.key == key })
        #expect(bound.range == lower...upper)
        #expect(bound.unit == unit)
        // Through the loader, as an operator would write it.
        let parts = key.split(separator: ".")
        func load(_ value: Int64) -> [ConfigIssue] {
            do {
                _ = try ConfigLoader.parse(yaml: "\(parts[0]):\n  \(parts[1]): \(value)\n", file: nil, environment: [:])
                return []
            } catch {
                return error.issues
            }
        }
        #expect(load(lower) == [])
        #expect(load(upper) == [])
        #expect(
            load(lower - 1) == [ConfigIssue(key: key, reason: "must be \(lower)...\(upper) \(unit), got \(lower - 1)")]
        )
        #expect(
            load(upper + 1) == [ConfigIssue(key: key, reason: "must be \(lower)...\(upper) \(unit), got \(upper + 1)")]
        )
    }

    // MARK: Session store

    @Test("session_store names must be plain SQL identifiers, optionally schema-qualified")
    func sessionStoreIdentifiers() {
        let keys: [(String, WritableKeyPath<GatewayConfig, String>)] = [
            ("session_store.session_table", \.sessionStore.sessionTable),
            ("session_store.user_table", \.sessionStore.userTable),
            ("session_store.session_id_column", \.sessionStore.sessionIDColumn),
            ("session_store.session_token_column", \.sessionStore.sessionTokenColumn),
            ("session_store.session_user_id_column", \.sessionStore.sessionUserIDColumn),
            ("session_store.session_expires_at_column", \.sessionStore.sessionExpiresAtColumn),
            ("session_store.user_id_column", \.sessionStore.userIDColumn),
            ("session_store.user_email_column", \.sessionStore.userEmailColumn),
        ]
        let valid = [
            "public.user_sessions", "better_auth_sessions", "userId", "_s", "schema_1.t2",
            String(repeating: "a", count: 63),
        ]
        let invalid = [
            "user; drop table", "user\"", "\"user\"", "", "1session", "a.b.c", "my-table", "session ", ".session",
            "session.", "us er", "sëssion", "s'--", String(repeating: "a", count: 64),
        ]
        for (key, keyPath) in keys {
            for name in valid {
                #expect(issues { $0[keyPath: keyPath] = name } == [], "\(key) = \(name)")
            }
            for name in invalid {
                #expect(
                    issues { $0[keyPath: keyPath] = name } == [
                        ConfigIssue(
                            key: key,
                            reason:
                                "\"\(name)\" is not a plain SQL identifier (letters, digits, _; optionally schema.name)"
                        )
                    ],
                    "\(key) = \(name)"
                )
            }
        }
        #expect(issues { $0.sessionStore.userRoleColumn = nil } == [])
        #expect(issues { $0.sessionStore.userRoleColumn = "public.role" } == [])
        #expect(
            issues { $0.sessionStore.userRoleColumn = "role; drop table user" }.map(\.key)
                == ["session_store.user_role_column"]
        )
    }

    @Test("an injected session_store name in the file is rejected; a schema-qualified one loads")
    func sessionStoreFromFile() throws {
        let config = try ConfigLoader.parse(
            yaml: "session_store:\n  session_table: public.user_sessions\n",
            file: nil,
            environment: [:]
        )
        #expect(config.sessionStore.sessionTable == "public.user_sessions")
        do {
            _ = try ConfigLoader.parse(
                yaml: "session_store:\n  user_table: \"user; drop table\"\n",
                file: nil,
                environment: [:]
            )
            Issue.record("an injected table name loaded")
        } catch {
            #expect(error.issues.map(\.key) == ["session_store.user_table"])
        }
    }

    // MARK: Routes

    @Test("every access level is accepted", arguments: RouteAccess.allCases)
    func validRouteAccess(access: RouteAccess) {
        #expect(issues { $0.routes = [GatewayConfig.Route(path: "/api/", access: access)] } == [])
    }

    @Test("route paths must start with / and access must be a level; issues carry the rule's index")
    func badRoutes() {
        // Words can only be wrong in a file: the loader refuses them, in the order validation checks.
        let found = loadIssues(
            """
            routes:
              - {path: /api/health, access: public}
              - {path: api/public/, access: public}
              - {path: /api/admin/, access: admin}
              - {path: "", access: better-auth-only}
            """
        )
        #expect(
            found == [
                ConfigIssue(key: "routes[1].path", reason: "\"api/public/\" must start with /"),
                ConfigIssue(
                    key: "routes[2].access",
                    reason: "\"admin\" is not an access level; expected public, authenticated or better_auth_only"
                ),
                ConfigIssue(key: "routes[3].path", reason: "\"\" must start with /"),
                ConfigIssue(
                    key: "routes[3].access",
                    reason:
                        "\"better-auth-only\" is not an access level; expected public, authenticated or better_auth_only"
                ),
            ]
        )
    }

    // MARK: Trusted proxies and collection

    @Test("each bad trusted_proxies entry is an issue with its index")
    func trustedProxyEntries() {
        let found = issues { $0.trustedProxies = ["10.0.0.0/8", "nope", "::1", "10.0.0.1/8"] }
        #expect(
            found == [
                ConfigIssue(
                    key: "trusted_proxies[1]",
                    reason: "\"nope\" is not an IP address or CIDR (for example 10.0.0.0/8 or fd00::/8)"
                ),
                ConfigIssue(
                    key: "trusted_proxies[3]",
                    reason: "\"10.0.0.1/8\" has host bits set below the prefix; did you mean 10.0.0.0/8?"
                ),
            ]
        )
    }

    @Test("validate reports every problem at once")
    func everyProblemAtOnce() {
        let found = issues {
            $0.server.listen = "x"
            $0.server.backlog = 0
            $0.upstream.url = "https://b"
            $0.limits.maxHeaderCount = 0
            $0.admin.listen = "y"
            $0.auth.authServerURL = "nope"
            $0.auth.betterAuthSecret = Secret("short")
            $0.auth.leewaySeconds = -1
            $0.auth.cookiePrefix = "a b"
            $0.auth.legacyRefreshPath = "refresh"
            $0.auth.signOutPath = "sign-out"
            $0.auth.legacyIntrospectionURL = "x"
            $0.cache.maxEntries = 0
            $0.sessionStore.userTable = "u;"
            $0.routes = [GatewayConfig.Route(path: "x", access: .public)]
            $0.trustedProxies = ["?"]
        }
        #expect(
            found.map(\.key) == [
                "server.listen", "server.backlog", "upstream.url", "limits.max_header_count", "admin.listen",
                "auth.auth_server_url", "auth.better_auth_secret", "auth.leeway_seconds", "auth.cookie_prefix",
                "auth.legacy_refresh_path", "auth.sign_out_path", "auth.legacy_introspection_url",
                "cache.max_entries", "session_store.user_table", "routes[0].path", "trusted_proxies[0]",
            ]
        )
    }

    @Test("a file's refused words are reported among every other problem, in section order")
    func everyProblemAtOnceFromTheFile() {
        let found = loadIssues(
            """
            server:
              listen: x
              backlog: 0
            upstream:
              url: https://b
            limits:
              max_header_count: 0
            admin:
              listen: y
            logging:
              level: loud
              format: yaml
            auth:
              auth_server_url: nope
              better_auth_secret: short
              leeway_seconds: -1
              session_resolver: redis
              cookie_prefix: a b
              legacy_refresh_path: refresh
              sign_out_path: sign-out
              legacy_introspection_url: x
            cache:
              max_entries: 0
            session_store:
              user_table: "u;"
            routes:
              - {path: x, access: y}
            trusted_proxies: ["?"]
            """
        )
        #expect(
            found.map(\.key) == [
                "server.listen", "server.backlog", "upstream.url", "limits.max_header_count", "admin.listen",
                "logging.level", "logging.format", "auth.auth_server_url", "auth.better_auth_secret",
                "auth.leeway_seconds", "auth.session_resolver", "auth.cookie_prefix", "auth.legacy_refresh_path",
                "auth.sign_out_path", "auth.legacy_introspection_url", "cache.max_entries", "session_store.user_table",
                "routes[0].path", "routes[0].access", "trusted_proxies[0]",
            ]
        )
    }
}
