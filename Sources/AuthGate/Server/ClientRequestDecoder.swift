import AuthGateCore
import NIOCore
import NIOHTTP1

/// NIOHTTP1's request decoder with a ``RequestLineGuard`` beside it, so that a request target
/// too long for the decoder is answered 414 rather than 431.
///
/// llhttp counts the target as a header field: an oversized target and oversized header
/// fields both fail with `HTTPParserError.headerOverflow`. The guard sees each message's first
/// line before the decoder does; ``requestLineTooLong`` says which of the two overflowed. The
/// proxy handler reports the heads and ends it receives (``partDelivered(isEnd:)``), which
/// tells the guard where the next request line begins.
///
/// Everything else (parts, leftover bytes after an upgrade, errors) is the inner decoder's.
final class ClientRequestDecoder: ByteToMessageDecoder {
    typealias InboundOut = HTTPServerRequestPart

    private let inner: HTTPRequestDecoder
    private var lineGuard: RequestLineGuard
    /// Bytes at the front of the buffer the guard has already seen (the decoder leaves an
    /// unfinished field in the buffer and is handed it again with what arrives next).
    private var seenPrefix = 0
    /// Whether the last part the decoder delivered was an `.end`.
    private var endIsLastPart = false

    init(limits: NIOHTTPDecoderLimitConfiguration, maxURIBytes: Int) {
        self.inner = HTTPRequestDecoder(
            leftOverBytesStrategy: .forwardBytes,
            informationalResponseStrategy: .drop,
            limitConfiguration: limits
        )
        self.lineGuard = RequestLineGuard(maxURIBytes: maxURIBytes)
    }

    /// Whether the request line of the message being decoded exceeds the URI limit: a
    /// `headerOverflow` from the decoder is then a 414.
    var requestLineTooLong: Bool { self.lineGuard.requestLineTooLong }

    /// Called by the proxy handler for every head and end it receives from this decoder.
    func partDelivered(isEnd: Bool) {
        self.endIsLastPart = isEnd
    }

    func decoderAdded(context: ChannelHandlerContext) {
        self.inner.decoderAdded(context: context)
    }

    func decoderRemoved(context: ChannelHandlerContext) {
        self.inner.decoderRemoved(context: context)
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        self.watch(buffer)
        let state = try self.inner.decode(context: context, buffer: &buffer)
        self.decoded(buffer)
        return state
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        self.watch(buffer)
        let state = try self.inner.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
        self.decoded(buffer)
        return state
    }

    private func watch(_ buffer: ByteBuffer) {
        self.endIsLastPart = false
        if self.lineGuard.isScanning {
            self.lineGuard.scan(buffer.readableBytesView.dropFirst(self.seenPrefix))
        }
    }

    private func decoded(_ buffer: ByteBuffer) {
        if self.endIsLastPart {
            // The next request starts in what is left (if anything): show it to the guard.
            self.lineGuard.messageEnded()
            self.seenPrefix = 0
        } else {
            self.seenPrefix = buffer.readableBytes
        }
    }
}
