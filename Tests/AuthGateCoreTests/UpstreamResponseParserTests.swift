import NIOCore
import NIOHTTP1
import Testing

@testable import AuthGateCore

private typealias Parser = UpstreamResponseParser
private typealias Event = UpstreamResponseParser.Event
private typealias ParseError = UpstreamResponseParser.Error

private struct HarnessFailure: Error {}

/// A parser and the connection's read buffer: bytes are appended to the buffer and the parser is
/// asked for events until it needs more.
private struct Harness {
    var parser: Parser
    var buffer = ByteBuffer()

    init(requests: [HTTPMethod] = [.GET], limits: Parser.Limits = Parser.Limits()) {
        parser = Parser(limits: limits)
        for method in requests {
            parser.requestSent(method: method)
        }
    }

    /// Appends `text` and returns the events it completes.
    mutating func feed(_ text: String) throws -> [Event] {
        buffer.writeString(text)
        return try drain()
    }

    /// Appends `bytes` and returns the events they complete.
    mutating func feed(bytes: [UInt8]) throws -> [Event] {
        buffer.writeBytes(bytes)
        return try drain()
    }

    /// Calls `next` until it returns nil.
    mutating func drain() throws -> [Event] {
        var out: [Event] = []
        while let event = try parser.next(&buffer) {
            out.append(event)
            if out.count > 10_000 {
                Issue.record("next keeps returning events without consuming bytes")
                throw HarnessFailure()
            }
        }
        return out
    }

    /// Calls `next` until it returns `.end` (or nil), leaving any further bytes unparsed.
    mutating func nextResponse() throws -> [Event] {
        var out: [Event] = []
        while let event = try parser.next(&buffer) {
            out.append(event)
            if event == .end || out.count > 10_000 { break }
        }
        return out
    }

    mutating func finish() throws -> Event? {
        try parser.finish(&buffer)
    }
}

/// Feeds `text` at once to a parser that has sent `requests`; the events until `next` returns nil.
private func events(
    _ text: String,
    requests: [HTTPMethod] = [.GET],
    limits: Parser.Limits = Parser.Limits()
) throws -> [Event] {
    var harness = Harness(requests: requests, limits: limits)
    return try harness.feed(text)
}

/// Feeds `text` one byte at a time, draining the parser after each byte.
private func eventsFedByteByByte(_ text: String, requests: [HTTPMethod] = [.GET]) throws -> [Event] {
    var harness = Harness(requests: requests)
    var out: [Event] = []
    for byte in text.utf8 {
        out += try harness.feed(bytes: [byte])
    }
    return out
}

/// "head <code>", "body <text>" (consecutive body slices joined, empty ones ignored), "end".
private func render(_ events: [Event]) -> [String] {
    var out: [String] = []
    var previousWasBody = false
    for event in events {
        switch event {
        case .head(let head):
            out.append("head \(head.status.code)")
            previousWasBody = false
        case .body(let buffer):
            guard buffer.readableBytes > 0 else { continue }
            if previousWasBody {
                out[out.count - 1] += String(buffer: buffer)
            } else {
                out.append("body " + String(buffer: buffer))
            }
            previousWasBody = true
        case .end:
            out.append("end")
            previousWasBody = false
        }
    }
    return out
}

/// The heads among `events`, in order.
private func heads(_ events: [Event]) -> [UpstreamResponseHead] {
    events.compactMap { event in
        guard case .head(let head) = event else { return nil }
        return head
    }
}

