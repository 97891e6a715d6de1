import AuthGate
import AuthGateCore
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// A backend that answers every request with `101 Switching Protocols` to `h2c` (what an
/// h2c-capable or hostile backend does), then echoes bytes: if the gateway relayed that 101,
/// the client would hold an unauthenticated tunnel to it.
private final class SwitchingBackend: Sendable {
    let channel: any Channel
    private let received: NIOLockedValueBox<String>

    var port: Int { self.channel.localAddress!.port! }
    /// Everything the backend received, over all connections.
    var requests: String { self.received.withLockedValue { $0 } }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let received: NIOLockedValueBox<String>
        var switched = false
        var head = ""

        init(received: NIOLockedValueBox<String>) { self.received = received }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = self.unwrapInboundIn(data)
            if self.switched {
                context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
                return
            }
            let text = String(buffer: buffer)
            self.received.withLockedValue { $0 += text }
            self.head += text
            if self.head.contains("\r\n\r\n") {
                self.switched = true
                let answer =
                    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nTUNNEL-OPEN"
                context.writeAndFlush(
                    self.wrapOutboundOut(context.channel.allocator.buffer(string: answer)),
                    promise: nil
                )
            }
        }
    }

    init(group: any EventLoopGroup) async throws {
        let received = NIOLockedValueBox("")
        self.received = received
        self.channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Handler(received: received))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }
}

@Suite("Trust boundary over loopback")
struct TrustBoundaryIntegrationTests {
    static let h2cUpgrade =
        "GET /echo/h2c HTTP/1.1\r\nHost: g\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        + "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"

