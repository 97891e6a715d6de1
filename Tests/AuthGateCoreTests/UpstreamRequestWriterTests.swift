import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import AuthGateCore

/// The request bytes the writer produces, as `UpstreamConnection` sends them: the head, each
/// body part with its chunk framing, the end.
private func written(_ head: HTTPRequestHead, body: [ByteBuffer]) -> [UInt8] {
    var writer = UpstreamRequestWriter()
    var out = writer.writeHead(head, allocator: ByteBufferAllocator())
    // Sized once from the head: it fits the bytes reserved for it, so the buffer never grew.
    #expect(out.readableBytes <= UpstreamRequestWriter.measure(head).capacity)
    for part in body {
        var header = ByteBuffer()
        if writer.writeChunkHeader(length: part.readableBytes, into: &header) {
            out.writeImmutableBuffer(header)
            out.writeImmutableBuffer(part)
            out.writeImmutableBuffer(UpstreamRequestWriter.chunkTerminator)
        } else {
            out.writeImmutableBuffer(part)
        }
    }
    var end = ByteBuffer()
    if writer.writeEnd(into: &end) { out.writeImmutableBuffer(end) }
    #expect(!writer.isChunked)
    return Array(out.readableBytesView)
}

/// What NIOHTTP1's `HTTPRequestEncoder` (the encoder the data path used before) writes.
private func encodedByNIO(_ head: HTTPRequestHead, body: [ByteBuffer]) throws -> [UInt8] {
    let channel = EmbeddedChannel(handler: HTTPRequestEncoder())
    defer { _ = try? channel.finish() }
    try channel.writeOutbound(HTTPClientRequestPart.head(head))
    for part in body {
        try channel.writeOutbound(HTTPClientRequestPart.body(.byteBuffer(part)))
    }
    try channel.writeOutbound(HTTPClientRequestPart.end(nil))
    var out: [UInt8] = []
    while let data = try channel.readOutbound(as: IOData.self) {
        guard case .byteBuffer(let buffer) = data else {
            Issue.record("a file region from the encoder")
            continue
        }
        out += buffer.readableBytesView
    }
    return out
}

private func head(
    _ method: HTTPMethod,
    uri: String = "/api/things?a=1",
    version: HTTPVersion = .http1_1,
    _ headers: [(String, String)]
) -> HTTPRequestHead {
    HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(headers))
}

private func text(_ bytes: [UInt8]) -> String {
    String(decoding: bytes, as: UTF8.self)
}

