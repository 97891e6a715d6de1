import NIOCore
import NIOHTTP1
import Testing

@testable import AuthGateCore

// MARK: - Helpers

private let trustedPeer = "10.0.0.2"
private let untrustedPeer = "203.0.113.9"

private func nginxProxies() throws -> TrustedProxies {
    try TrustedProxies(["10.0.0.0/8", "192.168.1.1", "fd00::/8"])
}

private func makeRequest(
    _ headers: [(String, String)],
    method: HTTPMethod = .GET,
    uri: String = "/api/things",
    version: HTTPVersion = .http1_1
) -> HTTPRequestHead {
    HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(headers))
}

/// Rewrites a request and returns the result and the rewritten head.
private func rewrite(
    _ headers: [(String, String)],
    method: HTTPMethod = .GET,
    version: HTTPVersion = .http1_1,
    framing: RequestBodyFraming = .none,
    peer: String = untrustedPeer,
    trusted: Bool = false,
    scheme: String = "http",
    proxies: TrustedProxies = .none,
    seed: UInt64 = 7
) -> (ForwardedRequest, HTTPRequestHead) {
    var head = makeRequest(headers, method: method, version: version)
    var generator = RequestIDGenerator(seed: seed)
    let result = HeaderPolicy.rewriteRequest(
        &head,
        framing: framing,
        context: ForwardingContext(peerIP: peer, peerIsTrusted: trusted, scheme: scheme),
        trustedProxies: proxies,
        requestIDGenerator: &generator
    )
    return (result, head)
}

/// Relays a backend's response head the way the proxy does (received bytes in, the client's
/// head written as bytes by `HeaderPolicy.writeRelayedHead`), and returns the framing, the
/// keep-alive decision and the head the client receives, parsed back.
private func rewriteResponse(
    _ headers: [(String, String)],
    status: HTTPResponseStatus = .ok,
    method: HTTPMethod = .GET,
    clientVersion: HTTPVersion = .http1_1,
    keepAlive: Bool = true,
    requestID: String = "req-1"
) -> (ResponseBodyFraming, Bool, HTTPResponseHead) {
    var fields = ByteBuffer()
    for (name, value) in headers {
        fields.writeString("\(name): \(value)\r\n")
    }
    let relayed = relay(
        fields: fields,
        status: status,
        method: method,
        clientVersion: clientVersion,
        keepAlive: keepAlive,
        requestID: requestID
    )
    return (relayed.framing, relayed.keepAlive, parseWrittenHead(ByteBuffer(bytes: relayed.bytes)))
}

/// The head `writeRelayedHead` wrote, read back with the gateway's own response parser.
private func parseWrittenHead(_ written: ByteBuffer) -> HTTPResponseHead {
    var buffer = written
    var parser = UpstreamResponseParser()
    parser.requestSent(method: .GET)
    guard case .head(let head)? = try? parser.next(&buffer) else {
        Issue.record("writeRelayedHead wrote an unparsable head: \(String(buffer: written))")
        return HTTPResponseHead(version: .http1_1, status: .internalServerError)
    }
    return HTTPResponseHead(version: head.version, status: head.status, headers: head.headers)
}

private func isLowercaseHex32(_ value: String) -> Bool {
    value.utf8.count == 32
        && value.utf8.allSatisfy {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0)
        }
}

private let hopByHopNames = [
    "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
    "Proxy-Authorization", "Proxy-Authenticate",
]

// MARK: - Requests

