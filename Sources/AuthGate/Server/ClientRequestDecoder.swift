import AuthGateCore
import NIOCore
import NIOHTTP1

/// Decodes a client connection's requests with AuthGate's strict ``ClientRequestParser`` and
/// hands them on as `HTTPServerRequestPart`s, as NIOHTTP1's decoder did.
///
/// Heads are converted to `HTTPRequestHead` for the proxy handler; bodies are slices of the
/// received buffer, not copies; a chunked body's trailers come with its `.end`. A parse error
/// is thrown (``ClientRequestParserError``, which says its own status: 400, 414 or 431); the
/// `ByteToMessageHandler` then fires it and reads nothing more.
///
/// After the `.end` of a request asking for an upgrade (`Connection: upgrade` and `Upgrade`),
/// nothing more is parsed, as NIOHTTP1 stopped: what follows belongs to the new protocol if the
/// backend answers 101 (the connection closes otherwise). When the handler is removed for the
/// tunnel, the bytes it still holds are forwarded as one `ByteBuffer` (NIOHTTP1's
/// `.forwardBytes` strategy). After a request that closes the connection (`Connection: close`,
/// or HTTP/1.0 without `keep-alive`), the bytes that follow are dropped unread.
final class ClientRequestDecoder: ByteToMessageDecoder {
    typealias InboundOut = HTTPServerRequestPart

    private var parser: ClientRequestParser
    /// An upgrade request has ended: the bytes that follow are not HTTP.
    private var upgradeEnded = false
    /// The head being received asks for an upgrade.
    private var messageIsUpgrade = false

    init(limits: ClientRequestParser.Limits) {
        self.parser = ClientRequestParser(limits: limits)
    }

    /// The parser's limits for a gateway's `limits.*` settings.
    ///
    /// The request target is bounded by `max_uri_bytes` (414), and the request line by that plus
    /// room for the longest method and ` HTTP/1.1`, so only an oversized target makes it too long.
    /// The field count is `max_header_count` (431). `max_header_bytes` counts names and values,
    /// as `RequestValidator` checks it exactly once the head is complete; the parser counts raw
    /// lines (colon, whitespace and CRLF included), so its bound adds four bytes a field and
    /// 1 KiB of whitespace slack: it caps what an unfinished head may buffer without ever
    /// refusing a head the validator would accept.
    static func limits(_ limits: GatewayConfig.Limits) -> ClientRequestParser.Limits {
        ClientRequestParser.Limits(
            maxRequestLineBytes: limits.maxURIBytes + 64,
            maxTargetBytes: limits.maxURIBytes,
            maxFieldBytes: limits.maxHeaderBytes + 4 * limits.maxHeaderCount + 1024,
            maxFieldCount: limits.maxHeaderCount
        )
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        // Every event the bytes hold, not one per call: a head without a body ends with no
        // byte after it, and `ByteToMessageHandler` does not call again on an emptied buffer.
        while !self.upgradeEnded, let event = try self.parser.next(&buffer) {
            self.deliver(event, context: context)
        }
        if self.parser.isClosed {
            // A request that closes the connection has ended: nothing after it is answered, so
            // nothing after it is kept (a client streaming on would otherwise grow the buffer).
            buffer.moveReaderIndex(to: buffer.writerIndex)
        }
        return .needMoreData
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        if !self.upgradeEnded {
            if seenEOF {
                // Inside a message, the connection's end is an error (`.incomplete`), as llhttp's.
                while !self.upgradeEnded, let event = try self.parser.finish(&buffer) {
                    self.deliver(event, context: context)
                }
            } else {
                while !self.upgradeEnded, let event = try self.parser.next(&buffer) {
                    self.deliver(event, context: context)
                }
            }
        }
        if buffer.readableBytes > 0 && !seenEOF {
            // Removed from the pipeline (a tunnel starts): the bytes after the handshake go on.
            context.fireChannelRead(NIOAny(buffer))
            buffer.moveReaderIndex(to: buffer.writerIndex)
        }
        return .needMoreData
    }

    private func deliver(_ event: ClientRequestParser.Event, context: ChannelHandlerContext) {
        switch event {
        case .head(let head):
            self.messageIsUpgrade = head.isUpgrade
            context.fireChannelRead(Self.wrapInboundOut(.head(head.makeHTTPRequestHead())))
        case .body(let bytes):
            context.fireChannelRead(Self.wrapInboundOut(.body(bytes)))
        case .end(let trailers):
            self.upgradeEnded = self.messageIsUpgrade
            context.fireChannelRead(Self.wrapInboundOut(.end(trailers?.headers)))
        }
    }
}
