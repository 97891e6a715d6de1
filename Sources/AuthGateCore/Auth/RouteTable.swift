/// The route rules of `routes:`, compiled: first match wins, unmatched paths are
/// `authenticated` (fail closed).
///
/// Rules are matched against a path already normalised by ``PathNormalizer``, so a rule cannot
/// be bypassed by `//`, `.`/`..` segments, backslashes or encoded characters.
///
/// Case: many backends route without regard to case (Express by default, IIS, anything on a
/// case-insensitive file system), so `/API/v2/x` may be served as `/api/v2/x`. No spelling of a
/// path may get a looser rule than the path the backend will serve, so a rule stricter than
/// the default (``RouteAccess/isStricter(than:)``: `better_auth_only` when the default is
/// `authenticated`) matches ignoring ASCII case, and every other rule (`public`, and rules as
/// strict as the default) matches exactly: `/API/public/x` is not public, it falls to the
/// default.
public struct RouteTable: Sendable, Hashable {
    public struct Rule: Sendable, Hashable {
        public var path: String
        public var access: RouteAccess
        /// The rate-limit class of the route's requests; `nil` for the default class.
        public var rateLimitClass: String?
        /// Where the route's requests are forwarded.
        public var upstream: RouteUpstream
        /// Overrides `enable_dual_auth` on this route; `nil` keeps the global flag.
        public var enableDualAuth: Bool?
        /// Overrides `prefer_better_auth` on this route; `nil` keeps the global flag.
        public var preferBetterAuth: Bool?
        /// Whether the gateway handles CORS on this route (`cors: false` in the config turns it
        /// off for the route).
        public var cors: Bool
        /// `false`: sessions an admin opened as another user (Better Auth's admin plugin,
        /// `impersonatedBy`) are refused on this route (`allow_impersonation: false`).
        public var allowImpersonation: Bool = true
        /// A path ending in `/` matches everything below it and the path without its final
        /// slash (`/api/public/` matches `/api/public` and `/api/public/x`, not
        /// `/api/publicity`); otherwise the path exactly.
        public var isPrefix: Bool { self.path.utf8.last == UInt8(ascii: "/") }

        public init(
            path: String,
            access: RouteAccess,
            rateLimitClass: String? = nil,
            upstream: RouteUpstream = .backend,
            enableDualAuth: Bool? = nil,
            preferBetterAuth: Bool? = nil,
            cors: Bool = true
        ) {
            self.path = path
            self.access = access
            self.rateLimitClass = rateLimitClass
            self.upstream = upstream
            self.enableDualAuth = enableDualAuth
            self.preferBetterAuth = preferBetterAuth
            self.cors = cors
        }

        /// Whether the rule covers `path`, ignoring ASCII case if asked; compares UTF-8 bytes,
        /// allocates nothing.
        func matches(_ path: Substring, ignoringCase: Bool = false) -> Bool {
            // Lengths first: most rules are told apart without reading a byte.
            let (ruleCount, candidateCount) = (self.path.utf8.count, path.utf8.count)
            let isPrefix = self.isPrefix
            if isPrefix {
                guard candidateCount >= ruleCount - 1 else { return false }
            } else {
                guard candidateCount == ruleCount else { return false }
            }
            return self.path.withContiguousUTF8 { rule in
                path.withContiguousUTF8 { candidate in
                    guard ignoringCase else {
                        if isPrefix {
                            return UnsafeBufferPointer(rebasing: candidate.prefix(ruleCount)).bytesEqual(rule)
                                || candidate.bytesEqual(rule.dropLast())
                        }
                        return candidate.bytesEqual(rule)
                    }
                    if isPrefix {
                        return candidate.prefix(ruleCount).equalsIgnoringASCIICase(rule)
                            || candidate.equalsIgnoringASCIICase(rule.dropLast())
                    }
                    return candidate.equalsIgnoringASCIICase(rule)
                }
            }
        }

        /// The match this rule gives, as rule number `index`.
        func match(index: Int) -> RouteMatch {
            RouteMatch(
                access: self.access,
                rateLimitClass: self.rateLimitClass,
                upstream: self.upstream,
                enableDualAuth: self.enableDualAuth,
                preferBetterAuth: self.preferBetterAuth,
                ruleIndex: index,
                cors: self.cors,
                allowImpersonation: self.allowImpersonation
            )
        }
    }

    public var rules: [Rule]
    public var defaultAccess: RouteAccess

    public init(rules: [Rule], defaultAccess: RouteAccess = .authenticated) {
        self.rules = rules
        self.defaultAccess = defaultAccess
    }

    /// The first rule covering `path`, or the defaults (``defaultAccess``, default rate-limit
    /// class, the backend, no flag overrides) when none does.
    ///
    /// `path` is a normalised path without its query string. Runs on every request, so it only
    /// compares UTF-8 views and allocates nothing.
    public func match(path: Substring) -> RouteMatch {
        for index in self.rules.indices {
            let rule = self.rules[index]
            if rule.matches(path, ignoringCase: rule.access.isStricter(than: self.defaultAccess)) {
                return rule.match(index: index)
            }
        }
        return RouteMatch(access: self.defaultAccess)
    }

    /// The match for a normalised path that may carry path parameters (`;x`, `%3B`), with
    /// `server.path_parameters: allow`: the rule of the path a servlet container serves
    /// (``PathNormalizer/routingPath(of:)``), unless the path as forwarded gets a stricter
    /// one, so neither a Tomcat-style nor a literal backend sees a looser rule than its own
    /// reading of the path deserves. Without parameters this is ``match(path:)``.
    public func match(pathWithParameters path: Substring) -> Result<RouteMatch, PathNormalizationError> {
        let literal = self.match(path: path)
        guard PathNormalizer.hasPathParameters(path) else { return .success(literal) }
        return PathNormalizer.routingPath(of: path).map { routing in
            let servlet = self.match(path: routing[...])
            var chosen = literal.access.isStricter(than: servlet.access) ? literal : servlet
            // Refusing impersonation is stricter too: either reading of the path can ask for it.
            chosen.allowImpersonation = literal.allowImpersonation && servlet.allowImpersonation
            return chosen
        }
    }

    /// The access level for a request target (its query string is ignored).
    public func access(forTarget target: String) -> RouteAccess {
        let path = target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? target[...]
        return self.match(path: path).access
    }
}
