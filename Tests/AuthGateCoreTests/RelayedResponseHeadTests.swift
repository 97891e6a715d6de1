import NIOCore
import NIOHTTP1
import Testing

@testable import AuthGateCore

/// What `writeRelayedHead` wrote and returned.
struct Relayed {
    var bytes: [UInt8]
    var framing: ResponseBodyFraming
    var keepAlive: Bool

    var text: String { String(decoding: self.bytes, as: UTF8.self) }
}

/// Relays a backend head whose field lines are `fields` (as received) with `writeRelayedHead`.
/// Also used by the response suite in HeaderPolicyTests.
func relay(
    fields: ByteBuffer,
    status: HTTPResponseStatus = .ok,
    method: HTTPMethod = .GET,
    clientVersion: HTTPVersion = .http1_1,
    keepAlive: Bool = true,
    requestID: String = "req-1"
) -> Relayed {
    let head = UpstreamResponseHead(
        version: .http1_1,
        status: status,
        keepAlive: true,
        selfDelimited: true,
        fields: fields
    )
    var buffer = ByteBuffer()
    let (framing, keptAlive) = HeaderPolicy.writeRelayedHead(
        head,
        requestMethod: method,
        clientVersion: clientVersion,
        keepAlive: keepAlive,
        requestID: requestID,
        into: &buffer
    )
    return Relayed(bytes: Array(buffer.readableBytesView), framing: framing, keepAlive: keptAlive)
}

/// Relays a backend head whose field lines are `fieldText` (each ending in CRLF).
private func relay(
    _ fieldText: String,
    status: HTTPResponseStatus = .ok,
    method: HTTPMethod = .GET,
    clientVersion: HTTPVersion = .http1_1,
    keepAlive: Bool = true,
    requestID: String = "req-1"
) -> Relayed {
    relay(
        fields: ByteBuffer(string: fieldText),
        status: status,
        method: method,
        clientVersion: clientVersion,
        keepAlive: keepAlive,
        requestID: requestID
    )
}

private let nginxFields =
    "Server: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 04:00:00 GMT\r\nContent-Type: text/plain\r\n"
    + "Content-Length: 2\r\nConnection: keep-alive\r\n"

private let nginxRelayed =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 04:00:00 GMT\r\nContent-Type: text/plain\r\n"
    + "Content-Length: 2\r\nX-Request-Id: req-1\r\n"

@Suite("HeaderPolicy.writeRelayedHead bytes")
struct WriteRelayedHeadBytesTests {
    // MARK: Typical heads

    @Test("a typical nginx head is relayed field for field, Connection dropped, X-Request-Id added")
    func nginxHead() {
        let result = relay(nginxFields)
        #expect(result.text == nginxRelayed + "\r\n")
        #expect(result.framing == .contentLength)
        #expect(result.keepAlive)
    }

    @Test("while draining (keepAlive false) the head ends with Connection: close")
    func draining() {
        let result = relay(nginxFields, keepAlive: false)
        #expect(result.text == nginxRelayed + "Connection: close\r\n\r\n")
        #expect(result.framing == .contentLength)
        #expect(!result.keepAlive)
    }

    @Test("the request ID given is the one written")
    func requestIDWritten() {
        let result = relay("Content-Length: 0\r\n", requestID: "0123456789abcdef")
        #expect(result.text == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Request-Id: 0123456789abcdef\r\n\r\n")
    }

    @Test("the head is appended after bytes already in the buffer")
    func appends() {
        let head = UpstreamResponseHead(
            version: .http1_1,
            status: .ok,
            keepAlive: true,
            selfDelimited: true,
            fields: ByteBuffer(string: "Content-Length: 0\r\n")
        )
        var buffer = ByteBuffer(string: "before|")
        _ = HeaderPolicy.writeRelayedHead(
            head,
            requestMethod: .GET,
            clientVersion: .http1_1,
            keepAlive: true,
            requestID: "req-1",
            into: &buffer
        )
        #expect(String(buffer: buffer) == "before|HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Request-Id: req-1\r\n\r\n")
    }

    @Test("only the readable bytes of the received fields are relayed")
    func readableFieldsOnly() {
        var fields = ByteBuffer(string: "Stale: x\r\nContent-Length: 0\r\n")
        fields.moveReaderIndex(forwardBy: "Stale: x\r\n".utf8.count)
        let result = relay(fields: fields)
        #expect(result.text == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Request-Id: req-1\r\n\r\n")
    }

    // MARK: Framing and Connection