@Suite("HeaderPolicy.rewriteRequest")
struct HeaderPolicyRequestTests {
    @Test("hop-by-hop headers are removed; end-to-end headers stay")
    func hopByHopRemoved() {
        let (_, head) = rewrite([
            ("Host", "api.example.com"),
            ("Connection", "keep-alive"),
            ("Keep-Alive", "timeout=5, max=100"),
            ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"),
            ("Trailer", "X-Checksum"),
            ("Transfer-Encoding", "gzip"),
            ("Upgrade", "websocket"),
            ("Proxy-Authorization", "Basic dXNlcjpwYXNz"),
            ("Proxy-Authenticate", "Basic"),
            ("Accept", "application/json"),
            ("Authorization", "Bearer abc"),
            ("Cookie", "a=b"),
        ])
        for name in hopByHopNames {
            #expect(!head.headers.contains(name: name), "\(name) was forwarded")
        }
        #expect(head.headers["Host"] == ["api.example.com"])
        #expect(head.headers["Accept"] == ["application/json"])
        #expect(head.headers["Authorization"] == ["Bearer abc"])
        #expect(head.headers["Cookie"] == ["a=b"])
    }

    @Test(
        "hop-by-hop headers are removed whatever their case",
        arguments: ["connection", "KEEP-ALIVE", "te", "tRaIlEr", "PROXY-AUTHORIZATION", "proxy-connection"]
    )
    func hopByHopAnyCase(name: String) {
        let (_, head) = rewrite([("Host", "h"), (name, "x")])
        #expect(!head.headers.contains(name: name))
    }

    @Test("headers named in Connection are removed")
    func connectionNamedHeadersRemoved() {
        let (_, head) = rewrite([
            ("Host", "h"),
            ("Connection", "foo, Bar"),
            ("Connection", " x-one ,X-TWO"),
            ("Foo", "1"),
            ("bar", "2"),
            ("X-One", "3"),
            ("x-two", "4"),
            ("Baz", "5"),
        ])
        for name in ["Foo", "Bar", "X-One", "X-Two", "Connection"] {
            #expect(!head.headers.contains(name: name), "\(name) was forwarded")
        }
        #expect(head.headers["Baz"] == ["5"])
        #expect(head.headers["Host"] == ["h"])
    }

    @Test("Content-Length survives being named in Connection, so the body stays framed")
    func contentLengthNamedInConnection() {
        // The body is still forwarded (framing .contentLength): without its Content-Length the
        // backend would parse the body bytes as the next request.
        let (_, head) = rewrite(
            [("Host", "h"), ("Connection", "Content-Length"), ("Content-Length", "5")],
            method: .POST,
            framing: .contentLength(5)
        )
        #expect(head.headers["Content-Length"] == ["5"])
        #expect(!head.headers.contains(name: "Transfer-Encoding"))
    }

    @Test("Content-Length is forwarded for a body framed by length")
    func contentLengthForwarded() {
        let (_, head) = rewrite([("Host", "h"), ("Content-Length", "12")], method: .POST, framing: .contentLength(12))
        #expect(head.headers["Content-Length"] == ["12"])
        #expect(!head.headers.contains(name: "Transfer-Encoding"))
    }

    @Test(
        "client-sent identity headers are removed in every spelling",
        arguments: [
            "X-Auth-User-Id", "x-auth-user-id", "X_AUTH_USER_ID", "x-Auth_Roles", "X-AUTH-ROLES", "x_auth_user_email",
            "X-Auth-Method", "x-auth-session-id", "X_Auth-Session_Id", "X-Auth-Assertion", "x-auth-anything-new",
            "X-AUTH-USER-EMAIL",
        ]
    )
    func identityHeadersRemoved(name: String) {
        for trusted in [false, true] {
            let (_, head) = rewrite(
                [("Host", "h"), (name, "admin")],
                peer: trusted ? trustedPeer : untrustedPeer,
                trusted: trusted
            )
            #expect(!head.headers.contains(name: name), "\(name) forwarded (trusted peer: \(trusted))")
            for (forwardedName, value) in head.headers {
                #expect(value != "admin", "\(forwardedName): admin forwarded")
            }
        }
    }

