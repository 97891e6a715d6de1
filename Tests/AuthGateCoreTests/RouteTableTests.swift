import Testing

@testable import AuthGateCore

private let table = RouteTable(rules: [
    RouteTable.Rule(path: "/api/health", access: .public),
    RouteTable.Rule(path: "/api/public/", access: .public, rateLimitClass: "anonymous"),
    RouteTable.Rule(path: "/api/auth/", access: .public, rateLimitClass: "auth", upstream: .authServer),
    RouteTable.Rule(
        path: "/api/admin/",
        access: .betterAuthOnly,
        rateLimitClass: "admin",
        enableDualAuth: false,
        preferBetterAuth: true
    ),
    RouteTable.Rule(path: "/api/beta/", access: .authenticated, preferBetterAuth: true),
    RouteTable.Rule(path: "/api/", access: .authenticated, rateLimitClass: "api"),
])

@Suite("RouteTable")
struct RouteTableTests {
    @Test("an exact rule matches only its path")
    func exact() {
        #expect(table.match(path: "/api/health").ruleIndex == 0)
        #expect(table.match(path: "/api/health").access == .public)
        #expect(table.match(path: "/api/health/").ruleIndex == 5)
        #expect(table.match(path: "/api/healthz").ruleIndex == 5)
    }

    @Test("a prefix rule matches below it and itself without the slash, not a longer name")
    func prefix() {
        #expect(table.match(path: "/api/public/x").ruleIndex == 1)
        #expect(table.match(path: "/api/public/x/y/z").ruleIndex == 1)
        #expect(table.match(path: "/api/public/").ruleIndex == 1)
        #expect(table.match(path: "/api/public").ruleIndex == 1)
        #expect(table.match(path: "/api/publicity").ruleIndex == 5)
        #expect(table.match(path: "/api/publicity").access == .authenticated)
    }

    @Test("the first matching rule wins")
    func firstMatchWins() {
        let shadowed = RouteTable(rules: [
            RouteTable.Rule(path: "/a/", access: .public, rateLimitClass: "first"),
            RouteTable.Rule(path: "/a/b", access: .betterAuthOnly, rateLimitClass: "second"),
        ])
        #expect(shadowed.match(path: "/a/b") == RouteMatch(access: .public, rateLimitClass: "first", ruleIndex: 0))
    }

