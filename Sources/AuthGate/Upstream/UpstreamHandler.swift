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

/// The last handler of an upstream channel: relays response parts to the client's handler and
/// holds back reads while the client cannot take more (backpressure).
final class UpstreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = UpstreamResponseParser.Event
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    weak var delegate: (any UpstreamConnectionDelegate)?
    /// Called once when the channel goes away, so the pool can forget the connection.
    var onClose: (() -> Void)?
    private var readPending = false
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = self.unwrapInboundIn(data)
        if let delegate = self.delegate {
            delegate.upstreamReceived(part)
        } else {
            // Bytes on an idle connection: the backend is confused; never reuse it.
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
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed(protocolError: error is UpstreamResponseParser.Error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
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