    @Test("no Content-Length, an HTTP/1.1 client: the body is chunked")
    func chunkedForHTTP11() {
        let result = relay("Content-Type: text/plain\r\n")
        #expect(
            result.text
                == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Request-Id: req-1\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n"
        )
        #expect(result.framing == .chunked)
        #expect(result.keepAlive)
    }

    @Test("no Content-Length, an HTTP/1.0 client: the body ends with the connection")
    func closeDelimitedForHTTP10() {
        let result = relay("Content-Type: text/plain\r\n", clientVersion: .http1_0)
        #expect(
            result.text
                == "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nX-Request-Id: req-1\r\nConnection: close\r\n\r\n"
        )
        #expect(result.framing == .closeDelimited)
        #expect(!result.keepAlive)
    }

    @Test("a backend's chunked Transfer-Encoding is dropped and written once for an HTTP/1.1 client")
    func backendChunkedRewritten() {
        let result = relay("Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n")
        #expect(
            result.text
                == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Request-Id: req-1\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n"
        )
        #expect(result.framing == .chunked)
    }

    @Test("an HTTP/1.0 client kept alive with a Content-Length body gets Connection: keep-alive")
    func keepAliveForHTTP10() {
        let result = relay("Content-Length: 2\r\n", clientVersion: .http1_0)
        #expect(
            result.text
                == "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nX-Request-Id: req-1\r\nConnection: keep-alive\r\n\r\n"
        )
        #expect(result.framing == .contentLength)
        #expect(result.keepAlive)
    }

    @Test("an HTTP/1.0 client on a draining connection gets Connection: close")
    func drainingHTTP10() {
        let result = relay("Content-Length: 2\r\n", clientVersion: .http1_0, keepAlive: false)
        #expect(
            result.text == "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nX-Request-Id: req-1\r\nConnection: close\r\n\r\n"
        )
        #expect(result.framing == .contentLength)
        #expect(!result.keepAlive)
    }

    // MARK: X-Request-Id

    @Test(
        "a backend's X-Request-Id is kept as sent and none is added",
        arguments: ["X-Request-Id", "x-request-id", "X-REQUEST-ID"]
    )
    func backendRequestIDKept(_ name: String) {
        let result = relay("\(name): backend-7\r\nContent-Length: 0\r\n")
        #expect(result.text == "HTTP/1.1 200 OK\r\n\(name): backend-7\r\nContent-Length: 0\r\n\r\n")
    }

    // MARK: Fields dropped

    @Test(
        "a field the backend's Connection names is dropped, in any case",
        arguments: [
            "Connection: close, X-Internal\r\n", "Connection: x-INTERNAL\r\n",
            "Connection: keep-alive\r\nConnection: X-Internal\r\n",
        ]
    )
    func connectionListedDropped(_ connection: String) {
        let result = relay(connection + "X-Internal: 1\r\nx-internal: 2\r\nX-Internal-Not: 3\r\nContent-Length: 2\r\n")
        #expect(
            result.text
                == "HTTP/1.1 200 OK\r\nX-Internal-Not: 3\r\nContent-Length: 2\r\nX-Request-Id: req-1\r\n\r\n"
        )
        #expect(result.framing == .contentLength)
        #expect(result.keepAlive, "the backend's Connection: close does not close the client connection")
    }

    @Test("Content-Length is kept even when the backend's Connection names it")
    func listedContentLengthKept() {
        let result = relay("Connection: Content-Length, X-Internal\r\nX-Internal: 1\r\nContent-Length: 2\r\n")
        #expect(result.text == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Request-Id: req-1\r\n\r\n")
        #expect(result.framing == .contentLength)
    }

    @Test(
        "hop-by-hop fields are dropped",
        arguments: [
            "Keep-Alive: timeout=5, max=100", "keep-alive: timeout=5", "Transfer-Encoding: chunked", "TE: trailers",
            "Trailer: X-Checksum", "Proxy-Authenticate: Basic realm=\"x\"", "Upgrade: h2c", "UPGRADE: websocket",
            "Connection: keep-alive", "Proxy-Connection: keep-alive",
        ]
    )
    func hopByHopDropped(_ line: String) {
        let result = relay("X-Before: 1\r\n\(line)\r\nContent-Length: 2\r\nX-After: 2\r\n")
        #expect(
            result.text
                == "HTTP/1.1 200 OK\r\nX-Before: 1\r\nContent-Length: 2\r\nX-After: 2\r\nX-Request-Id: req-1\r\n\r\n"
        )
        #expect(result.framing == .contentLength)
    }

    // MARK: Upgrade

    @Test("a 101 keeps Upgrade, adds Connection: Upgrade, has no body and ends keep-alive")
    func switchingProtocols() {
        let result = relay(
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
            status: .switchingProtocols
        )
        #expect(
            result.text
                == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Request-Id: req-1\r\n"
                + "Connection: Upgrade\r\n\r\n"
        )
        #expect(result.framing == .none)
        #expect(!result.keepAlive)
    }

    // MARK: Bytes

    @Test("values with bytes of 0x80 and above (obs-text) are copied byte for byte")
    func obsTextCopied() {
        let latin: [UInt8] = Array("caf".utf8) + [0xE9]
        let raw: [UInt8] = [0x80, 0xFF, 0xC3, 0xA9]
        var fields = ByteBuffer()
        fields.writeString("X-Latin: ")
        fields.writeBytes(latin)
        fields.writeString("\r\nX-Raw: ")
        fields.writeBytes(raw)
        fields.writeString("\r\nContent-Length: 0\r\n")
        let result = relay(fields: fields)
        var expected = Array("HTTP/1.1 200 OK\r\nX-Latin: ".utf8) + latin
        expected += Array("\r\nX-Raw: ".utf8) + raw
        expected += Array("\r\nContent-Length: 0\r\nX-Request-Id: req-1\r\n\r\n".utf8)
        #expect(result.bytes == expected)
    }

    @Test("a field value is written trimmed, after a single space")
    func valueTrimmed() {
        let result = relay("X-A:\t  a  b \t\r\nX-Empty:\r\nContent-Length: 0\r\n")
        #expect(
            result.text
                == "HTTP/1.1 200 OK\r\nX-A: a  b\r\nX-Empty: \r\nContent-Length: 0\r\nX-Request-Id: req-1\r\n\r\n"
        )
    }

    // MARK: Responses without a body

    @Test("a response to HEAD has no body to frame, its Content-Length kept")
    func headRequest() {
        let result = relay("Content-Length: 100\r\n", method: .HEAD)
        #expect(result.text == "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nX-Request-Id: req-1\r\n\r\n")
        #expect(result.framing == .none)
        #expect(result.keepAlive)
    }

    @Test("a response to HEAD without Content-Length gets no Transfer-Encoding")
    func headRequestWithoutLength() {
        let result = relay("Content-Type: text/plain\r\n", method: .HEAD)
        #expect(result.text == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Request-Id: req-1\r\n\r\n")
        #expect(result.framing == .none)
        #expect(result.keepAlive)
    }

    @Test(
        "204 and 304 have no body to frame and get no Transfer-Encoding",
        arguments: [
            (HTTPResponseStatus.noContent, "204 No Content"), (.notModified, "304 Not Modified"),
        ]
    )
    func noBodyStatus(_ status: HTTPResponseStatus, _ statusLine: String) {
        let result = relay("ETag: \"abc\"\r\n", status: status)
        #expect(result.text == "HTTP/1.1 \(statusLine)\r\nETag: \"abc\"\r\nX-Request-Id: req-1\r\n\r\n")
        #expect(result.framing == .none)
        #expect(result.keepAlive)
    }

    @Test("a 204 to an HTTP/1.0 client is not close-delimited")
    func noBodyStatusHTTP10() {
        let result = relay("", status: .noContent, clientVersion: .http1_0)
        #expect(result.text == "HTTP/1.0 204 No Content\r\nX-Request-Id: req-1\r\nConnection: keep-alive\r\n\r\n")
        #expect(result.framing == .none)
        #expect(result.keepAlive)
    }

    // MARK: Status line

    @Test("the head fits the bytes reserved for it when every line is respelled longer, with a long reason and ID")
    func respelledLinesFitReservedBytes() {
        // "a:" CRLF becomes "a: " CRLF: the most a field line can grow relative to its size.
        let lines = String(repeating: "a:\r\n", count: 2_000) + "b:x\r\nContent-Length: 0\r\n"
        let status = HTTPResponseStatus(statusCode: 299, reasonPhrase: String(repeating: "R", count: 3_000))
        let requestID = String(repeating: "i", count: 200)
        let result = relay(lines, status: status, requestID: requestID)
        let expected =
            "HTTP/1.1 299 \(status.reasonPhrase)\r\n" + String(repeating: "a: \r\n", count: 2_000)
            + "b: x\r\nContent-Length: 0\r\nX-Request-Id: \(requestID)\r\n\r\n"
        #expect(result.text == expected)
    }

    @Test("an unknown status code is written with NIO's reason phrase for it")
    func unknownStatus() {
        let status = HTTPResponseStatus(statusCode: 599)
        let result = relay("Content-Length: 0\r\n", status: status)
        #expect(
            result.text == "HTTP/1.1 599 \(status.reasonPhrase)\r\nContent-Length: 0\r\nX-Request-Id: req-1\r\n\r\n"
        )
        #expect(result.framing == .contentLength)
    }

    @Test(
        "the status line carries the backend's code and its standard reason phrase",
        arguments: [
            (HTTPResponseStatus.notFound, "404 Not Found"), (.internalServerError, "500 Internal Server Error"),
            (.created, "201 Created"), (.movedPermanently, "301 Moved Permanently"),
        ]
    )
    func statusLine(_ status: HTTPResponseStatus, _ expected: String) {
        let result = relay("Content-Length: 0\r\n", status: status)
        #expect(result.text.hasPrefix("HTTP/1.1 \(expected)\r\nContent-Length: 0\r\n"))
    }
}