    @Test(
        "look-alike names that are not identity headers stay",
        arguments: ["X-Authorization-Foo", "Authorization", "X-Auth", "X-Authenticated", "XAuth-User-Id", "X-AuthUser"]
    )
    func lookAlikesStay(name: String) {
        let (_, head) = rewrite([("Host", "h"), (name, "v")])
        #expect(head.headers[name] == ["v"], "\(name) was dropped")
    }

    @Test("X-Forwarded-For from a trusted peer is appended to")
    func forwardedForAppendedFromTrusted() throws {
        let (result, head) = rewrite(
            [("Host", "h"), ("X-Forwarded-For", "198.51.100.7")],
            peer: trustedPeer,
            trusted: true,
            proxies: try nginxProxies()
        )
        #expect(head.headers["X-Forwarded-For"] == ["198.51.100.7, 10.0.0.2"])
        #expect(result.clientIP == "198.51.100.7")
        #expect(head.headers["X-Real-IP"] == ["198.51.100.7"])
    }

    @Test("several X-Forwarded-For headers from a trusted peer are joined in order")
    func forwardedForJoined() throws {
        let (result, head) = rewrite(
            [("Host", "h"), ("X-Forwarded-For", "198.51.100.7, 10.1.1.1"), ("x_forwarded_for", "10.2.2.2")],
            peer: trustedPeer,
            trusted: true,
            proxies: try nginxProxies()
        )
        #expect(head.headers["X-Forwarded-For"] == ["198.51.100.7, 10.1.1.1, 10.2.2.2, 10.0.0.2"])
        #expect(result.clientIP == "198.51.100.7")
    }

    @Test(
        "X-Forwarded-For from an untrusted peer is replaced by the peer",
        arguments: ["X-Forwarded-For", "x-forwarded-for", "X_Forwarded_For"]
    )
    func forwardedForReplacedFromUntrusted(name: String) throws {
        let (result, head) = rewrite(
            [("Host", "h"), (name, "1.2.3.4")],
            peer: untrustedPeer,
            trusted: false,
            proxies: try nginxProxies()
        )
        #expect(head.headers["X-Forwarded-For"] == [untrustedPeer])
        #expect(result.clientIP == untrustedPeer)
        #expect(head.headers["X-Real-IP"] == [untrustedPeer])
        for (_, value) in head.headers {
            #expect(!value.contains("1.2.3.4"))
        }
    }

    @Test("without X-Forwarded-For the peer is the client")
    func noForwardedFor() throws {
        let (result, head) = rewrite([("Host", "h")], peer: trustedPeer, trusted: true, proxies: try nginxProxies())
        #expect(result.clientIP == trustedPeer)
        #expect(head.headers["X-Forwarded-For"] == [trustedPeer])
        #expect(head.headers["X-Real-IP"] == [trustedPeer])
    }

    @Test(
        "the client IP is the rightmost X-Forwarded-For entry that is not a trusted proxy",
        arguments: [
            ("198.51.100.7", "198.51.100.7"),
            ("198.51.100.7, 10.0.0.5", "198.51.100.7"),
            // A client-forged entry on the left does not win over the real one.
            ("6.6.6.6, 203.0.113.50, 10.0.0.5, 10.9.9.9", "203.0.113.50"),
            ("6.6.6.6,203.0.113.50,192.168.1.1", "203.0.113.50"),
            // Every hop trusted: the leftmost is the best guess.
            ("10.0.0.7, 10.0.0.5", "10.0.0.7"),
            // Empty entries are skipped.
            ("198.51.100.7, , 10.0.0.5,", "198.51.100.7"),
            // IPv6.
            ("2001:db8::1, fd00::5", "2001:db8::1"),
            // 192.168.1.2 is not in the trusted set (only .1 is).
            ("198.51.100.7, 192.168.1.2, 192.168.1.1", "192.168.1.2"),
        ]
    )
    func clientIPWalk(forwardedFor: String, expected: String) throws {
        let (result, head) = rewrite(
            [("Host", "h"), ("X-Forwarded-For", forwardedFor)],
            peer: trustedPeer,
            trusted: true,
            proxies: try nginxProxies()
        )
        #expect(result.clientIP == expected)
        #expect(head.headers["X-Real-IP"] == [expected])
    }

