import AuthGateCore
import Testing

/// The rollout policy compiled from the config: what the request path reads.
@Suite("PolicySettings")
struct PolicySettingsTests {
    @Test("the defaults: limits and lockout on, login paths, built-in classes, decode, forward everything")
    func defaults() {
        let policy = PolicySettings(config: GatewayConfig())
        #expect(policy.rateLimitsEnabled)
        #expect(policy.lockoutEnabled)
        #expect(policy.ipLimit == RateLimit(requestsPerMinute: 6000, burst: 200))
        #expect(policy.userLimit == RateLimit(requestsPerMinute: 3000, burst: 100))
        #expect(Set(policy.classLimits.keys) == ["login", "introspect"])
        #expect(policy.isLoginPath("/api/auth/sign-in/email"))
        #expect(!policy.isLoginPath("/api/auth/sign-in"))
        #expect(policy.escapedSlashes == .decode)
        #expect(policy.forwardAuthorization && policy.forwardSessionCookie)
        #expect(policy.tokenSubprotocol == "bearer")
        #expect(policy.tokenQueryParameter == nil)
        #expect(policy.migrationPolicy == .off)
        #expect(policy.rolloutPercent == 100)
    }

    @Test("login paths are normalised once, so a configured // or /./ still matches the normalised request")
    func loginPathsNormalised() {
        var config = GatewayConfig()
        config.rateLimits.loginPaths = ["/api//login", "/api/./signup"]
        let policy = PolicySettings(config: config)
        #expect(policy.isLoginPath("/api/login"))
        #expect(policy.isLoginPath("/api/signup"))
    }

    @Test("named classes get their own key namespaces per scope")
    func classNamespaces() throws {
        var config = GatewayConfig()
        config.rateLimitClasses = [GatewayConfig.RateLimitClass(name: "reports", requestsPerMinute: 60, burst: 5)]
        let policy = PolicySettings(config: config)
        let reports = try #require(policy.classLimits["reports"])
        #expect(reports.limit == RateLimit(requestsPerMinute: 60, burst: 5))
        #expect(reports.ipNamespace != reports.userNamespace)
        #expect(reports.ipNamespace != policy.classLimits["login"]?.ipNamespace)
    }

    @Test("the lockout needs the limits switched on; an empty subprotocol marker disables it")
    func switches() {
        var config = GatewayConfig()
        config.rateLimits.enabled = false
        config.websocket.tokenSubprotocol = ""
        config.websocket.tokenQueryParameter = "access_token"
        config.rollout.migrationPolicy = .record
        config.server.escapedSlashes = .reject
        let policy = PolicySettings(config: config)
        #expect(!policy.lockoutEnabled)
        #expect(policy.tokenSubprotocol == nil)
        #expect(policy.tokenQueryParameter == "access_token")
        #expect(policy.migrationPolicy == .record)
        #expect(policy.escapedSlashes == .reject)
    }
}