    @Test("a matched rule carries all its settings")
    func ruleSettings() {
        #expect(
            table.match(path: "/api/admin/users")
                == RouteMatch(
                    access: .betterAuthOnly,
                    rateLimitClass: "admin",
                    upstream: .backend,
                    enableDualAuth: false,
                    preferBetterAuth: true,
                    ruleIndex: 3
                )
        )
        #expect(
            table.match(path: "/api/auth/sign-in/email")
                == RouteMatch(access: .public, rateLimitClass: "auth", upstream: .authServer, ruleIndex: 2)
        )
        #expect(
            table.match(path: "/api/beta/x")
                == RouteMatch(access: .authenticated, preferBetterAuth: true, ruleIndex: 4)
        )
    }

    @Test("no match gives the defaults and no rule index")
    func defaults() {
        let match = table.match(path: "/other")
        #expect(match == RouteMatch(access: .authenticated))
        #expect(match.ruleIndex == nil)
        #expect(match.rateLimitClass == nil)
        #expect(match.upstream == .backend)
        #expect(match.enableDualAuth == nil)
        #expect(match.preferBetterAuth == nil)
        #expect(RouteTable(rules: [], defaultAccess: .public).match(path: "/x") == RouteMatch(access: .public))
    }

    @Test("the existing two-argument rule initialiser keeps its defaults")
    func ruleDefaults() {
        let rule = RouteTable.Rule(path: "/x/", access: .public)
        #expect(rule.rateLimitClass == nil)
        #expect(rule.upstream == .backend)
        #expect(rule.enableDualAuth == nil)
        #expect(rule.preferBetterAuth == nil)
        #expect(rule.isPrefix)
        #expect(!RouteTable.Rule(path: "/x", access: .public).isPrefix)
    }

    @Test("a root prefix rule matches every path")
    func rootPrefix() {
        let root = RouteTable(rules: [RouteTable.Rule(path: "/", access: .public)])
        #expect(root.match(path: "/").ruleIndex == 0)
        #expect(root.match(path: "/anything/at/all").ruleIndex == 0)
    }

    @Test("matching works on a substring of a larger target")
    func substring() {
        let target = "/api/public/x?y=/api/admin/"
        let path = target[..<target.firstIndex(of: "?")!]
        #expect(table.match(path: path).ruleIndex == 1)
    }

    @Test("access(forTarget:) ignores the query and agrees with match(path:)")
    func accessForTarget() {
        #expect(table.access(forTarget: "/api/health?x=1") == .public)
        #expect(table.access(forTarget: "/api/public?next=/api/admin/") == .public)
        #expect(table.access(forTarget: "/api/admin/users?x") == .betterAuthOnly)
        #expect(table.access(forTarget: "/api/publicity") == .authenticated)
        #expect(table.access(forTarget: "/elsewhere") == .authenticated)
    }

    @Test("normalised bypass attempts land on the rule of the real path")
    func normalisedBypass() throws {
        for target in [
            "//api//admin/users", "/api/public/../admin/users", "/api/public/%2e%2e/admin/users",
            "/api/public%2F..%2Fadmin/users", "/api/public/..%5Cadmin/users", "/api\\admin\\users",
            "/api/./admin/users",
        ] {
            let normalized = try PathNormalizer.normalize(target: target, escapedSlashes: .decode).get()
            #expect(table.match(path: normalized[...]).access == .betterAuthOnly, "\(target)")
        }
    }

    @Test("upstream names round-trip through their configuration spelling")
    func upstreamRawValues() {
        #expect(RouteUpstream(rawValue: "backend") == .backend)
        #expect(RouteUpstream(rawValue: "auth_server") == .authServer)
        #expect(RouteUpstream(rawValue: "authServer") == nil)
    }

    // MARK: Policy overrides

    @Test("nil overrides keep the global flags")
    func noOverride() {
        let policy = AuthPolicy(
            enableDualAuth: true,
            preferBetterAuth: false,
            legacyOpaqueEnabled: true,
            acceptRawBearer: true
        )
        #expect(policy.overriding(enableDualAuth: nil, preferBetterAuth: nil) == policy)
    }

    @Test("each override replaces only its flag")
    func overrides() {
        let policy = AuthPolicy(
            enableDualAuth: true,
            preferBetterAuth: false,
            legacyOpaqueEnabled: true,
            acceptRawBearer: false
        )
        let dualOff = policy.overriding(enableDualAuth: false, preferBetterAuth: nil)
        #expect(dualOff.enableDualAuth == false)
        #expect(dualOff.preferBetterAuth == false)
        #expect(dualOff.legacyOpaqueEnabled)
        #expect(!dualOff.acceptRawBearer)
        let prefer = policy.overriding(enableDualAuth: nil, preferBetterAuth: true)
        #expect(prefer.enableDualAuth)
        #expect(prefer.preferBetterAuth)
        #expect(prefer.methods(for: .authenticated) == [.betterAuth, .legacy])
        let both = policy.overriding(enableDualAuth: false, preferBetterAuth: true)
        #expect(both.methods(for: .authenticated) == [.betterAuth])
    }

    @Test("a route match applies its overrides to the policy")
    func matchPolicy() {
        let policy = AuthPolicy(
            enableDualAuth: true,
            preferBetterAuth: false,
            legacyOpaqueEnabled: false,
            acceptRawBearer: false
        )
        #expect(table.match(path: "/api/admin/x").policy(from: policy).methods(for: .authenticated) == [.betterAuth])
        #expect(
            table.match(path: "/api/beta/x").policy(from: policy).methods(for: .authenticated) == [
                .betterAuth, .legacy,
            ]
        )
        #expect(table.match(path: "/api/x").policy(from: policy) == policy)
    }
}
