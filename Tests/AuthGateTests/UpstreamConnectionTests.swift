import AuthGateCore
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import AuthGate

/// Counts the flushes that reach the channel from the upstream handler.
private final class FlushCounter: ChannelOutboundHandler {
    typealias OutboundIn = IOData
    var flushes = 0

    func flush(context: ChannelHandlerContext) {
        self.flushes += 1
        context.flush()
    }
}

/// An upstream connection over an embedded channel: [flush counter, upstream handler].
private func makeConnection() throws -> (UpstreamConnection, EmbeddedChannel, FlushCounter) {
    let channel = EmbeddedChannel()
    let counter = FlushCounter()
    let handler = UpstreamHandler()
    try channel.pipeline.syncOperations.addHandler(counter)
    try channel.pipeline.syncOperations.addHandler(handler)
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8000)).wait()
    let connection = UpstreamConnection(id: .init(1), channel: channel, handler: handler)
    return (connection, channel, counter)
}

private func written(_ channel: EmbeddedChannel) throws -> String {
    var text = ""
    while let part = try channel.readOutbound(as: IOData.self) {
        guard case .byteBuffer(let bytes) = part else { continue }
        text += String(buffer: bytes)
    }
    return text
}

@Suite("UpstreamConnection writes")
struct UpstreamConnectionTests {
    @Test("a bodiless request is flushed once: its end writes nothing and flushes nothing more")
    func bodilessRequestFlushesOnce() throws {
        let (connection, channel, counter) = try makeConnection()
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/api/me")
        head.headers.add(name: "Host", value: "backend")
        connection.writeHead(head)
        #expect(counter.flushes == 0)
        connection.flush()
        #expect(counter.flushes == 1)
        connection.writeEndAndFlush()
        #expect(counter.flushes == 1)
        connection.flush()
        #expect(counter.flushes == 1)
        #expect(try written(channel) == "GET /api/me HTTP/1.1\r\nHost: backend\r\n\r\n")
        _ = try channel.finish()
    }

    @Test("a chunked request's parts and its last chunk are each flushed once they are written")
    func chunkedRequestFlushesWhatItWrites() throws {
        let (connection, channel, counter) = try makeConnection()
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/api/things")
        head.headers.add(name: "Host", value: "backend")
        connection.writeHead(head)
        connection.writeBody(ByteBuffer(string: "abc"))
        connection.flush()
        #expect(counter.flushes == 1)
        connection.writeEndAndFlush()
        #expect(counter.flushes == 2)
        #expect(
            try written(channel)
                == "POST /api/things HTTP/1.1\r\nHost: backend\r\ntransfer-encoding: chunked\r\n\r\n"
                + "3\r\nabc\r\n0\r\n\r\n"
        )
        // The next request on the connection starts unflushed again.
        connection.writeHead(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/"))
        connection.writeEndAndFlush()
        #expect(counter.flushes == 3)
        _ = try channel.finish()
    }
}
