import NIOCore
import NIOHTTP1

/// What the proxy handler writes to a client connection.
enum ClientResponsePart {
    /// A head the gateway made itself (errors, its own endpoints, `100 Continue`), framed by
    /// its own `Content-Length`.
    case head(HTTPResponseHead)
    /// A backend's head, already written as bytes by `HeaderPolicy.writeRelayedHead`;
    /// `chunked`: the body parts that follow go out as chunks.
    case relayedHead(ByteBuffer, chunked: Bool)
    case body(ByteBuffer)
    case end
}

/// Encodes the client side's responses into bytes. It replaces NIOHTTP1's response encoder
/// so that a backend's head, rewritten straight from the received bytes, goes out without
/// being built into `HTTPHeaders` first.
///
/// Not a channel handler: the proxy handler holds it and writes the bytes itself, so a
/// response part costs no pipeline hop and no existential box (`ByteBuffer` travels in
/// `NIOAny` unboxed; an enum with a payload does not).
struct ClientResponseEncoder {
    /// Whether the body of the response being written goes out in chunks.
    private var chunked = false

    init() {}

    /// Writes `part`'s bytes from `context` towards the socket (not flushed).
    mutating func write(_ part: ClientResponsePart, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        switch part {
        case .head(let head):
            self.chunked = false
            var buffer = context.channel.allocator.buffer(capacity: 256)
            buffer.writeStaticString(head.version.minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
            buffer.writeString(String(head.status.code))
            buffer.writeStaticString(" ")
            buffer.writeString(head.status.reasonPhrase)
            buffer.writeStaticString("\r\n")
            for (name, value) in head.headers {
                buffer.writeString(name)
                buffer.writeStaticString(": ")
                buffer.writeString(value)
                buffer.writeStaticString("\r\n")
            }
            buffer.writeStaticString("\r\n")
            context.write(NIOAny(buffer), promise: promise)

        case .relayedHead(let buffer, let chunked):
            self.chunked = chunked
            context.write(NIOAny(buffer), promise: promise)

        case .body(let body):
            guard self.chunked else {
                context.write(NIOAny(body), promise: promise)
                return
            }
            guard body.readableBytes > 0 else {
                promise?.succeed()
                return
            }
            var size = context.channel.allocator.buffer(capacity: 18)
            size.writeString(String(body.readableBytes, radix: 16))
            size.writeStaticString("\r\n")
            context.write(NIOAny(size), promise: nil)
            context.write(NIOAny(body), promise: nil)
            context.write(NIOAny(Self.crlf), promise: promise)

        case .end:
            if self.chunked {
                self.chunked = false
                context.write(NIOAny(Self.lastChunk), promise: promise)
            } else if let promise {
                // Nothing to send, but the promise must complete after what was written.
                context.write(NIOAny(Self.empty), promise: promise)
            }
        }
    }

    private static let crlf = ByteBuffer(string: "\r\n")
    private static let lastChunk = ByteBuffer(string: "0\r\n\r\n")
    private static let empty = ByteBuffer()
}
