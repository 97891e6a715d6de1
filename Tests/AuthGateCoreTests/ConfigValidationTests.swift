import Testing

@testable import AuthGateCore

/// The default config with one change, validated.
private func issues(_ change: (inout GatewayConfig) -> Void) -> [ConfigIssue] {
    var config = GatewayConfig()
    change(&config)
    return config.validate()
}

/// Sets an integer setting by its YAML key, through the loader's schema.
private func setInteger(_ key: String, to value: Int64, in config: inout GatewayConfig) {
    for section in ConfigLoader.sections {
        for field in section.fields where "\(section.name).\(field.name)" == key {
            switch field.kind {
            case .integer(let keyPath): config[keyPath: keyPath] = Int(value)
            case .integer64(let keyPath): config[keyPath: keyPath] = value
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

    @Test("every integer setting is checked against its bounds", arguments: GatewayConfig.integerBounds.map(\.key))
    func integerBounds(key: String) throws {
        let bound = try #require(GatewayConfig.integerBounds.first { $0.key == key })
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
        #expect(schemaKeys == GatewayConfig.integerBounds.map(\.key))
    }

    // MARK: Logging

    @Test("logging.level is one of the swift-log levels", arguments: GatewayConfig.logLevels)
    func validLevel(level: String) {
        #expect(issues { $0.logging.level = level } == [])
    }

    @Test("a bad level is an issue; a capitalised one gets a suggestion")
    func invalidLevel() {
        #expect(
            issues { $0.logging.level = "verbose" } == [
                ConfigIssue(
                    key: "logging.level",
                    reason: "\"verbose\" is not a log level; expected one of "
                        + "trace, debug, info, notice, warning, error, critical"
                )
            ]
        )
        #expect(issues { $0.logging.level = "INFO" }.first?.reason.hasSuffix("did you mean info?") == true)
    }

    @Test("logging.format is json or text")
    func format() {
        #expect(issues { $0.logging.format = "text" } == [])
        #expect(issues { $0.logging.format = "json" } == [])
        #expect(
            issues { $0.logging.format = "xml" }
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
            $0.logging.level = "loud"
            $0.logging.format = "yaml"
            $0.auth.authServerURL = "nope"
            $0.auth.betterAuthSecret = Secret("short")
            $0.trustedProxies = ["?"]
        }
        #expect(
            found.map(\.key) == [
                "server.listen", "server.backlog", "upstream.url", "limits.max_header_count", "admin.listen",
                "logging.level", "logging.format", "auth.auth_server_url", "auth.better_auth_secret",
                "trusted_proxies[0]",
            ]
        )
    }
}
