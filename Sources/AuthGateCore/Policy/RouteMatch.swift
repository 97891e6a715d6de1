/// What the route table decided for one path: the first matching rule's settings, or the table's
/// defaults when no rule matches.
///
/// Small and copyable so the request path can keep it for the whole exchange (access check,
/// rate limiting, choice of upstream, per-route rollout flags) without looking the path up twice.
public struct RouteMatch: Sendable, Hashable {
    /// What the route demands of its callers.
    public var access: RouteAccess
    /// The rate-limit class the request counts against; `nil` for the default class.
    public var rateLimitClass: String?
    /// Where the request is forwarded.
    public var upstream: RouteUpstream
    /// The route's override of `enable_dual_auth`; `nil` keeps the global flag.
    public var enableDualAuth: Bool?
    /// The route's override of `prefer_better_auth`; `nil` keeps the global flag.
    public var preferBetterAuth: Bool?
    /// The index in ``RouteTable/rules`` of the rule that matched; `nil` when none did and the
    /// defaults apply.
    public var ruleIndex: Int?
    /// Whether the gateway handles CORS for the route (`cors:`); `false` leaves it to the backend.
    public var cors: Bool
    /// Whether sessions opened by an admin as another user (`impersonatedBy`) are accepted.
    public var allowImpersonation: Bool

    public init(
        access: RouteAccess,
        rateLimitClass: String? = nil,
        upstream: RouteUpstream = .backend,
        enableDualAuth: Bool? = nil,
        preferBetterAuth: Bool? = nil,
        ruleIndex: Int? = nil,
        cors: Bool = true,
        allowImpersonation: Bool = true
    ) {
        self.access = access
        self.rateLimitClass = rateLimitClass
        self.upstream = upstream
        self.enableDualAuth = enableDualAuth
        self.preferBetterAuth = preferBetterAuth
        self.ruleIndex = ruleIndex
        self.cors = cors
        self.allowImpersonation = allowImpersonation
    }

    /// `policy` with this route's flag overrides applied.
    public func policy(from policy: AuthPolicy) -> AuthPolicy {
        policy.overriding(enableDualAuth: self.enableDualAuth, preferBetterAuth: self.preferBetterAuth)
    }
}
