public import NIOHTTP1

/// The credentials a request carries, as found by ``CredentialExtractor``; nothing is verified yet.
public struct ExtractedCredentials: Sendable, Hashable {
    /// The token of an `Authorization: Bearer` header, trimmed, as sent (not percent-decoded).
    public var bearer: Substring?
    /// The value of the Better Auth session cookie, as sent (still percent-encoded).
    public var sessionCookie: Substring?
    /// The name of the cookie ``sessionCookie`` came from.
    public var sessionCookieName: String?
    /// The `<prefix>.session_data` cookie (Better Auth's cookie cache) of the same form as the
    /// session cookie, when the extractor reads it (`auth.trust_cookie_cache`).
    public var sessionData: Substring? = nil
    /// The request has more than one `Authorization` header. Which one a backend would read is
    /// implementation-defined, so the request must be refused as malformed; ``bearer`` is `nil`.
    public var conflict: Bool
    /// The `Authorization` header uses the Bearer scheme but has no token or a token with
    /// whitespace or control characters inside; refuse as malformed. ``bearer`` is `nil`.
    public var malformedAuthorization: Bool
    /// Where ``bearer`` was found; `nil` when there is no bearer token.
    public var bearerSource: BearerSource?
    /// A WebSocket upgrade carries a token in `Sec-WebSocket-Protocol` or the query that is
    /// empty, ambiguous (offered twice) or has characters a token cannot have; refuse as
    /// malformed. Only ``CredentialExtractor/extractForUpgrade(from:target:subprotocolMarker:queryParameter:)``
    /// sets it.
    public var malformedUpgradeToken: Bool
    /// The key of Better Auth's API key plugin (``CredentialExtractor/apiKeyHeader``), trimmed;
    /// `nil` when absent, empty, or sent twice (then ``apiKeyConflict``).
    public var apiKey: Substring? = nil
    /// The API key header came more than once, or with characters a key cannot have: the
    /// request is malformed.
    public var apiKeyConflict = false

    /// No credentials.
    public init() {
        self.bearer = nil
        self.sessionCookie = nil
        self.sessionCookieName = nil
        self.conflict = false
        self.malformedAuthorization = false
        self.bearerSource = nil
        self.malformedUpgradeToken = false
    }

    /// Whether neither a bearer token nor a session cookie was found.
    public var isEmpty: Bool {
        self.bearer == nil && self.sessionCookie == nil && self.apiKey == nil
    }

    /// Whether the request must be refused as malformed whatever else it carries.
    public var isMalformed: Bool {
        self.conflict || self.malformedAuthorization || self.malformedUpgradeToken || self.apiKeyConflict
    }
}

/// The place a bearer token was taken from.
public enum BearerSource: Sendable, Hashable {
    /// `Authorization: Bearer <token>`.
    case authorization
    /// The element after the marker protocol in `Sec-WebSocket-Protocol` (WebSocket upgrades only).
    case webSocketSubprotocol
    /// The configured query parameter (WebSocket upgrades only).
    case queryParameter
}

/// Finds the bearer token and the Better Auth session cookie in a request's headers.
///
/// Cookies are read from every `Cookie` header (HTTP/2 and some clients split them). With
/// ``acceptSecureCookie`` the `__Secure-` form is accepted too and preferred when both are present:
/// only a secure origin can set it, so it is the one a subdomain cannot plant.
public struct CredentialExtractor: Sendable {
    /// The cookie prefix (`advanced.cookiePrefix` in Better Auth), `better-auth` by default.
    public let cookiePrefix: String
    /// Whether `__Secure-<prefix>.session_token` is accepted.
    public let acceptSecureCookie: Bool
    /// `<prefix>.session_token`.
    public let cookieName: String
    /// `__Secure-<prefix>.session_token`.
    public let secureCookieName: String
    /// Whether Better Auth's cookie cache (`<prefix>.session_data`) is read too.
    public let readsCookieCache: Bool
    /// `<prefix>.session_data` and `__Secure-<prefix>.session_data`.
    public let cacheCookieName: String
    public let secureCacheCookieName: String
    /// The header of Better Auth's API key plugin (`x-api-key`), when the plugin is on.
    public let apiKeyHeader: String?

