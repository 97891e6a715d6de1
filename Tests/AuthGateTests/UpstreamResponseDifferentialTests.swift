import AuthGateCore
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

// Differential tests: the gateway's own upstream response parser against NIOHTTP1's
// `HTTPResponseDecoder` (llhttp), which it replaced. On valid keep-alive responses both must see
// the same heads, bodies and ends. Ambiguous framing (Transfer-Encoding with Content-Length) is
// never generated: there the two differ on purpose.

// MARK: - Deterministic randomness

/// SplitMix64: small, fast and deterministic, so a failing seed reproduces.
private struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// True with probability `numerator / denominator`.
    mutating func chance(_ numerator: Int, in denominator: Int) -> Bool {
        Int.random(in: 0..<denominator, using: &self) < numerator
    }

    mutating func pick<T>(_ choices: [T]) -> T {
        choices[Int.random(in: 0..<choices.count, using: &self)]
    }
}

// MARK: - What a parser saw

private struct Field: Equatable, CustomStringConvertible {
    var name: String
    var value: String

    var description: String { "\(self.name): \(self.value.debugDescription)" }
}

/// One response as a parser reported it.
private struct SeenResponse: Equatable, CustomStringConvertible {
    var version: HTTPVersion
    var status: Int
    var keepAlive: Bool
    var fields: [Field]
    var body: [UInt8] = []
    var ended = false

    var description: String {
        "HTTP/\(self.version.major).\(self.version.minor) \(self.status) keepAlive=\(self.keepAlive) "
            + "fields=\(self.fields) body(\(self.body.count))=\(escaped(self.body).debugDescription) "
            + "ended=\(self.ended)"
    }
}

/// Everything a parser reported for one connection's bytes, and the error that stopped it, if any.
private struct Seen: Equatable, CustomStringConvertible {
    var responses: [SeenResponse] = []
    var error: String?
    /// Set when events arrived in an impossible order (body before head, two ends, ...).
    var protocolViolation: String?

    var description: String {
        var lines = self.responses.enumerated().map { "  [\($0.offset)] \($0.element)" }
        if let error = self.error { lines.append("  error: \(error)") }
        if let violation = self.protocolViolation { lines.append("  event order: \(violation)") }
        return lines.isEmpty ? "  (nothing)" : lines.joined(separator: "\n")
    }

    /// A copy in which the responses to `HEAD` requests claim keep-alive. NIOHTTP1 computes
    /// keep-alive before it tells llhttp that a response to `HEAD` has no body, so it reports a
    /// response to `HEAD` without Content-Length or Transfer-Encoding as not keep-alive (as if its
    /// body ran until the close); that is NIO's quirk, not a difference worth failing on.
    func erasingKeepAliveOfHEADResponses(requests: [HTTPMethod]) -> Seen {
        var copy = self
        for index in copy.responses.indices where index < requests.count && requests[index] == .HEAD {
            copy.responses[index].keepAlive = true
        }
        return copy
    }

    mutating func head(_ response: SeenResponse) {
        if let last = self.responses.last, !last.ended {
            self.protocolViolation = self.protocolViolation ?? "head before the previous response's end"
        }
        self.responses.append(response)
    }

    mutating func body(_ buffer: ByteBuffer) {
        guard let last = self.responses.indices.last, !self.responses[last].ended else {
            self.protocolViolation = self.protocolViolation ?? "body outside a response"
            return
        }
        self.responses[last].body.append(contentsOf: buffer.readableBytesView)
    }

    mutating func end() {
        guard let last = self.responses.indices.last, !self.responses[last].ended else {
            self.protocolViolation = self.protocolViolation ?? "end outside a response"
            return
        }
        self.responses[last].ended = true
    }
}

// MARK: - The two parsers