/// The first head among `events`.
private func firstHead(
    _ events: [Event],
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> UpstreamResponseHead {
    try #require(heads(events).first, "no head in \(render(events))", sourceLocation: sourceLocation)
}

/// The fields of `head` as "name: value", in order.
private func fields(_ head: UpstreamResponseHead) -> [String] {
    head.headers.map { "\($0.name): \($0.value)" }
}

/// A response with `fieldLines` (CRLF-separated) and `body`.
private func response(_ fieldLines: String, body: String = "", status: String = "200 OK") -> String {
    "HTTP/1.1 \(status)\r\n\(fieldLines)\r\n\r\n\(body)"
}

@Suite("UpstreamResponseParser")
struct UpstreamResponseParserTests {
    // MARK: Status line and fields

    @Test("a Content-Length response yields its head, its body and end")
    func contentLengthResponse() throws {
        let result = try events("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
        #expect(render(result) == ["head 200", "body hello", "end"])
        let head = try firstHead(result)
        #expect(head.version == .http1_1)
        #expect(head.status.code == 200)
        #expect(head.headers["Content-Type"] == ["text/plain"])
        #expect(head.headers["Content-Length"] == ["5"])
    }

    @Test("an HTTP/1.0 status line gives an HTTP/1.0 head")
    func http10() throws {
        let result = try events("HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        #expect(render(result) == ["head 404", "end"])
        let head = try firstHead(result)
        #expect(head.version == .http1_0)
        #expect(head.status.code == 404)
    }

    @Test("the reason phrase may be empty or absent", arguments: ["HTTP/1.1 204 \r\n\r\n", "HTTP/1.1 204\r\n\r\n"])
    func reasonPhraseOptional(_ text: String) throws {
        let result = try events(text)
        #expect(render(result) == ["head 204", "end"])
        #expect(try firstHead(result).version == .http1_1)
    }

    @Test("any three-digit status code from 100 to 999 is accepted", arguments: [200, 418, 599, 999])
    func statusCodeRange(_ code: Int) throws {
        let result = try events("HTTP/1.1 \(code) Whatever\r\nContent-Length: 0\r\n\r\n")
        #expect(render(result) == ["head \(code)", "end"])
    }

    @Test(
        "a malformed status line is rejected",
        arguments: [
            "HTTP/2.0 200 OK", "HTTP/1.2 200 OK", "http/1.1 200 OK", "HTTP/1.1 20 OK", "HTTP/1.1 2000 OK",
            "HTTP/1.1 099 OK", "HTTP/1.1 2x0 OK", "HTTP/1.1200 OK", "garbage",
        ]
    )
    func malformedStatusLine(_ line: String) {
        #expect(throws: ParseError.statusLine) { _ = try events("\(line)\r\nContent-Length: 0\r\n\r\n") }
    }

    @Test("field names and values are kept as sent, in order, with duplicates")
    func fieldsInOrder() throws {
        let text = response("X-Custom-Name: MixedCase Value\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0")
        let head = try firstHead(events(text))
        #expect(
            fields(head) == [
                "X-Custom-Name: MixedCase Value", "Set-Cookie: a=1", "Set-Cookie: b=2", "Content-Length: 0",
            ]
        )
    }

    @Test("field values are trimmed of leading and trailing spaces and tabs, inner spaces kept")
    func valuesTrimmed() throws {
        let head = try firstHead(events(response("X-A: \t a  b \t \r\nX-Empty:\r\nX-Blank: \t\r\nContent-Length: 0")))
        #expect(fields(head) == ["X-A: a  b", "X-Empty: ", "X-Blank: ", "Content-Length: 0"])
    }

    @Test("lines may end with a bare LF")
    func bareLineFeed() throws {
        let result = try events("HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 2\n\nhi")
        #expect(render(result) == ["head 200", "body hi", "end"])
        #expect(try firstHead(result).headers["Content-Type"] == ["text/plain"])
    }

    @Test(
        "a malformed field line is rejected",
        arguments: [
            "NoColon", ": empty-name", "Bad Name: x", "Name : v", "Na@me: v", "X-A: 1\r\n continued",
            "X-A: 1\r\n\tcontinued", "X-A: a\u{0}b", "X-A: a\rb",
        ]
    )
    func malformedFieldLine(_ line: String) {
        #expect(throws: ParseError.headerLine) { _ = try events(response("\(line)\r\nContent-Length: 0")) }
    }

    // MARK: Interim responses and upgrades

    @Test("100 and 103 responses are dropped and the final response is returned")
    func interimResponsesDropped() throws {
        let text =
            "HTTP/1.1 100 Continue\r\n\r\n"
            + "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
            + response("Content-Length: 2", body: "ok")
        let result = try events(text)
        #expect(render(result) == ["head 200", "body ok", "end"])
        #expect(try firstHead(result).headers["Link"] == [])
    }

    @Test("a 101 head and its end are returned, then nothing more is parsed and the bytes after it stay in the buffer")
    func upgrade() throws {
        var harness = Harness()
        harness.buffer.writeString(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        )
        let frame: [UInt8] = [0x81, 0x05] + Array("hello".utf8)
        harness.buffer.writeBytes(frame)
        #expect(!harness.parser.isUpgraded)
        let result = try harness.drain()
        #expect(render(result) == ["head 101", "end"])
        #expect(try firstHead(result).headers["Upgrade"] == ["websocket"])
        #expect(harness.parser.isUpgraded)
        #expect(Array(harness.buffer.readableBytesView) == frame)
        let more = try harness.feed("HTTP/1.1 200 OK\r\n\r\n")
        #expect(more.isEmpty, "nothing is parsed after an upgrade")
        #expect(harness.buffer.readableBytes == frame.count + "HTTP/1.1 200 OK\r\n\r\n".utf8.count)
        let atEOF = try harness.finish()
        #expect(atEOF == nil)
    }

    // MARK: Responses without a body

    @Test(
        "a response to HEAD has no body whatever its framing fields say",
        arguments: ["Content-Length: 100", "Transfer-Encoding: chunked"]
    )
    func headResponse(_ framing: String) throws {
        var harness = Harness(requests: [.HEAD, .GET])
        let result = try harness.feed(
            response(framing) + response("Content-Length: 3", body: "abc", status: "201 Created")
        )
        #expect(render(result) == ["head 200", "end", "head 201", "body abc", "end"])
    }

    @Test("204 and 304 responses have no body", arguments: ["204 No Content", "304 Not Modified"])
    func noBodyStatus(_ status: String) throws {
        let text = response("Content-Length: 10", status: status) + response("Content-Length: 1", body: "x")
        let result = try events(text, requests: [.GET, .GET])
        #expect(render(result) == ["head \(status.prefix(3))", "end", "head 200", "body x", "end"])
    }

    @Test("the framing field names are matched case-insensitively")
    func framingNamesCaseInsensitive() throws {
        let text =
            response("content-length: 3", body: "abc")
            + response("TRANSFER-ENCODING: chunked", body: "2\r\nde\r\n0\r\n\r\n")
        let result = try events(text, requests: [.GET, .GET])
        #expect(render(result) == ["head 200", "body abc", "end", "head 200", "body de", "end"])
    }

    @Test("Content-Length: 0 gives a head and end")
    func zeroLength() throws {
        var harness = Harness(requests: [.GET, .GET])
        let result = try harness.feed(response("Content-Length: 0") + response("Content-Length: 0"))
        #expect(render(result) == ["head 200", "end", "head 200", "end"])
        #expect(harness.buffer.readableBytes == 0)
    }

    // MARK: Content-Length

    @Test("a Content-Length body split over several reads arrives as slices totalling its length")
    func contentLengthSplit() throws {
        var harness = Harness()
        let first = try harness.feed(response("Content-Length: 11", body: "hel"))
        #expect(render(first) == ["head 200", "body hel"])
        let second = try harness.feed("lo wo")
        #expect(render(second) == ["body lo wo"])
        let third = try harness.feed("rld")
        #expect(render(third) == ["body rld", "end"])
    }

    @Test("a partial head returns nil until the rest arrives")
    func partialHead() throws {
        var harness = Harness()
        let first = try harness.feed("HTTP/1.1 200 OK\r\nContent-Le")
        #expect(first.isEmpty)
        let second = try harness.feed("ngth: 2\r\n\r\nok")
        #expect(render(second) == ["head 200", "body ok", "end"])
    }

    @Test("the bytes after a Content-Length body stay in the buffer for the next response")
    func bytesAfterBodyStay() throws {
        var harness = Harness()
        let next = "HTTP/1.1 204 No Content\r\n\r\n"
        harness.buffer.writeString(response("Content-Length: 3", body: "abc") + next)
        let first = try harness.nextResponse()
        #expect(render(first) == ["head 200", "body abc", "end"])
        #expect(String(buffer: harness.buffer) == next)
        harness.parser.requestSent(method: .GET)
        let second = try harness.drain()
        #expect(render(second) == ["head 204", "end"])
    }

    @Test("keep-alive: request and response pairs follow one another on the same parser")
    func keepAlive() throws {
        var harness = Harness()
        let first = try harness.feed(response("Content-Length: 1", body: "a"))
        #expect(render(first) == ["head 200", "body a", "end"])
        harness.parser.requestSent(method: .GET)
        let second = try harness.feed(response("Content-Length: 2", body: "bb", status: "404 Not Found"))
        #expect(render(second) == ["head 404", "body bb", "end"])
        harness.parser.requestSent(method: .POST)
        let third = try harness.feed(response("Transfer-Encoding: chunked", body: "1\r\nc\r\n0\r\n\r\n"))
        #expect(render(third) == ["head 200", "body c", "end"])
    }

    @Test("repeated equal Content-Length values are accepted", arguments: ["5, 5", "5,5", "5\r\nContent-Length: 5"])
    func repeatedEqualContentLength(_ value: String) throws {
        let result = try events(response("Content-Length: \(value)", body: "hello"))
        #expect(render(result) == ["head 200", "body hello", "end"])
    }

    @Test(
        "an invalid or conflicting Content-Length is rejected",
        arguments: ["5, 6", "5\r\nContent-Length: 6", "abc", "-1", "", "+5", "5 5"]
    )
    func invalidContentLength(_ value: String) {
        #expect(throws: ParseError.contentLength) {
            _ = try events(response("Content-Length: \(value)", body: "hello"))
        }
    }

    // MARK: Chunked

    @Test("a chunked body is de-chunked and the Transfer-Encoding field stays in the head")
    func chunked() throws {
        let result = try events(response("Transfer-Encoding: chunked", body: "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"))
        #expect(render(result) == ["head 200", "body hello world", "end"])
        #expect(try firstHead(result).headers["Transfer-Encoding"] == ["chunked"])
    }

    @Test("chunk extensions are ignored")
    func chunkExtensions() throws {
        let body = "5;name=value\r\nhello\r\n3;a;b=\"c d\"\r\nabc\r\n0;last\r\n\r\n"
        let result = try events(response("Transfer-Encoding: chunked", body: body))
        #expect(render(result) == ["head 200", "body helloabc", "end"])
    }

    @Test("chunk sizes are hex, upper or lower case")
    func chunkSizesHex() throws {
        let ten = "0123456789"
        let body = "a\r\n\(ten)\r\nB\r\n\(ten)x\r\n1F\r\n\(ten)\(ten)\(ten)y\r\n0\r\n\r\n"
        let result = try events(response("Transfer-Encoding: chunked", body: body))
        #expect(render(result) == ["head 200", "body \(ten)\(ten)x\(ten)\(ten)\(ten)y", "end"])
    }

    @Test("trailers after the last chunk are skipped and the next response parses")
    func trailersSkipped() throws {
        let body = "2\r\nhi\r\n0\r\nX-Trailer: v\r\nX-Other: w\r\n\r\n"
        let text = response("Transfer-Encoding: chunked", body: body) + response("Content-Length: 1", body: "z")
        let result = try events(text, requests: [.GET, .GET])
        #expect(render(result) == ["head 200", "body hi", "end", "head 200", "body z", "end"])
        #expect(heads(result).allSatisfy { $0.headers["X-Trailer"].isEmpty })
    }

    @Test("chunked framing lines may end with a bare LF")
    func chunkedBareLineFeed() throws {
        let text = "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n1;x=y\n!\n0\nX-T: 1\n\n"
        let result = try events(text)
        #expect(render(result) == ["head 200", "body hello!", "end"])
    }

    @Test("an oversized trailer section is rejected")
    func trailerSectionTooLarge() {
        let trailerLine = "X-Trailer: " + String(repeating: "t", count: 89) + "\r\n"
        let trailers = String(repeating: trailerLine, count: 11_000)  // over 1 MiB
        let body = "2\r\nhi\r\n0\r\n" + trailers + "\r\n"
        #expect(throws: ParseError.chunk) { _ = try events(response("Transfer-Encoding: chunked", body: body)) }
    }

    @Test(
        "chunked is recognised case-insensitively as the last coding",
        arguments: ["chunked", "Chunked", "CHUNKED", "gzip, chunked", "gzip,chunked"]
    )
    func chunkedRecognised(_ codings: String) throws {
        let result = try events(response("Transfer-Encoding: \(codings)", body: "3\r\nabc\r\n0\r\n\r\n"))
        #expect(render(result) == ["head 200", "body abc", "end"])
    }

    @Test(
        "a malformed chunk is rejected",
        arguments: ["zz\r\nhello\r\n0\r\n\r\n", "5\r\nhelloXX0\r\n\r\n", "\r\nhello\r\n0\r\n\r\n"]
    )
    func malformedChunk(_ body: String) {
        #expect(throws: ParseError.chunk) { _ = try events(response("Transfer-Encoding: chunked", body: body)) }
    }

    @Test("a chunked body fed one byte at a time gives the same events as fed at once")
    func chunkedByteByByte() throws {
        let text =
            "HTTP/1.1 100 Continue\r\n\r\n"
            + response(
                "Content-Type: text/plain\r\nTransfer-Encoding: chunked",
                body: "5;ext=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: t\r\n\r\n"
            )
            + response("Content-Length: 4", body: "next")
        let atOnce = try events(text, requests: [.POST, .GET])
        let byteByByte = try eventsFedByteByByte(text, requests: [.POST, .GET])
        #expect(render(atOnce) == ["head 200", "body hello, world!!!", "end", "head 200", "body next", "end"])
        #expect(render(byteByByte) == render(atOnce))
        #expect(heads(byteByByte) == heads(atOnce))
    }

    // MARK: Close-delimited bodies

    @Test("a Transfer-Encoding whose last coding is not chunked gives a body until EOF")
    func nonChunkedTransferEncoding() throws {
        var harness = Harness()
        let first = try harness.feed(response("Transfer-Encoding: gzip", body: "abc"))
        #expect(render(first) == ["head 200", "body abc"])
        let second = try harness.feed("0\r\n\r\n")
        #expect(render(second) == ["body 0\r\n\r\n"])
        let atEOF = try harness.finish()
        #expect(atEOF == .end)
    }

    @Test("a 200 without Content-Length or Transfer-Encoding gives a body until EOF")
    func closeDelimited() throws {
        var harness = Harness()
        let first = try harness.feed(response("Content-Type: text/plain", body: "some"))
        #expect(render(first) == ["head 200", "body some"])
        let second = try harness.feed(" more\r\n\r\nHTTP/1.1 200 OK\r\n\r\n")
        #expect(render(second) == ["body  more\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"])
        let atEOF = try harness.finish()
        #expect(atEOF == .end)
    }

    @Test("Transfer-Encoding together with Content-Length is rejected")
    func conflictingFraming() {
        #expect(throws: ParseError.conflictingFraming) {
            _ = try events(response("Content-Length: 3\r\nTransfer-Encoding: chunked", body: "3\r\nabc\r\n0\r\n\r\n"))
        }
        #expect(throws: ParseError.conflictingFraming) {
            _ = try events(response("Transfer-Encoding: chunked\r\nContent-Length: 3", body: "3\r\nabc\r\n0\r\n\r\n"))
        }
    }

    // MARK: Limits

    @Test("an unterminated head longer than maxHeadBytes is rejected")
    func unterminatedHeadTooLarge() {
        var harness = Harness(limits: Parser.Limits(maxHeadBytes: 128))
        #expect(throws: ParseError.headTooLarge) {
            _ = try harness.feed("HTTP/1.1 200 OK\r\nX-Long: " + String(repeating: "x", count: 200))
        }
    }

    @Test("a complete head of exactly maxHeadBytes is accepted, one byte more is rejected")
    func headSizeLimit() throws {
        let prefix = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: "
        let padding = 128 - prefix.utf8.count - "\r\n\r\n".utf8.count
        let exact = prefix + String(repeating: "p", count: padding) + "\r\n\r\n"
        #expect(exact.utf8.count == 128)
        let result = try events(exact, limits: Parser.Limits(maxHeadBytes: 128))
        #expect(render(result) == ["head 200", "end"])
        let tooLong = prefix + String(repeating: "p", count: padding + 1) + "\r\n\r\n"
        #expect(throws: ParseError.headTooLarge) { _ = try events(tooLong, limits: Parser.Limits(maxHeadBytes: 128)) }
    }

    @Test("a head with more than maxHeaderCount fields is rejected")
    func tooManyHeaders() throws {
        let limits = Parser.Limits(maxHeaderCount: 3)
        let three = try events(response("A: 1\r\nB: 2\r\nContent-Length: 0"), limits: limits)
        #expect(render(three) == ["head 200", "end"])
        #expect(throws: ParseError.tooManyHeaders) {
            _ = try events(response("A: 1\r\nB: 2\r\nC: 3\r\nContent-Length: 0"), limits: limits)
        }
    }

    @Test("the default limits are 64 KiB and 256 fields")
    func defaultLimits() {
        let limits = Parser.Limits()
        #expect(limits.maxHeadBytes == 64 * 1024)
        #expect(limits.maxHeaderCount == 256)
    }

    // MARK: Pairing with requests

    @Test("a response when no request was sent is unsolicited")
    func unsolicited() {
        #expect(throws: ParseError.unsolicitedResponse) { _ = try events(response("Content-Length: 0"), requests: []) }
    }

    @Test("a second response to a single request is unsolicited")
    func secondResponseUnsolicited() {
        var harness = Harness()
        #expect(throws: ParseError.unsolicitedResponse) {
            _ = try harness.feed(response("Content-Length: 1", body: "a") + response("Content-Length: 0"))
        }
    }

    @Test("responses pair with requests in order: HEAD then GET")
    func pairingInOrder() throws {
        let text = response("Content-Length: 5") + response("Content-Length: 5", body: "hello")
        let result = try events(text, requests: [.HEAD, .GET])
        #expect(render(result) == ["head 200", "end", "head 200", "body hello", "end"])
    }

    @Test("responses pair with requests in order: GET then HEAD")
    func pairingInOrderReversed() throws {
        var harness = Harness(requests: [.GET, .HEAD])
        harness.buffer.writeString(response("Content-Length: 5", body: "hello") + response("Content-Length: 5"))
        let result = try harness.drain()
        #expect(render(result) == ["head 200", "body hello", "end", "head 200", "end"])
        #expect(harness.buffer.readableBytes == 0)
    }

    // MARK: finish

    @Test("finish returns nil between messages")
    func finishBetweenMessages() throws {
        var fresh = Harness()
        let beforeAny = try fresh.finish()
        #expect(beforeAny == nil)

        var harness = Harness()
        let result = try harness.feed(response("Content-Length: 1", body: "a"))
        #expect(render(result) == ["head 200", "body a", "end"])
        let afterResponse = try harness.finish()
        #expect(afterResponse == nil)
    }

    @Test(
        "finish throws truncated in a partial head or a partial body",
        arguments: [
            "HTTP/1.1 200 OK\r\nContent-Len",
            "HTTP/1",
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n",
        ]
    )
    func finishTruncated(_ text: String) throws {
        var harness = Harness()
        _ = try harness.feed(text)
        #expect(throws: ParseError.truncated) { _ = try harness.finish() }
    }

    @Test("finish ends a close-delimited body even when no body byte arrived")
    func finishEmptyCloseDelimited() throws {
        var harness = Harness()
        let result = try harness.feed(response("Content-Type: text/plain"))
        #expect(render(result) == ["head 200"])
        let atEOF = try harness.finish()
        #expect(atEOF == .end)
    }
}

