public import NIOHTTP1

/// An answer the gateway gives itself (health, flags, introspection, refresh, a refusal of a
/// local endpoint): a status, a JSON body and the fields of its own, before the exchange's
/// (request id, CORS, `Connection`) are added by ``head(version:requestID:cors:keepAlive:)``.
public struct LocalResponse: Sendable, Equatable {
    public var status: HTTPResponseStatus
    /// The JSON body.
    public var body: String
    /// Fields of this answer (`WWW-Authenticate`, `Retry-After`, an auth server's `Set-Cookie`).
    public var headers: HTTPHeaders

    public init(status: HTTPResponseStatus, body: String, headers: HTTPHeaders = HTTPHeaders()) {
        self.status = status
        self.body = body
        self.headers = headers
    }

    /// The error's status, its JSON body and its fields.
    public static func error(_ error: GatewayError, requestID: String) -> LocalResponse {
        LocalResponse(
            status: error.status,
            body: ErrorBody.render(error, requestID: requestID),
            headers: HTTPHeaders(error.headers)
        )
    }

    /// `GET /health`.
    public static func health(timestamp: String) -> LocalResponse {
        LocalResponse(status: .ok, body: "{\"status\":\"ok\",\"timestamp\":\"\(timestamp)\"}")
    }

    /// `POST /api/auth-proxy/introspect` in the shape of RFC 7662: `{"active": true, …}` for an
    /// accepted credential, `{"active": false}` for anything refused, 503 when the caller cannot
    /// be checked (never `active: false`: an outage is not a verdict).
    public static func introspection(_ verdict: AuthVerdict, requestID: String) -> LocalResponse {
        switch verdict {
        case .accepted(let identity):
            var out = "{\"active\":true,\"sub\":"
            ErrorBody.appendJSONString(identity.userID, to: &out)
            if let email = identity.email {
                out += ",\"email\":"
                ErrorBody.appendJSONString(email, to: &out)
            }
            out += ",\"auth_method\":\"\(identity.method.rawValue)\",\"token_type\":\"\(identity.kind.rawValue)\""
            if let sessionID = identity.sessionID {
                out += ",\"session_id\":"
                ErrorBody.appendJSONString(sessionID, to: &out)
            }
            if let exp = identity.expiresAt { out += ",\"exp\":\(exp)" }
            if !identity.roles.isEmpty {
                out += ",\"roles\":["
                for (index, role) in identity.roles.enumerated() {
                    if index > 0 { out += "," }
                    ErrorBody.appendJSONString(role, to: &out)
                }
                out += "]"
            }
            out += "}"
            return LocalResponse(status: .ok, body: out)
        case .rejected:
            return LocalResponse(status: .ok, body: "{\"active\":false}")
        case .unavailable:
            return .error(.authUnavailable, requestID: requestID)
        }
    }

    /// The token of an introspection request, `{"token": "…"}`; `nil` for anything else (no JSON
    /// object, no string `token`, an empty one).
    public static func introspectionToken(in body: [UInt8]) -> String? {
        guard let json = try? JSONParser.parse(body), case .object = json,
            let token = json["token"]?.stringValue, !token.isEmpty
        else { return nil }
        return token
    }

    /// The refusal of an introspection request without a token.
    public static let introspectionRequestError = GatewayError.badRequest("Send {\"token\": \"…\"} as JSON.")

    /// The response head: the answer's fields after `Content-Type`, `Content-Length`,
    /// `Cache-Control: no-store` and `X-Request-Id`, then the exchange's CORS fields, and
    /// `Connection: close` when the connection ends with it.
    public func head(
        version: HTTPVersion,
        requestID: String,
        cors: CORSResponseHeaders?,
        keepAlive: Bool
    ) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(6 + self.headers.count)
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(self.body.utf8.count))
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "X-Request-Id", value: requestID)
        headers.add(contentsOf: self.headers)
        cors?.add(to: &headers)
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        return HTTPResponseHead(version: version, status: self.status, headers: headers)
    }
}