    /// Creates an extractor for the cookie names derived from `cookiePrefix`.
    public init(
        cookiePrefix: String = "better-auth",
        acceptSecureCookie: Bool = true,
        readsCookieCache: Bool = false,
        apiKeyHeader: String? = nil
    ) {
        self.apiKeyHeader = apiKeyHeader
        self.cookiePrefix = cookiePrefix
        self.acceptSecureCookie = acceptSecureCookie
        self.cookieName = cookiePrefix + ".session_token"
        self.secureCookieName = "__Secure-" + cookiePrefix + ".session_token"
        self.readsCookieCache = readsCookieCache
        self.cacheCookieName = cookiePrefix + ".session_data"
        self.secureCacheCookieName = "__Secure-" + cookiePrefix + ".session_data"
    }

    /// The credentials in `headers`. Does not allocate beyond the result.
    public func extract(from headers: HTTPHeaders) -> ExtractedCredentials {
        var result = ExtractedCredentials()
        var authorizationCount = 0
        var plainCookie: Substring?
        var secureCookie: Substring?
        var plainData: Substring?
        var secureData: Substring?
        var apiKeyCount = 0
        for (name, value) in headers {
            if let apiKeyHeader = self.apiKeyHeader, asciiCaseInsensitiveEquals(name.utf8, apiKeyHeader.utf8) {
                apiKeyCount += 1
                let key = value[...].trimmingASCIISpaces()
                if key.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) {
                    result.apiKeyConflict = true
                } else if !key.isEmpty {
                    result.apiKey = key
                }
                continue
            }
            if asciiCaseInsensitiveEquals(name, "authorization") {
                authorizationCount += 1
                if authorizationCount == 1 {
                    switch Self.parseAuthorization(value[...]) {
                    case .bearer(let token):
                        result.bearer = token
                        result.bearerSource = .authorization
                    case .malformedBearer: result.malformedAuthorization = true
                    case .otherScheme: break
                    }
                }
            } else if asciiCaseInsensitiveEquals(name, "cookie") {
                if self.acceptSecureCookie && secureCookie == nil {
                    secureCookie = CookieHeader.value(named: self.secureCookieName, in: value[...])
                }
                if plainCookie == nil {
                    plainCookie = CookieHeader.value(named: self.cookieName, in: value[...])
                }
                if self.readsCookieCache {
                    if secureData == nil {
                        secureData = CookieHeader.value(named: self.secureCacheCookieName, in: value[...])
                    }
                    if plainData == nil {
                        plainData = CookieHeader.value(named: self.cacheCookieName, in: value[...])
                    }
                }
            }
        }
        if apiKeyCount > 1 || result.apiKeyConflict {
            result.apiKeyConflict = true
            result.apiKey = nil
        }
        if authorizationCount > 1 {
            result.conflict = true
            result.bearer = nil
            result.bearerSource = nil
            result.malformedAuthorization = false
        }
        if let secureCookie, !secureCookie.isEmpty {
            result.sessionCookie = secureCookie
            result.sessionCookieName = self.secureCookieName
            result.sessionData = secureData.flatMap { $0.isEmpty ? nil : $0 }
        } else if let plainCookie, !plainCookie.isEmpty {
            result.sessionCookie = plainCookie
            result.sessionCookieName = self.cookieName
            result.sessionData = plainData.flatMap { $0.isEmpty ? nil : $0 }
        }
        return result
    }

    enum Authorization: Equatable {
        case bearer(Substring)
        case malformedBearer
        case otherScheme
    }

    /// Parses `Bearer <token>`: scheme case-insensitive, one or more spaces or tabs, the token up
    /// to trailing whitespace.
    static func parseAuthorization(_ value: Substring) -> Authorization {
        // Header values are native strings: scan their bytes directly (this runs on every
        // authenticated request).
        let scanned =
            value.utf8.withContiguousStorageIfAvailable(Self.scanAuthorization)
            ?? Array(value.utf8).withUnsafeBufferPointer(Self.scanAuthorization)
        switch scanned {
        case .bearer(let range):
            let utf8 = value.utf8
            let start = utf8.index(utf8.startIndex, offsetBy: range.lowerBound)
            let end = utf8.index(utf8.startIndex, offsetBy: range.upperBound)
            return .bearer(Substring(utf8[start..<end]))
        case .malformedBearer:
            return .malformedBearer
        case .otherScheme:
            return .otherScheme
        }
    }

    private enum ScannedAuthorization {
        case bearer(Range<Int>)
        case malformedBearer
        case otherScheme
    }

    private static func scanAuthorization(_ bytes: UnsafeBufferPointer<UInt8>) -> ScannedAuthorization {
        var index = 0
        let end = bytes.count
        while index < end, isWhitespace(bytes[index]) {
            index += 1
        }
        let schemeStart = index
        while index < end, !isWhitespace(bytes[index]) {
            index += 1
        }
        guard asciiCaseInsensitiveEquals(UnsafeBufferPointer(rebasing: bytes[schemeStart..<index]), "bearer".utf8)
        else {
            return .otherScheme
        }
        while index < end, isWhitespace(bytes[index]) {
            index += 1
        }
        let tokenStart = index
        var tokenEnd = end
        while tokenEnd > tokenStart, isWhitespace(bytes[tokenEnd - 1]) {
            tokenEnd -= 1
        }
        guard tokenStart < tokenEnd else {
            return .malformedBearer
        }
        if ByteScan.containsControl(UnsafeRawBufferPointer(bytes), tokenStart..<tokenEnd, below: 0x21) {
            return .malformedBearer
        }
        return .bearer(tokenStart..<tokenEnd)
    }
}