/// Our parser: every request is recorded up front, each piece is appended to the read buffer and
/// `next` is called until it needs more.
private func parseWithOurs(_ pieces: [[UInt8]], requests: [HTTPMethod]) -> Seen {
    var parser = UpstreamResponseParser()
    for method in requests {
        parser.requestSent(method: method)
    }
    var buffer = ByteBuffer()
    var seen = Seen()
    var events = 0
    do {
        for piece in pieces {
            buffer.writeBytes(piece)
            while let event = try parser.next(&buffer) {
                events += 1
                if events > 100_000 {
                    seen.protocolViolation = "next keeps returning events without consuming bytes"
                    return seen
                }
                switch event {
                case .head(let head):
                    seen.head(
                        SeenResponse(
                            version: head.version,
                            status: Int(head.status.code),
                            keepAlive: head.keepAlive,
                            fields: head.headers.map { Field(name: $0.name, value: $0.value) }
                        )
                    )
                case .body(let body):
                    seen.body(body)
                case .end:
                    seen.end()
                }
            }
        }
    } catch {
        seen.error = "\(error)"
    }
    return seen
}

/// NIOHTTP1: an `HTTPRequestEncoder` and an `HTTPResponseDecoder` on an embedded channel. The
/// request heads are written first (the decoder learns the methods from them), then the pieces.
private func parseWithNIO(_ pieces: [[UInt8]], requests: [HTTPMethod]) -> Seen {
    let channel = EmbeddedChannel()
    var seen = Seen()

    func drainInbound() throws {
        while let part = try channel.readInbound(as: HTTPClientResponsePart.self) {
            switch part {
            case .head(let head):
                seen.head(
                    SeenResponse(
                        version: head.version,
                        status: Int(head.status.code),
                        keepAlive: head.isKeepAlive,
                        // RFC 9110 §5.5: whitespace after a value is not part of it. Ours trims
                        // it, llhttp keeps it; compare the values as RFC 9110 defines them.
                        fields: head.headers.map { Field(name: $0.name, value: withoutTrailingWhitespace($0.value)) }
                    )
                )
            case .body(let body):
                seen.body(body)
            case .end:
                seen.end()  // trailers are not compared: ours drops them
            }
        }
    }

    do {
        try channel.pipeline.syncOperations.addHandler(HTTPRequestEncoder())
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(
                HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes, informationalResponseStrategy: .drop)
            )
        )
        for method in requests {
            try channel.writeOutbound(
                HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: "/"))
            )
            try channel.writeOutbound(HTTPClientRequestPart.end(nil))
        }
        while try channel.readOutbound(as: ByteBuffer.self) != nil {}
        for piece in pieces {
            try channel.writeInbound(ByteBuffer(bytes: piece))
            try drainInbound()
        }
    } catch {
        seen.error = "\(error)"
        try? drainInbound()
    }
    _ = try? channel.finish()
    return seen
}

// MARK: - Generating valid keep-alive responses

private let statuses = [200, 201, 204, 301, 304, 404, 500, 503]
private let reasons = [
    200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 304: "Not Modified",
    404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable",
]
/// Names a random field must not take: they frame the message or the connection.
private let reservedNames: Set<String> = [
    "content-length", "transfer-encoding", "connection", "upgrade", "trailer", "keep-alive",
    "proxy-connection", "te",
]
private let tokenCharacters = Array("abcdefghijklmnopqrstuvwxyz0123456789-".utf8)

private struct GeneratedConnection {
    var requests: [HTTPMethod]
    var bytes: [UInt8]
    /// What a correct parser reports.
    var expected: [SeenResponse]
}

/// `text` with each letter's case chosen at random.
private func randomCase(_ text: String, _ rng: inout SplitMix64) -> String {
    String(text.map { rng.chance(1, in: 2) ? Character($0.uppercased()) : Character($0.lowercased()) })
}

private func randomName(_ rng: inout SplitMix64) -> String {
    while true {
        let length = Int.random(in: 1...16, using: &rng)
        let name = String(decoding: (0..<length).map { _ in rng.pick(tokenCharacters) }, as: UTF8.self)
        if !reservedNames.contains(name) { return randomCase(name, &rng) }
    }
}

