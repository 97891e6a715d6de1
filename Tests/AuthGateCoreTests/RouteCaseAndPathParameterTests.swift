import Testing

@testable import AuthGateCore

private let table = RouteTable(rules: [
    RouteTable.Rule(path: "/api/public/", access: .public),
    RouteTable.Rule(path: "/api/v2/", access: .betterAuthOnly),
    RouteTable.Rule(path: "/api/admin", access: .betterAuthOnly),
    RouteTable.Rule(path: "/api/orders/", access: .authenticated, rateLimitClass: "orders"),
])

@Suite("Route access strictness")
struct RouteAccessStrictnessTests {
    @Test("public < authenticated < better_auth_only")
    func order() {
        #expect(RouteAccess.authenticated.isStricter(than: .public))
        #expect(RouteAccess.betterAuthOnly.isStricter(than: .authenticated))
        #expect(RouteAccess.betterAuthOnly.isStricter(than: .public))
        #expect(!RouteAccess.authenticated.isStricter(than: .authenticated))
        #expect(!RouteAccess.public.isStricter(than: .authenticated))
    }
}

@Suite("Route matching and case")
struct RouteCaseTests {
    @Test(
        "a rule stricter than the default matches any ASCII case of its path",
        arguments: ["/API/v2/x", "/api/V2/x", "/Api/V2/", "/API/V2", "/API/ADMIN", "/api/Admin"]
    )
    func stricterMatchesAnyCase(path: String) {
        #expect(table.match(path: path[...]).access == .betterAuthOnly, "\(path)")
    }

    @Test("a stricter rule still matches only its path: /API/ADMINX is not /api/admin")
    func stricterStillExact() {
        #expect(table.match(path: "/API/ADMINX").ruleIndex == nil)
        #expect(table.match(path: "/api/v2x").ruleIndex == nil)
    }

    @Test(
        "a public rule matches exactly: other spellings fall to the default",
        arguments: ["/API/public/x", "/api/Public/x"]
    )
    func publicExact(path: String) {
        let match = table.match(path: path[...])
        #expect(match.access == .authenticated)
        #expect(match.ruleIndex == nil)
    }

    @Test("a rule as strict as the default matches exactly")
    func sameAsDefaultExact() {
        #expect(table.match(path: "/api/orders/1").rateLimitClass == "orders")
        #expect(table.match(path: "/API/orders/1").ruleIndex == nil)
    }

    @Test("with a public default, authenticated rules are the stricter ones")
    func publicDefault() {
        let open = RouteTable(
            rules: [RouteTable.Rule(path: "/account/", access: .authenticated)],
            defaultAccess: .public
        )
        #expect(open.match(path: "/ACCOUNT/settings").access == .authenticated)
    }
}

@Suite("Path parameters")
struct PathParameterTests {
    @Test(
        "reject: a ; or %3B anywhere in the path is a 400",
        arguments: [
            "/api/public/..;/admin", "/api/public/..%3B/admin", "/api/public/..%3b/admin", "/api/public/..;x=1/admin",
            "/api/x;jsessionid=1", "/api;/x",
        ]
    )
    func rejected(target: String) {
        #expect(
            PathNormalizer.normalize(target: target, escapedSlashes: .decode, pathParameters: .reject)
                == .failure(.pathParameter)
        )
    }

    @Test("reject: a ; in the query is not a path parameter")
    func queryUntouched() {
        #expect(
            PathNormalizer.normalize(target: "/api/x?a=1;b=2", escapedSlashes: .decode, pathParameters: .reject)
                == .success("/api/x?a=1;b=2")
        )
    }

    @Test(
        "the servlet reading of a path: parameters cut from each segment, dot segments resolved after",
        arguments: [
            ("/api/public/..;/admin", "/api/admin"),
            ("/api/public/..%3B/admin", "/api/admin"),
            ("/api/public/..;x=1/admin", "/api/admin"),
            ("/api/admin;jsessionid=ABC", "/api/admin"),
            ("/api;x/v2;y/z", "/api/v2/z"),
            ("/api/public/.;x/y", "/api/public/y"),
            ("/api/public/;x/y", "/api/public/y"),
            ("/api/public/..;/", "/api/"),
        ]
    )
    func routingPath(path: String, expected: String) {
        #expect(PathNormalizer.routingPath(of: path[...]) == .success(expected))
    }

    @Test("a .. that climbs above the root after stripping is refused")
    func escapesRoot() {
        #expect(PathNormalizer.routingPath(of: "/..;/x") == .failure(.escapesRoot))
    }

    @Test(
        "allow: the route is the one of the path Tomcat serves",
        arguments: [
            "/api/public/..;/admin", "/api/public/..%3B/admin", "/api/public/..;x=1/admin", "/api/public/..;/v2/x",
        ]
    )
    func allowRoutesTheServletPath(target: String) throws {
        let normalized = try PathNormalizer.normalize(target: target, escapedSlashes: .decode, pathParameters: .allow)
            .get()
        #expect(normalized.contains("..;") || normalized.contains("..%3B"), "forwarded as sent: \(normalized)")
        let match = try table.match(pathWithParameters: normalized[...]).get()
        #expect(match.access == .betterAuthOnly, "\(target) → \(match)")
    }

    @Test("allow: a parameter never makes a path looser than its literal reading")
    func neverLooserThanLiteral() throws {
        let rules = RouteTable(rules: [
            RouteTable.Rule(path: "/a;b/", access: .betterAuthOnly),
            RouteTable.Rule(path: "/a/", access: .public),
        ])
        // Tomcat serves /a/x (public), a literal backend /a;b/x: the stricter rule wins.
        #expect(try rules.match(pathWithParameters: "/a;b/x").get().access == .betterAuthOnly)
        // /a;c/x is not under /a/ for a literal backend: the default, not the public rule.
        #expect(try rules.match(pathWithParameters: "/a;c/x").get().access == .authenticated)
        // A parameter inside a public subtree stays public for both readings.
        #expect(try rules.match(pathWithParameters: "/a/page;jsessionid=1").get().access == .public)
    }
}
