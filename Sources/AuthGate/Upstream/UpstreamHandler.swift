import AuthGateCore
import NIOCore
import NIOHTTP1

/// Receives what one upstream connection produces while it is leased.
protocol UpstreamConnectionDelegate: AnyObject {
    /// Whether the client side can take more bytes; reads from the backend wait until it can.
    var clientIsWritable: Bool { get }
    func upstreamReceived(_ event: UpstreamResponseParser.Event)
    func upstreamReadComplete()
    func upstreamWritabilityChanged(isWritable: Bool)
    func upstreamFailed(protocolError: Bool)
}

/// The one handler of an upstream channel: parses the backend's bytes with
/// ``UpstreamResponseParser`` (no decoder handler in front: one pipeline hop per read), relays
/// the response events to the client's handler, and holds back reads while the client cannot
/// take more (backpressure).
///
/// Each response is framed against the request it answers (`HEAD` has no body): the connection
/// tells it each request's method as it writes the head (``requestSent(method:)``). After a 101
/// the parser stops; when the tunnel removes this handler, the bytes that came with the 101 (a
/// first WebSocket frame) are passed on as a `ByteBuffer`.
final class UpstreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    /// After a 101, the bytes that came with it, for the tunnel.
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    weak var delegate: (any UpstreamConnectionDelegate)?
    /// Called once when the channel goes away, so the pool can forget the connection.
    var onClose: (() -> Void)?
    private var readPending = false
    private var context: ChannelHandlerContext?
    private var parser = UpstreamResponseParser()
    /// The bytes received and not yet parsed; `nil` when there are none.
    private var received: ByteBuffer?
    /// Events are being handed on (a close then must not finish the parser under them).
    private var parsing = false
    /// The channel closed or failed: nothing more is parsed.
    private var stopped = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// The channel, for writes after removal (they fail there, as on any closed channel).
    private weak var channelWhenRemoved: (any Channel)?

    func handlerRemoved(context: ChannelHandlerContext) {
        if self.parser.isUpgraded, let received = self.received, received.readableBytes > 0 {
            // Removed after an upgrade: what followed the 101 belongs to the tunnel.
            context.fireChannelRead(self.wrapInboundOut(received))
        }
        // Removal may come while events are handed on (the tunnel starts on the 101's end).
        self.stopped = true
        self.received = nil
        self.channelWhenRemoved = context.channel
        self.context = nil
    }

    /// A request with `method` was written: the next response framed is its answer.
    func requestSent(method: HTTPMethod) {
        self.parser.requestSent(method: method)
    }

    /// Writes request bytes from this handler's place in the pipeline: it is the last handler,
    /// so this is one hop less than `channel.write`. Once it has left the pipeline (the channel
    /// closed), the write goes through the channel and fails there.
    func write(_ bytes: ByteBuffer) {
        if let context = self.context {
            context.write(self.wrapOutboundOut(.byteBuffer(bytes)), promise: nil)
        } else {
            self.channelWhenRemoved?.write(IOData.byteBuffer(bytes), promise: nil)
        }
    }

    /// Flushes from this handler's place in the pipeline (see ``write(_:)``).
    func flush() {
        if let context = self.context {
            context.flush()
        } else {
            self.channelWhenRemoved?.flush()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.stopped else { return }
        let bytes = self.unwrapInboundIn(data)
        if self.received == nil || self.received!.readableBytes == 0 {
            self.received = bytes
        } else {
            var bytes = bytes
            self.received!.writeBuffer(&bytes)
        }
        self.parsing = true
        defer { self.parsing = false }
        do {
            // Every event the bytes hold: a body's last bytes and its end come from one read.
            while !self.stopped, self.received != nil, let event = try self.parser.next(&self.received!) {
                self.deliver(event, context: context)
            }
        } catch {
            self.failed(error, context: context)
            return
        }
        if self.received?.readableBytes == 0 {
            // Let the read's buffer go: its storage can be reused for the next read.
            self.received = nil
        }
    }

    private func deliver(_ event: UpstreamResponseParser.Event, context: ChannelHandlerContext) {
        if let delegate = self.delegate {
            delegate.upstreamReceived(event)
        } else {
            // Bytes on an idle connection: the backend is confused; never reuse it.
            self.stopped = true
            self.received = nil
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.delegate?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.delegate?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.failed(error, context: context)
    }

    private func failed(_ error: any Error, context: ChannelHandlerContext) {
        self.stopped = true
        self.received = nil
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed(protocolError: error is UpstreamResponseParser.Error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.parsing && !self.stopped {
            // The backend closed: a body delimited by the close ends here; inside any other
            // message the close is an error.
            self.parsing = true
            var bytes = self.received ?? ByteBuffer()
            self.received = nil
            do {
                while !self.stopped, let event = try self.parser.next(&bytes) ?? self.parser.finish(&bytes) {
                    self.deliver(event, context: context)
                }
            } catch {
                self.failed(error, context: context)
            }
            self.parsing = false
        }
        self.stopped = true
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed(protocolError: false)
        let onClose = self.onClose
        self.onClose = nil
        onClose?()
        context.fireChannelInactive()
    }

    func read(context: ChannelHandlerContext) {
        if let delegate = self.delegate, !delegate.clientIsWritable {
            self.readPending = true
        } else {
            context.read()
        }
    }

    /// The client can take bytes again: deliver the read that was held back.
    func resumeReading() {
        if self.readPending, let context = self.context {
            self.readPending = false
            context.read()
        }
    }
}