/// Printable ASCII with inner spaces, no leading or trailing whitespace; sometimes empty.
private func randomValue(_ rng: inout SplitMix64) -> String {
    if rng.chance(1, in: 20) { return "" }
    let length = Int.random(in: 1...40, using: &rng)
    let bytes = (0..<length).map { index -> UInt8 in
        let edge = index == 0 || index == length - 1
        return UInt8.random(in: (edge ? 0x21 : 0x20)...0x7E, using: &rng)
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// A field line as sent: optional whitespace after the colon varies, the value is as given.
private func fieldLine(_ field: Field, _ rng: inout SplitMix64) -> String {
    "\(field.name):\(rng.pick(["", " ", " ", " ", "  ", "\t"]))\(field.value)\r\n"
}

private enum Framing {
    case none
    case contentLength(Int)
    case chunked
}

/// One valid keep-alive response to `method`: its bytes, and what a parser should report.
private func generateResponse(to method: HTTPMethod, _ rng: inout SplitMix64) -> ([UInt8], SeenResponse) {
    let http10 = rng.chance(1, in: 5)
    let status = rng.pick(statuses)
    let noBody = method == .HEAD || status == 204 || status == 304
    let body = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }

    // HTTP/1.0 has no chunked coding; 204 carries no framing fields; a 304 or a response to HEAD
    // may carry the length the body would have had.
    let framing: Framing
    if status == 204 {
        framing = .none
    } else if noBody {
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: framing = .none
        case 1: framing = .contentLength(Int.random(in: 0...300, using: &rng))
        default: framing = http10 || status == 304 ? .contentLength(body.count) : .chunked
        }
    } else if http10 || rng.chance(1, in: 2) {
        framing = .contentLength(body.count)
    } else {
        framing = .chunked
    }

    var fields = (0..<Int.random(in: 0...8, using: &rng)).map { _ in
        Field(name: randomName(&rng), value: randomValue(&rng))
    }
    func insertAtRandom(_ field: Field, _ rng: inout SplitMix64) {
        fields.insert(field, at: Int.random(in: 0...fields.count, using: &rng))
    }
    switch framing {
    case .none: break
    case .contentLength(let length):
        insertAtRandom(Field(name: randomCase("content-length", &rng), value: "\(length)"), &rng)
    case .chunked:
        insertAtRandom(Field(name: randomCase("transfer-encoding", &rng), value: randomCase("chunked", &rng)), &rng)
    }
    if http10 || rng.chance(1, in: 3) {
        insertAtRandom(Field(name: randomCase("connection", &rng), value: randomCase("keep-alive", &rng)), &rng)
    }

    var text = "HTTP/1.\(http10 ? 0 : 1) \(status) \(reasons[status]!)\r\n"
    for field in fields {
        text += fieldLine(field, &rng)
    }
    text += "\r\n"
    var bytes = Array(text.utf8)
    if !noBody {
        switch framing {
        case .none, .contentLength:
            bytes += body
        case .chunked:
            bytes += chunked(body, &rng)
        }
    }
    let expected = SeenResponse(
        version: http10 ? .http1_0 : .http1_1,
        status: status,
        keepAlive: true,
        fields: fields,
        body: noBody ? [] : body,
        ended: true
    )
    return (bytes, expected)
}

/// `body` in the chunked coding: random chunk sizes in hex of random case, sometimes a chunk
/// extension, sometimes trailer fields.
private func chunked(_ body: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
    func sizeLine(_ size: Int, _ rng: inout SplitMix64) -> [UInt8] {
        let hex = randomCase(String(size, radix: 16), &rng)
        return Array("\(hex)\(rng.chance(1, in: 4) ? ";ext=1" : "")\r\n".utf8)
    }
    var out: [UInt8] = []
    var rest = body[...]
    while !rest.isEmpty {
        let size = Int.random(in: 1...rest.count, using: &rng)
        out += sizeLine(size, &rng)
        out += rest.prefix(size)
        out += Array("\r\n".utf8)
        rest = rest.dropFirst(size)
    }
    out += sizeLine(0, &rng)
    if rng.chance(1, in: 3) {
        for _ in 0..<Int.random(in: 1...2, using: &rng) {
            out += Array(fieldLine(Field(name: randomName(&rng), value: randomValue(&rng)), &rng).utf8)
        }
    }
    out += Array("\r\n".utf8)
    return out
}

/// 1–4 responses on one connection, each to a GET or a HEAD.
private func generateConnection(_ rng: inout SplitMix64) -> GeneratedConnection {
    var connection = GeneratedConnection(requests: [], bytes: [], expected: [])
    for _ in 0..<Int.random(in: 1...4, using: &rng) {
        let method: HTTPMethod = rng.chance(1, in: 3) ? .HEAD : .GET
        let (bytes, expected) = generateResponse(to: method, &rng)
        connection.requests.append(method)
        connection.bytes += bytes
        connection.expected.append(expected)
    }
    return connection
}