/// The shape of a bearer value, which decides how it is verified.
public enum TokenShape: Sendable, Hashable {
    /// Three dot-separated base64url segments, header and payload non-empty, the header decoding
    /// to a JSON object (`{`, after any JSON whitespace: `eyJ…` for `{"`, `eyAi…` for `{ "`,
    /// `ewo…` for `{\n`): a JWT. A Better Auth session value has one dot and a standard-base64
    /// signature, so it never has this shape.
    case jwt
    /// `token.signature` with a 44-character standard base64 signature ending in `=` (or `%3D`
    /// when URI-encoded): a signed Better Auth session token.
    case signedSession
    /// Anything else: a raw session token, or a legacy opaque token.
    case rawOpaque

    /// Classifies `token` by shape only; nothing is decoded or verified.
    public init(classifying token: Substring) {
        if Self.looksLikeJWT(token.utf8) {
            self = .jwt
        } else if Self.looksLikeSignedSession(token.utf8) {
            self = .signedSession
        } else {
            self = .rawOpaque
        }
    }

    /// Classifies `token` by shape only; nothing is decoded or verified.
    public init(classifying token: String) {
        self.init(classifying: token[...])
    }

    private static func looksLikeJWT(_ utf8: Substring.UTF8View) -> Bool {
        utf8.withContiguousStorageIfAvailable(Self.looksLikeJWT(bytes:))
            ?? Array(utf8).withUnsafeBufferPointer(Self.looksLikeJWT(bytes:))
    }

