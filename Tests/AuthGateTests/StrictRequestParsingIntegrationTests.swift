import AuthGate
import AuthGateCore
import Foundation
import NIOCore
import Testing

/// The strict request parser on the data path, over real loopback sockets: what it refuses is
/// answered 400 with the JSON error body and the connection closed, before any byte reaches the
/// backend; what browsers send today still goes through.
@Suite("Strict request parsing over loopback")
struct StrictRequestParsingIntegrationTests {
    @Test(
        "ambiguous or malformed heads are answered 400 bad_request and closed; the backend sees nothing",
        arguments: [
            // A bare LF before the request line (llhttp skipped it).
            Array("\nGET /echo/a HTTP/1.1\r\nHost: g\r\n\r\n".utf8),
            // Content-Length with Transfer-Encoding.
            Array("POST /echo/b HTTP/1.1\r\nHost: g\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n".utf8),
            // A bare LF ending a field line.
            Array("GET /echo/c HTTP/1.1\r\nHost: g\nX-A: 1\r\n\r\n".utf8),
            // A raw non-ASCII byte in the target (llhttp took it; a backend may decode it otherwise).
            Array("GET /echo/caf".utf8) + [0xE9] + Array(" HTTP/1.1\r\nHost: g\r\n\r\n".utf8),
            // Two spaces before the version (llhttp took them).
            Array("GET /echo/d  HTTP/1.1\r\nHost: g\r\n\r\n".utf8),
        ]
    )
    func refusedAndClosed(request: [UInt8]) async throws {
        try await GatewayFixture.withGateway { fixture in
            let client = try await fixture.connect()
            try await client.send(bytes: request)
            let response = try await client.readResponse()
            #expect(response.status == 400)
            #expect(response.headers["content-type"] == "application/json")
            let body = try ProxyIntegrationTests.echo(response)
            #expect(body["error"] as? String == "bad_request")
            #expect((body["message"] as? String)?.isEmpty == false)
            #expect((body["request_id"] as? String)?.isEmpty == false)
            #expect(await client.isClosed(within: .seconds(5)))
            #expect(fixture.backend.requestCount == 0)
        }
    }

    @Test("{ } | ^ ` in a query and \\ in a path reach the backend as they were sent (normalised path)")
    func browserQueryBytes() async throws {
        try await GatewayFixture.withGateway { fixture in
            let client = try await fixture.connect()
            try await client.send(ProxyIntegrationTests.get("/echo/q?filter={a|b}&x=^`"))
            let response = try await client.readResponse()
            #expect(response.status == 200)
            #expect(try ProxyIntegrationTests.echo(response)["uri"] as? String == "/echo/q?filter={a|b}&x=^`")
            try await client.send(ProxyIntegrationTests.get("/echo\\r"))
            let second = try await client.readResponse()
            #expect(second.status == 200)
            #expect(try ProxyIntegrationTests.echo(second)["uri"] as? String == "/echo/r")
        }
    }
}
