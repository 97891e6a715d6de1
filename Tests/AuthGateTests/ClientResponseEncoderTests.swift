import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import AuthGate

/// Drives a `ClientResponseEncoder` from a handler's context, as `ProxyHandler` does.
private final class EncoderHost: ChannelOutboundHandler {
    typealias OutboundIn = ClientResponsePart
    typealias OutboundOut = ByteBuffer

    private var encoder = ClientResponseEncoder()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        self.encoder.write(Self.unwrapOutboundIn(data), context: context, promise: promise)
    }
}

/// An embedded channel whose pipeline holds only a `ClientResponseEncoder`'s host.
private func makeChannel() throws -> EmbeddedChannel {
    let channel = EmbeddedChannel()
    try channel.pipeline.syncOperations.addHandler(EncoderHost())
    return channel
}

/// Writes each part without a promise, then flushes. (`writeOutbound` would pass a promise,
/// which changes what `.end` writes.)
private func send(_ parts: [ClientResponsePart], on channel: EmbeddedChannel) throws {
    for part in parts {
        channel.write(part, promise: nil)
    }
    channel.flush()
    try channel.throwIfErrorCaught()
}

/// The buffers written so far, in order, each as a string.
private func writtenParts(_ channel: EmbeddedChannel) throws -> [String] {
    var out: [String] = []
    while let part = try channel.readOutbound(as: ByteBuffer.self) {
        out.append(String(buffer: part))
    }
    return out
}

/// The bytes written so far, concatenated.
private func written(_ channel: EmbeddedChannel) throws -> String {
    try writtenParts(channel).joined()
}

/// Writes `part` with a promise and flushes; the promise's outcome once the loop has run
/// (nil: not completed).
private func writeWithPromise(_ part: ClientResponsePart, on channel: EmbeddedChannel) -> Result<Void, any Error>? {
    let promise = channel.eventLoop.makePromise(of: Void.self)
    var outcome: Result<Void, any Error>?
    promise.futureResult.assumeIsolated().whenComplete { outcome = $0 }
    channel.write(part, promise: promise)
    channel.flush()
    channel.embeddedEventLoop.run()
    return outcome
}

/// Whether `outcome` is a success.
private func succeeded(_ outcome: Result<Void, any Error>?) -> Bool {
    if case .success = outcome { return true }
    return false
}

/// Finishes the channel, expecting nothing left over.
private func finish(_ channel: EmbeddedChannel, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let leftOvers = try channel.finish()
    #expect(leftOvers.isClean, "left over: \(leftOvers)", sourceLocation: sourceLocation)
}

private let relayedHead = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Request-Id: req-1\r\n"

