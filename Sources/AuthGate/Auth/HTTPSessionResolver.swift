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
    /// Better Auth's admin plugin runs on the auth server: bans and impersonation are read.
    let adminPlugin: Bool
    /// Better Auth's organization plugin runs on the auth server: the active organization and
    /// the user's role in it (`get-active-member`) are read.
    let organizationPlugin: Bool
    let activeMemberURL: String
    /// The API key plugin's header (`auth.api_key_header`).
    var apiKeyHeader = "x-api-key"
    /// Only read this many bytes of an answer.
    let maxBodyBytes = 256 * 1024

    init(
        client: HTTPClient,
        authServerURL: String,
        cookieName: String,
        timeout: TimeAmount,
        adminPlugin: Bool = false,
        organizationPlugin: Bool = false
    ) {
        self.client = client
        self.adminPlugin = adminPlugin
        self.organizationPlugin = organizationPlugin
        let base = authServerURL.hasSuffix("/") ? String(authServerURL.dropLast()) : authServerURL
        self.url = base + "/api/auth/get-session"
        self.activeMemberURL = base + "/api/auth/organization/get-active-member"
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
        let cookie =
            "\(cookieName.isEmpty ? self.cookieName : cookieName)=\(SessionTokenSigning.percentEncode(signedValue))"
        let json = try await self.getJSON(self.url, cookie: cookie, what: "get-session")
        let lookup = Self.lookup(
            from: json,
            adminPlugin: self.adminPlugin,
            organizationPlugin: self.organizationPlugin,
            now: Int64(Timestamp.epochSeconds())
        )
        guard case .found(var identity) = lookup, identity.organizationID != nil else { return lookup }
        // The role in the active organization: the member the session acts as (`null`: none).
        let member = try await self.getJSON(self.activeMemberURL, cookie: cookie, what: "get-active-member")
        identity.organizationRole = member["role"]?.stringValue
        return .found(identity)
    }

    /// `GET url` with one credential header; the status and at most ``maxBodyBytes`` of body.
    private func get(
        _ url: String,
        header: String,
        value: String,
        what: String
    ) async throws(ResolverUnavailable) -> (HTTPResponseStatus, ByteBuffer) {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        request.headers.add(name: header, value: value)
        request.headers.add(name: "Accept", value: "application/json")
        do {
            let response = try await self.client.execute(request, timeout: self.timeout)
            return (response.status, try await response.body.collect(upTo: self.maxBodyBytes))
        } catch {
            throw ResolverUnavailable(reason: "\(what) failed: \(error)", underlying: error)
        }
    }

    private func getJSON(_ url: String, cookie: String, what: String) async throws(ResolverUnavailable) -> JSONValue {
        let (status, body) = try await self.get(url, header: "Cookie", value: cookie, what: what)
        guard status == .ok else {
            throw ResolverUnavailable(reason: "\(what) answered \(status.code)")
        }
        do {
            return try JSONParser.parse(Array(body.readableBytesView))
        } catch {
            throw ResolverUnavailable(reason: "\(what) answered malformed JSON")
        }
    }

    /// The identity of a get-session answer; with `adminPlugin`, a banned user is
    /// ``SessionLookup/banned`` and `session.impersonatedBy` is kept.
    static func lookup(
        from json: JSONValue,
        adminPlugin: Bool = false,
        organizationPlugin: Bool = false,
        now: Int64 = 0
    ) -> SessionLookup {
        guard case .object = json, let session = json["session"], let user = json["user"],
            let userID = user["id"]?.stringValue
        else {
            return .notFound
        }
        if adminPlugin && UserBan(user: user).isInEffect(now: now) {
            return .banned
        }
        let expiresAt = session["expiresAt"]?.stringValue.flatMap { ISO8601.secondsSince1970($0) }
        var identity = Identity.betterAuthSession(
            userID: userID,
            email: user["email"]?.stringValue,
            role: user["role"]?.stringValue,
            sessionID: session["id"]?.stringValue,
            expiresAt: expiresAt
        )
        if adminPlugin, let admin = session["impersonatedBy"]?.stringValue, !admin.isEmpty {
            identity.impersonatedBy = admin
        }
        if organizationPlugin, let organization = session["activeOrganizationId"]?.stringValue, !organization.isEmpty {
            identity.organizationID = organization
        }
        return .found(identity)
    }

    /// Asks get-session with the key in ``apiKeyHeader``, as a client of the auth server would: the
    /// plugin (with `enableSessionForAPIKeys`) verifies it, counts the use and answers the
    /// key's owner. So the auth server keeps every key's accounting, and nothing is cached.
    /// `usage` is the gateway's own accounting, not used here.
    func resolveAPIKey(_ key: String, usage: APIKeyUsage) async throws(ResolverUnavailable) -> APIKeyLookup {
        let (status, body) = try await self.get(self.url, header: self.apiKeyHeader, value: key, what: "get-session")
        let json = try? JSONParser.parse(Array(body.readableBytesView))
        switch status.code {
        case 200:
            guard let json else { throw ResolverUnavailable(reason: "get-session answered malformed JSON") }
            switch Self.lookup(from: json, adminPlugin: self.adminPlugin, now: Int64(Timestamp.epochSeconds())) {
            case .found(var identity):
                identity.kind = .betterAuthAPIKey
                return .found(identity, cacheable: false)
            case .banned:
                return .refused(.userBanned)
            case .notFound:
                return .refused(.apiKeyInvalid)
            }
        case 401, 403, 429:
            return .refused(Self.apiKeyRefusal(code: json?["code"]?.stringValue))
        default:
            throw ResolverUnavailable(reason: "get-session answered \(status.code)")
        }
    }

    /// The plugin's error code (`KEY_DISABLED`, …) as the gateway's reason.
    static func apiKeyRefusal(code: String?) -> RejectionReason {
        switch code {
        case "KEY_DISABLED": return .apiKeyDisabled
        case "KEY_EXPIRED": return .apiKeyExpired
        case "USAGE_EXCEEDED": return .apiKeyUsageExceeded
        case "RATE_LIMITED": return .apiKeyRateLimited
        case "USER_BANNED", "BANNED_USER": return .userBanned
        default: return .apiKeyInvalid
        }
    }

    func shutdown() async {}
}
