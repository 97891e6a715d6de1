public import NIOHTTP1

/// Where a request came from, as far as the gateway can tell.
public struct ForwardingContext: Sendable, Equatable {
    /// The TCP peer's address as text (`127.0.0.1`, `::1`).
    public var peerIP: String
    /// Whether the peer is one of the configured trusted proxies.
    public var peerIsTrusted: Bool
    /// The scheme the client used towards the gateway (`http` until TLS termination exists).
    public var scheme: String

    public init(peerIP: String, peerIsTrusted: Bool, scheme: String = "http") {
        self.peerIP = peerIP
        self.peerIsTrusted = peerIsTrusted
        self.scheme = scheme
    }
}

/// What the request rewrite learned about the client.
public struct ForwardedRequest: Sendable, Equatable {
    /// The client's address: the TCP peer, or, behind trusted proxies, the rightmost
    /// `X-Forwarded-For` entry that is not itself a trusted proxy.
    public var clientIP: String
    /// The request id forwarded to the backend and returned to the client.
    public var requestID: String
    /// Whether the client wants the connection kept open after the response.
    public var clientKeepAlive: Bool
    /// Whether this is a WebSocket upgrade (`Connection: upgrade` and `websocket` among the
    /// `Upgrade` tokens), the only upgrade that may become a tunnel. Any other upgrade (`h2c`,
    /// `TLS/1.0`, ...) is removed from the request, which goes on as a plain one.
    public var isUpgrade: Bool
    /// Whether the client sent `Expect: 100-continue`; the gateway answers it itself.
    public var expectsContinue: Bool
}

/// How the gateway frames a response body towards the client.
public enum ResponseBodyFraming: Sendable, Equatable {
    /// The response has no body (HEAD, 1xx, 204, 304).
    case none
    case contentLength
    case chunked
    /// An HTTP/1.0 client and a body of unknown length: the end is the connection's close.
    case closeDelimited
}

