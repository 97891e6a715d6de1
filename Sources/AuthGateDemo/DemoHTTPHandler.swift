import Crypto
import NIOCore
import NIOHTTP1
import NIOWebSocket

#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Serves the demo backend's routes (see ``DemoRoute``) on one HTTP/1.1 connection.
///
/// Sits behind `HTTPServerPipelineHandler`, so it sees one request at a time: the next request's
/// head arrives only after this one's `.end` has been written. Bodies are never buffered: uploads
/// are counted (and optionally hashed) as they arrive, generated bodies are written chunk by chunk
/// while the channel is writable.
final class DemoHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// The handler's name in the pipeline, so the WebSocket upgrade can remove it.
    static let name = "authgate-demo-http"

    private enum Phase {
        /// Waiting for a request head.
        case idle
        /// Between a request's head and its end.
        case receiving
        /// The request is complete; the answer is pending or being written.
        case responding
        /// The connection is being closed; further input is ignored.
        case closing
        /// The channel is inactive.
        case closed
    }

    private struct Request {
        var head: HTTPRequestHead
        var route: DemoRoute
        var bodyBytes = 0
        var digest: SHA256?
    }

    private struct GeneratedBody {
        var offset: Int
        var remaining: Int
    }

    private let counters: DemoBackendCounters
    private var phase = Phase.idle
    private var request: Request?
    private var keepAlive = true
    /// The client half-closed: answer the request in flight, then close.
    private var inputClosed = false
    private var generated: GeneratedBody?
    private var isPumping = false
    private var delayed: Scheduled<Void>?

    init(counters: DemoBackendCounters) {
        self.counters = counters
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            guard case .idle = self.phase else { return }
            let route = DemoRoute(method: head.method, uri: head.uri)
            var digest: SHA256?
            if case .upload(digest: true) = route {
                digest = SHA256()
            }
            self.request = Request(head: head, route: route, digest: digest)
            self.phase = .receiving

        case .body(let buffer):
            guard case .receiving = self.phase else { return }
            self.request?.bodyBytes += buffer.readableBytes
            if self.request?.digest != nil {
                buffer.withUnsafeReadableBytes { self.request?.digest?.update(bufferPointer: $0) }
            }

        case .end:
            guard case .receiving = self.phase, let request = self.request else { return }
            self.request = nil
            self.phase = .responding
            self.counters.recordRequest()
            self.handle(request, context: context)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.pumpGeneratedBody(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            self.inputClosed = true
            switch self.phase {
            case .idle, .receiving:
                // Nothing to answer, or a request that can never complete.
                self.phase = .closing
                context.close(promise: nil)
            case .responding, .closing, .closed:
                // `finishResponse` closes once the answer is written.
                break
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.phase = .closed
        self.request = nil
        self.generated = nil
        self.delayed?.cancel()
        self.delayed = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A refused WebSocket upgrade (wrong path, bad key) is reported here, but the request still
        // arrives as a plain request and is answered normally.
        if error is NIOWebSocketUpgradeError {
            return
        }
        // Parse errors have been answered with a 400 by `HTTPServerProtocolErrorHandler`; anything
        // else (a reset by the peer, say) ends the connection.
        self.phase = .closing
        context.close(promise: nil)
    }

    // MARK: Routes

    private func handle(_ request: Request, context: ChannelHandlerContext) {
        let head = request.head
        switch request.route {
        case .echo:
            let headers = head.headers.map { "[" + DemoJSON.string($0.name) + "," + DemoJSON.string($0.value) + "]" }
            let json = DemoJSON.object([
                ("method", DemoJSON.string(head.method.rawValue)),
                ("uri", DemoJSON.string(head.uri)),
                ("headers", "[" + headers.joined(separator: ",") + "]"),
                ("body_bytes", String(request.bodyBytes)),
            ])
            self.respond(context: context, to: head, status: .ok, json: json)

        case .bytes(let count, let chunked):
            self.startGeneratedBody(context: context, to: head, count: count, chunked: chunked)

        case .upload:
            var members = [("bytes", String(request.bodyBytes))]
            if let digest = request.digest {
                let hex = Self.hex(digest.finalize())
                members.append(("sha256", DemoJSON.string(hex)))
                members.append(("sha_prefix", DemoJSON.string(String(hex.prefix(16)))))
            }
            self.respond(context: context, to: head, status: .ok, json: DemoJSON.object(members))

        case .slow(let milliseconds):
            self.delayed = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(milliseconds)) {
                self.delayed = nil
                guard case .responding = self.phase else { return }
                let json = DemoJSON.object([("slept_ms", String(milliseconds))])
                self.respond(context: context, to: head, status: .ok, json: json)
            }

        case .status(let code):
            let status = HTTPResponseStatus(statusCode: code)
            if status.mayHaveResponseBody && code != 304 {
                let json = DemoJSON.object([
                    ("status", String(code)), ("reason", DemoJSON.string(status.reasonPhrase)),
                ])
                self.respond(context: context, to: head, status: status, json: json)
            } else {
                self.writeHead(context: context, to: head, status: status, headers: HTTPHeaders())
                self.finishResponse(context: context)
            }

        case .close:
            self.phase = .closing
            context.close(promise: nil)

        case .reset:
            self.phase = .closing
            Self.resetConnection(context: context)

        case .upgradeRequired:
            var headers = HTTPHeaders()
            headers.add(name: "upgrade", value: "websocket")
            headers.add(name: "sec-websocket-version", value: "13")
            let json = DemoJSON.object([
                ("error", DemoJSON.string("upgrade_required")),
                ("message", DemoJSON.string("this endpoint only answers with a refusal to upgrade")),
            ])
            self.respond(context: context, to: head, status: .upgradeRequired, json: json, extraHeaders: headers)

        case .badRequest(let reason):
            let json = DemoJSON.object([
                ("error", DemoJSON.string("bad_request")), ("message", DemoJSON.string(reason)),
            ])
            self.respond(context: context, to: head, status: .badRequest, json: json)
        }
    }

    // MARK: Writing

    private func respond(
        context: ChannelHandlerContext,
        to request: HTTPRequestHead,
        status: HTTPResponseStatus,
        json: String,
        extraHeaders: HTTPHeaders = HTTPHeaders()
    ) {
        var headers = extraHeaders
        let body = context.channel.allocator.buffer(string: json)
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(body.readableBytes))
        self.writeHead(context: context, to: request, status: status, headers: headers)
        if request.method != .HEAD {
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        self.finishResponse(context: context)
    }

    private func writeHead(
        context: ChannelHandlerContext,
        to request: HTTPRequestHead,
        status: HTTPResponseStatus,
        headers: HTTPHeaders
    ) {
        var headers = headers
        // After a request with `Upgrade` that was not upgraded, NIO's decoder parses no further
        // requests on the connection, so it must not be kept alive.
        self.keepAlive = request.isKeepAlive && !request.headers.contains(name: "upgrade") && !self.inputClosed
        if !self.keepAlive {
            headers.add(name: "connection", value: "close")
        } else if request.version.major == 1 && request.version.minor == 0 {
            headers.add(name: "connection", value: "keep-alive")
        }
        let head = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
        context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
    }

    /// Writes the end of the response; closes the connection afterwards unless it is kept alive.
    private func finishResponse(context: ChannelHandlerContext) {
        let keepAlive = self.keepAlive && !self.inputClosed
        // Set before writing: `HTTPServerPipelineHandler` may deliver the next pipelined request
        // from inside this write.
        self.phase = keepAlive ? .idle : .closing
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive {
                context.close(promise: nil)
            }
        }
    }

    private func startGeneratedBody(
        context: ChannelHandlerContext,
        to request: HTTPRequestHead,
        count: Int,
        chunked: Bool
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/octet-stream")
        // HTTP/1.0 has no chunked encoding; such a client gets a Content-Length instead.
        if chunked && (request.version.major > 1 || request.version.minor >= 1) {
            headers.add(name: "transfer-encoding", value: "chunked")
        } else {
            headers.add(name: "content-length", value: String(count))
        }
        self.writeHead(context: context, to: request, status: .ok, headers: headers)
        if request.method == .HEAD || count == 0 {
            self.finishResponse(context: context)
            return
        }
        context.flush()
        self.generated = GeneratedBody(offset: 0, remaining: count)
        self.pumpGeneratedBody(context: context)
    }

    /// Writes chunks of the generated body while the channel is writable; resumed by
    /// `channelWritabilityChanged`, so at most the write buffer's high-water mark is in flight.
    private func pumpGeneratedBody(context: ChannelHandlerContext) {
        guard !self.isPumping else { return }
        self.isPumping = true
        defer { self.isPumping = false }
        while var body = self.generated, context.channel.isWritable {
            guard body.remaining > 0 else {
                self.generated = nil
                self.finishResponse(context: context)
                return
            }
            let length = min(DemoBodyPattern.chunkSize, body.remaining)
            let chunk = DemoBodyPattern.chunk(startingAt: body.offset, length: length)
            body.offset += length
            body.remaining -= length
            self.generated = body
            // A failed write closes the channel, and `channelInactive` clears `generated`.
            context.writeAndFlush(Self.wrapOutboundOut(.body(.byteBuffer(chunk))), promise: nil)
        }
    }

    private static func resetConnection(context: ChannelHandlerContext) {
        guard let provider = context.channel as? any SocketOptionProvider else {
            context.close(promise: nil)
            return
        }
        provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

extension DemoHTTPHandler {
    /// Lower-case hex, as `sha256sum` prints it.
    static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
