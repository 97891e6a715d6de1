import NIOCore
import NIOHTTP1

/// One end of a byte tunnel between the client and the backend after a `101 Switching
/// Protocols`: what one channel reads, the other writes, and each side reads only while its
/// partner is writable. When either side closes, both close.
final class TunnelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: TunnelHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private var onClose: (() -> Void)?

    private init() {}

    /// Replaces the HTTP handlers of both channels with a joined pair of tunnel handlers.
    ///
    /// Bytes that already followed the handshake (left unparsed by either HTTP handler) are
    /// forwarded to the other side when the HTTP handlers are removed. Both channels are on the same event
    /// loop, so the two handlers call each other directly.
    static func join(client: ChannelHandlerContext, upstream: UpstreamConnection, metrics: GatewayMetrics) throws {
        let clientPipeline = client.pipeline.syncOperations
        let upstreamPipeline = upstream.channel.pipeline.syncOperations
        let clientEnd = TunnelHandler()
        let upstreamEnd = TunnelHandler()
        clientEnd.partner = upstreamEnd
        upstreamEnd.partner = clientEnd
        metrics.activeTunnels.increment()
        clientEnd.onClose = { metrics.activeTunnels.decrement() }

        try upstreamPipeline.addHandler(upstreamEnd)
        try clientPipeline.addHandler(clientEnd)

        // Upstream: the HTTP handler goes; it parses the responses itself and hands the bytes
        // that came with the 101 (a backend's first frame) to the tunnel handler as it leaves.
        let upstreamHTTPRemoved = upstreamPipeline.removeHandler(upstream.handler)

        // Client: the proxy handler goes, handing on the bytes that followed the request (a
        // client's first frame sent right after it).
        let clientHTTPRemoved = clientPipeline.removeHandler(context: client)

        // Leftover bytes are handed over without a read-complete event: flush them once the
        // HTTP handler is gone, or they would wait for the next read on that side.
        upstreamHTTPRemoved.assumeIsolated().whenComplete { _ in clientEnd.context?.flush() }
        clientHTTPRemoved.assumeIsolated().whenComplete { _ in upstreamEnd.context?.flush() }

        // Both channels may have had reads held back during the exchange.
        clientEnd.context?.read()
        upstreamEnd.context?.read()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.partner?.partnerWrite(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.partner?.partnerFlush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let onClose = self.onClose
        self.onClose = nil
        onClose?()
        self.partner?.partnerClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.partner?.partnerBecameWritable()
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // A drain does not wait for tunnels: they may live for hours.
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func read(context: ChannelHandlerContext) {
        if self.partner?.isWritable ?? true {
            context.read()
        } else {
            self.pendingRead = true
        }
    }

    private var isWritable: Bool { self.context?.channel.isWritable ?? false }

    private func partnerWrite(_ data: NIOAny) {
        self.context?.write(data, promise: nil)
    }

    private func partnerFlush() {
        self.context?.flush()
    }

    private func partnerClose() {
        self.context?.close(promise: nil)
    }

    private func partnerBecameWritable() {
        if self.pendingRead, let context = self.context {
            self.pendingRead = false
            context.read()
        }
    }
}
