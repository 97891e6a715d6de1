/// Where a route's requests are forwarded.
public enum RouteUpstream: String, Sendable, Hashable, CaseIterable {
    /// The application backend (`upstream:`), the default.
    case backend
    /// The Better Auth server (`auth.auth_server_url`), for the auth endpoints the frontend calls
    /// through the gateway.
    case authServer = "auth_server"
}
