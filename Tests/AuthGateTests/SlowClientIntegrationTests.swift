import AuthGate
import AuthGateCore
import Foundation
import NIOCore
import NIOPosix
import Testing

/// Slow clients against the backend pool, over real loopback sockets: request header and body
/// timeouts, request buffering before the lease, and the per-client-IP cap.
@Suite("Slow clients over loopback")
struct SlowClientIntegrationTests {
    static func echo(_ response: RawHTTPResponse) throws -> [String: Any] {
        let json = try JSONSerialization.jsonObject(with: Data(response.bodyString.utf8))
        return try #require(json as? [String: Any])
    }

    /// A pool smaller than the number of slow clients, and waiters that give up quickly (so a
    /// full pool shows as 503 within the test, not after the default 2 s).
    static func smallPool(_ config: inout GatewayConfig) {
        config.upstream.maxConnectionsPerLoop = 4
        config.upstream.connectTimeoutMs = 500
        config.rateLimits.enabled = false
    }

    @Test("a dozen uploads trickling a byte at a time leave every other client served")
    func slowUploadsLeaveOthersServed() async throws {
        try await GatewayFixture.withGateway(eventLoops: 1, configure: Self.smallPool) { fixture in
            let bodyBytes = 10
            // 12 uploads, three times the pool, each sending its small body a byte per 250 ms.
            var uploads: [RawHTTPClient] = []
            for index in 0..<12 {
                let client = try await fixture.connect()
                try await client.send(
                    "POST /upload/\(index) HTTP/1.1\r\nHost: g\r\nContent-Length: \(bodyBytes)\r\n\r\nx"
                )
                uploads.append(client)
            }
            let clients = uploads
            let trickle = Task {
                for _ in 1..<bodyBytes {
                    try await Task.sleep(for: .milliseconds(250))
                    for client in clients { try await client.send("x") }
                }
            }
            // Every head is in and the uploads are mid-body: other clients come now.
            try await Task.sleep(for: .milliseconds(400))
            var statuses: [Int] = []
            for index in 0..<8 {
                let other = try await fixture.connect()
                try await other.send("GET /echo/other-\(index) HTTP/1.1\r\nHost: g\r\n\r\n")
                let response = try await other.readResponse()
                statuses.append(response.status)
                await other.close()
            }
            #expect(statuses == Array(repeating: 200, count: 8), "other clients got \(statuses)")
            try await trickle.value
            // The slow uploads themselves complete, their bodies whole.
            for client in uploads {
                let response = try await client.readResponse()
                #expect(response.status == 200)
                #expect(response.bodyString.contains("\"body_bytes\":\(bodyBytes)"))
                await client.close()
            }
        }
    }

    @Test("a small body is read whole before a backend connection is leased")
    func bufferedBodyLeasesNothingUntilComplete() async throws {
        try await GatewayFixture.withGateway(eventLoops: 1) { fixture in
            let client = try await fixture.connect()
            try await client.send("POST /upload HTTP/1.1\r\nHost: g\r\nContent-Length: 10\r\n\r\nhello")
            try await Task.sleep(for: .milliseconds(300))
            #expect(fixture.gateway.metrics.upstreamConnectionsOpened.value == 0)
            #expect(fixture.backend.connectionCount == 0, "a backend connection was opened for a half-sent body")
            try await client.send("world")
            let response = try await client.readResponse()
            #expect(response.status == 200)
            #expect(response.bodyString.contains("\"bytes\":10"))
            #expect(fixture.backend.connectionCount == 1)
            await client.close()
        }
    }

    @Test("a request head that trickles in gets 408 request_timeout and a closed connection")
    func slowHeadGets408() async throws {
        // 1 s, not less: the first head of a connection counts from the accept, and a test
        // process under load can take a few hundred ms between its connect and its first send.
        let configure: (inout GatewayConfig) -> Void = { $0.server.requestHeaderTimeoutMs = 1000 }
        try await GatewayFixture.withGateway(eventLoops: 1, configure: configure) { fixture in
            let slow = try await fixture.connect()
            try await slow.send("GET /echo HTTP/1.1\r\nHost: g\r\n")
            let trickle = Task {
                for index in 0..<40 {
                    try await Task.sleep(for: .milliseconds(100))
                    try await slow.send("X-Slow-\(index): v\r\n")
                }
            }
            let response = try await slow.readResponse()
            trickle.cancel()
            #expect(response.status == 408)
            #expect(response.headers["connection"] == "close")
            #expect(response.headers["content-type"] == "application/json")
            let body = try Self.echo(response)
            #expect(body["error"] as? String == "request_timeout")
            #expect((body["request_id"] as? String)?.isEmpty == false)
            #expect(await slow.isClosed(within: .seconds(2)))
            #expect(fixture.backend.requestCount == 0)

            // A connection that sends nothing at all is closed without an answer.
            let silent = try await fixture.connect()
            #expect(await silent.isClosed(within: .seconds(5)))
            #expect(await silent.bufferedByteCount == 0)

            // Between requests the idle timeout governs, not the header timeout.
            let keepAlive = try await fixture.connect()
            try await keepAlive.send("GET /echo/1 HTTP/1.1\r\nHost: g\r\n\r\n")
            #expect(try await keepAlive.readResponse().status == 200)
            try await Task.sleep(for: .milliseconds(2200))
            try await keepAlive.send("GET /echo/2 HTTP/1.1\r\nHost: g\r\n\r\n")
            #expect(try await keepAlive.readResponse().status == 200)
            await keepAlive.close()
        }
    }

