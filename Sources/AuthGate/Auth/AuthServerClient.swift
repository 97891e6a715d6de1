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