    @Test("an h2c upgrade goes to the backend as a plain request without Upgrade or HTTP2-Settings")
    func h2cIsPlain() async throws {
        try await GatewayFixture.withGateway { fixture in
            let client = try await fixture.connect()
            try await client.send(Self.h2cUpgrade)
            let response = try await client.readResponse()
            #expect(response.status == 200)
            let headers = try ProxyIntegrationTests.echoedHeaders(response)
            let names = Set(headers.map { $0.0.lowercased() })
            #expect(!names.contains("upgrade"), "\(headers)")
            #expect(!names.contains("http2-settings"), "\(headers)")
            #expect(
                headers.first { $0.0.lowercased() == "connection" }.map { !$0.1.lowercased().contains("upgrade") }
                    ?? true
            )
            #expect(fixture.gateway.metrics.activeTunnels.value == 0)
            // No tunnel: the connection closes after the plain response.
            #expect(response.headers["connection"] == "close")
            #expect(await client.isClosed(within: .seconds(5)))
        }
    }

    @Test("a backend's 101 to a request that did not ask for a WebSocket is a 502 and both connections close")
    func unrequested101() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let backend = try await SwitchingBackend(group: group)
        let configure: (inout GatewayConfig) -> Void = { $0.upstream.url = "http://127.0.0.1:\(backend.port)" }
        try await GatewayFixture.withGateway(configure: configure) { fixture in
            let client = try await fixture.connect()
            try await client.send(Self.h2cUpgrade)
            let response = try await client.readResponse()
            #expect(response.status == 502)
            #expect(response.headers["content-type"] == "application/json")
            #expect(try ProxyIntegrationTests.echo(response)["error"] as? String == "upstream_invalid_response")
            #expect(await client.isClosed(within: .seconds(5)))
            #expect(!response.bodyString.contains("TUNNEL-OPEN"))
            #expect(fixture.gateway.metrics.activeTunnels.value == 0)
            let sent = backend.requests.lowercased()
            #expect(sent.contains("get /echo/h2c"))
            #expect(!sent.contains("upgrade:"), "\(sent)")
            #expect(!sent.contains("http2-settings"), "\(sent)")
        }
        try await backend.channel.close()
        try await group.shutdownGracefully()
    }

    @Test("a 100 KB request target answers 414 uri_too_long; 100 KB of header fields answer 431")
    func oversizedTargetIs414() async throws {
        try await GatewayFixture.withGateway { fixture in
            let longTarget = "/" + String(repeating: "a", count: 100 * 1024)
            let cases: [(String, Int, String)] = [
                (ProxyIntegrationTests.get(longTarget), 414, "uri_too_long"),
                ("GET " + longTarget + " HTTP/1.1\r\nHost: g\r\n", 414, "uri_too_long"),
                (
                    ProxyIntegrationTests.get(
                        "/echo",
                        headers: ["X-Big: " + String(repeating: "b", count: 100 * 1024)]
                    ),
                    431, "request_header_fields_too_large"
                ),
            ]
            for (request, status, code) in cases {
                let client = try await fixture.connect()
                try? await client.send(request)
                let response = try await client.readResponse()
                #expect(response.status == status)
                #expect(try ProxyIntegrationTests.echo(response)["error"] as? String == code)
                #expect(await client.isClosed(within: .seconds(5)))
            }
            // The second request of a keep-alive connection is watched too.
            let client = try await fixture.connect()
            try await client.send(ProxyIntegrationTests.get("/echo/first"))
            #expect(try await client.readResponse().status == 200)
            try? await client.send(ProxyIntegrationTests.get(longTarget))
            let second = try await client.readResponse()
            #expect(second.status == 414)
            #expect(fixture.backend.requestCount == 1)
        }
    }

    @Test("a ; or %3B in the path is a 400 by default; with path_parameters allow the route is the servlet path's")
    func pathParameters() async throws {
        let routes: (inout GatewayConfig) -> Void = {
            $0.routes = [
                GatewayConfig.Route(path: "/api/public/", access: .public),
                GatewayConfig.Route(path: "/", access: .authenticated),
            ]
        }
        try await GatewayFixture.withGateway(configure: routes) { fixture in
            for target in ["/api/public/..;/admin", "/api/public/..%3B/admin", "/api/public/..;x=1/admin"] {
                let client = try await fixture.connect()
                try await client.send(ProxyIntegrationTests.get(target))
                let response = try await client.readResponse()
                #expect(response.status == 400, "\(target)")
                #expect(try ProxyIntegrationTests.echo(response)["error"] as? String == "bad_request")
                await client.close()
            }
            #expect(fixture.backend.requestCount == 0)
        }
        let allow: (inout GatewayConfig) -> Void = {
            routes(&$0)
            $0.server.pathParameters = .allow
        }
        try await GatewayFixture.withGateway(configure: allow) { fixture in
            for target in ["/api/public/..;/admin", "/api/public/..%3B/admin", "/api/public/..;x=1/admin"] {
                let client = try await fixture.connect()
                try await client.send(ProxyIntegrationTests.get(target))
                #expect(try await client.readResponse().status == 401, "\(target) is /api/admin to Tomcat")
                await client.close()
            }
            let client = try await fixture.connect()
            try await client.send(ProxyIntegrationTests.get("/api/public/page;jsessionid=abc"))
            let response = try await client.readResponse()
            #expect(response.status == 200)
            #expect(try ProxyIntegrationTests.echo(response)["uri"] as? String == "/api/public/page;jsessionid=abc")
            await client.close()
        }
    }

    @Test("a better_auth_only rule is not bypassed by another case of its path; a public rule is exact")
    func caseOfPaths() async throws {
        let configure: (inout GatewayConfig) -> Void = {
            $0.routes = [
                GatewayConfig.Route(path: "/api/public/", access: .public),
                GatewayConfig.Route(path: "/api/v2/", access: .betterAuthOnly),
            ]
            $0.auth.legacyJWTSecret = Secret("integration-legacy-secret-0123456789abcdef")
        }
        try await GatewayFixture.withGateway(configure: configure) { fixture in
            for (target, status) in [
                ("/API/v2/x", 401), ("/api/V2/x", 401), ("/API/public/x", 401), ("/api/public/x", 200),
            ] {
                let client = try await fixture.connect()
                try await client.send(ProxyIntegrationTests.get(target))
                let response = try await client.readResponse()
                #expect(response.status == status, "\(target)")
                await client.close()
            }
        }
    }

    @Test("forwarding headers from an untrusted peer are removed; from a trusted proxy they are kept")
    func forwardingHeaders() async throws {
        let sent = [
            "X-Forwarded-Prefix: /evil", "x_forwarded_port: 1", "X-FORWARDED-SERVER: e", "X-Forwarded-Uri: /admin",
            "X-Original-URL: /admin", "X-Rewrite-URL: /admin", "X-Original-Method: DELETE", "True-Client-IP: 6.6.6.6",
            "CF-Connecting-IP: 6.6.6.6", "X-Client-IP: 6.6.6.6", "X-Cluster-Client-IP: 6.6.6.6",
            "X-HTTP-Method-Override: DELETE", "X-Tenant-Override: 7",
        ]
        let names = sent.map { String($0.split(separator: ":")[0]).lowercased() }
        let untrusted: (inout GatewayConfig) -> Void = {
            $0.trustedProxies = []
            $0.forwarding.stripHeaders = ["X-Tenant-Override"]
        }
        try await GatewayFixture.withGateway(configure: untrusted) { fixture in
            let client = try await fixture.connect()
            try await client.send(ProxyIntegrationTests.get("/echo", headers: sent + ["X-Kept: 1"]))
            let seen = Set(
                try ProxyIntegrationTests.echoedHeaders(try await client.readResponse()).map { $0.0.lowercased() }
            )
            for name in names {
                #expect(!seen.contains(name), "\(name) reached the backend from an untrusted peer")
            }
            #expect(seen.contains("x-kept"))
            await client.close()
        }
        let trusting: (inout GatewayConfig) -> Void = { $0.trustedProxies = ["127.0.0.1/32"] }
        try await GatewayFixture.withGateway(configure: trusting) { fixture in
            let client = try await fixture.connect()
            try await client.send(ProxyIntegrationTests.get("/echo", headers: sent))
            let seen = Set(
                try ProxyIntegrationTests.echoedHeaders(try await client.readResponse()).map { $0.0.lowercased() }
            )
            for name in names {
                #expect(seen.contains(name), "\(name) from a trusted proxy")
            }
            await client.close()
        }
    }
}