/// The header rules of the trust boundary.
///
/// Requests: hop-by-hop headers (and every header named in `Connection`) are dropped, every
/// client-sent identity header (`X-Auth-*` in any case, with `_` for `-`) is dropped, the
/// `X-Forwarded-*` family is rebuilt (believed only from trusted proxies), the other
/// forwarding headers of ``StrippedForwardingHeaders`` are dropped unless the peer is a trusted
/// proxy, and `X-Request-Id` is kept from a trusted proxy when well formed, otherwise
/// generated. Only a WebSocket upgrade keeps `Upgrade` (as `Upgrade: websocket`) and
/// `Connection: Upgrade`; other upgrade tokens and `HTTP2-Settings` are dropped, so an `h2c`
/// upgrade goes on as a plain request. Responses: hop-by-hop headers are dropped and the
/// framing is re-derived for the client's HTTP version.
public enum HeaderPolicy {
    /// Rewrites `head` in place into the request the backend receives.
    public static func rewriteRequest(
        _ head: inout HTTPRequestHead,
        framing: RequestBodyFraming,
        context: ForwardingContext,
        trustedProxies: TrustedProxies,
        strippedHeaders: StrippedForwardingHeaders = .defaults,
        requestIDGenerator: inout RequestIDGenerator
    ) -> ForwardedRequest {
        let original = head.headers
        let connectionTokens = Self.connectionTokens(original)
        let isUpgrade = connectionTokens.upgrade && Self.upgradesToWebSocket(original)

        var clientKeepAlive: Bool
        if head.version.major == 1 && head.version.minor == 0 {
            clientKeepAlive = connectionTokens.keepAlive
        } else {
            clientKeepAlive = !connectionTokens.close
        }
        if connectionTokens.upgrade && !isUpgrade && original.contains(name: "upgrade") {
            // An upgrade that is not a WebSocket goes on as a plain request, but the client's
            // HTTP/1 decoder stops at any upgrade request: the connection closes after it.
            clientKeepAlive = false
        }

        // Built as pairs and wrapped once: `HTTPHeaders.add` scans every name for non-ASCII
        // bytes, and these names come from the parser (tokens) or from here.
        var out: [(String, String)] = []
        // Room for the forwarding headers and the identity headers added after this.
        out.reserveCapacity(original.count + 12)
        var forwardedFor: Substring? = nil
        var forwardedProto: String? = nil
        var forwardedHost: String? = nil
        var clientRequestID: String? = nil
        var expectsContinue = false
        var host: String? = nil

        for (name, value) in original {
            switch Self.classify(name) {
            case .hopByHop:
                continue
            case .upgrade, .http2Settings:
                // Re-added as `Upgrade: websocket` below, the one protocol a tunnel may carry.
                continue
            case .identity:
                continue
            case .expect:
                if value.trimmingASCIISpaces().caseInsensitiveEqualsASCII("100-continue") {
                    expectsContinue = true
                    continue
                }
            case .xForwardedFor:
                if context.peerIsTrusted {
                    forwardedFor = forwardedFor.map { $0 + ", " + value } ?? Substring(value)
                }
                continue
            case .xForwardedProto:
                if context.peerIsTrusted, forwardedProto == nil { forwardedProto = value }
                continue
            case .xForwardedHost:
                if context.peerIsTrusted, forwardedHost == nil { forwardedHost = value }
                continue
            case .forwarded, .xRealIP:
                continue
            case .xRequestID:
                if context.peerIsTrusted, clientRequestID == nil, RequestIDGenerator.isWellFormed(value) {
                    clientRequestID = value
                }
                continue
            case .host:
                if host == nil { host = value }
            case .other:
                // Headers named in Connection are hop-by-hop, except the framing header: a
                // client must not be able to strip Content-Length and desynchronise the backend.
                if !connectionTokens.isEmpty && connectionTokens.containsCaseInsensitive(name)
                    && !Self.isContentLength(name)
                {
                    continue
                }
                if !context.peerIsTrusted && strippedHeaders.contains(name) {
                    continue
                }
            }
            out.append((name, value))
        }

        // The client address: walk X-Forwarded-For from the right while the hop is trusted.
        var clientIP = context.peerIP
        if let forwardedFor {
            for entry in forwardedFor.split(separator: ",").reversed() {
                let candidate = entry.trimmingASCIISpaces()
                if candidate.isEmpty { continue }
                clientIP = String(candidate)
                if !trustedProxies.contains(ip: clientIP) { break }
            }
        }
        let appendedFor = forwardedFor.map { String($0) + ", " + context.peerIP } ?? context.peerIP
        out.append(("X-Forwarded-For", appendedFor))
        out.append(("X-Forwarded-Proto", forwardedProto ?? context.scheme))
        if let forwardedHost = forwardedHost ?? host {
            out.append(("X-Forwarded-Host", forwardedHost))
        }
        out.append(("X-Real-IP", clientIP))
        let requestID = clientRequestID ?? requestIDGenerator.next()
        out.append(("X-Request-Id", requestID))

        if framing == .chunked {
            out.append(("Transfer-Encoding", "chunked"))
        }
        if isUpgrade {
            out.append(("Upgrade", "websocket"))
            out.append(("Connection", "Upgrade"))
        }
        head.headers = HTTPHeaders(consume out)
        // Setting the version copies the head's storage (the decoder's part still holds it).
        if head.version != .http1_1 { head.version = .http1_1 }
        return ForwardedRequest(
            clientIP: clientIP,
            requestID: requestID,
            clientKeepAlive: clientKeepAlive,
            isUpgrade: isUpgrade,
            expectsContinue: expectsContinue
        )
    }

    // MARK: - Classification

    enum HeaderClass {
        case hopByHop, upgrade, http2Settings, identity, expect, host
        case xForwardedFor, xForwardedProto, xForwardedHost, forwarded, xRealIP, xRequestID
        case other
    }

    /// Classifies a header name with a length switch first, so the common case costs one or
    /// two byte comparisons.
    @inline(__always)
    static func classify(_ name: String) -> HeaderClass {
        Self.classify(bytes: name.utf8)
    }