    private static func looksLikeJWT(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var dots = 0
        var segmentStart = 0
        var headerEnd = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: ".") {
                // The header and the payload must not be empty.
                guard index > segmentStart else {
                    return false
                }
                dots += 1
                if dots == 1 {
                    headerEnd = index
                }
                segmentStart = index + 1
            } else if !isBase64URLCharacter(byte) {
                return false
            }
            index += 1
        }
        // The signature segment may be empty (an unsigned token), which verification refuses
        // with a precise reason.
        guard dots == 2 else {
            return false
        }
        return Self.headerOpensObject(UnsafeBufferPointer(rebasing: bytes[0..<headerEnd]))
    }

    /// Whether the base64url `segment` decodes to bytes whose first one other than JSON
    /// whitespace is `{`. Decodes on the fly, without a buffer, and stops at that byte.
    private static func headerOpensObject(_ segment: UnsafeBufferPointer<UInt8>) -> Bool {
        var accumulator: UInt32 = 0
        var bits = 0
        for character in segment {
            guard let sextet = base64URLValue(character) else {
                return false
            }
            accumulator = (accumulator << 6) | UInt32(sextet)
            bits += 6
            if bits >= 8 {
                bits -= 8
                let byte = UInt8(truncatingIfNeeded: accumulator >> UInt32(bits))
                accumulator &= (1 << UInt32(bits)) - 1
                switch byte {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                    continue
                case UInt8(ascii: "{"):
                    return true
                default:
                    return false
                }
            }
        }
        return false
    }

    private static func looksLikeSignedSession(_ utf8: Substring.UTF8View) -> Bool {
        guard let dot = utf8.lastIndex(of: UInt8(ascii: ".")), dot > utf8.startIndex else {
            return false
        }
        // Count the signature's characters as they are once percent-decoded.
        var decodedCount = 0
        var lastDecoded: UInt8 = 0
        var index = utf8.index(after: dot)
        while index < utf8.endIndex {
            var byte = utf8[index]
            if byte == UInt8(ascii: "%") {
                guard utf8.distance(from: index, to: utf8.endIndex) >= 3 else {
                    return false
                }
                let high = utf8[utf8.index(index, offsetBy: 1)]
                let low = utf8[utf8.index(index, offsetBy: 2)] | 0x20
                switch (high, low) {
                case (UInt8(ascii: "2"), UInt8(ascii: "b")): byte = UInt8(ascii: "+")
                case (UInt8(ascii: "2"), UInt8(ascii: "f")): byte = UInt8(ascii: "/")
                case (UInt8(ascii: "3"), UInt8(ascii: "d")): byte = UInt8(ascii: "=")
                default: return false
                }
                index = utf8.index(index, offsetBy: 3)
            } else {
                index = utf8.index(after: index)
            }
            decodedCount += 1
            let isLast = decodedCount == SessionTokenSigning.signatureLength
            guard isLast ? byte == UInt8(ascii: "=") : isBase64Character(byte) else {
                return false
            }
            lastDecoded = byte
            if isLast {
                break
            }
        }
        return index == utf8.endIndex && decodedCount == SessionTokenSigning.signatureLength
            && lastDecoded == UInt8(ascii: "=")
    }
}

private func isWhitespace(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
}

@inline(__always)
private func isBase64URLCharacter(_ byte: UInt8) -> Bool {
    // One bit per ASCII byte, in two 64-bit masks: `-` and `0`–`9` in the low one, `A`–`Z`,
    // `_` and `a`–`z` in the high one. A shift and a test instead of four range checks.
    let low: UInt64 = (1 << 0x2D) | (0x3FF << 0x30)
    let high: UInt64 = (0x3FF_FFFF << (0x41 - 0x40)) | (1 << (0x5F - 0x40)) | (0x3FF_FFFF << (0x61 - 0x40))
    let mask = byte < 0x40 ? low : high
    return byte < 0x80 && (mask &>> UInt64(byte & 0x3F)) & 1 == 1
}

private func base64URLValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte - UInt8(ascii: "A")
    case UInt8(ascii: "a")...UInt8(ascii: "z"): return byte - UInt8(ascii: "a") + 26
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0") + 52
    case UInt8(ascii: "-"): return 62
    case UInt8(ascii: "_"): return 63
    default: return nil
    }
}

private func isBase64Character(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"):
        return true
    default:
        return false
    }
}

/// ASCII case-insensitive comparison of a header name with a lowercase literal.
private func asciiCaseInsensitiveEquals(_ value: String, _ lowercase: StaticString) -> Bool {
    lowercase.withUTF8Buffer { asciiCaseInsensitiveEquals(value.utf8, $0) }
}

private func asciiCaseInsensitiveEquals(
    _ value: some Collection<UInt8>,
    _ lowercase: some Collection<UInt8>
) -> Bool {
    guard value.count == lowercase.count else {
        return false
    }
    return zip(value, lowercase).allSatisfy { pair in
        let byte = pair.0
        let folded = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
        return folded == pair.1
    }
}
