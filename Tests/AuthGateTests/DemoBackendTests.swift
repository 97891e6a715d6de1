import AuthGate
import AuthGateDemo
import Crypto
import Foundation
import NIOCore
import NIOPosix
import Testing

@Suite("DemoBackend")
struct DemoBackendTests {
    /// Runs `body` against a fresh backend and shuts it down afterwards, also on failure.
    private func withBackend(_ body: (DemoBackend) async throws -> Void) async throws {
        let backend = try await DemoBackend.start(group: MultiThreadedEventLoopGroup.singleton)
        do {
            try await body(backend)
        } catch {
            try await backend.shutdown()
            throw error
        }
        try await backend.shutdown()
    }

    private func json(_ response: RawHTTPResponse) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))
        return try #require(object as? [String: Any], "not a JSON object: \(response.bodyString)")
    }

    /// The index of the first byte of `body` that differs from the generated pattern, if any.
    private func firstPatternMismatch(_ body: ByteBuffer) -> Int? {
        body.withUnsafeReadableBytes { bytes in
            bytes.indices.first { bytes[$0] != DemoBodyPattern.byte(at: $0) }
        }
    }

    private func patternBody(count: Int) -> [UInt8] {
        (0..<count).map { DemoBodyPattern.byte(at: $0 &* 7) }
    }

    /// The digest the backend should report, computed here in one piece.
    private func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    @Test("echo shows method, URI, headers and the body's byte count")
    func echo() async throws {
        try await self.withBackend { backend in
            let client = try await RawHTTPClient.connect(port: backend.port)
            try await client.send(
                "POST /echo/some/path?q=1&r=%20 HTTP/1.1\r\nHost: backend\r\nX-Test: Hello \"World\"\r\n"
                    + "X-Test: second\r\nContent-Length: 11\r\n\r\nhello world"
            )
            let response = try await client.readResponse()
            #expect(response.status == 200)
            #expect(response.headers["Content-Type"] == "application/json")
            let object = try self.json(response)
            #expect(object["method"] as? String == "POST")
            #expect(object["uri"] as? String == "/echo/some/path?q=1&r=%20")
            #expect(object["body_bytes"] as? Int == 11)
            let headers = try #require(object["headers"] as? [[String]])
            #expect(headers.contains(["X-Test", "Hello \"World\""]))
            #expect(headers.contains(["X-Test", "second"]))
            #expect(headers.contains(["Host", "backend"]))

            // Any other path echoes too, on the same kept-alive connection.
            try await client.send("GET /anything HTTP/1.1\r\nHost: backend\r\n\r\n")
            let second = try await client.readResponse()
            #expect(try self.json(second)["uri"] as? String == "/anything")
            #expect(try self.json(second)["body_bytes"] as? Int == 0)
            #expect(backend.requestCount == 2)
            #expect(backend.connectionCount == 1)
            await client.close()
        }
    }

    @Test("/bytes/N streams N pattern bytes with Content-Length")
    func bytes() async throws {
        try await self.withBackend { backend in
            let client = try await RawHTTPClient.connect(port: backend.port)
            let count = 3_000_017
            try await client.send("GET /bytes/\(count) HTTP/1.1\r\nHost: b\r\n\r\n")
            let response = try await client.readResponse()
            #expect(response.status == 200)
            #expect(response.framing == .contentLength(count))
            #expect(response.bodyLength == count)
            #expect(self.firstPatternMismatch(response.body) == nil)

            // An empty body and a HEAD request keep the connection usable.
            try await client.send("GET /bytes/0 HTTP/1.1\r\nHost: b\r\n\r\nHEAD /bytes/100 HTTP/1.1\r\nHost: b\r\n\r\n")
            let empty = try await client.readResponse()
            #expect(empty.status == 200 && empty.bodyLength == 0)
            let head = try await client.readResponse(requestMethod: "HEAD")
            #expect(head.headers["content-length"] == "100")
            try await client.send("GET /bytes/5 HTTP/1.1\r\nHost: b\r\n\r\n")
            #expect(try await client.readResponse().bodyString == "abcde")
            #expect(await client.bufferedByteCount == 0)
            await client.close()
        }
    }

    @Test("/chunked/N streams N pattern bytes in chunked encoding")
    func chunked() async throws {
        try await self.withBackend { backend in
            let client = try await RawHTTPClient.connect(port: backend.port)
            let count = 2_500_001
            try await client.send("GET /chunked/\(count) HTTP/1.1\r\nHost: b\r\n\r\n")
            let response = try await client.readResponse()
            #expect(response.status == 200)
            #expect(response.framing == .chunked)
            #expect(response.headers["content-length"] == nil)
            #expect(response.bodyLength == count)
            #expect(response.chunkSizes.max() == DemoBodyPattern.chunkSize)
            #expect(self.firstPatternMismatch(response.body) == nil)

            // Not collected: counted only.
            try await client.send("GET /chunked/1000000 HTTP/1.1\r\nHost: b\r\n\r\n")
            let counted = try await client.readResponse(collectBody: false)
            #expect(counted.bodyLength == 1_000_000 && counted.body.readableBytes == 0)
            await client.close()
        }
    }

    @Test("/upload counts a Content-Length body and hashes it on request")
    func uploadContentLength() async throws {
        try await self.withBackend { backend in
            let client = try await RawHTTPClient.connect(port: backend.port)
            let body = self.patternBody(count: 4 * 1024 * 1024 + 3)
            try await client.send("POST /upload?sha256 HTTP/1.1\r\nHost: b\r\nContent-Length: \(body.count)\r\n\r\n")
            var offset = 0
            while offset < body.count {
                let end = min(offset + 100_000, body.count)
                try await client.send(bytes: Array(body[offset..<end]))
                offset = end
            }
            let response = try await client.readResponse()
            #expect(response.status == 200)
            let object = try self.json(response)
            #expect(object["bytes"] as? Int == body.count)
            let digest = self.sha256Hex(body)
            #expect(object["sha256"] as? String == digest)
            #expect(object["sha_prefix"] as? String == String(digest.prefix(16)))

            // Without ?sha256 only the count; PUT works too.
            try await client.send("PUT /upload HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\nhello")
            let plain = try self.json(try await client.readResponse())
            #expect(plain["bytes"] as? Int == 5)
            #expect(plain["sha_prefix"] == nil)
            await client.close()
        }
    }

    @Test("/upload counts a chunked body")
    func uploadChunked() async throws {
        try await self.withBackend { backend in
            let client = try await RawHTTPClient.connect(port: backend.port)
            try await client.send("POST /upload?sha256=1 HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n")
            var all: [UInt8] = []
            var size = 1
            while all.count < 3 * 1024 * 1024 {
                let chunk = self.patternBody(count: size)
                all += chunk
                try await client.send("\(String(size, radix: 16))\r\n")
                try await client.send(bytes: chunk + [13, 10])
                size = size * 3 + 1
            }
            try await client.send("0\r\nX-Trailer: yes\r\n\r\n")
            let object = try self.json(try await client.readResponse())
            #expect(object["bytes"] as? Int == all.count)
            #expect(object["sha256"] as? String == self.sha256Hex(all))
            #expect(backend.requestCount == 1)
            await client.close()
        }
    }

    @Test("two pipelined requests in one write get two responses in order")
    func pipelining() async throws {
        try await self.withBackend { backend in
            let client = try await RawHTTPClient.connect(port: backend.port)
            try await client.send(
                "GET /slow/150 HTTP/1.1\r\nHost: b\r\n\r\n"
                    + "POST /echo/second HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nabc"
                    + "GET /bytes/10 HTTP/1.1\r\nHost: b\r\n\r\n"
            )
            let first = try await client.readResponse()
            #expect(try self.json(first)["slept_ms"] as? Int == 150)
            let second = try await client.readResponse()
            #expect(try self.json(second)["uri"] as? String == "/echo/second")
            #expect(try self.json(second)["body_bytes"] as? Int == 3)
            let third = try await client.readResponse()
            #expect(third.bodyString == "abcdefghij")
            #expect(backend.requestCount == 3)
            await client.close()
        }
    }

    @Test("/slow/MS answers after the delay")
    func slow() async throws {
        try await self.withBackend { backend in
            let client = try await RawHTTPClient.connect(port: backend.port)
            let clock = ContinuousClock()
            let start = clock.now
            try await client.send("GET /slow/200 HTTP/1.1\r\nHost: b\r\n\r\n")
            let response = try await client.readResponse()
            #expect(response.status == 200)
            #expect(clock.now - start >= .milliseconds(200))
            await client.close()
        }
    }

    @Test("/close closes the connection without any response")
    func close() async throws {
        try await self.withBackend { backend in
            let client = try await RawHTTPClient.connect(port: backend.port)
            try await client.send("GET /close HTTP/1.1\r\nHost: b\r\n\r\n")
            let rest = try await client.readUntilClose(timeout: .seconds(5))
            #expect(rest.readableBytes == 0)
            #expect(backend.requestCount == 1)
        }
    }

    @Test("/reset resets the connection without any response")
    func reset() async throws {
        try await self.withBackend { backend in
            let client = try await RawHTTPClient.connect(port: backend.port)
            try await client.send("GET /reset HTTP/1.1\r\nHost: b\r\n\r\n")
            #expect(await client.isClosed(within: .seconds(5)))
            #expect(await client.bufferedByteCount == 0)
        }
    }

    @Test("/status/CODE answers that status and keeps the connection")
    func status() async throws {
        try await self.withBackend { backend in
            let client = try await RawHTTPClient.connect(port: backend.port)
            try await client.send("GET /status/404 HTTP/1.1\r\nHost: b\r\n\r\n")
            let notFound = try await client.readResponse()
            #expect(notFound.status == 404)
            #expect(try self.json(notFound)["status"] as? Int == 404)

            try await client.send(
                "DELETE /status/204 HTTP/1.1\r\nHost: b\r\n\r\nGET /status/503 HTTP/1.1\r\nHost: b\r\n\r\n"
            )
            let noContent = try await client.readResponse()
            #expect(noContent.status == 204)
            #expect(noContent.headers["transfer-encoding"] == nil)
            #expect(try await client.readResponse().status == 503)

            try await client.send("GET /status/99 HTTP/1.1\r\nHost: b\r\n\r\n")
            #expect(try await client.readResponse().status == 400)
            await client.close()
        }
    }

    @Test("Connection: close and HTTP/1.0 end the connection after the response")
    func connectionClose() async throws {
        try await self.withBackend { backend in
            let client = try await RawHTTPClient.connect(port: backend.port)
            try await client.send("GET /echo HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            let response = try await client.readResponse()
            #expect(response.status == 200)
            #expect(response.headers["connection"] == "close")
            #expect(await client.isClosed(within: .seconds(5)))

            let old = try await RawHTTPClient.connect(port: backend.port)
            try await old.send("GET /chunked/70000 HTTP/1.0\r\n\r\n")
            let answer = try await old.readResponse()
            #expect(answer.framing == .contentLength(70000))
            #expect(await old.isClosed(within: .seconds(5)))
            #expect(backend.connectionCount == 2)
        }
    }

    @Test("WebSocket upgrade on /ws echoes frames, answers pings and closes cleanly")
    func webSocketEcho() async throws {
        try await self.withBackend { backend in
            let ws = try await WebSocketTestClient.connect(port: backend.port)
            #expect(ws.upgradeResponse.status == 101)
            #expect(ws.upgradeResponse.headers["upgrade"]?.lowercased() == "websocket")

            try await ws.sendText("hello, gateway")
            let text = try await ws.readFrame()
            #expect(text.opcode == .text && text.fin && !text.wasMasked)
            #expect(text.text == "hello, gateway")

            let large = self.patternBody(count: 200_000)
            try await ws.sendBinary(large)
            let binary = try await ws.readFrame()
            #expect(binary.opcode == .binary)
            #expect(binary.payload == large)

            try await ws.sendText("frag", fin: false)
            try await ws.send(opcode: .continuation, payload: Array("mented".utf8))
            let part1 = try await ws.readFrame()
            let part2 = try await ws.readFrame()
            #expect(part1.opcode == .text && !part1.fin && part1.text == "frag")
            #expect(part2.opcode == .continuation && part2.fin && part2.text == "mented")

            try await ws.sendPing([1, 2, 3])
            let pong = try await ws.readFrame()
            #expect(pong.opcode == .pong && pong.payload == [1, 2, 3])

            try await ws.sendClose(code: 1000, reason: "bye")
            let close = try await ws.readFrame()
            #expect(close.opcode == .connectionClose && close.closeCode == 1000)
            #expect(await ws.raw.isClosed(within: .seconds(5)))
            #expect(backend.connectionCount == 1)
        }
    }

    @Test("an upgrade request to /upgrade-refused gets an ordinary 426")
    func upgradeRefused() async throws {
        try await self.withBackend { backend in
            let client = try await RawHTTPClient.connect(port: backend.port)
            let response = try await WebSocketTestClient.sendUpgrade(
                over: client,
                path: "/upgrade-refused",
                hostHeader: "b"
            )
            #expect(response.status == 426)
            #expect(try self.json(response)["error"] as? String == "upgrade_required")
            // NIO parses nothing after an upgrade request that was not upgraded, so the backend
            // says so and closes.
            #expect(response.headers["connection"] == "close")
            #expect(await client.isClosed(within: .seconds(5)))

            // Without an upgrade request, /ws answers 426 and keeps the connection.
            let plain = try await RawHTTPClient.connect(port: backend.port)
            try await plain.send("GET /ws HTTP/1.1\r\nHost: b\r\n\r\nGET /echo HTTP/1.1\r\nHost: b\r\n\r\n")
            #expect(try await plain.readResponse().status == 426)
            #expect(try await plain.readResponse().status == 200)
            await plain.close()

            do {
                _ = try await WebSocketTestClient.connect(port: backend.port, path: "/upgrade-refused")
                Issue.record("the upgrade should have been refused")
            } catch WebSocketTestError.notUpgraded(let answer) {
                #expect(answer.status == 426)
            }
        }
    }

    @Test("a client that half-closes after its request still gets the answer")
    func halfClose() async throws {
        try await self.withBackend { backend in
            let client = try await RawHTTPClient.connect(port: backend.port)
            try await client.send("GET /slow/100 HTTP/1.1\r\nHost: b\r\n\r\n")
            try await client.shutdownOutput()
            let response = try await client.readResponse()
            #expect(response.status == 200)
            #expect(await client.isClosed(within: .seconds(5)))
        }
    }

    @Test("a malformed request gets a 400 and the connection is closed")
    func malformed() async throws {
        try await self.withBackend { backend in
            let client = try await RawHTTPClient.connect(port: backend.port)
            try await client.send("GET /echo HTTP/1.1\r\nHost: b\r\nContent-Length: nope\r\n\r\n")
            let response = try await client.readResponse()
            #expect(response.status == 400)
            #expect(await client.isClosed(within: .seconds(5)))
            #expect(backend.requestCount == 0)
        }
    }

    @Test("shutdown closes open connections")
    func shutdownClosesConnections() async throws {
        let backend = try await DemoBackend.start(group: MultiThreadedEventLoopGroup.singleton)
        let client = try await RawHTTPClient.connect(port: backend.port)
        try await client.send("GET /echo HTTP/1.1\r\nHost: b\r\n\r\n")
        _ = try await client.readResponse()
        try await backend.shutdown()
        #expect(await client.isClosed(within: .seconds(5)))
        try await backend.shutdown()
        await #expect(throws: (any Error).self) {
            _ = try await RawHTTPClient.connect(port: backend.port)
        }
    }
}
