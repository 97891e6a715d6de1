import NIOCore
import NIOHTTP1
import Testing

@testable import AuthGateCore

/// Rewrites `headers` as the proxy does for a peer that is (or is not) a trusted proxy.
private func rewrite(
    _ headers: [(String, String)],
    trusted: Bool = false,
    stripped: StrippedForwardingHeaders = .defaults
) -> (ForwardedRequest, HTTPRequestHead) {
    var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/api/x", headers: HTTPHeaders(headers))
    var generator = RequestIDGenerator(seed: 11)
    let result = HeaderPolicy.rewriteRequest(
        &head,
        framing: .none,
        context: ForwardingContext(peerIP: trusted ? "10.0.0.2" : "203.0.113.9", peerIsTrusted: trusted),
        trustedProxies: .none,
        strippedHeaders: stripped,
        requestIDGenerator: &generator
    )
    return (result, head)
}

@Suite("Upgrades other than WebSocket")
struct UpgradeTokenTests {
    @Test(
        "an h2c (or any non-websocket) upgrade goes on as a plain request: Upgrade, HTTP2-Settings and the upgrade token are removed",
        arguments: ["h2c", "H2C", "TLS/1.0", "websocketx", "foo, bar"]
    )
    func nonWebSocketUpgradeRemoved(token: String) {
        let (result, head) = rewrite([
            ("Host", "h"),
            ("Connection", "Upgrade, HTTP2-Settings"),
            ("Upgrade", token),
            ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"),
            ("http2_settings", "AAMAAABkAARAAAAAAAIAAAAA"),
        ])
        #expect(!result.isUpgrade)
        #expect(!result.clientKeepAlive, "the client connection closes after the plain response")
        #expect(!head.headers.contains(name: "Upgrade"))
        #expect(!head.headers.contains(name: "HTTP2-Settings"))
        #expect(!head.headers.contains(name: "http2_settings"))
        #expect(!head.headers.contains(name: "Connection"))
    }

    @Test("HTTP2-Settings is removed even when Connection does not name it")
    func http2SettingsAlwaysRemoved() {
        let (_, head) = rewrite([("Host", "h"), ("HTTP2-Settings", "AAMAAABk")])
        #expect(!head.headers.contains(name: "HTTP2-Settings"))
    }

    @Test("websocket among several Upgrade tokens is the upgrade, and only it is forwarded")
    func webSocketAmongOthers() {
        let (result, head) = rewrite([
            ("Host", "h"), ("Connection", "upgrade"), ("Upgrade", "h2c, WebSocket"), ("Sec-WebSocket-Version", "13"),
        ])
        #expect(result.isUpgrade)
        #expect(head.headers["Upgrade"] == ["websocket"])
        #expect(head.headers["Connection"] == ["Upgrade"])
    }
}

@Suite("Forwarding headers of untrusted peers")
struct StrippedForwardingHeadersTests {
    static let names = [
        "X-Forwarded-Prefix", "X-Forwarded-Port", "X-Forwarded-Server", "X-Forwarded-Uri", "X-Original-URL",
        "X-Rewrite-URL", "X-Original-Method", "True-Client-IP", "CF-Connecting-IP", "X-Client-IP",
        "X-Cluster-Client-IP", "X-HTTP-Method-Override",
    ]

    /// Each name as sent, lower and upper case, and with `_` for `-`.
    static var spellings: [String] {
        names.flatMap { [$0, $0.lowercased(), $0.uppercased(), $0.replacingOccurrences(of: "-", with: "_")] }
    }

    @Test("from an untrusted peer every spelling of the default list is removed; other headers stay")
    func untrustedRemoved() {
        let (_, head) = rewrite([("Host", "h"), ("Accept", "*/*")] + Self.spellings.map { ($0, "/admin") })
        for name in Self.spellings {
            #expect(!head.headers.contains(name: name), "\(name) reached the backend")
        }
        #expect(head.headers["Accept"] == ["*/*"])
    }

    @Test("from a trusted proxy they are kept as sent")
    func trustedKept() {
        let (_, head) = rewrite([("Host", "h")] + Self.names.map { ($0, "v") }, trusted: true)
        for name in Self.names {
            #expect(head.headers[name] == ["v"], "\(name) from a trusted proxy")
        }
    }

    @Test("forwarding.strip_headers extends the defaults, in any spelling")
    func extended() {
        let stripped = StrippedForwardingHeaders(extraNames: ["x_tenant_override", "X-Debug-User"])
        let (_, head) = rewrite(
            [
                ("Host", "h"), ("X-Tenant-Override", "1"), ("x-debug-user", "root"), ("X-Original-URL", "/a"),
                ("X-Other", "k"),
            ],
            stripped: stripped
        )
        #expect(!head.headers.contains(name: "X-Tenant-Override"))
        #expect(!head.headers.contains(name: "x-debug-user"))
        #expect(!head.headers.contains(name: "X-Original-URL"), "an extended list still holds the defaults")
        #expect(head.headers["X-Other"] == ["k"])
    }

    @Test("names that are not HTTP tokens are refused by validation")
    func validation() {
        #expect(StrippedForwardingHeaders.isValidName("X-Foo_Bar"))
        #expect(!StrippedForwardingHeaders.isValidName(""))
        #expect(!StrippedForwardingHeaders.isValidName("X Foo"))
        #expect(!StrippedForwardingHeaders.isValidName("X:Foo"))
    }
}