    @Test("X-Forwarded-Proto and -Host are kept from a trusted peer")
    func forwardedProtoHostTrusted() {
        let (_, head) = rewrite(
            [
                ("Host", "internal:8080"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Proto", "http"),
                ("X-Forwarded-Host", "app.example.com"),
            ],
            peer: trustedPeer,
            trusted: true
        )
        #expect(head.headers["X-Forwarded-Proto"] == ["https"])
        #expect(head.headers["X-Forwarded-Host"] == ["app.example.com"])
        #expect(head.headers["Host"] == ["internal:8080"])
    }

    @Test("X-Forwarded-Proto and -Host from an untrusted peer are replaced")
    func forwardedProtoHostUntrusted() {
        let (_, head) = rewrite(
            [
                ("Host", "internal:8080"),
                ("X-Forwarded-Proto", "https"),
                ("x_forwarded_host", "evil.example"),
                ("X-Forwarded-Host", "evil.example"),
            ],
            trusted: false,
            scheme: "http"
        )
        #expect(head.headers["X-Forwarded-Proto"] == ["http"])
        #expect(head.headers["X-Forwarded-Host"] == ["internal:8080"])
        for (_, value) in head.headers {
            #expect(value != "evil.example")
        }
    }

    @Test("X-Forwarded-Proto comes from the context's scheme when absent")
    func forwardedProtoFromScheme() {
        let (_, head) = rewrite([("Host", "h")], peer: trustedPeer, trusted: true, scheme: "https")
        #expect(head.headers["X-Forwarded-Proto"] == ["https"])
    }

    @Test("without Host or a trusted X-Forwarded-Host no X-Forwarded-Host is sent")
    func noForwardedHost() {
        let (_, head) = rewrite([], version: .http1_0)
        #expect(!head.headers.contains(name: "X-Forwarded-Host"))
    }

    @Test("Forwarded and X-Real-IP from the client are replaced", arguments: [false, true])
    func forwardedAndRealIPReplaced(trusted: Bool) {
        let (_, head) = rewrite(
            [("Host", "h"), ("Forwarded", "for=1.2.3.4"), ("X-Real-IP", "1.2.3.4"), ("x_real_ip", "1.2.3.4")],
            peer: trusted ? trustedPeer : untrustedPeer,
            trusted: trusted
        )
        #expect(!head.headers.contains(name: "Forwarded"))
        #expect(head.headers["X-Real-IP"] == [trusted ? trustedPeer : untrustedPeer])
        #expect(!head.headers.contains(name: "x_real_ip"))
    }

    @Test("X-Real-IP with mixed - and _ is replaced too")
    func realIPMixedSpelling() {
        // Like the X-Forwarded-* family (matched with _ for -), a client must not be able to pass
        // an address header that backends normalising _ to - read as X-Real-IP.
        let (_, head) = rewrite([("Host", "h"), ("X-Real_IP", "1.2.3.4"), ("x_real-ip", "1.2.3.4")])
        #expect(!head.headers.contains(name: "X-Real_IP"))
        #expect(!head.headers.contains(name: "x_real-ip"))
        #expect(head.headers["X-Real-IP"] == [untrustedPeer])
    }

    @Test(
        "a well-formed X-Request-Id from a trusted peer is kept",
        arguments: ["abc-123", "A.b_c:d-e", String(repeating: "a", count: 128)]
    )
    func requestIDKeptFromTrusted(id: String) {
        let (result, head) = rewrite([("Host", "h"), ("X-Request-Id", id)], peer: trustedPeer, trusted: true)
        #expect(result.requestID == id)
        #expect(head.headers["X-Request-Id"] == [id])
    }

    @Test(
        "a malformed X-Request-Id from a trusted peer is replaced by a generated one",
        arguments: ["", "has space", "a/b", "é", "<script>", String(repeating: "a", count: 129)]
    )
    func requestIDMalformedReplaced(id: String) {
        let (result, head) = rewrite([("Host", "h"), ("X-Request-Id", id)], peer: trustedPeer, trusted: true)
        #expect(result.requestID != id)
        #expect(isLowercaseHex32(result.requestID), "\(result.requestID)")
        #expect(head.headers["X-Request-Id"] == [result.requestID])
    }

    @Test(
        "X-Request-Id from an untrusted peer is replaced",
        arguments: ["X-Request-Id", "x_request_id", "X-REQUEST-ID"]
    )
    func requestIDFromUntrustedReplaced(name: String) {
        let (result, head) = rewrite([("Host", "h"), (name, "client-chosen-id")], trusted: false)
        #expect(result.requestID != "client-chosen-id")
        #expect(isLowercaseHex32(result.requestID))
        #expect(head.headers["X-Request-Id"] == [result.requestID])
        for (_, value) in head.headers {
            #expect(value != "client-chosen-id")
        }
    }

    @Test("a generated request id comes from the given generator")
    func generatedIDFromGenerator() {
        var reference = RequestIDGenerator(seed: 99)
        let expected = reference.next()
        let (result, _) = rewrite([("Host", "h")], seed: 99)
        #expect(result.requestID == expected)
        // A different seed gives a different id.
        let (other, _) = rewrite([("Host", "h")], seed: 100)
        #expect(other.requestID != expected)
    }

    @Test("the generator advances only when an id is generated")
    func generatorAdvances() {
        var head = makeRequest([("Host", "h"), ("X-Request-Id", "kept")])
        var generator = RequestIDGenerator(seed: 5)
        var reference = RequestIDGenerator(seed: 5)
        let context = ForwardingContext(peerIP: trustedPeer, peerIsTrusted: true)
        let first = HeaderPolicy.rewriteRequest(
            &head,
            framing: .none,
            context: context,
            trustedProxies: .none,
            requestIDGenerator: &generator
        )
        #expect(first.requestID == "kept")
        var second = makeRequest([("Host", "h")])
        let generated = HeaderPolicy.rewriteRequest(
            &second,
            framing: .none,
            context: context,
            trustedProxies: .none,
            requestIDGenerator: &generator
        )
        #expect(generated.requestID == reference.next())
        var third = makeRequest([("Host", "h")])
        let next = HeaderPolicy.rewriteRequest(
            &third,
            framing: .none,
            context: context,
            trustedProxies: .none,
            requestIDGenerator: &generator
        )
        #expect(next.requestID == reference.next())
        #expect(next.requestID != generated.requestID)
    }

    @Test(
        "Expect: 100-continue is removed and reported",
        arguments: ["100-continue", "100-Continue", " 100-CONTINUE "]
    )
    func expectContinue(value: String) {
        let (result, head) = rewrite(
            [("Host", "h"), ("Expect", value), ("Content-Length", "3")],
            method: .POST,
            framing: .contentLength(3)
        )
        #expect(result.expectsContinue)
        #expect(!head.headers.contains(name: "Expect"))
    }

    @Test("other Expect values are forwarded and not reported")
    func otherExpect() {
        let (result, head) = rewrite([("Host", "h"), ("Expect", "something-else")])
        #expect(!result.expectsContinue)
        #expect(head.headers["Expect"] == ["something-else"])
    }

    @Test("no Expect: not reported")
    func noExpect() {
        let (result, _) = rewrite([("Host", "h")])
        #expect(!result.expectsContinue)
    }

    @Test(
        "an upgrade request keeps Upgrade and gets Connection: Upgrade",
        arguments: ["Upgrade", "keep-alive, Upgrade", "UPGRADE"]
    )
    func upgradeKept(connection: String) {
        let (result, head) = rewrite([
            ("Host", "h"),
            ("Connection", connection),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ])
        #expect(result.isUpgrade)
        #expect(head.headers["Upgrade"] == ["websocket"])
        #expect(head.headers["Connection"] == ["Upgrade"])
        #expect(head.headers["Sec-WebSocket-Key"] == ["dGhlIHNhbXBsZSBub25jZQ=="])
        #expect(head.headers["Sec-WebSocket-Version"] == ["13"])
    }

    @Test("Upgrade without Connection: upgrade is not an upgrade and is removed")
    func upgradeWithoutConnectionToken() {
        let (result, head) = rewrite([("Host", "h"), ("Upgrade", "websocket")])
        #expect(!result.isUpgrade)
        #expect(!head.headers.contains(name: "Upgrade"))
        #expect(!head.headers.contains(name: "Connection"))
    }

    @Test("Connection: upgrade without an Upgrade header is not an upgrade")
    func connectionUpgradeWithoutUpgradeHeader() {
        let (result, head) = rewrite([("Host", "h"), ("Connection", "upgrade")])
        #expect(!result.isUpgrade)
        #expect(!head.headers.contains(name: "Connection"))
    }

    @Test("chunked framing is re-added exactly once")
    func chunkedReAdded() {
        let (_, head) = rewrite(
            [("Host", "h"), ("Transfer-Encoding", "chunked")],
            method: .POST,
            framing: .chunked
        )
        #expect(head.headers["Transfer-Encoding"] == ["chunked"])
        #expect(!head.headers.contains(name: "Content-Length"))
    }

    @Test("no body: no framing header is invented")
    func noFramingInvented() {
        let (_, head) = rewrite([("Host", "h")])
        #expect(!head.headers.contains(name: "Transfer-Encoding"))
        #expect(!head.headers.contains(name: "Content-Length"))
    }

    @Test("the forwarded request is HTTP/1.1 whatever the client spoke", arguments: [HTTPVersion.http1_0, .http1_1])
    func versionForced(version: HTTPVersion) {
        let (_, head) = rewrite([("Host", "h")], version: version)
        #expect(head.version == .http1_1)
    }

    @Test("method and target are untouched")
    func methodAndURIUntouched() {
        var head = makeRequest([("Host", "h")], method: .PATCH, uri: "/api/users/42?x=1")
        var generator = RequestIDGenerator(seed: 1)
        _ = HeaderPolicy.rewriteRequest(
            &head,
            framing: .none,
            context: ForwardingContext(peerIP: untrustedPeer, peerIsTrusted: false),
            trustedProxies: .none,
            requestIDGenerator: &generator
        )
        #expect(head.method == .PATCH)
        #expect(head.uri == "/api/users/42?x=1")
    }

    @Test(
        "client keep-alive follows HTTP/1.0 and HTTP/1.1 defaults",
        arguments: [
            (HTTPVersion.http1_0, nil, false),
            (.http1_0, "keep-alive", true),
            (.http1_0, "Keep-Alive", true),
            (.http1_0, "close", false),
            (.http1_1, nil, true),
            (.http1_1, "keep-alive", true),
            (.http1_1, "close", false),
            (.http1_1, "Close", false),
            (.http1_1, "foo, close", false),
        ] as [(HTTPVersion, String?, Bool)]
    )
    func keepAliveSemantics(version: HTTPVersion, connection: String?, expected: Bool) {
        var headers = [("Host", "h")]
        if let connection { headers.append(("Connection", connection)) }
        let (result, head) = rewrite(headers, version: version)
        #expect(result.clientKeepAlive == expected)
        #expect(!head.headers.contains(name: "Connection"))
        #expect(!head.headers.contains(name: "Keep-Alive"))
    }

    @Test("the gateway's own headers appear exactly once")
    func ownHeadersOnce() throws {
        let (_, head) = rewrite(
            [
                ("Host", "h"),
                ("X-Forwarded-For", "198.51.100.7"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "a"),
                ("X-Request-Id", "rid"),
                ("X-Real-IP", "1.1.1.1"),
            ],
            peer: trustedPeer,
            trusted: true,
            proxies: try nginxProxies()
        )
        for name in ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-Id", "X-Real-IP"] {
            #expect(head.headers[name].count == 1, "\(name): \(head.headers[name])")
        }
    }
}

