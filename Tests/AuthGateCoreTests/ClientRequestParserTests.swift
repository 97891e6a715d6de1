import NIOCore
import NIOHTTP1
import Testing

@testable import AuthGateCore

private typealias Parser = ClientRequestParser
private typealias ParseError = ClientRequestParserError

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Parses `text` whole (then the connection ends) and returns the outcome.
private func parse(_ text: String, limits: Parser.Limits = .init()) -> ParseOutcome {
    runClientRequestParser(bytes(text), limits: limits)
}

/// The error `text` is refused with, whole and fed a byte at a time (they must agree).
private func refusal(_ input: [UInt8], limits: Parser.Limits = .init()) -> ParseError? {
    let whole = runClientRequestParser(input, limits: limits)
    let byByte = runClientRequestParser(input, cuts: Array(0..<input.count), limits: limits)
    #expect(whole.error == byByte.error, "split feeding changed the outcome")
    #expect(whole.messages == byByte.messages)
    return whole.error
}

private func refusal(_ text: String, limits: Parser.Limits = .init()) -> ParseError? {
    refusal(bytes(text), limits: limits)
}

@Suite("ClientRequestParser")
struct ClientRequestParserTests {
    // MARK: - Accepted requests

    @Test("a GET head: method, target, version, fields in order, accessors by case-insensitive name")
    func simpleGet() throws {
        var parser = Parser()
        var buffer = ByteBuffer(
            string: "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-Multi: one\r\nx-multi:  two \r\n\r\n"
        )
        guard case .head(let head) = try parser.next(&buffer) else {
            Issue.record("no head")
            return
        }
        #expect(head.method == .GET)
        #expect(String(decoding: head.target, as: UTF8.self) == "/a/b?c=d")
        #expect(head.version == .http1_1)
        #expect(head.framing == .none)
        #expect(head.host.map { String(decoding: $0, as: UTF8.self) } == "example.com")
        #expect(head.field("x-MULTI").map { String(decoding: $0, as: UTF8.self) } == "one")
        #expect(head.fields.count(named: "X-Multi") == 2)
        #expect(head.fields.contains("HOST"))
        #expect(!head.fields.contains("Content-Length"))
        #expect(head.field("X-Mult") == nil)
        #expect(head.fields.count == 3)
        #expect(ParsedMessage(head).fields.map(\.value) == ["example.com", "one", "two"])
        let converted = head.makeHTTPRequestHead()
        #expect(converted.uri == "/a/b?c=d" && converted.headers["x-multi"] == ["one", "two"])
        #expect(try parser.next(&buffer) == .end(nil))
        #expect(try parser.next(&buffer) == nil)
        #expect(parser.isBetweenMessages)
        #expect(buffer.readableBytes == 0)
    }

    @Test(
        "targets browsers and curl send today: { } | ^ ` in the query, \\ and [ ] anywhere",
        arguments: ["/s?q={a|b}^`c", "/api/public/..\\private", "/a[0]?b[]=1", "/?a=|"]
    )
    func acceptedTargetBytes(target: String) {
        let outcome = parse("GET \(target) HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(outcome.error == nil, "\(target): \(String(describing: outcome.error))")
        #expect(outcome.messages.map(\.target) == [target])
    }

    @Test("the head keeps the received bytes: the target is a view into them, not a copy")
    func headIsAView() throws {
        var parser = Parser()
        let text = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n"
        var buffer = ByteBuffer(string: text + "abc")
        guard case .head(let head) = try parser.next(&buffer) else {
            Issue.record("no head")
            return
        }
        #expect(head.bytes == ByteBuffer(string: text))
        #expect(head.fields.bytes == ByteBuffer(string: "Host: h\r\nContent-Length: 3\r\n"))
        #expect(head.framing == .contentLength(3))
        #expect(try parser.next(&buffer) == .body(ByteBuffer(string: "abc")))
        #expect(try parser.next(&buffer) == .end(nil))
    }

    @Test("a chunked body is de-chunked; extensions (token and quoted) are skipped; trailers are kept")
    func chunked() {
        let outcome = parse(
            "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"
                + "5;name=value;flag\r\nhello\r\n00A;q=\"a \\\"b\\\" c\"\r\n0123456789\r\n000\r\nX-Sum: 42\r\nX-Other:\r\n\r\n"
        )
        #expect(outcome.error == nil)
        #expect(outcome.messages.count == 1)
        #expect(outcome.messages.first?.body == bytes("hello0123456789"))
        #expect(
            outcome.messages.first?.trailers
                == [.init(name: "X-Sum", value: "42"), .init(name: "X-Other", value: "")]
        )
    }

