import AsyncHTTPClient
import AuthGateCore
import Crypto
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import AuthGate

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback port nothing listens on: bound, then closed.
private func closedPort(group: any EventLoopGroup) async throws -> Int {
    let channel = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return port
}

/// Whether `error` is, or wraps, a refused TCP connection.
private func isConnectionRefused(_ error: (any Error)?) -> Bool {
    if let error = error as? IOError { return error.errnoCode == ECONNREFUSED }
    if let error = error as? NIOConnectionError {
        return error.connectionErrors.contains { ($0.error as? IOError)?.errnoCode == ECONNREFUSED }
    }
    return false
}

@Suite("Auth server connections")
struct AuthServerConnectionTests {
    @Test("a refused connection fails the lookup at once with the refusal, not at the timeout")
    func refusedConnectionFailsAtOnce() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let port = try await closedPort(group: group)
        // A timeout far beyond the test: the answer must come from the refusal itself.
        let timeout = TimeAmount.seconds(60)
        let client = HTTPClient(
            eventLoopGroupProvider: .shared(group),
            configuration: .authServer(connectTimeout: timeout)
        )
        let resolver = HTTPSessionResolver(
            client: client,
            authServerURL: "http://127.0.0.1:\(port)",
            cookieName: "better-auth.session_token",
            timeout: timeout
        )
        for _ in 0..<3 {
            do {
                _ = try await resolver.resolve(
                    token: "t",
                    signedValue: "t.sig",
                    cookieName: "better-auth.session_token"
                )
                Issue.record("a lookup against a closed port succeeded")
            } catch {
                #expect(isConnectionRefused(error.underlying), "\(String(describing: error.underlying))")
            }
        }
        try await client.shutdown()
        try await group.shutdownGracefully()
    }
}

/// A JWKS endpoint on loopback whose key set the test replaces, counting fetches.
private final class JWKSServer: Sendable {
    let document = NIOLockedValueBox("{\"keys\":[]}")
    let fetches = NIOLockedValueBox(0)
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)

    var port: Int { self.channel.withLockedValue { $0?.localAddress?.port ?? 0 } }

    func start(group: any EventLoopGroup) async throws {
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(server: self))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        self.channel.withLockedValue { $0 = channel }
    }

    func stop() async throws {
        try await self.channel.withLockedValue { $0 }?.close()
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let server: JWKSServer
        init(server: JWKSServer) { self.server = server }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = self.unwrapInboundIn(data) else { return }
            self.server.fetches.withLockedValue { $0 += 1 }
            let body = ByteBuffer(string: self.server.document.withLockedValue { $0 })
            var headers = HTTPHeaders([("content-type", "application/json")])
            headers.add(name: "content-length", value: "\(body.readableBytes)")
            context.write(
                self.wrapOutboundOut(.head(.init(version: .http1_1, status: .ok, headers: headers))),
                promise: nil
            )
            context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

private func jwk(_ key: Curve25519.Signing.PrivateKey, kid: String) -> String {
    #"{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"\#(kid)","x":"\#(Base64URL.encode(Array(key.publicKey.rawRepresentation)))"}"#
}

@Suite("JWKS refresh")
struct JWKSRefreshTests {
    @Test("an unknown kid inside the cooldown waits for the one scheduled fetch and gets the rotated key")
    func unknownKidWaitsForScheduledFetch() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = JWKSServer()
        try await server.start(group: group)
        let old = Curve25519.Signing.PrivateKey()
        server.document.withLockedValue { $0 = "{\"keys\":[\(jwk(old, kid: "old"))]}" }
        let client = HTTPClient(
            eventLoopGroupProvider: .shared(group),
            configuration: .authServer(connectTimeout: .seconds(5))
        )
        let store = JWKSStore(
            client: client,
            authServerURL: "http://127.0.0.1:\(server.port)",
            cooldown: .milliseconds(800),
            timeout: .seconds(5),
            logger: Logger(label: "test"),
            metrics: GatewayMetrics()
        )
        let loop = group.next()
        let first = try await store.refresh(on: loop, force: true).get()
        #expect(first.candidates(kid: "old") != nil)
        // An attacker's random kid takes the cooldown's fetch...
        _ = try await store.refresh(on: loop).get()
        #expect(server.fetches.withLockedValue { $0 } == 2)
        // ...the auth server rotates, and tokens with the new kid arrive inside the cooldown,
        // with a flood of random kids: all of them share one scheduled fetch and none is
        // answered with the old keys.
        let new = Curve25519.Signing.PrivateKey()
        server.document.withLockedValue { $0 = "{\"keys\":[\(jwk(old, kid: "old")),\(jwk(new, kid: "new"))]}" }
        let waits = (0..<50).map { _ in store.refresh(on: loop) }
        for wait in waits {
            #expect(try await wait.get().candidates(kid: "new") != nil)
        }
        #expect(server.fetches.withLockedValue { $0 } == 3)
        await store.settle()
        try await client.shutdown()
        try await server.stop()
        try await group.shutdownGracefully()
    }

    @Test("the periodic refresh picks up a rotated key with no token asking")
    func periodicRefresh() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = JWKSServer()
        try await server.start(group: group)
        let client = HTTPClient(
            eventLoopGroupProvider: .shared(group),
            configuration: .authServer(connectTimeout: .seconds(5))
        )
        let store = JWKSStore(
            client: client,
            authServerURL: "http://127.0.0.1:\(server.port)",
            cooldown: .seconds(3600),
            refreshInterval: .milliseconds(100),
            timeout: .seconds(5),
            logger: Logger(label: "test"),
            metrics: GatewayMetrics()
        )
        store.start(on: group.next())
        let key = Curve25519.Signing.PrivateKey()
        server.document.withLockedValue { $0 = "{\"keys\":[\(jwk(key, kid: "rotated"))]}" }
        var found = false
        for _ in 0..<600 where !found {
            try await Task.sleep(nanoseconds: 10_000_000)
            found = store.keys.candidates(kid: "rotated") != nil
        }
        #expect(found)
        await store.settle()
        let fetches = server.fetches.withLockedValue { $0 }
        try await Task.sleep(nanoseconds: 300_000_000)
        // settle() stopped the timer.
        #expect(server.fetches.withLockedValue { $0 } == fetches)
        try await client.shutdown()
        try await server.stop()
        try await group.shutdownGracefully()
    }
}
