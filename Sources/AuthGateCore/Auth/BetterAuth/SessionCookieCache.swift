import Crypto

/// Better Auth's `cookieCache`: the `<prefix>.session_data` cookie, a signed copy of the session
/// and its user that the auth server sets beside the session cookie so that it need not read
/// its database on every request.
///
/// With `auth.trust_cookie_cache` the gateway checks it as Better Auth does and uses it instead
/// of a lookup: the signature (any secret of the rotation), the cache's own expiry (its
/// `maxAge`), the session's `expiresAt`, the `version`, and that its `session.token` is the
/// token of the signed session cookie that came with it. The price is Better Auth's own: a
/// session revoked on the auth server stays usable until the cache expires.
///
/// Strategies: `compact` (Better Auth's default: base64url of
/// `{"session":<payload>,"expiresAt":<ms>,"signature":<base64url HMAC-SHA256>}`, the HMAC over
/// the payload's JSON with `expiresAt` appended, taken from the cookie's own bytes so that no
/// re-serialisation can differ from the signer's) and `jwt` (an HS256 JWT of the payload).
/// `jwe` values are refused (``Problem/unsupported``), so the lookup runs.
public enum SessionCookieCache {
    /// How the auth server encodes the cache (`session.cookieCache.strategy`).
    public enum Strategy: String, Sendable, CaseIterable {
        case compact
        case jwt
    }

    /// Why a cache value is not used (the request then falls back to a lookup).
    public enum Problem: Error, Sendable, Equatable {
        case malformed
        case badSignature
        /// The cache's own window (`maxAge`) has passed.
        case cacheExpired
        case sessionExpired
        case versionMismatch
        /// The cache belongs to another session than the session cookie.
        case tokenMismatch
        /// A strategy the gateway does not read (`jwe`).
        case unsupported
    }

    /// The verified `session` and `user` objects.
    public struct Contents: Sendable {
        public var session: JSONValue
        public var user: JSONValue
        /// When the cache itself expires, in milliseconds since 1970.
        public var expiresAtMillis: Int64
    }

    /// Checks `value` (the cookie's value, percent-decoded) for the session token `token`.
    ///
    /// - Parameters:
    ///   - secrets: The session secrets, current first (any one may have signed it).
    ///   - version: `session.cookieCache.version` of the auth server (default `"1"`).
    ///   - nowMillis: The time, in milliseconds since 1970.
    public static func verify(
        _ value: Substring,
        strategy: Strategy,
        secrets: [[UInt8]],
        version: String,
        token: Substring,
        nowMillis: Int64
    ) -> Result<Contents, Problem> {
        let decoded: (payload: JSONValue, expiresAtMillis: Int64)
        switch strategy {
        case .compact:
            switch Self.compact(value, secrets: secrets) {
            case .success(let found): decoded = found
            case .failure(let problem): return .failure(problem)
            }
        case .jwt:
            switch Self.jwt(value, secrets: secrets) {
            case .success(let found): decoded = found
            case .failure(let problem): return .failure(problem)
            }
        }
        let payload = decoded.payload
        guard case .object = payload, let session = payload["session"], let user = payload["user"],
            case .object = session, case .object = user,
            let cachedToken = session["token"]?.stringValue, user["id"]?.stringValue != nil,
            let sessionExpiry = session["expiresAt"]?.stringValue.flatMap({ ISO8601.secondsSince1970($0) })
        else {
            return .failure(.malformed)
        }
        guard (payload["version"]?.stringValue ?? "1") == version else { return .failure(.versionMismatch) }
        guard decoded.expiresAtMillis >= nowMillis else { return .failure(.cacheExpired) }
        guard sessionExpiry * 1000 >= nowMillis else { return .failure(.sessionExpired) }
        guard constantTimeEquals(Array(cachedToken.utf8), Array(token.utf8)) else { return .failure(.tokenMismatch) }
        return .success(Contents(session: session, user: user, expiresAtMillis: decoded.expiresAtMillis))
    }