    @Test("a chunked body without trailers ends with no trailer fields")
    func chunkedWithoutTrailers() {
        let outcome = parse("PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.messages.first?.body == bytes("abc"))
        #expect(outcome.messages.first?.trailers == nil)
    }

    @Test(
        "edge cases that are valid",
        arguments: [
            "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",  // no Host on 1.0
            "GET / HTTP/1.1\r\nHost:\r\n\r\n",  // empty value
            "GET / HTTP/1.1\r\nHost: h\r\nX: a\tb  c\r\n\r\n",  // HTAB and SP inside a value
            "GET / HTTP/1.1\r\nHost: h\r\nX: caf\u{E9}\r\n\r\n",  // obs-text
            "GET /a;b=c/d:e@f!$&'()*+,=[x]~?q=/?% HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length:  000 \r\n\r\n",
            "M-SEARCH / HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\n!#$%&'*+-.^_`|~09az: x\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000000000001\r\nz\r\n0\r\n\r\n",
        ]
    )
    func validEdgeCases(text: String) {
        let outcome = parse(text)
        #expect(outcome.error == nil)
        #expect(outcome.messages.count == 1)
    }

    @Test("empty lines before a request line are skipped, also between pipelined requests")
    func leadingEmptyLines() {
        let outcome = parse("\r\n\r\nGET /1 HTTP/1.1\r\nHost: h\r\n\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.messages.map(\.target) == ["/1", "/2"])
    }

    // MARK: - Pipelining

    @Test("pipelined requests in one buffer parse one after the other, bodies framed by each head")
    func pipelining() throws {
        let text =
            "POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd"
            + "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
            + "PUT /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
            + "DELETE /4 HTTP/1.0\r\n\r\n"
        let outcome = parse(text)
        #expect(outcome.error == nil)
        #expect(outcome.messages.map(\.target) == ["/1", "/2", "/3", "/4"])
        #expect(outcome.messages.map(\.body) == [bytes("abcd"), [], bytes("xy"), []])
        #expect(outcome.messages.map(\.method) == ["POST", "GET", "PUT", "DELETE"])

        // The parser stops at each message's end: the next head is still in the buffer.
        var parser = Parser()
        var buffer = ByteBuffer(string: text)
        _ = try parser.next(&buffer)
        _ = try parser.next(&buffer)
        #expect(try parser.next(&buffer) == .end(nil))
        #expect(buffer.readableBytesView.starts(with: bytes("GET /2")))
    }

    @Test(
        "keep-alive per RFC 9112 §9.3; after a request that closes the connection nothing is parsed",
        arguments: [
            ("GET / HTTP/1.1\r\nHost: h\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n", true),
            ("GET / HTTP/1.0\r\n\r\n", false),
            ("GET / HTTP/1.0\r\nConnection: foo,keep-alive\r\n\r\n", true),
            ("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false),
        ]
    )
    func keepAlive(text: String, keepAlive: Bool) throws {
        var parser = Parser()
        var buffer = ByteBuffer(string: text + "GET /next HTTP/1.1\r\nHost : bad\r\n\r\n")
        guard case .head(let head) = try parser.next(&buffer) else {
            Issue.record("no head")
            return
        }
        #expect(head.keepAlive == keepAlive)
        #expect(try parser.next(&buffer) == .end(nil))
        if keepAlive {
            #expect(throws: ParseError.fieldLine) { try parser.next(&buffer) }
        } else {
            #expect(parser.isClosed)
            #expect(try parser.next(&buffer) == nil)
            #expect(try parser.finish(&buffer) == nil)
            #expect(buffer.readableBytesView.starts(with: bytes("GET /next")))
        }
    }

    @Test("an upgrade request is one with Connection: upgrade and an Upgrade field")
    func upgrade() throws {
        func isUpgrade(_ fields: String) throws -> Bool? {
            var parser = Parser()
            var buffer = ByteBuffer(string: "GET /ws HTTP/1.1\r\nHost: h\r\n" + fields + "\r\n")
            guard case .head(let head) = try parser.next(&buffer) else { return nil }
            return head.isUpgrade
        }
        #expect(try isUpgrade("Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n") == true)
        #expect(try isUpgrade("Upgrade: websocket\r\n") == false)
        #expect(try isUpgrade("Connection: upgrade\r\n") == false)
        #expect(try isUpgrade("") == false)
    }

    // MARK: - Split feeding

    static let splitRequests: [String] = [
        "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "\r\nPOST /form HTTP/1.1\r\nHost: h\r\nContent-Type: x\r\nContent-Length: 11\r\n\r\nhello world",
        "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4;a=\"b;c\"\r\nwiki\r\n5\r\npedia\r\n0\r\nT: v\r\n\r\n",
        "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n",  // refused
        "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n",  // refused
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX",  // refused
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nshort",  // incomplete at the end
    ]

    @Test("split at every byte (and fed a byte at a time) gives the events of the whole", arguments: splitRequests)
    func splitAtEveryByte(text: String) {
        let input = bytes(text)
        let whole = runClientRequestParser(input)
        for cut in 0...input.count {
            let split = runClientRequestParser(input, cuts: [cut])
            #expect(split.messages == whole.messages, "cut at \(cut)")
            #expect(split.error == whole.error, "cut at \(cut)")
        }
        let byByte = runClientRequestParser(input, cuts: Array(0..<input.count))
        #expect(byByte.messages == whole.messages)
        #expect(byByte.error == whole.error)
    }

    @Test("body bytes are handed on as they arrive, not held until the body is complete")
    func bodyStreams() throws {
        var parser = Parser()
        var buffer = ByteBuffer(string: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nab")
        _ = try parser.next(&buffer)
        #expect(try parser.next(&buffer) == .body(ByteBuffer(string: "ab")))
        #expect(try parser.next(&buffer) == nil)
        buffer.writeString("cdefGET")
        #expect(try parser.next(&buffer) == .body(ByteBuffer(string: "cdef")))
        #expect(try parser.next(&buffer) == .end(nil))
        #expect(try parser.next(&buffer) == nil)
        #expect(!parser.isBetweenMessages)
    }

    // MARK: - Rejections

    struct Rejection: CustomTestStringConvertible, Sendable {
        var name: String
        var input: String
        var error: ClientRequestParserError
        var testDescription: String { self.name }
    }

    static let rejections: [Rejection] = [
        // Line endings.
        .init(name: "bare LF after the request line", input: "GET / HTTP/1.1\nHost: h\r\n\r\n", error: .bareLineEnding),
        .init(name: "bare LF after a field", input: "GET / HTTP/1.1\r\nHost: h\n\r\n", error: .bareLineEnding),
        .init(name: "bare LF as the blank line", input: "GET / HTTP/1.1\r\nHost: h\r\n\n", error: .bareLineEnding),
        .init(
            name: "bare LF before the request line",
            input: "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
            error: .bareLineEnding
        ),
        .init(
            name: "bare CR before the request line",
            input: "\rGET / HTTP/1.1\r\nHost: h\r\n\r\n",
            error: .bareLineEnding
        ),
        .init(name: "bare CR in a value", input: "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", error: .fieldLine),
        .init(name: "bare CR in the request line", input: "GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "CR CR LF", input: "GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", error: .requestLine),
        // Field lines.
        .init(name: "obs-fold", input: "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", error: .obsoleteLineFolding),
        .init(
            name: "obs-fold with a tab",
            input: "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n",
            error: .obsoleteLineFolding
        ),
        .init(
            name: "whitespace before the first field",
            input: "GET / HTTP/1.1\r\n Host: h\r\n\r\n",
            error: .obsoleteLineFolding
        ),
        .init(name: "space before the colon", input: "GET / HTTP/1.1\r\nHost : h\r\n\r\n", error: .fieldLine),
        .init(name: "tab before the colon", input: "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", error: .fieldLine),
        .init(name: "no colon", input: "GET / HTTP/1.1\r\nHost h\r\n\r\n", error: .fieldLine),
        .init(name: "empty name", input: "GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", error: .fieldLine),
        .init(name: "separator in a name", input: "GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n", error: .fieldLine),
        .init(name: "non-ASCII in a name", input: "GET / HTTP/1.1\r\nHost: h\r\nX\u{E9}: v\r\n\r\n", error: .fieldLine),
        .init(name: "NUL in a value", input: "GET / HTTP/1.1\r\nHost: h\r\nX: a\u{0}b\r\n\r\n", error: .fieldLine),
        .init(
            name: "control char in a value",
            input: "GET / HTTP/1.1\r\nHost: h\r\nX: a\u{1}b\r\n\r\n",
            error: .fieldLine
        ),
        .init(name: "DEL in a value", input: "GET / HTTP/1.1\r\nHost: h\r\nX: a\u{7F}\r\n\r\n", error: .fieldLine),
        // Request line.
        .init(name: "lower-case method", input: "get / HTTP/1.1\r\nHost: h\r\n\r\n", error: .method),
        .init(name: "unknown method", input: "FROB / HTTP/1.1\r\nHost: h\r\n\r\n", error: .method),
        .init(name: "separator in the method", input: "GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", error: .method),
        .init(name: "CONNECT", input: "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", error: .connectMethod),
        .init(name: "two spaces after the method", input: "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", error: .requestLine),
        .init(name: "two spaces before the version", input: "GET /  HTTP/1.1\r\nHost: h\r\n\r\n", error: .requestLine),
        .init(name: "tab as separator", input: "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", error: .method),
        .init(name: "no version", input: "GET /\r\nHost: h\r\n\r\n", error: .requestLine),
        .init(name: "trailing space", input: "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", error: .requestLine),
        .init(name: "space in the target", input: "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", error: .requestLine),
        .init(name: "HTTP/1.2", input: "GET / HTTP/1.2\r\nHost: h\r\n\r\n", error: .version),
        .init(name: "HTTP/2.0", input: "GET / HTTP/2.0\r\nHost: h\r\n\r\n", error: .version),
        .init(name: "HTTP/0.9", input: "GET / HTTP/0.9\r\n\r\n", error: .version),
        .init(name: "lower-case http", input: "GET / http/1.1\r\nHost: h\r\n\r\n", error: .requestLine),
        .init(name: "HTTP/1.10", input: "GET / HTTP/1.10\r\nHost: h\r\n\r\n", error: .requestLine),
        .init(name: "HTTP/1.x", input: "GET / HTTP/1.x\r\nHost: h\r\n\r\n", error: .requestLine),
        // Request target.
        .init(name: "absolute form", input: "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "asterisk for GET", input: "GET * HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "relative target", input: "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "fragment", input: "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "NUL in the target", input: "GET /a\u{0} HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "tab in the target", input: "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "DEL in the target", input: "GET /a\u{7F} HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "non-ASCII in the target", input: "GET /caf\u{E9} HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "quote in the target", input: "GET /a\"b HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "brace in the path", input: "GET /a{b} HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "caret in the path", input: "GET /a^b HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "quote in the query", input: "GET /?a=\"b\" HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "fragment after a query", input: "GET /?a#b HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "non-ASCII in the query", input: "GET /?q=caf\u{E9} HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "DEL in the query", input: "GET /?q=\u{7F} HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "pipe in the target", input: "GET /a|b HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        .init(name: "angle bracket in the target", input: "GET /<a> HTTP/1.1\r\nHost: h\r\n\r\n", error: .target),
        // Framing.
        .init(
            name: "Content-Length with Transfer-Encoding",
            input: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            error: .conflictingFraming
        ),
        .init(
            name: "Transfer-Encoding then Content-Length",
            input: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            error: .conflictingFraming
        ),
        .init(
            name: "duplicate identical Content-Length",
            input: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            error: .contentLength
        ),
        .init(
            name: "differing Content-Length",
            input: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            error: .contentLength
        ),
        .init(
            name: "Content-Length list",
            input: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc",
            error: .contentLength
        ),
        .init(
            name: "signed Content-Length",
            input: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc",
            error: .contentLength
        ),
        .init(
            name: "hex Content-Length",
            input: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\nabc",
            error: .contentLength
        ),
        .init(
            name: "empty Content-Length",
            input: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n",
            error: .contentLength
        ),
        .init(
            name: "space inside Content-Length",
            input: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n",
            error: .contentLength
        ),
        .init(
            name: "19-digit Content-Length",
            input: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000000000000000\r\n\r\n",
            error: .contentLength
        ),
        .init(
            name: "Transfer-Encoding gzip",
            input: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
            error: .transferEncoding
        ),
        .init(
            name: "Transfer-Encoding gzip, chunked",
            input: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            error: .transferEncoding
        ),
        .init(
            name: "Transfer-Encoding chunked, identity",
            input: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
            error: .transferEncoding
        ),
        .init(
            name: "Transfer-Encoding twice",
            input:
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            error: .transferEncoding
        ),
        .init(
            name: "Transfer-Encoding chunked with a parameter",
            input: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n",
            error: .transferEncoding
        ),
        .init(
            name: "Transfer-Encoding on HTTP/1.0",
            input: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            error: .transferEncoding
        ),
        .init(name: "no Host on HTTP/1.1", input: "GET / HTTP/1.1\r\nX: y\r\n\r\n", error: .host),
        .init(name: "two Host lines", input: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", error: .host),
        .init(name: "two Host lines on HTTP/1.0", input: "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", error: .host),
        // Chunks.
        .init(name: "chunk size not hex", input: chunked("g\r\n"), error: .chunkSize),
        .init(name: "empty chunk size", input: chunked("\r\n"), error: .chunkSize),
        .init(name: "negative chunk size", input: chunked("-1\r\n"), error: .chunkSize),
        .init(name: "space after the chunk size", input: chunked("5 \r\nhello\r\n0\r\n\r\n"), error: .chunkSize),
        .init(name: "chunk size overflow", input: chunked("8000000000000000\r\n"), error: .chunkSize),
        .init(name: "chunk size far past Int64", input: chunked("fffffffffffffffffffff\r\n"), error: .chunkSize),
        .init(name: "bare LF after the chunk size", input: chunked("5\nhello\r\n0\r\n\r\n"), error: .bareLineEnding),
        .init(
            name: "space in a chunk extension",
            input: chunked("5; a=b\r\nhello\r\n0\r\n\r\n"),
            error: .chunkExtension
        ),
        .init(name: "empty chunk extension name", input: chunked("5;=b\r\nhello\r\n0\r\n\r\n"), error: .chunkExtension),
        .init(
            name: "empty chunk extension value",
            input: chunked("5;a=\r\nhello\r\n0\r\n\r\n"),
            error: .chunkExtension
        ),
        .init(name: "separator in a chunk extension", input: chunked("5;a@b\r\nhello\r\n0\r\n\r\n"), error: .chunkSize),
        .init(
            name: "unterminated quoted extension",
            input: chunked("5;a=\"b\r\nhello\r\n0\r\n\r\n"),
            error: .chunkExtension
        ),
        .init(
            name: "control char in a quoted extension",
            input: chunked("5;a=\"\u{1}\"\r\nhello\r\n0\r\n\r\n"),
            error: .chunkExtension
        ),
        .init(name: "chunk data without CRLF", input: chunked("5\r\nhelloX\r\n0\r\n\r\n"), error: .chunkDataEnd),
        .init(name: "chunk data with LF only", input: chunked("5\r\nhello\n0\r\n\r\n"), error: .chunkDataEnd),
        .init(name: "chunk data with CR only", input: chunked("5\r\nhello\r0\r\n\r\n"), error: .chunkDataEnd),
        .init(name: "chunk data longer than its size", input: chunked("3\r\nhello\r\n0\r\n\r\n"), error: .chunkDataEnd),
        // Trailers.
        .init(name: "obs-fold in trailers", input: chunked("0\r\nX: a\r\n b\r\n\r\n"), error: .obsoleteLineFolding),
        .init(name: "space before the colon in a trailer", input: chunked("0\r\nX : a\r\n\r\n"), error: .fieldLine),
        .init(name: "bare LF in trailers", input: chunked("0\r\nX: a\n\r\n"), error: .bareLineEnding),
        .init(name: "bare LF ending trailers", input: chunked("0\r\n\n"), error: .bareLineEnding),
        .init(name: "NUL in a trailer", input: chunked("0\r\nX: \u{0}\r\n\r\n"), error: .fieldLine),
        .init(name: "Content-Length trailer", input: chunked("0\r\nContent-Length: 5\r\n\r\n"), error: .trailerField),
        .init(
            name: "Transfer-Encoding trailer",
            input: chunked("0\r\ntransfer-encoding: chunked\r\n\r\n"),
            error: .trailerField
        ),
        .init(name: "Host trailer", input: chunked("0\r\nHOST: other\r\n\r\n"), error: .trailerField),
        // The connection ends inside a message.
        .init(name: "incomplete head", input: "GET / HTTP/1.1\r\nHost: h\r\n", error: .incomplete),
        .init(
            name: "incomplete body",
            input: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab",
            error: .incomplete
        ),
        .init(name: "incomplete chunked body", input: chunked("5\r\nhello\r\n"), error: .incomplete),
    ]

    private static func chunked(_ body: String) -> String {
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    }

    @Test(
        "malformed and ambiguous requests are refused, with the same error whole and byte by byte",
        arguments: rejections
    )
    func rejected(_ rejection: Rejection) {
        #expect(refusal(rejection.input) == rejection.error)
    }

    @Test("only the first requests of a pipeline before a malformed one are delivered")
    func rejectionAfterPipelinedRequests() {
        let outcome = parse(
            "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost : h\r\n\r\nGET /3 HTTP/1.1\r\nHost: h\r\n\r\n"
        )
        #expect(outcome.messages.map(\.target) == ["/1"])
        #expect(outcome.error == .fieldLine)
    }

    @Test("after an error the parser throws it again and parses nothing more")
    func errorIsSticky() throws {
        var parser = Parser()
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nHost : h\r\n\r\n")
        #expect(throws: ParseError.fieldLine) { try parser.next(&buffer) }
        buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(throws: ParseError.fieldLine) { try parser.next(&buffer) }
        #expect(throws: ParseError.fieldLine) { try parser.finish(&buffer) }
    }

    @Test("the end of the connection between requests is no error, with a completed body it is the end")
    func finishBetweenMessages() throws {
        var parser = Parser()
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        _ = try parser.next(&buffer)
        #expect(try parser.finish(&buffer) == .end(nil))
        #expect(try parser.finish(&buffer) == nil)
    }

    // MARK: - Statuses and limits

    @Test("each error is answered with its status and today's error codes")
    func statuses() {
        #expect(ParseError.requestLineTooLong.status == .uriTooLong)
        #expect(ParseError.requestLineTooLong.gatewayError == .uriTooLong)
        #expect(ParseError.fieldsTooLarge.status == .requestHeaderFieldsTooLarge)
        #expect(ParseError.fieldsTooLarge.gatewayError == .headersTooLarge)
        #expect(ParseError.connectMethod.status == .methodNotAllowed)
        #expect(ParseError.connectMethod.gatewayError == .methodNotAllowed)
        for error in [ParseError.bareLineEnding, .obsoleteLineFolding, .fieldLine, .contentLength, .conflictingFraming]
        {
            #expect(error.status == .badRequest)
            #expect(error.gatewayError.code.rawValue == "bad_request")
            #expect(error.gatewayError.status == .badRequest)
        }
    }

    private static let small = Parser.Limits(
        maxRequestLineBytes: 40,
        maxTargetBytes: 20,
        maxFieldBytes: 60,
        maxFieldCount: 3,
        maxChunkLineBytes: 16
    )

    @Test("a request line at the limit is accepted, one byte longer is 414, complete or not")
    func requestLineLimit() {
        // "GET " + target + " HTTP/1.1" = 13 + target bytes; the target limit is 20, so use
        // a longer limit on the target to reach the line's limit.
        var limits = Self.small
        limits.maxTargetBytes = 100
        let atLimit = "GET /" + String(repeating: "a", count: 26) + " HTTP/1.1"
        #expect(atLimit.utf8.count == 40)
        #expect(refusal(atLimit + "\r\nHost: h\r\n\r\n", limits: limits) == nil)
        let over = "GET /" + String(repeating: "a", count: 27) + " HTTP/1.1"
        #expect(refusal(over + "\r\nHost: h\r\n\r\n", limits: limits) == .requestLineTooLong)
        // Without its end: refused as soon as it cannot fit, not when the connection ends.
        var parser = Parser(limits: limits)
        var buffer = ByteBuffer(string: "GET /" + String(repeating: "a", count: 40))
        #expect(throws: ParseError.requestLineTooLong) { try parser.next(&buffer) }
        // A bare LF just past the limit is still a line-ending error (the line with CR fits).
        #expect(refusal(atLimit + "\nHost: h\r\n\r\n", limits: limits) == .bareLineEnding)
    }

    @Test("a target longer than its limit is 414")
    func targetLimit() {
        #expect(
            refusal("GET /" + String(repeating: "a", count: 19) + " HTTP/1.1\r\nHost: h\r\n\r\n", limits: Self.small)
                == nil
        )
        #expect(
            refusal("GET /" + String(repeating: "a", count: 20) + " HTTP/1.1\r\nHost: h\r\n\r\n", limits: Self.small)
                == .requestLineTooLong
        )
    }

    @Test("field bytes at the limit are accepted, one more is 431, complete or not")
    func fieldBytesLimit() {
        // "Host: h\r\n" is 9 bytes; "X: " + value + "\r\n" is 5 + value: 9 + 5 + 46 = 60.
        let atLimit = "GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "v", count: 46) + "\r\n\r\n"
        #expect(refusal(atLimit, limits: Self.small) == nil)
        let over = "GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "v", count: 47) + "\r\n\r\n"
        #expect(refusal(over, limits: Self.small) == .fieldsTooLarge)
        var parser = Parser(limits: Self.small)
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "v", count: 80))
        #expect(throws: ParseError.fieldsTooLarge) { try parser.next(&buffer) }
    }

    @Test("more field lines than the limit is 431")
    func fieldCountLimit() {
        #expect(refusal("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", limits: Self.small) == nil)
        #expect(
            refusal("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: Self.small) == .fieldsTooLarge
        )
    }

    @Test("trailer sections have the field limits: 431 past them")
    func trailerLimits() {
        let head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        #expect(refusal(head + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: Self.small) == nil)
        #expect(refusal(head + "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", limits: Self.small) == .fieldsTooLarge)
        #expect(
            refusal(head + "A: " + String(repeating: "v", count: 60) + "\r\n\r\n", limits: Self.small)
                == .fieldsTooLarge
        )
    }

    @Test("a chunk-size line past its limit is refused")
    func chunkLineLimit() {
        let head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        #expect(refusal(head + "1;abcdefghijklmn\r\nx\r\n0\r\n\r\n", limits: Self.small) == nil)
        #expect(refusal(head + "1;abcdefghijklmno\r\nx\r\n0\r\n\r\n", limits: Self.small) == .chunkLineTooLong)
        var parser = Parser(limits: Self.small)
        var buffer = ByteBuffer(string: head + "1;" + String(repeating: "a", count: 40))
        #expect(throws: ParseError.chunkLineTooLong) {
            while try parser.next(&buffer) != nil {}
        }
    }

    @Test("a head arriving a byte at a time is scanned once: the parser resumes where it stopped")
    func resumesScanning() throws {
        var parser = Parser()
        var buffer = ByteBuffer()
        let text = "GET / HTTP/1.1\r\nHost: h\r\nX: y\r\n\r\n"
        var events: [ClientRequestParser.Event] = []
        for byte in text.utf8 {
            buffer.writeInteger(byte)
            while let event = try parser.next(&buffer) { events.append(event) }
            if case .head(let progress) = parser.state, progress.searchFrom > 0 {
                #expect(progress.searchFrom == buffer.readableBytes)
            }
        }
        #expect(events.count == 2)
    }
}
