import NIOCore

/// Sits in front of the request decoder and tells the ``ProxyHandler`` that client bytes
/// arrived, before they are decoded: a request head that trickles in produces no decoded part
/// until it is complete, yet its header timeout runs from its first byte, and the body timeout
/// counts any read, chunk framing included (``RequestReadTimeoutStateMachine``).
final class ClientReadObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private weak var proxy: ProxyHandler?

    init(proxy: ProxyHandler) {
        self.proxy = proxy
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.proxy?.clientBytesArrived()
        context.fireChannelRead(data)
    }
}
