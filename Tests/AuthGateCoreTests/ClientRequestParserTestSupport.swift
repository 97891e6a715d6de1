import NIOCore
import NIOHTTP1

@testable import AuthGateCore

/// One complete request as a parser saw it, in plain values both parsers' output maps onto.
struct ParsedMessage: Equatable, CustomStringConvertible {
    struct Field: Equatable {
        var name: String
        var value: String
    }

    var method: String
    var target: String
    var version: HTTPVersion
    var fields: [Field]
    var body: [UInt8] = []
    var trailers: [Field]?

    init(method: String, target: String, version: HTTPVersion, fields: [Field]) {
        self.method = method
        self.target = target
        self.version = version
        self.fields = fields
    }

    init(_ head: ParsedRequestHead) {
        var fields: [Field] = []
        head.fields.forEachField { name, value in
            fields.append(
                Field(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
            )
        }
        self.init(
            method: head.method.rawValue,
            target: String(decoding: head.target, as: UTF8.self),
            version: head.version,
            fields: fields
        )
    }

    init(_ head: HTTPRequestHead) {
        self.init(
            method: head.method.rawValue,
            target: head.uri,
            version: head.version,
            fields: head.headers.map { Field(name: $0.name, value: Self.trimmingTrailingWhitespace($0.value)) }
        )
    }

    /// llhttp leaves trailing spaces and tabs in a value; RFC 9110 §5.5 excludes them from it.
    static func trimmingTrailingWhitespace(_ value: String) -> String {
        var utf8 = Substring(value).utf8
        while let last = utf8.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { utf8.removeLast() }
        return String(Substring(utf8))
    }

    static func fields(_ fields: ParsedFields?) -> [Field]? {
        guard let fields else { return nil }
        var out: [Field] = []
        fields.forEachField { name, value in
            out.append(
                Field(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
            )
        }
        return out
    }

    var description: String {
        let fields = self.fields.map { "\($0.name)=\($0.value.debugDescription)" }.joined(separator: ", ")
        let trailers = self.trailers.map {
            $0.map { "\($0.name)=\($0.value.debugDescription)" }.joined(separator: ", ")
        }
        return "\(self.method) \(self.target.debugDescription) \(self.version) [\(fields)] body=\(self.body.count)B"
            + (trailers.map { " trailers=[\($0)]" } ?? "")
    }
}

/// What a parser made of a whole connection: the requests it completed, and whether it
/// refused the bytes (an error, or the connection ending inside a request).
struct ParseOutcome {
    var messages: [ParsedMessage] = []
    var error: ClientRequestParserError?
    /// The last request closed the connection and bytes other than CR and LF followed it,
    /// unparsed.
    var bytesAfterClose = false
}

/// Feeds `input` to a ``ClientRequestParser`` cut at `cuts` (sorted offsets), then ends the
/// connection, and collects the complete requests.
func runClientRequestParser(
    _ input: [UInt8],
    cuts: [Int] = [],
    limits: ClientRequestParser.Limits = .init()
) -> ParseOutcome {
    var parser = ClientRequestParser(limits: limits)
    var buffer = ByteBuffer()
    var outcome = ParseOutcome()
    var current: ParsedMessage?
    var start = 0
    func handle(_ event: ClientRequestParser.Event) {
        switch event {
        case .head(let head):
            precondition(current == nil, "a head inside a message")
            current = ParsedMessage(head)
        case .body(let bytes):
            current!.body.append(contentsOf: bytes.readableBytesView)
        case .end(let trailers):
            current!.trailers = ParsedMessage.fields(trailers)
            outcome.messages.append(current!)
            current = nil
        }
    }
    do throws(ClientRequestParserError) {
        for end in cuts + [input.count] where end >= start {
            buffer.writeBytes(input[start..<end])
            start = end
            while let event = try parser.next(&buffer) { handle(event) }
        }
        while let event = try parser.finish(&buffer) { handle(event) }
        outcome.bytesAfterClose =
            parser.isClosed
            && buffer.readableBytesView.contains { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }
    } catch {
        outcome.error = error
    }
    return outcome
}

/// Random cut points in `0..<count`, sorted.
func randomCuts(count: Int, using rng: inout some RandomNumberGenerator) -> [Int] {
    guard count > 1 else { return [] }
    let number = Int.random(in: 0...4, using: &rng)
    return (0..<number).map { _ in Int.random(in: 1..<count, using: &rng) }.sorted()
}

/// A fixed-seed generator (ParserTestRandom), so every run sees the same requests.
struct ParserTestRandom: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { self.state = seed }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