/// The fields of `head` as `forEachField` yields them, as "name|value".
private func yieldedFields(_ head: UpstreamResponseHead) -> [String] {
    var out: [String] = []
    head.forEachField { name, value in
        out.append(String(decoding: name, as: UTF8.self) + "|" + String(decoding: value, as: UTF8.self))
    }
    return out
}

@Suite("UpstreamResponseParser head facts")
struct UpstreamResponseHeadFactsTests {
    // MARK: keepAlive

    @Test(
        "keepAlive follows the version and the Connection field (RFC 9112 §9.3)",
        arguments: [
            ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
            ("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nConnection: CLOSE\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true),
            ("HTTP/1.1 200 OK\r\nConnection: X-Closed\r\nContent-Length: 0\r\n\r\n", true),
            ("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true),
            ("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", true),
            ("HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n", false),
        ]
    )
    func keepAlive(_ text: String, _ expected: Bool) throws {
        let head = try firstHead(events(text))
        #expect(head.keepAlive == expected)
    }

    // MARK: selfDelimited

    @Test(
        "selfDelimited: the body's end is known without the connection closing",
        arguments: [
            ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", HTTPMethod.GET),
            ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", .GET),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", .GET),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", .GET),
            ("HTTP/1.1 204 No Content\r\n\r\n", .GET),
            ("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", .GET),
            ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", .HEAD),
            ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", .GET),
        ]
    )
    func selfDelimited(_ text: String, _ method: HTTPMethod) throws {
        let head = try firstHead(events(text, requests: [method]))
        #expect(head.selfDelimited)
    }

    @Test(
        "selfDelimited is false for a body that ends when the connection closes",
        arguments: [
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc",
            "HTTP/1.0 200 OK\r\n\r\nold",
        ]
    )
    func notSelfDelimited(_ text: String) throws {
        let head = try firstHead(events(text))
        #expect(!head.selfDelimited)
    }

    // MARK: fields

    @Test(
        "fields holds exactly the field lines as received, without the status line, the blank line or the body",
        arguments: [
            "Content-Type: text/plain\r\nX-A: \t spaced  \r\nContent-Length: 2\r\n",
            "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nx-lower:v\r\nContent-Length: 2\r\n",
        ]
    )
    func fieldsAsReceived(_ fieldLines: String) throws {
        let head = try firstHead(events("HTTP/1.1 200 OK\r\n" + fieldLines + "\r\nok"))
        #expect(String(buffer: head.fields) == fieldLines)
    }

    @Test("fields keeps bare-LF line ends as received")
    func fieldsBareLF() throws {
        let head = try firstHead(events("HTTP/1.1 200 OK\nX-A: 1\nContent-Length: 0\n\n"))
        #expect(String(buffer: head.fields) == "X-A: 1\nContent-Length: 0\n")
    }

    @Test("a head without field lines has empty fields")
    func fieldsEmpty() throws {
        let head = try firstHead(events("HTTP/1.1 204 No Content\r\n\r\n"))
        #expect(head.fields.readableBytes == 0)
        #expect(yieldedFields(head).isEmpty)
    }

    @Test("the fields of the second response on a connection are its own")
    func fieldsOfSecondResponse() throws {
        let text =
            "HTTP/1.1 200 OK\r\nX-First: 1\r\nContent-Length: 1\r\n\r\na"
            + "HTTP/1.1 404 Not Found\r\nX-Second: 2\r\nContent-Length: 0\r\n\r\n"
        let all = heads(try events(text, requests: [.GET, .GET]))
        try #require(all.count == 2)
        #expect(String(buffer: all[0].fields) == "X-First: 1\r\nContent-Length: 1\r\n")
        #expect(String(buffer: all[1].fields) == "X-Second: 2\r\nContent-Length: 0\r\n")
    }

    @Test("forEachField yields each name and value, trimmed of spaces and tabs, in order")
    func forEachFieldTrimmed() throws {
        let text = response("X-A: \t a  b \t \r\nX-Empty:\r\nx-lower:v\r\nSet-Cookie: a=1\r\nContent-Length: 0")
        let head = try firstHead(events(text))
        #expect(yieldedFields(head) == ["X-A|a  b", "X-Empty|", "x-lower|v", "Set-Cookie|a=1", "Content-Length|0"])
    }

    @Test("forEachField handles bare-LF line ends")
    func forEachFieldBareLF() throws {
        let head = try firstHead(events("HTTP/1.1 200 OK\nX-A:  1 \nContent-Length: 0\n\n"))
        #expect(yieldedFields(head) == ["X-A|1", "Content-Length|0"])
    }

    @Test("forEachField reads only the readable bytes of fields")
    func forEachFieldReadableBytesOnly() {
        var fields = ByteBuffer(string: "Ignored: x\r\nX-A: 1\r\n")
        fields.moveReaderIndex(forwardBy: "Ignored: x\r\n".utf8.count)
        let head = UpstreamResponseHead(
            version: .http1_1,
            status: .ok,
            keepAlive: true,
            selfDelimited: true,
            fields: fields
        )
        #expect(yieldedFields(head) == ["X-A|1"])
    }
}