    @Test("a body that stalls gets 408; a streamed one also closes its backend connection")
    func slowBodyGets408() async throws {
        let configure: (inout GatewayConfig) -> Void = { $0.server.requestBodyTimeoutMs = 500 }
        try await GatewayFixture.withGateway(eventLoops: 1, configure: configure) { fixture in
            // Buffered (small): nothing was leased.
            let small = try await fixture.connect()
            try await small.send("POST /upload HTTP/1.1\r\nHost: g\r\nContent-Length: 10\r\n\r\nabc")
            let first = try await small.readResponse()
            #expect(first.status == 408)
            #expect(first.headers["connection"] == "close")
            #expect(try Self.echo(first)["error"] as? String == "request_timeout")
            #expect(await small.isClosed(within: .seconds(2)))
            #expect(fixture.backend.connectionCount == 0)

            // Streamed (larger than upstream.request_buffer_bytes): leased and half-sent.
            let large = try await fixture.connect()
            // Head and the first 100 kB in one write: a loaded test process can leave more than
            // the 500 ms body timeout between two sends.
            var start = ByteBuffer(string: "POST /upload HTTP/1.1\r\nHost: g\r\nContent-Length: 1000000\r\n\r\n")
            start.writeRepeatingByte(UInt8(ascii: "y"), count: 100_000)
            try await large.send(start)
            let second = try await large.readResponse()
            #expect(second.status == 408)
            #expect(second.headers["connection"] == "close")
            #expect(await large.isClosed(within: .seconds(2)))
            #expect(fixture.backend.connectionCount == 1)

            // The half-written backend connection was closed, not pooled: the next request
            // opens a new one.
            let next = try await fixture.connect()
            try await next.send("GET /echo/next HTTP/1.1\r\nHost: g\r\n\r\n")
            #expect(try await next.readResponse().status == 200)
            #expect(fixture.backend.connectionCount == 2)
            await next.close()
        }
    }

    @Test("one client IP over upstream.max_connections_per_client_ip gets 503; other clients are served")
    func perClientCap() async throws {
        let configure: (inout GatewayConfig) -> Void = {
            $0.upstream.maxConnectionsPerLoop = 4
            $0.upstream.maxConnectionsPerClientIP = 2
            $0.rateLimits.enabled = false
            $0.trustedProxies = ["127.0.0.1/32"]
        }
        try await GatewayFixture.withGateway(eventLoops: 1, configure: configure) { fixture in
            func upload(from ip: String) async throws -> RawHTTPClient {
                let client = try await fixture.connect()
                // Larger than upstream.request_buffer_bytes: it streams, holding a connection.
                try await client.send(
                    "POST /upload HTTP/1.1\r\nHost: g\r\nX-Forwarded-For: \(ip)\r\nContent-Length: 1000000\r\n\r\n"
                        + String(repeating: "z", count: 1000)
                )
                return client
            }
            let holding = [try await upload(from: "203.0.113.9"), try await upload(from: "203.0.113.9")]
            try await Task.sleep(for: .milliseconds(300))
            #expect(fixture.backend.connectionCount == 2)

            let over = try await upload(from: "203.0.113.9")
            let refused = try await over.readResponse()
            #expect(refused.status == 503)
            #expect(refused.headers["retry-after"] == "1")
            #expect(try Self.echo(refused)["error"] as? String == "client_connection_limit")
            await over.close()

            // Another address still gets the rest of the pool.
            for index in 0..<3 {
                let other = try await fixture.connect()
                try await other.send(
                    "GET /echo/\(index) HTTP/1.1\r\nHost: g\r\nX-Forwarded-For: 198.51.100.\(index)\r\n\r\n"
                )
                #expect(try await other.readResponse().status == 200)
                await other.close()
            }

            // A slot is given back with its connection.
            await holding[0].close()
            try await Task.sleep(for: .milliseconds(300))
            let again = try await fixture.connect()
            try await again.send(
                "POST /upload HTTP/1.1\r\nHost: g\r\nX-Forwarded-For: 203.0.113.9\r\nContent-Length: 3\r\n\r\nabc"
            )
            #expect(try await again.readResponse().status == 200)
            await again.close()
            await holding[1].close()
        }
    }
}