@Suite("UpstreamRequestWriter")
struct UpstreamRequestWriterTests {
    @Test("a GET: the request line and every field in order, verbatim")
    func plainGet() {
        let bytes = written(
            head(.GET, [("Host", "backend"), ("X-Auth-User-Id", "u1"), ("accept", "*/*"), ("X-Empty", "")]),
            body: []
        )
        #expect(
            text(bytes)
                == "GET /api/things?a=1 HTTP/1.1\r\nHost: backend\r\nX-Auth-User-Id: u1\r\naccept: */*\r\nX-Empty: \r\n\r\n"
        )
    }

    @Test("a POST with Content-Length: the body as it is, no chunk framing, no end bytes")
    func postWithContentLength() {
        let bytes = written(
            head(.POST, [("Host", "b"), ("Content-Length", "5")]),
            body: [ByteBuffer(string: "he"), ByteBuffer(string: "llo")]
        )
        #expect(text(bytes) == "POST /api/things?a=1 HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\nhello")
    }

    @Test("a chunked POST: the client's Transfer-Encoding becomes the last field, each part one chunk")
    func chunkedPost() {
        let bytes = written(
            head(.POST, [("Transfer-Encoding", "chunked"), ("Host", "b")]),
            body: [ByteBuffer(string: String(repeating: "x", count: 26)), ByteBuffer(), ByteBuffer(string: "y")]
        )
        #expect(
            text(bytes)
                == "POST /api/things?a=1 HTTP/1.1\r\nHost: b\r\ntransfer-encoding: chunked\r\n\r\n"
                + "1a\r\n" + String(repeating: "x", count: 26) + "\r\n" + "1\r\ny\r\n" + "0\r\n\r\n"
        )
    }

    @Test("a POST without a body still frames itself (chunked, empty), as the encoder did")
    func bodilessPost() {
        #expect(
            text(written(head(.POST, [("Host", "b")]), body: []))
                == "POST /api/things?a=1 HTTP/1.1\r\nHost: b\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"
        )
    }

    @Test("TRACE never carries framing fields; Content-Length wins over Transfer-Encoding")
    func framingFieldsDropped() {
        #expect(
            text(
                written(head(.TRACE, uri: "/", [("Content-Length", "3"), ("Transfer-Encoding", "chunked")]), body: [])
            )
                == "TRACE / HTTP/1.1\r\n\r\n"
        )
        #expect(
            text(
                written(
                    head(.DELETE, uri: "/", [("transfer-encoding", "chunked"), ("content-length", "2")]),
                    body: [ByteBuffer(string: "ab")]
                )
            ) == "DELETE / HTTP/1.1\r\ncontent-length: 2\r\n\r\nab"
        )
    }

    @Test("an extension method and HTTP/1.0 are spelled as given")
    func rawMethodAndVersion() {
        #expect(
            text(written(head(.RAW(value: "PURGE"), uri: "/x", version: .http1_0, [("Host", "b")]), body: []))
                == "PURGE /x HTTP/1.0\r\nHost: b\r\n\r\n"
        )
    }

    @Test(
        "the head fills bytes reserved up front: long and non-ASCII values, any version, after bytes already there",
        arguments: [
            HTTPVersion.http1_1, .http1_0, HTTPVersion(major: 1, minor: 2), HTTPVersion(major: 65_535, minor: 65_535),
        ]
    )
    func reservedBytes(version: HTTPVersion) throws {
        let long = String(repeating: "v", count: 70_000)
        let request = head(
            .POST,
            uri: "/" + String(repeating: "p", count: 5_000),
            version: version,
            [
                ("Host", "b"), ("X-Long", long), ("X-Name", "Zoë Çelik 🙂"), ("X-Empty", ""),
                ("Transfer-Encoding", "gzip"),
            ]
        )
        var buffer = ByteBuffer(string: "already here|")
        var writer = UpstreamRequestWriter()
        writer.writeHead(request, into: &buffer)
        #expect(buffer.readString(length: 13) == "already here|")
        _ = writer.writeEnd(into: &buffer)
        #expect(Array(buffer.readableBytesView) == (try encodedByNIO(request, body: [])))
        #expect(Array(buffer.readableBytesView) == written(request, body: []))
    }

    @Test(
        "chunk sizes are lowercase hex without leading zeros",
        arguments: [1, 9, 10, 15, 16, 255, 4096, 65_535, 1 << 20]
    )
    func hexSizes(size: Int) {
        var buffer = ByteBuffer()
        UpstreamRequestWriter.writeHex(size, into: &buffer)
        #expect(String(buffer: buffer) == String(size, radix: 16))
    }

    @Test("the same bytes as NIOHTTP1's HTTPRequestEncoder on 10,000 generated requests (fixed seed)")
    func differentialAgainstNIOEncoder() throws {
        var rng = ParserTestRandom(seed: 0x5EED_0013)
        let methods: [HTTPMethod] = [
            .GET, .HEAD, .POST, .PUT, .PATCH, .DELETE, .OPTIONS, .TRACE, .CONNECT,
            .RAW(value: "PURGE"), .RAW(value: "QUERY"),
        ]
        let versions: [HTTPVersion] = [.http1_1, .http1_1, .http1_1, .http1_0]
        let fieldPool: [(String, String)] = [
            ("Host", "backend:8080"), ("X-Auth-User-Id", "user-1"), ("X-Auth-Roles", "admin,user"),
            ("Content-Length", "12"), ("content-length", "0"), ("CONTENT-LENGTH", "7"),
            ("Transfer-Encoding", "chunked"), ("transfer-encoding", "gzip"), ("Transfer-Encoding", "gzip, chunked"),
            ("Accept", "application/json"), ("Cookie", "a=b; c=d"), ("X-Empty", ""), ("Content-Type", "text/plain"),
            ("X-Forwarded-For", "203.0.113.9, 10.0.0.2"), ("Transfer-Encodingx", "chunked"), ("Content-Lengt", "1"),
        ]
        let uris = ["/", "/api/things", "/api/v1/users/42?fields=a,b&x=%20", "*", "/ws?token=abc"]
        var chunked = 0
        for index in 0..<10_000 {
            let method = methods.randomElement(using: &rng)!
            let version = versions.randomElement(using: &rng)!
            let fieldCount = Int.random(in: 0...6, using: &rng)
            let fields = (0..<fieldCount).map { _ in fieldPool.randomElement(using: &rng)! }
            let request = head(method, uri: uris.randomElement(using: &rng)!, version: version, fields)
            let body = (0..<Int.random(in: 0...3, using: &rng)).map { _ in
                ByteBuffer(
                    repeating: UInt8(ascii: "b"),
                    count: [0, 1, 15, 16, 300, 70_000].randomElement(using: &rng)!
                )
            }
            let ours = written(request, body: body)
            let nio = try encodedByNIO(request, body: body)
            if ours != nio {
                Issue.record(
                    "request \(index) differs:\nours: \(text(ours).debugDescription)\nnio:  \(text(nio).debugDescription)"
                )
                return
            }
            if text(nio).hasSuffix("0\r\n\r\n") { chunked += 1 }
        }
        // The generator reaches both framings.
        #expect(chunked > 1_000)
    }
}
