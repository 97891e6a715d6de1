import AsyncHTTPClient
import AuthGateCore
import NIOCore
import NIOHTTP1

/// Calls to the Better Auth server that are not session lookups: refreshing a session on
/// behalf of `POST /api/auth-proxy/refresh`.
struct AuthServerClient: Sendable {
    let client: HTTPClient
    let origin: String
    let timeout: TimeAmount

    struct Answer: Sendable {
        var status: HTTPResponseStatus
        var headers: [(String, String)]
        var body: ByteBuffer
    }

    /// `GET /api/auth/get-session` with the session cookie: Better Auth extends the session's
    /// expiry when it is due and answers with a fresh `Set-Cookie`, `set-auth-token` and
    /// `set-auth-jwt`, which are relayed to the client.
    func refreshSession(cookieName: String, signedValue: String) async throws -> Answer {
        var request = HTTPClientRequest(url: self.origin + "/api/auth/get-session")
        request.headers.add(name: "Cookie", value: "\(cookieName)=\(SessionTokenSigning.percentEncode(signedValue))")
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await self.client.execute(request, timeout: self.timeout)
        let body = try await response.body.collect(upTo: 256 * 1024)
        let relayed = response.headers.filter { name, _ in
            let lower = name.lowercased()
            return lower == "set-cookie" || lower == "set-auth-token" || lower == "set-auth-jwt"
        }
        return Answer(status: response.status, headers: relayed.map { ($0.name, $0.value) }, body: body)
    }
}

extension HTTPClient.Configuration {
    /// The HTTP client configuration for calls to the auth server, the legacy introspection
    /// endpoint and the JWKS.
    ///
    /// async-http-client retries a failed connection attempt with backoff until the connect
    /// timeout by default, so a refused connection (the auth server is down) used to hold every
    /// lookup for the whole `auth_server_timeout_ms` before its 503. Without those retries a
    /// refused connection fails the waiting lookups at once, which answer 503 (or a stale entry
    /// with `cache.stale_if_error_ms`) immediately; the next lookup tries a new connection.
    /// `connectTimeout` still bounds a connection attempt that gets no answer.
    static func authServer(connectTimeout: TimeAmount) -> HTTPClient.Configuration {
        var pool = HTTPClient.Configuration.ConnectionPool()
        pool.retryConnectionEstablishment = false
        return HTTPClient.Configuration(timeout: .init(connect: connectTimeout), connectionPool: pool)
    }
}