/// `bytes` cut at random points into 1–5 non-empty pieces.
private func split(_ bytes: [UInt8], _ rng: inout SplitMix64) -> [[UInt8]] {
    var cuts = Set<Int>()
    if bytes.count > 1 {
        for _ in 0..<Int.random(in: 0...4, using: &rng) {
            cuts.insert(Int.random(in: 1..<bytes.count, using: &rng))
        }
    }
    var pieces: [[UInt8]] = []
    var start = 0
    for cut in cuts.sorted() + [bytes.count] {
        pieces.append(Array(bytes[start..<cut]))
        start = cut
    }
    return pieces
}

/// The bytes as readable text: printable ASCII as is, CR and LF as `\r` and `\n` (a line break
/// after each LF), anything else as `\xNN`.
private func escaped(_ bytes: [UInt8]) -> String {
    var out = ""
    for byte in bytes {
        switch byte {
        case UInt8(ascii: "\r"): out += "\\r"
        case UInt8(ascii: "\n"): out += "\\n\n"
        case UInt8(ascii: "\t"): out += "\\t"
        case UInt8(ascii: "\\"): out += "\\\\"
        case 0x20...0x7E: out.append(Character(Unicode.Scalar(byte)))
        default: out += "\\x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
        }
    }
    return out
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: Swift.max(0, width - self.count)) + self
    }
}

// MARK: - Hand-written inputs

private struct TrickyInput: Sendable, CustomTestStringConvertible {
    var name: String
    var requests: [HTTPMethod]
    var text: String
    /// Whether NIOHTTP1 accepts the input. Only inputs both accept are compared.
    var nioAccepts = true

    var testDescription: String { self.name }
}

