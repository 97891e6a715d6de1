import AsyncHTTPClient
import AuthGateCore
import NIOCore
import NIOHTTP1

/// Resolves opaque legacy tokens through the backend's RFC 7662 introspection endpoint
/// (`auth.legacy_introspection_url`): `POST token=<token>` as a form, answer
/// `{"active": true, "sub": …, "email"?, "role"?/"scope"?, "exp"?}` or `{"active": false}`.
struct LegacyIntrospectionClient: Sendable {
    let client: HTTPClient
    let url: String
    let timeout: TimeAmount

    func introspect(_ token: String) async throws(ResolverUnavailable) -> SessionLookup {
        var request = HTTPClientRequest(url: self.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: "token=" + SessionTokenSigning.percentEncode(token)))
        let status: HTTPResponseStatus
        let body: ByteBuffer
        do {
            let response = try await self.client.execute(request, timeout: self.timeout)
            status = response.status
            body = try await response.body.collect(upTo: 64 * 1024)
        } catch {
            throw ResolverUnavailable(reason: "introspection failed: \(error)")
        }
        guard status == .ok else { throw ResolverUnavailable(reason: "introspection answered \(status.code)") }
        guard let json = try? JSONParser.parse(Array(body.readableBytesView)), case .object = json else {
            throw ResolverUnavailable(reason: "introspection answered malformed JSON")
        }
        guard json["active"]?.boolValue == true, let subject = json["sub"]?.stringValue, !subject.isEmpty else {
            return .notFound
        }
        let exp = json["exp"]?.int64Value
        if let exp, exp <= IntrospectionCore.nowSeconds() { return .notFound }
        return .found(
            Identity(
                userID: subject,
                email: json["email"]?.stringValue,
                roles: IntrospectionCore.roles(from: json),
                kind: .legacyOpaque,
                sessionID: json["sid"]?.stringValue ?? json["jti"]?.stringValue,
                expiresAt: exp
            )
        )
    }
}
