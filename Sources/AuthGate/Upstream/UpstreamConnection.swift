import AuthGateCore
import NIOCore
import NIOHTTP1

/// One keep-alive connection to the backend, owned by an ``UpstreamPool`` and used on its
/// event loop only (hence `@unchecked Sendable`: it crosses a future, never a thread).
final class UpstreamConnection: @unchecked Sendable {
    let id: UpstreamPoolStateMachine.ConnectionID
    let channel: any Channel
    let handler: UpstreamHandler
    /// The channel's allocator, read once (the channel's getter is a protocol witness call).
    private let allocator: ByteBufferAllocator
    /// Requests this connection has carried; a reused connection may have been closed by the
    /// backend while idle, which makes an idempotent request safe to retry.
    var requestsServed = 0
    /// When the connection last went back to the pool (the idle timeout counts from here).
    var parkedAt: NIODeadline = .uptimeNanoseconds(0)

    /// The framing of the request being written.
    private var writer = UpstreamRequestWriter()
    /// Something was written since the last flush. A flush with nothing to write still costs a
    /// pipeline hop and the channel's checks, and a bodiless request's end writes nothing after
    /// its head was flushed.
    private var unflushed = false

    init(id: UpstreamPoolStateMachine.ConnectionID, channel: any Channel, handler: UpstreamHandler) {
        self.id = id
        self.channel = channel
        self.handler = handler
        self.allocator = channel.allocator
    }

    /// Writes the request's head as bytes (not flushed).
    func writeHead(_ head: HTTPRequestHead) {
        let buffer = self.writer.writeHead(head, allocator: self.allocator)
        // The response parser learns which method the next response answers (HEAD has no body).
        self.handler.requestSent(method: head.method)
        self.handler.write(buffer)
        self.unflushed = true
    }

    /// Writes body bytes, chunk-framed when the request's body is chunked (not flushed).
    func writeBody(_ body: ByteBuffer) {
        var header = ByteBuffer()
        if self.writer.isChunked {
            header = self.allocator.buffer(capacity: 18)
        }
        if self.writer.writeChunkHeader(length: body.readableBytes, into: &header) {
            self.handler.write(header)
            self.handler.write(body)
            self.handler.write(UpstreamRequestWriter.chunkTerminator)
        } else {
            self.handler.write(body)
        }
        self.unflushed = true
    }

    /// Ends the request (the last chunk of a chunked body) and flushes what is unflushed.
    func writeEndAndFlush() {
        var buffer = ByteBuffer()
        if self.writer.isChunked {
            buffer = self.allocator.buffer(capacity: 5)
        }
        if self.writer.writeEnd(into: &buffer) {
            self.handler.write(buffer)
            self.unflushed = true
        }
        self.flush()
    }

    /// Flushes what was written since the last flush, if anything was.
    @inline(__always) func flush() {
        guard self.unflushed else { return }
        self.unflushed = false
        self.handler.flush()
    }
}
