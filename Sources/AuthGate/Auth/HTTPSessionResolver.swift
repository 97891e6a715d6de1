import AsyncHTTPClient
import AuthGateCore
import NIOCore
import NIOHTTP1

/// Resolves sessions through the auth server's `GET /api/auth/get-session`, sending the signed
/// value in the session cookie exactly as a browser would. The answer is `200 null` for no
/// session and `{"session":{…},"user":{…}}` otherwise. The cookie carries the name the client
/// used (`__Secure-<prefix>.session_token` from an HTTPS deployment): Better Auth reads only
/// the name its config produces, and answers `null` to any other.
struct HTTPSessionResolver: SessionResolver {
    let client: HTTPClient
    let url: String
    /// The name used for values that did not come in a cookie (bearer session values).
    let cookieName: String
    let timeout: TimeAmount
    /// Only read this many bytes of an answer.
    let maxBodyBytes = 256 * 1024

    init(client: HTTPClient, authServerURL: String, cookieName: String, timeout: TimeAmount) {
        self.client = client
        let base = authServerURL.hasSuffix("/") ? String(authServerURL.dropLast()) : authServerURL
        self.url = base + "/api/auth/get-session"
        self.cookieName = cookieName
        self.timeout = timeout
    }

    func resolve(
        token: String,
        signedValue: String,
        cookieName: String
    ) async throws(ResolverUnavailable)
        -> SessionLookup
    {
        var request = HTTPClientRequest(url: self.url)
        request.method = .GET
        request.headers.add(
            name: "Cookie",
            value:
                "\(cookieName.isEmpty ? self.cookieName : cookieName)=\(SessionTokenSigning.percentEncode(signedValue))"
        )
        request.headers.add(name: "Accept", value: "application/json")
        let body: ByteBuffer
        let status: HTTPResponseStatus
        do {
            let response = try await self.client.execute(request, timeout: self.timeout)
            status = response.status
            body = try await response.body.collect(upTo: self.maxBodyBytes)
        } catch {
            throw ResolverUnavailable(reason: "get-session failed: \(error)", underlying: error)
        }
        guard status == .ok else {
            throw ResolverUnavailable(reason: "get-session answered \(status.code)")
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(Array(body.readableBytesView))
        } catch {
            throw ResolverUnavailable(reason: "get-session answered malformed JSON")
        }
        return Self.lookup(from: json)
    }

    static func lookup(from json: JSONValue) -> SessionLookup {
        guard case .object = json, let session = json["session"], let user = json["user"],
            let userID = user["id"]?.stringValue
        else {
            return .notFound
        }
        let expiresAt = session["expiresAt"]?.stringValue.flatMap { ISO8601.secondsSince1970($0) }
        return .found(
            .betterAuthSession(
                userID: userID,
                email: user["email"]?.stringValue,
                role: user["role"]?.stringValue,
                sessionID: session["id"]?.stringValue,
                expiresAt: expiresAt
            )
        )
    }

    func shutdown() async {}
}
