import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import AuthGateCore

/// Where ``ClientRequestParser`` refuses a request that NIOHTTP1's decoder (llhttp 9) accepts.
/// Each is a deliberate strictness choice; the differential test fails on any other difference.
enum StrictnessChoice: String, CaseIterable, Sendable {
    case bareLineEnding
    case requestLineSpacing
    case targetCharacter
    case targetForm
    case connectMethod
    case unlistedMethod
    case host
    case transferEncoding
    case contentLength
    case chunkExtension
    case trailerField

    /// Why the parser is stricter here than llhttp.
    var why: String {
        switch self {
        case .bareLineEnding:
            return "llhttp skips a bare CR or LF before a request line; here every line ends in CRLF"
        case .requestLineSpacing:
            return
                "exactly one SP between method, target and version (RFC 9112 §3); llhttp takes several before the version"
        case .targetCharacter:
            return
                "RFC 3986 bytes, [ ] \\, and { } | ^ ` in the query only: llhttp takes # \" < > and non-ASCII anywhere"
        case .targetForm:
            return "origin form (and OPTIONS *) only: an absolute form lets a client choose the host a backend sees"
        case .connectMethod:
            return "CONNECT is answered 405, as RequestValidator answers it today"
        case .unlistedMethod:
            return "methods llhttp knows but NIOHTTP1 has no case for (.RAW) are refused"
        case .host:
            return "RFC 9112 §3.2: exactly one Host on HTTP/1.1, at most one on 1.0 (RequestValidator today)"
        case .transferEncoding:
            return
                "only one `chunked` line on HTTP/1.1: a coding list or chunked on 1.0 may be framed otherwise behind us"
        case .contentLength:
            return "at most 18 digits and one line (RequestValidator today); llhttp takes up to 2^64 and repeats"
        case .chunkExtension:
            return "chunk extensions are ;token[=token|quoted-string] without whitespace"
        case .trailerField:
            return
                "Content-Length, Transfer-Encoding and Host in trailers are refused (a merging recipient misreads them)"
        }
    }

    /// The choice behind refusing `message` (as NIOHTTP1 read it) with `error`; nil when the
    /// refusal is not a listed choice.
    static func classify(_ error: ClientRequestParserError, _ message: ParsedMessage) -> StrictnessChoice? {
        switch error {
        case .bareLineEnding: return .bareLineEnding
        case .requestLine: return .requestLineSpacing
        case .target:
            let target = message.target.utf8
            if target.contains(where: { !HTTPCharacterClass.isTarget($0) }) { return .targetCharacter }
            let isOriginForm = target.first == UInt8(ascii: "/")
            let isAsterisk = message.method == "OPTIONS" && message.target == "*"
            return isOriginForm || isAsterisk ? nil : .targetForm
        case .connectMethod: return .connectMethod
        case .method:
            return HTTPMethod(rawValue: message.method).isRAW ? .unlistedMethod : nil
        case .host: return .host
        case .transferEncoding: return .transferEncoding
        case .contentLength: return .contentLength
        case .chunkExtension: return .chunkExtension
        case .trailerField: return .trailerField
        default: return nil
        }
    }
}

extension HTTPMethod {
    fileprivate var isRAW: Bool {
        if case .RAW = self { return true }
        return false
    }
}

/// Feeds `input` to NIOHTTP1's request decoder in an `EmbeddedChannel`, cut at `cuts`, then
/// ends the connection. Returns the complete requests and whether the decoder refused the
/// bytes (an error, a connection ending inside a request, or data after `Connection: close`).
private func runNIOHTTP1(_ input: [UInt8], cuts: [Int]) -> (messages: [ParsedMessage], rejected: Bool) {
    let channel = EmbeddedChannel()
    try! channel.pipeline.syncOperations.addHandler(
        ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes))
    )
    var messages: [ParsedMessage] = []
    var current: ParsedMessage?
    func drain() {
        while true {
            let part: HTTPServerRequestPart?
            do {
                part = try channel.readInbound(as: HTTPServerRequestPart.self)
            } catch {
                continue  // bytes forwarded after an upgrade: not a request part
            }
            guard let part else { return }
            switch part {
            case .head(let head): current = ParsedMessage(head)
            case .body(let bytes): current?.body.append(contentsOf: bytes.readableBytesView)
            case .end(let trailers):
                guard var message = current else { continue }
                message.trailers = trailers.map {
                    $0.map {
                        ParsedMessage.Field(name: $0.name, value: ParsedMessage.trimmingTrailingWhitespace($0.value))
                    }
                }
                messages.append(message)
                current = nil
            }
        }
    }
    var start = 0
    var rejected = false
    do {
        for end in cuts + [input.count] where end >= start {
            var buffer = channel.allocator.buffer(capacity: end - start)
            buffer.writeBytes(input[start..<end])
            start = end
            try channel.writeInbound(buffer)
            drain()
        }
    } catch {
        rejected = true
    }
    drain()
    do {
        _ = try channel.finish(acceptAlreadyClosed: true)
    } catch {
        rejected = true
    }
    drain()
    return (messages, rejected)
}

