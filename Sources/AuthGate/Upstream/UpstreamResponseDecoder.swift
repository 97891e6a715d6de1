import AuthGateCore
import NIOCore
import NIOHTTP1

/// Feeds an upstream connection's bytes to `UpstreamResponseParser` and watches the request
/// heads written to it, so each response is framed against its request (`HEAD`).
///
/// After a 101 the parser stops; when the tunnel removes this decoder, the bytes that came
/// with the 101 (a first WebSocket frame) are passed on as a `ByteBuffer`.
struct UpstreamResponseDecoder: WriteObservingByteToMessageDecoder {
    typealias InboundOut = UpstreamResponseParser.Event
    typealias OutboundIn = HTTPClientRequestPart

    private var parser = UpstreamResponseParser()

    mutating func write(data: HTTPClientRequestPart) {
        if case .head(let head) = data {
            self.parser.requestSent(method: head.method)
        }
    }

    /// Passes on every event the bytes hold: a body's last bytes and its end come from one
    /// read, and `ByteToMessageHandler` does not call again on an emptied buffer.
    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        while let event = try self.parser.next(&buffer) {
            context.fireChannelRead(Self.wrapInboundOut(event))
        }
        return .needMoreData
    }

    mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        while let event = try self.parser.next(&buffer) ?? (seenEOF ? self.parser.finish(&buffer) : nil) {
            context.fireChannelRead(Self.wrapInboundOut(event))
        }
        if !seenEOF && buffer.readableBytes > 0 {
            // Removed after an upgrade: what followed the 101 belongs to the tunnel.
            context.fireChannelRead(NIOAny(buffer.readSlice(length: buffer.readableBytes)!))
        }
        return .needMoreData
    }
}
