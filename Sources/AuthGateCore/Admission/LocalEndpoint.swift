public import NIOHTTP1

/// The endpoints the gateway answers itself on the proxy listener.
public enum LocalEndpoint: Sendable, Hashable {
    /// `GET /health`: the liveness probe, never limited.
    case health
    /// `POST /api/auth-proxy/introspect` `{"token": "…"}` → RFC 7662-shaped answer.
    case introspect
    /// `POST /api/auth-proxy/refresh`: to the issuer of the credential.
    case refresh
    /// `GET /api/auth-proxy/flags`: the rollout flags the frontend needs, for this caller.
    case flags

    /// The endpoint for this request, if the gateway answers it itself.
    public static func match(method: HTTPMethod, uri: String) -> LocalEndpoint? {
        // Cheap rejection first: every local endpoint path is short.
        guard uri.utf8.count >= 7, uri.utf8.count <= 64 else { return nil }
        let path = uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { uri[..<$0] } ?? Substring(uri)
        if "/health".utf8Equals(path) && (method == .GET || method == .HEAD) {
            return .health
        }
        if "/api/auth-proxy/introspect".utf8Equals(path) && method == .POST {
            return .introspect
        }
        if "/api/auth-proxy/refresh".utf8Equals(path) && method == .POST {
            return .refresh
        }
        if "/api/auth-proxy/flags".utf8Equals(path) && (method == .GET || method == .HEAD) {
            return .flags
        }
        return nil
    }
}