private let trickyInputs: [TrickyInput] = [
    TrickyInput(
        name: "bare LF line endings, Content-Length",
        requests: [.GET, .GET],
        text: "HTTP/1.1 200 OK\nContent-Length: 5\nX-Test: a b\n\nhello"
            + "HTTP/1.1 404 Not Found\nX-Other: 1\nContent-Length: 0\n\n",
        nioAccepts: false
    ),
    TrickyInput(
        name: "bare LF line endings, chunked",
        requests: [.GET],
        text: "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n",
        nioAccepts: false
    ),
    TrickyInput(
        name: "CRLF and bare LF mixed in one head",
        requests: [.GET],
        text: "HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 2\r\nX-B: 2\n\r\nok",
        nioAccepts: false
    ),
    TrickyInput(
        name: "100 Continue before the final response",
        requests: [.GET, .GET],
        text: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            + "HTTP/1.1 204 No Content\r\n\r\n"
    ),
    TrickyInput(
        name: "100 Continue with a field and 103 Early Hints before the final response",
        requests: [.GET],
        text: "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
            + "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
            + "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Final: 1\r\n\r\nabc"
    ),
    TrickyInput(
        name: "tabs inside values and as whitespace around them",
        requests: [.GET],
        text: "HTTP/1.1 200 OK\r\nX-Tab: a\tb\t c\r\nX-Lead:\t\tlead\r\nContent-Length: 0\r\n\r\n"
    ),
    // RFC 9110 §5.5 excludes whitespace after the value from it; ours trims it, NIOHTTP1 (llhttp)
    // keeps it in the value, which parseWithNIO trims before comparing.
    TrickyInput(
        name: "trailing whitespace after values",
        requests: [.GET],
        text: "HTTP/1.1 200 OK\r\nX-Space: value  \r\nX-Tab: value\t\r\nContent-Length: 1\r\n\r\nx"
    ),
    TrickyInput(
        name: "empty values",
        requests: [.GET],
        text: "HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Space: \r\nX-Tab:\t\r\nContent-Length: 2\r\n\r\nhi"
    ),
    TrickyInput(
        name: "Content-Length: 0, then another response",
        requests: [.GET, .GET],
        text: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
            + "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
    ),
    TrickyInput(
        name: "HEAD with a Content-Length and no body, then a GET",
        requests: [.HEAD, .GET],
        text: "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
            + "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    ),
    TrickyInput(
        name: "304 with a Content-Length and no body",
        requests: [.GET, .GET],
        text: "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nETag: \"x\"\r\n\r\n"
            + "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!"
    ),
    TrickyInput(
        name: "empty reason phrase",
        requests: [.GET],
        text: "HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok"
    ),
    TrickyInput(
        name: "no reason phrase",
        requests: [.GET],
        text: "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok"
    ),
    TrickyInput(
        name: "chunk sizes with leading zeros and upper case, quoted extension, trailers",
        requests: [.GET],
        text: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "000A;name=\"quoted value\"\r\n0123456789\r\n1;a=b;c\r\nX\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n"
    ),
    TrickyInput(
        name: "Connection with several tokens, HTTP/1.0",
        requests: [.GET],
        text: "HTTP/1.0 200 OK\r\nConnection: foo, Keep-Alive\r\nContent-Length: 2\r\n\r\nok"
    ),
    TrickyInput(
        name: "UTF-8 in a value",
        requests: [.GET],
        text: "HTTP/1.1 200 OK\r\nX-Name: caf\u{E9} \u{2603}\r\nContent-Length: 0\r\n\r\n"
    ),
]

// MARK: - Tests

@Suite("UpstreamResponseParser agrees with NIOHTTP1's response decoder")
struct UpstreamResponseDifferentialTests {
    static let connections = 500
    static let firstSeed: UInt64 = 0x5EED_0000

    @Test("generated keep-alive response sequences, split at random points")
    func generatedSequences() {
        var failingSeeds: [UInt64] = []
        for index in 0..<Self.connections {
            let seed = Self.firstSeed + UInt64(index)
            var rng = SplitMix64(seed: seed)
            let connection = generateConnection(&rng)
            let pieces = split(connection.bytes, &rng)
            let ours = parseWithOurs(pieces, requests: connection.requests)
            let nio = parseWithNIO(pieces, requests: connection.requests)
                .erasingKeepAliveOfHEADResponses(requests: connection.requests)
            let generatorOK = nio == Seen(responses: connection.expected)
            guard ours != nio || !generatorOK else { continue }

            failingSeeds.append(seed)
            guard failingSeeds.count <= 10 else { continue }
            let context = """
                seed \(seed) (0x\(String(seed, radix: 16))), requests \(connection.requests), \
                pieces of \(pieces.map(\.count)) bytes; the response bytes:
                \(escaped(connection.bytes))
                """
            let expected = Seen(responses: connection.expected)
            #expect(
                generatorOK,
                """
                NIO does not see what was generated (an invalid input?): \(context)
                expected:
                \(expected)
                NIO:
                \(nio)
                """
            )
            #expect(ours == nio, "the parsers disagree: \(context)\nours:\n\(ours)\nNIO:\n\(nio)")
        }
        #expect(
            failingSeeds.isEmpty,
            "\(failingSeeds.count) of \(Self.connections) connections fail; seeds \(failingSeeds)"
        )
    }

    @Test("hand-written tricky but valid inputs, whole and byte by byte", arguments: trickyInputs)
    fileprivate func trickyInput(_ input: TrickyInput) {
        let bytes = Array(input.text.utf8)
        let splits = [("whole", [bytes]), ("byte by byte", bytes.map { [$0] })]
        for (label, pieces) in splits {
            let ours = parseWithOurs(pieces, requests: input.requests)
            let nio = parseWithNIO(pieces, requests: input.requests)
                .erasingKeepAliveOfHEADResponses(requests: input.requests)
            let context = "\(input.name), \(label):\n\(escaped(bytes))"
            guard input.nioAccepts else {
                #expect(nio.error != nil, "NIO was expected to reject: \(context)\nNIO:\n\(nio)")
                continue
            }
            #expect(
                nio.error == nil && nio.protocolViolation == nil && nio.responses.count == input.requests.count
                    && nio.responses.allSatisfy(\.ended),
                "NIO does not accept: \(context)\nNIO:\n\(nio)"
            )
            #expect(ours == nio, "the parsers disagree: \(context)\nours:\n\(ours)\nNIO:\n\(nio)")
        }
    }
}

/// `value` without the spaces and tabs at its end.
private func withoutTrailingWhitespace(_ value: String) -> String {
    var utf8 = Substring(value).utf8
    while let last = utf8.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
        utf8 = utf8.dropLast()
    }
    return String(Substring(utf8))
}
