import AuthGateCore
import NIOCore
import NIOHTTP1

/// Feeds an upstream connection's bytes to `UpstreamResponseParser`, telling it first about the
/// requests written since (``UpstreamSentRequests``), so each response is framed against its
/// request (`HEAD`).
///
/// After a 101 the parser stops; when the tunnel removes this decoder, the bytes that came
/// with the 101 (a first WebSocket frame) are passed on as a `ByteBuffer`.
struct UpstreamResponseDecoder: ByteToMessageDecoder {
    typealias InboundOut = UpstreamResponseParser.Event

    private var parser = UpstreamResponseParser()
    private let sentRequests: UpstreamSentRequests

    init(sentRequests: UpstreamSentRequests) {
        self.sentRequests = sentRequests
    }

    private mutating func takeSentRequests() {
        while let method = self.sentRequests.popFirst() {
            self.parser.requestSent(method: method)
        }
    }

    /// Passes on every event the bytes hold: a body's last bytes and its end come from one
    /// read, and `ByteToMessageHandler` does not call again on an emptied buffer.
    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        self.takeSentRequests()
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
        self.takeSentRequests()
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