/// Builds requests: valid ones, and ones bent into malformed and smuggling shapes.
private struct RequestGenerator {
    var rng: ParserTestRandom

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self.rng) }
    mutating func chance(_ percent: Int) -> Bool { self.int(0...99) < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[self.int(0...(items.count - 1))] }

    static let methods = [
        "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "PROPFIND",
        "M-SEARCH", "PURGE", "MKCALENDAR", "UNSUBSCRIBE",
    ]
    static let oddMethods = [
        "CONNECT", "get", "Get", "FROB", "PRI", "QUERY", "DESCRIBE", "G ET", "GE(T", "GET\t", "", "POST/",
        "SOURCE", "LINK", "M-SEARCHX",
    ]
    static let segments = [
        "a", "b", "api", "v1", "users", "%2F", "%41", "x.y", "~me", "-_", "!$&'()*+,;=", ":@", "[0]",
    ]
    static let oddTargetBytes: [UInt8] = Array("#{}|^`\"<>\\ \t".utf8) + [0x00, 0x01, 0x7F, 0x80, 0xC3, 0xFF, 0x0B]
    static let names = [
        "Accept", "User-Agent", "X-Request-Id", "Cookie", "Authorization", "X-Forwarded-For", "Content-Type",
        "x-custom", "X_Under", "a", "!#$%&'*+-.^_`|~", "Accept-Language",
    ]
    static let oddNameBytes: [UInt8] = Array("()<>@,;\"/[]?={} \t".utf8) + [0x00, 0x7F, 0x80, 0xE9]
    static let values = ["text/html", "", "x", "a b", "a\tb", "1, 2, 3", "\"quoted\"", "en-US;q=0.9", "caf\u{E9}"]
    static let oddValueBytes: [UInt8] = [0x00, 0x01, 0x08, 0x0B, 0x0C, 0x0D, 0x1B, 0x1F, 0x7F, 0x80, 0xFF]
    static let transferEncodings = [
        "chunked", "Chunked", "CHUNKED", " chunked ", "gzip, chunked", "chunked, gzip", "identity", "chunked;q=1",
        "xchunked", ",chunked", "chunked,", "chunked, chunked", "gzip", "\tchunked",
    ]
    static let oddContentLengths = [
        "+5", "-1", "0x5", "5 5", "5, 5", "", "99999999999999999999", "9999999999999999999", "18446744073709551616",
        "000000000000000000005", "5a", " ", "1e3",
    ]
    static let chunkExtensions = [
        ";a", ";a=b", ";a=\"q\"", ";a=\"q\\\"r\"", ";a;b=c", "; a", ";a =b", ";a= b", ";a=\"open", ";a@b", ";a=b c",
        ";\u{1}", ";=", ";a=", " ;a", "\t", " ", ";a=\"\u{7F}\"", ";a=\"\u{E9}\"",
    ]
    static let hugeChunkSizes = [
        "ffffffffffffffff", "10000000000000000", "7fffffffffffffff", "8000000000000000", "fffffffffffffffffff",
    ]

    /// One input: one to three requests, maybe with empty lines before them.
    mutating func input() -> [UInt8] {
        var bytes: [UInt8] = []
        let count = self.chance(70) ? 1 : self.int(2...3)
        for _ in 0..<count {
            if self.chance(8) { bytes += Array(self.pick(["\r\n", "\r\n\r\n", "\n", "\r"]).utf8) }
            bytes += self.request(malformed: self.chance(60))
        }
        if self.chance(4) && !bytes.isEmpty {
            // A few random byte flips: garbage both must handle.
            for _ in 0..<self.int(1...3) {
                bytes[self.int(0...(bytes.count - 1))] = UInt8(truncatingIfNeeded: self.int(0...255))
            }
        }
        if self.chance(3) && bytes.count > 2 { bytes.removeLast(self.int(1...(bytes.count - 1))) }
        return bytes
    }

    mutating func request(malformed: Bool) -> [UInt8] {
        // Which part is bent, if any.
        let shape = malformed ? self.int(1...16) : 0
        var crlf: [UInt8] = Array("\r\n".utf8)
        let badEnding: [UInt8] = self.pick([
            Array("\n".utf8), Array("\r".utf8), Array("\r\r\n".utf8), Array("\n\r".utf8),
        ])

        var method = self.pick(Self.methods)
        if shape == 1 { method = self.pick(Self.oddMethods) }

        var target: [UInt8] = Array("/".utf8)
        for index in 0..<self.int(0...4) {
            if index > 0 { target += Array("/".utf8) }
            target += Array(self.pick(Self.segments).utf8)
        }
        if self.chance(30) { target += Array("?q=1&r=\(self.int(0...99))".utf8) }
        if shape == 2 {
            switch self.int(0...3) {
            case 0: target.insert(self.pick(Self.oddTargetBytes), at: self.int(1...target.count))
            case 1: target = Array(self.pick(["http://h/x", "https://h:8443/", "h:80", "*", "a/b", ""]).utf8)
            case 2: target += Array("#frag".utf8)
            default: target = Array("/%zz/%".utf8)
            }
        }
        if method == "OPTIONS" && self.chance(20) { target = Array("*".utf8) }

        var version = self.chance(85) ? "HTTP/1.1" : "HTTP/1.0"
        if shape == 3 {
            version = self.pick([
                "HTTP/1.2", "HTTP/2.0", "HTTP/0.9", "HTTP/1.x", "http/1.1", "HTTP/1.1 ", "HTTP/1.10", "HTTP/1",
                "HTTP/3.0", "HTTP/11",
            ])
        }
        var separator1 = " "
        var separator2 = " "
        if shape == 4 {
            if self.chance(50) {
                separator1 = self.pick(["  ", "\t", ""])
            } else {
                separator2 = self.pick(["  ", "\t", ""])
            }
        }
        var line = Array(method.utf8) + Array(separator1.utf8) + target + Array(separator2.utf8) + Array(version.utf8)
        line += shape == 5 ? badEnding : crlf

        // Fields.
        var fields: [[UInt8]] = []
        let hostCount = shape == 6 ? self.pick([0, 2]) : (version == "HTTP/1.0" && self.chance(40) ? 0 : 1)
        for _ in 0..<hostCount { fields.append(Array("Host: \(self.pick(["example.com", "h:8080", "[::1]"]))".utf8)) }
        for _ in 0..<self.int(0...4) {
            var name = Array(self.pick(Self.names).utf8)
            var value = Array(self.pick(Self.values).utf8)
            if shape == 7 && self.chance(50) { name.insert(self.pick(Self.oddNameBytes), at: self.int(0...name.count)) }
            if shape == 8 && self.chance(60) {
                value.insert(self.pick(Self.oddValueBytes), at: self.int(0...value.count))
            }
            let colon = shape == 9 && self.chance(50) ? self.pick([" :", "\t:", ""]) : ":"
            let space = self.pick([" ", "", "  ", "\t"])
            let trailing = self.pick(["", "", " ", "\t"])
            fields.append(name + Array(colon.utf8) + Array(space.utf8) + value + Array(trailing.utf8))
        }
        if self.chance(15) {
            fields.append(Array("Connection: \(self.pick(["close", "keep-alive", "Keep-Alive, foo", "foo"]))".utf8))
        }
        if shape == 10 {
            fields.insert(Array(self.pick([" folded", "\tfolded", " "]).utf8), at: self.int(0...fields.count))
        }
        if shape == 10 && fields.count > 1 && self.chance(50) { fields[0] = Array(" ".utf8) + fields[0] }

        // Framing.
        var body: [UInt8] = []
        let bodyBytes = (0..<self.int(0...40)).map { _ in UInt8(self.int(32...126)) }
        let framing = self.int(0...2)  // none, length, chunked
        switch (framing, shape) {
        case (_, 11):
            // Smuggling shapes: two framings, or differing lengths.
            switch self.int(0...3) {
            case 0:
                fields.append(Array("Content-Length: \(bodyBytes.count)".utf8))
                fields.append(Array("Transfer-Encoding: chunked".utf8))
            case 1:
                fields.append(Array("Transfer-Encoding: chunked".utf8))
                fields.append(Array("Content-Length: \(bodyBytes.count)".utf8))
            case 2:
                fields.append(Array("Content-Length: \(bodyBytes.count)".utf8))
                fields.append(Array("Content-Length: \(bodyBytes.count + self.int(0...1))".utf8))
            default:
                fields.append(Array("Transfer-Encoding: chunked".utf8))
                fields.append(Array("Transfer-Encoding: \(self.pick(Self.transferEncodings))".utf8))
            }
            body = bodyBytes
        case (_, 12):
            fields.append(Array("Transfer-Encoding: \(self.pick(Self.transferEncodings))".utf8))
            body = self.chunked(bodyBytes, bend: false)
        case (_, 13):
            fields.append(Array("Content-Length: \(self.pick(Self.oddContentLengths))".utf8))
            body = bodyBytes
        case (_, 14), (_, 15):
            fields.append(Array("Transfer-Encoding: chunked".utf8))
            body = self.chunked(bodyBytes, bend: true)
        case (1, _):
            fields.append(Array("Content-Length: \(bodyBytes.count)".utf8))
            body = bodyBytes
        case (2, _):
            fields.append(Array("Transfer-Encoding: \(self.chance(90) ? "chunked" : "Chunked")".utf8))
            body = self.chunked(bodyBytes, bend: false)
        default:
            break
        }
        if fields.count > 1 && self.chance(30) { fields.swapAt(0, self.int(0...(fields.count - 1))) }

        var out = line
        for (index, field) in fields.enumerated() {
            out += field
            out += shape == 16 && index == 0 ? badEnding : crlf
        }
        if shape == 16 && fields.isEmpty { crlf = badEnding }
        out += crlf
        return out + body
    }

    /// A chunked body of `data`, maybe bent (sizes, extensions, chunk ends, trailers).
    mutating func chunked(_ data: [UInt8], bend: Bool) -> [UInt8] {
        var out: [UInt8] = []
        var rest = data[...]
        let kind = bend ? self.int(0...5) : -1
        while !rest.isEmpty {
            let size = self.int(1...max(1, rest.count))
            let chunk = rest.prefix(size)
            rest = rest.dropFirst(size)
            var sizeText = String(chunk.count, radix: 16, uppercase: self.chance(30))
            if self.chance(10) { sizeText = "000" + sizeText }
            out += Array(sizeText.utf8)
            if self.chance(kind == 1 ? 70 : 10) {
                out += Array(self.pick(kind == 1 ? Self.chunkExtensions : [";a", ";a=b", ";a=\"q\""]).utf8)
            }
            out += Array("\r\n".utf8)
            out += chunk
            if kind == 2 && self.chance(60) {
                out += Array(self.pick(["\n", "", "X\r\n", "\r", " \r\n"]).utf8)
            } else {
                out += Array("\r\n".utf8)
            }
        }
        if kind == 0 {
            out += Array("\(self.pick(Self.hugeChunkSizes))\r\n".utf8)
            out += Array("abc\r\n".utf8)
        }
        if kind == 3 { out += Array(self.pick(["5 \r\n", "5\t\r\n", "g\r\n", "-1\r\n", "5\n", "\r\n"]).utf8) }
        out += Array("0\r\n".utf8)
        // Trailers.
        if kind == 4 {
            out += Array(
                self.pick([
                    "X: a\r\n b\r\n", "X : a\r\n", "X: a\n", "Content-Length: 5\r\n", "Transfer-Encoding: chunked\r\n",
                    "Host: h\r\n", "X: \u{0}\r\n", "X: a\u{1}\r\n", "(x): y\r\n",
                ]).utf8
            )
        } else if self.chance(20) || kind == 5 {
            out += Array("X-Trailer: \(self.int(0...9))\r\nX-Other:\r\n".utf8)
        }
        out += Array("\r\n".utf8)
        return out
    }
}