    private static let expiresAtMarker = Array(#","expiresAt":"#.utf8)
    private static let signatureMarker = Array(#","signature":""#.utf8)
    private static let prefix = Array(#"{"session":"#.utf8)

    private static func compact(
        _ value: Substring,
        secrets: [[UInt8]]
    ) -> Result<(payload: JSONValue, expiresAtMillis: Int64), Problem> {
        guard value.utf8.count <= 16 * 1024, let bytes = Base64URL.decode(value),
            bytes.starts(with: Self.prefix), bytes.last == UInt8(ascii: "}"),
            let envelope = try? JSONParser.parse(bytes), case .object = envelope,
            let signature = envelope["signature"]?.stringValue,
            let expiresAt = envelope["expiresAt"]?.doubleValue, expiresAt.isFinite,
            let payload = envelope["session"], case .object = payload,
            let expiresStart = Self.lastRange(of: Self.expiresAtMarker, in: bytes),
            let signatureStart = Self.lastRange(of: Self.signatureMarker, in: bytes),
            expiresStart < signatureStart
        else {
            return .failure(.malformed)
        }
        // The signer wrote {"session":P,"expiresAt":N,"signature":"S"}: P and N as signed.
        let rawPayload = bytes[Self.prefix.count..<expiresStart]
        let rawExpiresAt = bytes[(expiresStart + Self.expiresAtMarker.count)..<signatureStart]
        guard rawPayload.last == UInt8(ascii: "}") else { return .failure(.malformed) }
        var message = Array(rawPayload.dropLast())
        if message.count > 1 { message.append(UInt8(ascii: ",")) }
        message += Array(#""expiresAt":"#.utf8)
        message += rawExpiresAt
        message.append(UInt8(ascii: "}"))
        let valid = secrets.reduce(false) { found, secret in
            let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret))
            return constantTimeEquals(Array(Base64URL.encode(Array(code)).utf8), Array(signature.utf8)) || found
        }
        guard valid else { return .failure(.badSignature) }
        return .success((payload, Int64(expiresAt)))
    }

    private static func jwt(
        _ value: Substring,
        secrets: [[UInt8]]
    ) -> Result<(payload: JSONValue, expiresAtMillis: Int64), Problem> {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            // Five parts: a JWE (`jwe` strategy), which is not read.
            return .failure(parts.count == 5 ? .unsupported : .malformed)
        }
        guard value.utf8.count <= 16 * 1024, let headerBytes = Base64URL.decode(parts[0]),
            let header = try? JSONParser.parse(headerBytes), header["alg"]?.stringValue == "HS256",
            let payloadBytes = Base64URL.decode(parts[1]), let payload = try? JSONParser.parse(payloadBytes),
            let exp = payload["exp"]?.doubleValue, exp.isFinite,
            let signature = Base64URL.decode(parts[2])
        else {
            return .failure(.malformed)
        }
        let signingInput = Array(value.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        let valid = secrets.reduce(false) { found, secret in
            let code = HMAC<SHA256>.authenticationCode(for: signingInput, using: SymmetricKey(data: secret))
            return constantTimeEquals(Array(code), signature) || found
        }
        guard valid else { return .failure(.badSignature) }
        return .success((payload, Int64(exp * 1000)))
    }

    private static func lastRange(of marker: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= marker.count else { return nil }
        var index = bytes.count - marker.count
        while index >= 0 {
            if bytes[index..<(index + marker.count)].elementsEqual(marker) { return index }
            index -= 1
        }
        return nil
    }
}

/// Compares two byte arrays in time that depends only on their lengths.
private func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    lhs.withUnsafeBytes { left in rhs.withUnsafeBytes { right in constantTimeEquals(left, right) } }
}

/// What `auth.trust_cookie_cache` compiles to: how to read the cache and turn it into an
/// identity without a lookup.
public struct CookieCacheSettings: Sendable {
    public var strategy: SessionCookieCache.Strategy
    public var version: String
    public var secrets: [[UInt8]]
    public var adminPlugin: Bool
    public var organizationPlugin: Bool

    public init(
        strategy: SessionCookieCache.Strategy,
        version: String,
        secrets: [[UInt8]],
        adminPlugin: Bool,
        organizationPlugin: Bool
    ) {
        self.strategy = strategy
        self.version = version
        self.secrets = secrets
        self.adminPlugin = adminPlugin
        self.organizationPlugin = organizationPlugin
    }

    /// The identity the cache vouches for, or `nil` when it does not verify or cannot say all
    /// the gateway would pass on (a banned user, whose refusal the lookup gives; an active
    /// organization, whose role only the member table knows): the lookup runs then.
    public func identity(value: String, token: Substring, now nowMillis: Int64) -> Identity? {
        guard
            case .success(let contents) = SessionCookieCache.verify(
                Substring(value),
                strategy: self.strategy,
                secrets: self.secrets,
                version: self.version,
                token: token,
                nowMillis: nowMillis
            ), let userID = contents.user["id"]?.stringValue
        else {
            return nil
        }
        if self.adminPlugin && UserBan(user: contents.user).isInEffect(now: nowMillis / 1000) { return nil }
        if self.organizationPlugin, let organization = contents.session["activeOrganizationId"]?.stringValue,
            !organization.isEmpty
        {
            return nil
        }
        let sessionExpiry = contents.session["expiresAt"]?.stringValue.flatMap { ISO8601.secondsSince1970($0) }
        var identity = Identity(
            userID: userID,
            email: contents.user["email"]?.stringValue,
            roles: contents.user["role"]?.stringValue.map {
                $0.split(separator: ",").map { String($0.trimmingASCIISpaces()) }.filter { !$0.isEmpty }
            } ?? [],
            kind: .betterAuthSessionCookie,
            sessionID: contents.session["id"]?.stringValue,
            expiresAt: min(sessionExpiry ?? Int64.max, contents.expiresAtMillis / 1000)
        )
        if self.adminPlugin, let admin = contents.session["impersonatedBy"]?.stringValue, !admin.isEmpty {
            identity.impersonatedBy = admin
        }
        return identity
    }
}