// MARK: - Responses

@Suite("HeaderPolicy.writeRelayedHead")
struct HeaderPolicyResponseTests {
    @Test("hop-by-hop headers are removed, Content-Length is kept")
    func hopByHopRemoved() {
        let (framing, keepAlive, head) = rewriteResponse([
            ("Content-Type", "application/json"),
            ("Content-Length", "42"),
            ("Connection", "close, X-Internal"),
            ("X-Internal", "secret"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("Trailer", "X-Checksum"),
            ("Upgrade", "h2c"),
            ("Proxy-Authenticate", "Basic"),
            ("TE", "trailers"),
            ("Set-Cookie", "a=b"),
        ])
        #expect(framing == .contentLength)
        #expect(keepAlive)
        for name in [
            "Keep-Alive", "Proxy-Connection", "Trailer", "Upgrade", "Proxy-Authenticate", "TE", "X-Internal",
            "Transfer-Encoding",
        ] {
            #expect(!head.headers.contains(name: name), "\(name) was forwarded")
        }
        // The backend's Connection: close concerns the upstream connection only.
        #expect(!head.headers.contains(name: "Connection"))
        #expect(head.headers["Content-Length"] == ["42"])
        #expect(head.headers["Content-Type"] == ["application/json"])
        #expect(head.headers["Set-Cookie"] == ["a=b"])
    }

    @Test("Content-Length is kept even when named in Connection")
    func contentLengthNamedInConnection() {
        let (framing, _, head) = rewriteResponse([("Connection", "Content-Length"), ("Content-Length", "3")])
        #expect(framing == .contentLength)
        #expect(head.headers["Content-Length"] == ["3"])
    }

    @Test("no length for an HTTP/1.1 client: chunked")
    func chunkedForHTTP11() {
        let (framing, keepAlive, head) = rewriteResponse([
            ("Transfer-Encoding", "chunked"), ("Content-Type", "text/plain"),
        ])
        #expect(framing == .chunked)
        #expect(keepAlive)
        #expect(head.headers["Transfer-Encoding"] == ["chunked"])
        #expect(!head.headers.contains(name: "Connection"))
        #expect(!head.headers.contains(name: "Content-Length"))
    }

    @Test("no length for an HTTP/1.0 client: close-delimited")
    func closeDelimitedForHTTP10() {
        let (framing, keepAlive, head) = rewriteResponse(
            [("Transfer-Encoding", "chunked")],
            clientVersion: .http1_0,
            keepAlive: true
        )
        #expect(framing == .closeDelimited)
        #expect(!keepAlive)
        #expect(head.headers["Connection"] == ["close"])
        #expect(!head.headers.contains(name: "Transfer-Encoding"))
        #expect(head.version == .http1_0)
    }

    @Test("an HTTP/1.0 keep-alive client with a length gets Connection: keep-alive")
    func http10KeepAlive() {
        let (framing, keepAlive, head) = rewriteResponse(
            [("Content-Length", "2")],
            clientVersion: .http1_0,
            keepAlive: true
        )
        #expect(framing == .contentLength)
        #expect(keepAlive)
        #expect(head.headers["Connection"] == ["keep-alive"])
        #expect(head.version == .http1_0)
    }

    @Test("an HTTP/1.0 client without keep-alive gets Connection: close")
    func http10Close() {
        let (framing, keepAlive, head) = rewriteResponse(
            [("Content-Length", "2")],
            clientVersion: .http1_0,
            keepAlive: false
        )
        #expect(framing == .contentLength)
        #expect(!keepAlive)
        #expect(head.headers["Connection"] == ["close"])
    }

    @Test(
        "HEAD, 204 and 304 responses have no body framing",
        arguments: [
            (HTTPMethod.HEAD, HTTPResponseStatus.ok),
            (.GET, .noContent),
            (.GET, .notModified),
            (.HEAD, .notFound),
            (.DELETE, .noContent),
        ]
    )
    func noBodyFraming(method: HTTPMethod, status: HTTPResponseStatus) {
        for version in [HTTPVersion.http1_1, .http1_0] {
            let (framing, keepAlive, head) = rewriteResponse(
                [],
                status: status,
                method: method,
                clientVersion: version,
                keepAlive: true
            )
            #expect(framing == .none, "\(method) \(status) \(version)")
            #expect(keepAlive, "\(method) \(status) \(version)")
            #expect(!head.headers.contains(name: "Transfer-Encoding"))
            #expect(!head.headers["Connection"].contains("close"))
        }
    }

    @Test("a HEAD response keeps the backend's Content-Length")
    func headKeepsContentLength() {
        let (framing, _, head) = rewriteResponse([("Content-Length", "1234")], method: .HEAD)
        #expect(framing == .none)
        #expect(head.headers["Content-Length"] == ["1234"])
    }

    @Test("Connection: close is added when the client connection will close")
    func closeWhenNotKeepAlive() {
        let (framing, keepAlive, head) = rewriteResponse([("Content-Length", "0")], keepAlive: false)
        #expect(framing == .contentLength)
        #expect(!keepAlive)
        #expect(head.headers["Connection"] == ["close"])
    }

    @Test("X-Request-Id is added when the backend sent none")
    func requestIDAdded() {
        let (_, _, head) = rewriteResponse([("Content-Length", "0")], requestID: "abc123")
        #expect(head.headers["X-Request-Id"] == ["abc123"])
    }

    @Test("the backend's X-Request-Id is kept and not duplicated")
    func requestIDKept() {
        let (_, _, head) = rewriteResponse(
            [("Content-Length", "0"), ("x-request-id", "from-backend")],
            requestID: "abc123"
        )
        #expect(head.headers["X-Request-Id"] == ["from-backend"])
    }

    @Test("a 101 keeps Upgrade, says Connection: Upgrade, and has no body framing")
    func switchingProtocols() {
        let (framing, keepAlive, head) = rewriteResponse(
            [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            ],
            status: .switchingProtocols
        )
        #expect(framing == .none)
        #expect(!keepAlive)
        #expect(head.status == .switchingProtocols)
        #expect(head.headers["Upgrade"] == ["websocket"])
        #expect(head.headers["Connection"] == ["Upgrade"])
        #expect(head.headers["Sec-WebSocket-Accept"] == ["s3pPLMBiTxaQ9kYGzzhZRbK+xOo="])
        #expect(!head.headers.contains(name: "Transfer-Encoding"))
        #expect(head.headers["X-Request-Id"] == ["req-1"])
    }

    @Test("the response version is the client's", arguments: [HTTPVersion.http1_0, .http1_1])
    func versionIsClients(version: HTTPVersion) {
        let (_, _, head) = rewriteResponse([("Content-Length", "0")], clientVersion: version)
        #expect(head.version == version)
    }

    @Test("status and end-to-end headers pass through untouched")
    func passThrough() {
        let (_, _, head) = rewriteResponse(
            [
                ("Content-Length", "0"), ("WWW-Authenticate", "Bearer"), ("Cache-Control", "no-store"),
                ("X-Custom", "1"),
            ],
            status: .unauthorized
        )
        #expect(head.status == .unauthorized)
        #expect(head.headers["WWW-Authenticate"] == ["Bearer"])
        #expect(head.headers["Cache-Control"] == ["no-store"])
        #expect(head.headers["X-Custom"] == ["1"])
    }
}