/// ``ClientRequestParser`` against today's path (NIOHTTP1's `HTTPRequestDecoder`, then
/// `RequestValidator`) on 10,000 fixed-seed generated connections: valid requests, malformed
/// ones and smuggling shapes, one to three per connection, each connection cut at random points
/// (differently for each parser) and then closed. It fails when our outcome depends on the cuts,
/// when a request both complete differs (method, target, version, fields in order, body bytes,
/// trailers), when we complete a request llhttp or the validator refuses, and when we refuse
/// one llhttp completes for a reason not in ``StrictnessChoice``. The counts are printed.
@Suite("ClientRequestParser differential against NIOHTTP1 (llhttp)")
struct ClientRequestParserDifferentialTests {
    @Test("10,000 generated requests, split at random points: the same requests where both accept")
    func differential() {
        var generator = RequestGenerator(rng: ParserTestRandom(seed: 0x00C0_FFEE_2026_1202))
        var cutRNG = ParserTestRandom(seed: 42)
        let limits = ClientRequestParser.Limits(
            maxRequestLineBytes: 64 * 1024,
            maxTargetBytes: 64 * 1024,
            maxFieldBytes: 64 * 1024,
            maxFieldCount: 1000
        )
        let validatorLimits = RequestLimits(
            maxHeaderBytes: limits.maxFieldBytes,
            maxHeaderCount: limits.maxFieldCount,
            maxURIBytes: limits.maxTargetBytes,
            maxBodyBytes: 0
        )
        var acceptedByBoth = 0
        var rejectedByBoth = 0
        var choices: [StrictnessChoice: Int] = [:]
        var failures = 0
        let total = 10_000
        for index in 0..<total {
            let input = generator.input()
            let ours = runClientRequestParser(
                input,
                cuts: randomCuts(count: input.count, using: &cutRNG),
                limits: limits
            )
            let whole = runClientRequestParser(input, limits: limits)
            let theirs = runNIOHTTP1(input, cuts: randomCuts(count: input.count, using: &cutRNG))
            func fail(_ why: String) {
                failures += 1
                if failures <= 20 {
                    Issue.record(
                        """
                        #\(index) \(why)
                        input: \(String(decoding: input, as: UTF8.self).debugDescription)
                        ours: \(ours.messages) error: \(String(describing: ours.error)) closed: \(ours.bytesAfterClose)
                        NIOHTTP1: \(theirs.messages) rejected: \(theirs.rejected)
                        """
                    )
                }
            }
            // Our own answer may not depend on where the bytes were split.
            if ours.messages != whole.messages || ours.error != whole.error {
                fail("the split changed our outcome (whole: \(whole.messages), \(String(describing: whole.error)))")
                continue
            }
            // Today's path is llhttp and then RequestValidator: what the validator refuses (but
            // for its body limit, the proxy machine's) we refuse too.
            for message in ours.messages {
                let head = HTTPRequestHead(
                    version: message.version,
                    method: HTTPMethod(rawValue: message.method),
                    uri: message.target,
                    headers: HTTPHeaders(message.fields.map { ($0.name, $0.value) })
                )
                if case .failure(let refusal) = RequestValidator.validate(head, limits: validatorLimits) {
                    fail("we accept what RequestValidator refuses: \(refusal.message)")
                }
            }
            // Every request we completed, NIOHTTP1 completed the same way.
            guard ours.messages.count <= theirs.messages.count,
                Array(theirs.messages.prefix(ours.messages.count)) == ours.messages
            else {
                fail("the requests differ")
                continue
            }
            let oursRejects = ours.error != nil || ours.bytesAfterClose
            if !oursRejects {
                if theirs.rejected || theirs.messages.count != ours.messages.count {
                    fail("we accept what NIOHTTP1 refuses")
                } else {
                    acceptedByBoth += 1
                }
                continue
            }
            if ours.messages.count == theirs.messages.count {
                // Both stop after the same requests (a close stops us, llhttp refuses data
                // after `Connection: close`).
                if theirs.rejected || ours.error == nil {
                    rejectedByBoth += 1
                } else {
                    fail("we refuse bytes NIOHTTP1 accepts without a further request")
                }
                continue
            }
            // We refused a request NIOHTTP1 accepted: only as a listed strictness choice.
            let refused = theirs.messages[ours.messages.count]
            guard let error = ours.error, let choice = StrictnessChoice.classify(error, refused) else {
                fail("we refuse what NIOHTTP1 accepts, and no strictness choice covers it")
                continue
            }
            choices[choice, default: 0] += 1
        }
        #expect(failures == 0)
        #expect(acceptedByBoth + rejectedByBoth + choices.values.reduce(0, +) + failures == total)
        // Each kind of input is represented.
        #expect(acceptedByBoth > 2_000)
        #expect(rejectedByBoth > 2_000)
        print(
            "ClientRequestParser differential: \(total) inputs, accepted by both \(acceptedByBoth), rejected by both \(rejectedByBoth)"
        )
        for choice in StrictnessChoice.allCases {
            print("  strictness \(choice.rawValue): \(choices[choice, default: 0]) — \(choice.why)")
        }
    }
}