@Suite("ClientResponseEncoder")
struct ClientResponseEncoderTests {
    @Test("a gateway head is written as a status line and its fields; the body goes out unframed")
    func gatewayHead() throws {
        let channel = try makeChannel()
        let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "2", "X-A": "b"])
        try send([.head(head), .body(ByteBuffer(string: "ok")), .end], on: channel)
        #expect(try written(channel) == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nok")
        try finish(channel)
    }

    @Test("a gateway head without fields is the status line and the blank line")
    func gatewayHeadWithoutFields() throws {
        let channel = try makeChannel()
        try send([.head(HTTPResponseHead(version: .http1_1, status: .continue))], on: channel)
        #expect(try written(channel) == "HTTP/1.1 100 Continue\r\n\r\n")
        try finish(channel)
    }

    @Test("an HTTP/1.0 gateway head writes an HTTP/1.0 status line")
    func gatewayHeadHTTP10() throws {
        let channel = try makeChannel()
        let head = HTTPResponseHead(version: .http1_0, status: .notFound, headers: ["Content-Length": "0"])
        try send([.head(head), .end], on: channel)
        #expect(try written(channel) == "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        try finish(channel)
    }

    @Test("a relayed head's bytes pass through unchanged and, not chunked, its bodies go out unframed")
    func relayedHeadUnchunked() throws {
        let channel = try makeChannel()
        let head = relayedHead + "Content-Length: 11\r\n\r\n"
        try send(
            [
                .relayedHead(ByteBuffer(string: head), chunked: false),
                .body(ByteBuffer(string: "hello")),
                .body(ByteBuffer(string: " world")),
                .end,
            ],
            on: channel
        )
        #expect(try writtenParts(channel) == [head, "hello", " world"])
        try finish(channel)
    }

    @Test("a chunked relayed response frames each body as a chunk, skips empty ones and ends with the last chunk")
    func relayedHeadChunked() throws {
        let channel = try makeChannel()
        let head = relayedHead + "Transfer-Encoding: chunked\r\n\r\n"
        try send(
            [
                .relayedHead(ByteBuffer(string: head), chunked: true),
                .body(ByteBuffer(string: "hello")),
                .body(ByteBuffer()),
                .body(ByteBuffer(string: "world!")),
                .end,
            ],
            on: channel
        )
        #expect(try written(channel) == head + "5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n")
        try finish(channel)
    }

    @Test("chunk sizes are written in lower-case hexadecimal")
    func chunkSizeHex() throws {
        let channel = try makeChannel()
        let body = String(repeating: "x", count: 300)
        try send(
            [.relayedHead(ByteBuffer(string: "H\r\n\r\n"), chunked: true), .body(ByteBuffer(string: body)), .end],
            on: channel
        )
        #expect(try written(channel) == "H\r\n\r\n12c\r\n\(body)\r\n0\r\n\r\n")
        try finish(channel)
    }

    @Test("after a chunked relayed response ends, the next response's body is not chunk-framed")
    func chunkedDoesNotLeakAfterEnd() throws {
        let channel = try makeChannel()
        let first = relayedHead + "Transfer-Encoding: chunked\r\n\r\n"
        try send(
            [.relayedHead(ByteBuffer(string: first), chunked: true), .body(ByteBuffer(string: "abc")), .end],
            on: channel
        )
        #expect(try written(channel) == first + "3\r\nabc\r\n0\r\n\r\n")

        let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "2"])
        try send([.head(head), .body(ByteBuffer(string: "ok")), .end], on: channel)
        #expect(try written(channel) == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        let second = relayedHead + "Content-Length: 2\r\n\r\n"
        try send(
            [.relayedHead(ByteBuffer(string: second), chunked: false), .body(ByteBuffer(string: "hi")), .end],
            on: channel
        )
        #expect(try written(channel) == second + "hi")
        try finish(channel)
    }

    @Test("a gateway head resets the chunked state even when the chunked response got no end")
    func gatewayHeadResetsChunked() throws {
        let channel = try makeChannel()
        let first = relayedHead + "Transfer-Encoding: chunked\r\n\r\n"
        try send([.relayedHead(ByteBuffer(string: first), chunked: true)], on: channel)
        #expect(try written(channel) == first)

        let head = HTTPResponseHead(version: .http1_1, status: .badGateway, headers: ["Content-Length": "3"])
        try send([.head(head), .body(ByteBuffer(string: "bad")), .end], on: channel)
        #expect(try written(channel) == "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad")
        try finish(channel)
    }

    @Test("the end of a non-chunked response completes its promise and writes no bytes")
    func endPromiseCompletes() throws {
        let channel = try makeChannel()
        let head = relayedHead + "Content-Length: 2\r\n\r\n"
        try send(
            [.relayedHead(ByteBuffer(string: head), chunked: false), .body(ByteBuffer(string: "ok"))],
            on: channel
        )
        #expect(try written(channel) == head + "ok")
        let outcome = writeWithPromise(.end, on: channel)
        #expect(succeeded(outcome), "outcome: \(String(describing: outcome))")
        #expect(try written(channel) == "")
        try finish(channel)
    }

    @Test("the end of a non-chunked response without a promise writes nothing")
    func endWithoutPromiseWritesNothing() throws {
        let channel = try makeChannel()
        let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "0"])
        try send([.head(head)], on: channel)
        #expect(try written(channel) == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        try send([.end], on: channel)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        try finish(channel)
    }

    @Test("the end of a chunked response completes its promise with the last chunk")
    func chunkedEndPromiseCompletes() throws {
        let channel = try makeChannel()
        try send([.relayedHead(ByteBuffer(string: "H\r\n\r\n"), chunked: true)], on: channel)
        #expect(try written(channel) == "H\r\n\r\n")
        let outcome = writeWithPromise(.end, on: channel)
        #expect(succeeded(outcome), "outcome: \(String(describing: outcome))")
        #expect(try written(channel) == "0\r\n\r\n")
        try finish(channel)
    }

    @Test("an empty body in a chunked response completes its promise and writes nothing")
    func emptyChunkedBodyPromiseCompletes() throws {
        let channel = try makeChannel()
        try send([.relayedHead(ByteBuffer(string: "H\r\n\r\n"), chunked: true)], on: channel)
        #expect(try written(channel) == "H\r\n\r\n")
        let outcome = writeWithPromise(.body(ByteBuffer()), on: channel)
        #expect(succeeded(outcome), "outcome: \(String(describing: outcome))")
        #expect(try written(channel) == "")
        try send([.end], on: channel)
        #expect(try written(channel) == "0\r\n\r\n")
        try finish(channel)
    }

    @Test("a chunked body's promise completes once its chunk is written")
    func chunkedBodyPromiseCompletes() throws {
        let channel = try makeChannel()
        try send([.relayedHead(ByteBuffer(string: "H\r\n\r\n"), chunked: true)], on: channel)
        #expect(try written(channel) == "H\r\n\r\n")
        let outcome = writeWithPromise(.body(ByteBuffer(string: "abc")), on: channel)
        #expect(succeeded(outcome), "outcome: \(String(describing: outcome))")
        #expect(try written(channel) == "3\r\nabc\r\n")
        try send([.end], on: channel)
        #expect(try written(channel) == "0\r\n\r\n")
        try finish(channel)
    }
}
