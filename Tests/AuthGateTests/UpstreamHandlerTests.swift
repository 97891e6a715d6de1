import AuthGateCore
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import AuthGate

/// Records what the upstream handler hands the client side, in order.
private final class RecordingDelegate: UpstreamConnectionDelegate {
    var log: [String] = []
    var clientIsWritable: Bool { true }

    func upstreamReceived(_ event: UpstreamResponseParser.Event) {
        switch event {
        case .head(let head): self.log.append("head \(head.status.code)")
        case .body(let bytes):
            // Adjacent body pieces joined, so that outcomes of different splits compare.
            if let last = self.log.last, last.hasPrefix("body ") {
                self.log[self.log.count - 1] = last + String(buffer: bytes)
            } else {
                self.log.append("body \(String(buffer: bytes))")
            }
        case .end: self.log.append("end")
        }
    }

    func upstreamReadComplete() {}
    func upstreamWritabilityChanged(isWritable: Bool) {}
    func upstreamFailed(protocolError: Bool) { self.log.append("failed protocolError=\(protocolError)") }
}

/// An embedded upstream channel holding only the handler (as the pool builds it), with a
/// recording delegate.
private func makeChannel() throws -> (EmbeddedChannel, UpstreamHandler, RecordingDelegate) {
    let channel = EmbeddedChannel()
    let handler = UpstreamHandler()
    let delegate = RecordingDelegate()
    handler.delegate = delegate
    try channel.pipeline.syncOperations.addHandler(handler)
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8000)).wait()
    return (channel, handler, delegate)
}

@Suite("UpstreamHandler")
struct UpstreamHandlerTests {
    static let responses =
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
        + "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"

    @Test("two responses split at every byte give the same events")
    func splitAtEveryByte() throws {
        let bytes = Array(Self.responses.utf8)
        for cut in 1..<bytes.count {
            let (channel, handler, delegate) = try makeChannel()
            handler.requestSent(method: .GET)
            handler.requestSent(method: .POST)
            try channel.writeInbound(ByteBuffer(bytes: bytes[..<cut]))
            try channel.writeInbound(ByteBuffer(bytes: bytes[cut...]))
            #expect(delegate.log == ["head 200", "body hello", "end", "head 404", "body abc", "end"], "cut at \(cut)")
            #expect(channel.isActive, "cut at \(cut)")
            _ = try? channel.finish()
        }
    }

    @Test("a response to HEAD has no body whatever its Content-Length says")
    func headResponse() throws {
        let (channel, handler, delegate) = try makeChannel()
        handler.requestSent(method: .HEAD)
        handler.requestSent(method: .GET)
        try channel.writeInbound(
            ByteBuffer(
                string: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            )
        )
        #expect(delegate.log == ["head 200", "end", "head 200", "body ok", "end"])
        _ = try? channel.finish()
    }

    @Test("a body delimited by the close ends when the backend closes, before the failure is told")
    func closeDelimitedBody() throws {
        let (channel, handler, delegate) = try makeChannel()
        handler.requestSent(method: .GET)
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc"))
        #expect(delegate.log == ["head 200", "body abc"])
        channel.pipeline.fireChannelInactive()
        #expect(delegate.log == ["head 200", "body abc", "end", "failed protocolError=false"])
    }

    @Test("a close inside a length-framed body is a failure, not an end")
    func truncatedBody() throws {
        let (channel, handler, delegate) = try makeChannel()
        handler.requestSent(method: .GET)
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"))
        channel.pipeline.fireChannelInactive()
        #expect(delegate.log == ["head 200", "body abc", "failed protocolError=true"])
    }

    @Test("a malformed response fails the exchange as a protocol error and closes the connection")
    func malformedResponse() throws {
        let (channel, handler, delegate) = try makeChannel()
        handler.requestSent(method: .GET)
        try channel.writeInbound(
            ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        )
        #expect(delegate.log == ["failed protocolError=true"])
        #expect(!channel.isActive)
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n"))
        #expect(delegate.log == ["failed protocolError=true"], "nothing is parsed after the failure")
    }

    @Test("bytes on an idle connection (no exchange leases it) close it")
    func bytesWhileIdle() throws {
        let (channel, handler, _) = try makeChannel()
        handler.delegate = nil
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
        #expect(!channel.isActive)
    }

    @Test("after a 101 nothing more is parsed; on removal the bytes that came with it go on as they came")
    func leftoverBytesAfterUpgrade() throws {
        let (channel, handler, delegate) = try makeChannel()
        handler.requestSent(method: .GET)
        try channel.writeInbound(
            ByteBuffer(
                string:
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u{01}\u{02}hi"
            )
        )
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n"))
        #expect(delegate.log == ["head 101", "end"])
        let removed = channel.pipeline.syncOperations.removeHandler(handler)
        channel.embeddedEventLoop.run()
        try removed.wait()
        let leftover = try #require(try channel.readInbound(as: ByteBuffer.self))
        #expect(String(buffer: leftover) == "\u{01}\u{02}hiHTTP/1.1 200 OK\r\n\r\n")
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        _ = try? channel.finish()
    }
}