    /// `classify` over the name's bytes: a `String`'s or, for a relayed response head, the
    /// received bytes themselves.
    static func classify<Name: Collection<UInt8>>(bytes name: Name) -> HeaderClass {
        let count = name.count
        if count > 7, name.prefix(7).equalsLowercaseASCII("x-auth-", dashMatchesUnderscore: true) {
            return .identity
        }
        switch count {
        case 2:
            if name.equalsLowercaseASCII("te") { return .hopByHop }
        case 4:
            if name.equalsLowercaseASCII("host") { return .host }
        case 6:
            if name.equalsLowercaseASCII("expect") { return .expect }
        case 7:
            if name.equalsLowercaseASCII("upgrade") { return .upgrade }
            if name.equalsLowercaseASCII("trailer") { return .hopByHop }
        case 8:
            if name.equalsLowercaseASCII("trailers") { return .hopByHop }
        case 9:
            if name.equalsLowercaseASCII("forwarded") { return .forwarded }
            if name.equalsLowercaseASCII("x-real-ip", dashMatchesUnderscore: true) { return .xRealIP }
        case 10:
            if name.equalsLowercaseASCII("connection") || name.equalsLowercaseASCII("keep-alive") {
                return .hopByHop
            }
        case 12:
            if name.equalsLowercaseASCII("x-request-id", dashMatchesUnderscore: true) { return .xRequestID }
        case 14:
            if name.equalsLowercaseASCII("http2-settings", dashMatchesUnderscore: true) { return .http2Settings }
        case 15:
            if name.equalsLowercaseASCII("x-forwarded-for", dashMatchesUnderscore: true) { return .xForwardedFor }
        case 16:
            if name.equalsLowercaseASCII("x-forwarded-host", dashMatchesUnderscore: true) { return .xForwardedHost }
            if name.equalsLowercaseASCII("proxy-connection") { return .hopByHop }
        case 17:
            if name.equalsLowercaseASCII("x-forwarded-proto", dashMatchesUnderscore: true) { return .xForwardedProto }
            if name.equalsLowercaseASCII("transfer-encoding") { return .hopByHop }
        case 18:
            if name.equalsLowercaseASCII("proxy-authenticate") { return .hopByHop }
        case 19:
            if name.equalsLowercaseASCII("proxy-authorization") { return .hopByHop }
        default:
            break
        }
        return .other
    }

    /// Whether some `Upgrade` header lists the `websocket` token (ASCII case ignored).
    static func upgradesToWebSocket(_ headers: HTTPHeaders) -> Bool {
        for (name, value) in headers where name.utf8.count == 7 && name.caseInsensitiveEqualsASCII("upgrade") {
            var rest = value[...]
            while !rest.isEmpty {
                let comma = rest.firstIndex(of: ",") ?? rest.endIndex
                if rest[..<comma].trimmingASCIISpaces().caseInsensitiveEqualsASCII("websocket") { return true }
                rest = comma == rest.endIndex ? rest[comma...] : rest[rest.index(after: comma)...]
            }
        }
        return false
    }

    @inline(__always)
    static func isContentLength(_ name: String) -> Bool {
        name.utf8.count == 14 && name.caseInsensitiveEqualsASCII("content-length")
    }

    /// The tokens of every `Connection` header.
    static func connectionTokens(_ headers: HTTPHeaders) -> ConnectionTokens {
        var tokens = ConnectionTokens()
        for (name, value) in headers where name.utf8.count == 10 && name.caseInsensitiveEqualsASCII("connection") {
            // Not `split`: that allocates an array for the one token nearly every value has.
            var rest = value[...]
            while !rest.isEmpty {
                let comma = rest.firstIndex(of: ",") ?? rest.endIndex
                let trimmed = rest[..<comma].trimmingASCIISpaces()
                if !trimmed.isEmpty { tokens.append(trimmed) }
                rest = comma == rest.endIndex ? rest[comma...] : rest[rest.index(after: comma)...]
            }
        }
        return tokens
    }
}

/// The tokens of `Connection` headers. Nearly always just `keep-alive`, `close` or `upgrade`,
/// which are kept as flags, so the common case allocates nothing.
struct ConnectionTokens {
    private(set) var close = false
    private(set) var keepAlive = false
    private(set) var upgrade = false
    /// Any other token (a header name the sender wants dropped at the next hop).
    private var others: [Substring] = []

    var isEmpty: Bool { !self.close && !self.keepAlive && !self.upgrade && self.others.isEmpty }

    mutating func append(_ token: Substring) {
        if token.caseInsensitiveEqualsASCII("close") {
            self.close = true
        } else if token.caseInsensitiveEqualsASCII("keep-alive") {
            self.keepAlive = true
        } else if token.caseInsensitiveEqualsASCII("upgrade") {
            self.upgrade = true
        } else {
            self.others.append(token)
        }
    }

    /// Whether `name` is one of the tokens, ignoring ASCII case.
    func containsCaseInsensitive(_ name: String) -> Bool {
        switch name.utf8.count {
        case 5 where self.close && name.caseInsensitiveEqualsASCII("close"): return true
        case 7 where self.upgrade && name.caseInsensitiveEqualsASCII("upgrade"): return true
        case 10 where self.keepAlive && name.caseInsensitiveEqualsASCII("keep-alive"): return true
        default: return self.others.contains { $0.caseInsensitiveEqualsASCII(name) }
        }
    }
}
