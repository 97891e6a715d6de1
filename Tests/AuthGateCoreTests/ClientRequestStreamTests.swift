import NIOCore
import NIOHTTP1
import Testing

@testable import AuthGateCore

private func describe(_ part: HTTPServerRequestPart) -> String {
    switch part {
    case .head(let head):
        let fields = head.headers.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
        return "head \(head.method.rawValue) \(head.uri) \(head.version) [\(fields)]"
    case .body(let bytes):
        return "body \(String(buffer: bytes))"
    case .end(let trailers):
        guard let trailers else { return "end" }
        return "end [" + trailers.map { "\($0.name)=\($0.value)" }.joined(separator: ",") + "]"
    }
}

/// Every part the stream holds now, described; the error, if one was thrown.
private func drain(_ stream: inout ClientRequestStream) -> (parts: [String], error: ClientRequestParserError?) {
    var parts: [String] = []
    do {
        while let part = try stream.next() { parts.append(describe(part)) }
    } catch {
        return (parts, error)
    }
    return (parts, nil)
}

/// Feeds `text` in pieces cut at `cuts` and returns what was delivered and the error, if any.
private func feed(
    _ text: String,
    cuts: [Int] = [],
    limits: ClientRequestParser.Limits = ClientRequestParser.Limits()
) -> (parts: [String], error: ClientRequestParserError?) {
    var stream = ClientRequestStream(limits: limits)
    let bytes = Array(text.utf8)
    var parts: [String] = []
    var start = 0
    for end in cuts + [bytes.count] where end >= start {
        stream.receive(ByteBuffer(bytes: bytes[start..<end]))
        let outcome = drain(&stream)
        parts += outcome.parts
        if let error = outcome.error { return (parts, error) }
        start = end
    }
    return (parts, nil)
}

@Suite("ClientRequestStream")
struct ClientRequestStreamTests {
    static let pipelined =
        "GET /a?x=1 HTTP/1.1\r\nHost: g\r\nX-One: 1\r\n\r\n"
        + "POST /b HTTP/1.1\r\nHost: g\r\nContent-Length: 5\r\n\r\nhello"
        + "PUT /c HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: t\r\n\r\n"

    static let pipelinedParts = [
        "head GET /a?x=1 HTTP/1.1 [Host=g,X-One=1]", "end",
        "head POST /b HTTP/1.1 [Host=g,Content-Length=5]", "body hello", "end",
        "head PUT /c HTTP/1.1 [Host=g,Transfer-Encoding=chunked]", "body abc", "body de", "end [X-T=t]",
    ]

    /// Adjacent body pieces joined, so that outcomes of different splits compare.
    private static func joiningBodies(_ parts: [String]) -> [String] {
        var out: [String] = []
        for part in parts {
            if part.hasPrefix("body "), let last = out.last, last.hasPrefix("body ") {
                out[out.count - 1] = last + part.dropFirst(5)
            } else {
                out.append(part)
            }
        }
        return out
    }

    @Test("pipelined requests in one buffer: heads, fixed and chunked bodies, trailers, in order")
    func pipelinedInOneBuffer() {
        let outcome = feed(Self.pipelined)
        #expect(outcome.error == nil)
        #expect(outcome.parts == Self.pipelinedParts)
    }

    @Test("the same requests split at every byte give the same parts")
    func splitAtEveryByte() {
        let count = Self.pipelined.utf8.count
        for cut in 1..<count {
            let outcome = feed(Self.pipelined, cuts: [cut])
            #expect(outcome.error == nil, "cut at \(cut)")
            #expect(Self.joiningBodies(outcome.parts) == Self.joiningBodies(Self.pipelinedParts), "cut at \(cut)")
        }
        let byteAtATime = feed(Self.pipelined, cuts: Array(1..<count))
        #expect(byteAtATime.error == nil)
        #expect(Self.joiningBodies(byteAtATime.parts) == Self.joiningBodies(Self.pipelinedParts))
    }

    @Test("a body is a slice of the received buffer, not a copy")
    func bodyIsASlice() throws {
        var stream = ClientRequestStream(limits: ClientRequestParser.Limits())
        let received = ByteBuffer(string: "POST /b HTTP/1.1\r\nHost: g\r\nContent-Length: 5\r\n\r\nhello")
        stream.receive(received)
        _ = try stream.next()
        let body = try #require(try stream.next())
        guard case .body(let bytes) = body else {
            Issue.record("not a body: \(body)")
            return
        }
        let same = received.withUnsafeReadableBytes { whole in
            bytes.withUnsafeReadableBytes { slice in whole.baseAddress! + (whole.count - 5) == slice.baseAddress! }
        }
        #expect(same, "the body's bytes are the received buffer's")
    }

