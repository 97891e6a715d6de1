/// The class a request is counted under in `authgate_requests_total{route_class}`: what its
/// route demands, or who answered it.
public enum RouteClass: Int, CaseIterable, Sendable {
    case `public`, authenticated, betterAuthOnly, login, gateway, unrouted

    /// The label value operators' dashboards and alerts match on.
    public var label: String {
        switch self {
        case .public: return "public"
        case .authenticated: return "authenticated"
        case .betterAuthOnly: return "better_auth_only"
        case .login: return "login"
        case .gateway: return "gateway"
        case .unrouted: return "unrouted"
        }
    }
}
