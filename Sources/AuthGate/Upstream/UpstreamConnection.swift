import AuthGateCore
import NIOCore
import NIOHTTP1

/// One keep-alive connection to the backend, owned by an ``UpstreamPool`` and used on its
/// event loop only (hence `@unchecked Sendable`: it crosses a future, never a thread).
final class UpstreamConnection: @unchecked Sendable {
    let id: UpstreamPoolStateMachine.ConnectionID
    let channel: any Channel
    let handler: UpstreamHandler
    /// Requests this connection has carried; a reused connection may have been closed by the
    /// backend while idle, which makes an idempotent request safe to retry.
    var requestsServed = 0
    /// When the connection last went back to the pool (the idle timeout counts from here).
    var parkedAt: NIODeadline = .uptimeNanoseconds(0)

    init(id: UpstreamPoolStateMachine.ConnectionID, channel: any Channel, handler: UpstreamHandler) {
        self.id = id
        self.channel = channel
        self.handler = handler
    }

    @inline(__always) func write(_ part: HTTPClientRequestPart) {
        self.channel.write(part, promise: nil)
    }

    /// One pass through the pipeline for the last part and the flush.
    @inline(__always) func writeAndFlush(_ part: HTTPClientRequestPart) {
        self.channel.writeAndFlush(part, promise: nil)
    }

    @inline(__always) func flush() {
        self.channel.flush()
    }
}