    @Test(
        "targets browsers send today are handed on: { } | ^ ` in the query, \\ in the path",
        arguments: ["/search?q={a|b}", "/s?f=a^b`c", "/api/public/..\\private", "/a[1]?b[]=2"]
    )
    func browserTargets(target: String) {
        let outcome = feed("GET \(target) HTTP/1.1\r\nHost: g\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.parts == ["head GET \(target) HTTP/1.1 [Host=g]", "end"])
    }

    @Test(
        "smuggling and malformed shapes are refused with the error that answers 400",
        arguments: [
            ("POST / HTTP/1.1\r\nHost: g\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", "CL+TE"),
            ("GET / HTTP/1.1\nHost: g\r\n\r\n", "bare LF"),
            ("\nGET / HTTP/1.1\r\nHost: g\r\n\r\n", "bare LF before the request line"),
            ("GET / HTTP/1.1\r\nHost: g\r\n folded\r\n\r\n", "obs-fold"),
            ("GET / HTTP/1.1\r\nHost : g\r\n\r\n", "space before the colon"),
            ("POST / HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "coding list"),
            ("POST / HTTP/1.1\r\nHost: g\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", "two lengths"),
            ("POST / HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n3 ;a\r\nabc\r\n0\r\n\r\n", "BWS ext"),
            (
                "POST / HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n",
                "framing trailer"
            ),
            ("GET /caf\u{E9} HTTP/1.1\r\nHost: g\r\n\r\n", "non-ASCII target"),
            ("GET /a{b} HTTP/1.1\r\nHost: g\r\n\r\n", "brace in the path"),
            ("GET http://evil/ HTTP/1.1\r\nHost: g\r\n\r\n", "absolute form"),
            ("BREW / HTTP/1.1\r\nHost: g\r\n\r\n", "unknown method"),
        ]
    )
    func refusedWith400(request: String, shape: String) throws {
        let outcome = feed(request)
        let error = try #require(outcome.error, "\(shape) accepted: \(outcome.parts)")
        #expect(error.status == .badRequest, "\(shape): \(error)")
        #expect(error.gatewayError.code.rawValue == "bad_request", "\(shape)")
        #expect(!outcome.parts.contains { $0.hasPrefix("end") }, "\(shape): the request never ends")
    }

    @Test("after a parse error nothing more is read, and the error is not thrown again")
    func nothingAfterAnError() {
        var stream = ClientRequestStream(limits: ClientRequestParser.Limits())
        stream.receive(ByteBuffer(string: "GET / HTTP/1.1\nHost: g\r\n\r\n"))
        #expect(drain(&stream).error == .bareLineEnding)
        stream.receive(ByteBuffer(string: "GET /next HTTP/1.1\r\nHost: g\r\n\r\n"))
        let after = drain(&stream)
        #expect(after.parts == [] && after.error == nil)
        #expect(stream.takeUnparsed() == nil, "nothing was kept")
        #expect(throws: Never.self) { _ = try stream.finish() }
    }

    @Test("the limits answer 414 for the request line and target, 431 for the fields")
    func limitStatuses() {
        var config = GatewayConfig.Limits()
        config.maxURIBytes = 100
        config.maxHeaderBytes = 200
        config.maxHeaderCount = 5
        let limits = ClientRequestStream.limits(config)
        let target = "/" + String(repeating: "a", count: 100)
        let longLine = feed("GET \(target) HTTP/1.1\r\nHost: g\r\n\r\n", limits: limits)
        #expect(longLine.error?.status == .uriTooLong)
        let unfinished = feed("GET /" + String(repeating: "a", count: 1000), limits: limits)
        #expect(unfinished.error?.status == .uriTooLong, "a target too long is 414 before its line ends")
        let atLimit = feed(
            "GET /" + String(repeating: "a", count: 99) + " HTTP/1.1\r\nHost: g\r\n\r\n",
            limits: limits
        )
        #expect(atLimit.error == nil, "a target of exactly max_uri_bytes passes the parser")
        let manyFields = (0..<6).map { "X-\($0): v\r\n" }.joined()
        let tooMany = feed("GET / HTTP/1.1\r\nHost: g\r\n\(manyFields)\r\n", limits: limits)
        #expect(tooMany.error?.status == .requestHeaderFieldsTooLarge)
        let big = feed(
            "GET / HTTP/1.1\r\nHost: g\r\nX-Big: \(String(repeating: "b", count: 2000))\r\n\r\n",
            limits: limits
        )
        #expect(big.error?.status == .requestHeaderFieldsTooLarge)
        #expect(big.error?.gatewayError.code.rawValue == "request_header_fields_too_large")
        // Names and values of exactly max_header_bytes pass the parser (RequestValidator checks
        // the exact sum): the raw bound leaves room for colons, whitespace and CRLFs.
        let value = String(repeating: "v", count: 200 - "Host".count - 1 - "X-V".count)
        let exact = feed("GET / HTTP/1.1\r\nHost: g\r\nX-V:   \(value)   \r\n\r\n", limits: limits)
        #expect(exact.error == nil)
    }

    @Test("after an upgrade request's end nothing more is parsed; the bytes are taken as they came")
    func leftoverBytesAfterUpgrade() {
        var stream = ClientRequestStream(limits: ClientRequestParser.Limits())
        let request = "GET /ws HTTP/1.1\r\nHost: g\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        // A first frame right behind the request, and bytes that would not parse as HTTP.
        stream.receive(ByteBuffer(string: request + "\u{01}\u{02}hi GARBAGE\n"))
        let first = drain(&stream)
        #expect(first.error == nil)
        #expect(first.parts == ["head GET /ws HTTP/1.1 [Host=g,Connection=Upgrade,Upgrade=websocket]", "end"])
        stream.receive(ByteBuffer(string: "more"))
        #expect(drain(&stream).parts == [], "nothing is parsed after the upgrade request")
        #expect(stream.takeUnparsed().map { String(buffer: $0) } == "\u{01}\u{02}hi GARBAGE\nmore")
        stream.receive(ByteBuffer(string: "raw"))
        #expect(stream.takeUnparsed() == nil, "taken once: the stream reads nothing more")
    }

    @Test("a request without an upgrade is followed by the next one in the same buffer")
    func noUpgradeKeepsParsing() {
        let outcome = feed(
            "GET /ws HTTP/1.1\r\nHost: g\r\nUpgrade: websocket\r\n\r\nGET /next HTTP/1.1\r\nHost: g\r\n\r\n"
        )
        #expect(
            outcome.parts == [
                "head GET /ws HTTP/1.1 [Host=g,Upgrade=websocket]", "end", "head GET /next HTTP/1.1 [Host=g]", "end",
            ]
        )
    }

    @Test("after a request that closes the connection, what follows is neither parsed nor kept")
    func bytesAfterCloseAreDropped() {
        var stream = ClientRequestStream(limits: ClientRequestParser.Limits())
        stream.receive(
            ByteBuffer(string: "GET /last HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\nGET /more HTTP/1.1\r\n")
        )
        let first = drain(&stream)
        stream.receive(ByteBuffer(string: "Host: g\r\n\r\n not http at all"))
        let second = drain(&stream)
        #expect(first.parts == ["head GET /last HTTP/1.1 [Host=g,Connection=close]", "end"])
        #expect(second.parts == [] && second.error == nil)
        #expect(stream.takeUnparsed() == nil, "the stream held nothing")
    }

    @Test("the connection's end inside a message is an error; between messages it is not")
    func endOfInput() throws {
        var inBody = ClientRequestStream(limits: ClientRequestParser.Limits())
        inBody.receive(ByteBuffer(string: "POST / HTTP/1.1\r\nHost: g\r\nContent-Length: 10\r\n\r\nabc"))
        #expect(drain(&inBody).parts == ["head POST / HTTP/1.1 [Host=g,Content-Length=10]", "body abc"])
        #expect(throws: ClientRequestParserError.incomplete) { _ = try inBody.finish() }

        var inHead = ClientRequestStream(limits: ClientRequestParser.Limits())
        inHead.receive(ByteBuffer(string: "GET / HTTP/1.1\r\nHost"))
        #expect(drain(&inHead).parts == [])
        #expect(throws: ClientRequestParserError.incomplete) { _ = try inHead.finish() }

        var between = ClientRequestStream(limits: ClientRequestParser.Limits())
        between.receive(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: g\r\n\r\n"))
        #expect(drain(&between).parts == ["head GET / HTTP/1.1 [Host=g]", "end"])
        #expect(try between.finish() == nil)
    }
}
