// The cheapest proxies SwiftNIO can make, as floors for AuthGate's load benchmarks
// (Benchmarks/scripts/floor-bench.sh). Neither authenticates, limits, validates, pools or logs:
// each client connection gets its own upstream connection, and that is all.
//
//   FloorProxies raw   LISTEN_PORT UPSTREAM_PORT   bytes forwarded both ways, no HTTP at all
//   FloorProxies http1 LISTEN_PORT UPSTREAM_PORT   NIOHTTP1's server and client codecs, each
//                                                  request and response head passed through
//
// One event loop, like the `event_loops: 1` gateway it is compared with. A benchmark tool, not a
// product: no limits, no timeouts, no error answers.
import NIOCore
import NIOHTTP1
import NIOPosix

/// Forwards whatever one side reads to the other side, flushing once per read burst.
final class ByteRelay: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    var peer: Channel?
    var held: [ByteBuffer] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        if let peer {
            peer.write(buffer, promise: nil)
        } else {
            self.held.append(buffer)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.peer?.flush()
    }

    func connected(to peer: Channel) {
        self.peer = peer
        for buffer in self.held { peer.write(buffer, promise: nil) }
        self.held = []
        peer.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.peer?.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Client side of the HTTP/1 floor: request parts in, the same parts out to the upstream.
final class RequestRelay: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart

    var upstream: Channel?
    var held: [HTTPClientRequestPart] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part: HTTPClientRequestPart
        switch Self.unwrapInboundIn(data) {
        case .head(let head): part = .head(head)
        case .body(let buffer): part = .body(.byteBuffer(buffer))
        case .end(let trailers): part = .end(trailers)
        }
        guard let upstream else {
            self.held.append(part)
            return
        }
        if case .end = part {
            upstream.writeAndFlush(part, promise: nil)
        } else {
            upstream.write(part, promise: nil)
        }
    }

    func connected(to upstream: Channel) {
        self.upstream = upstream
        for part in self.held { upstream.write(part, promise: nil) }
        self.held = []
        upstream.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.upstream?.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Upstream side of the HTTP/1 floor: response parts in, the same parts out to the client.
final class ResponseRelay: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    let client: Channel

    init(client: Channel) {
        self.client = client
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head): self.client.write(HTTPServerResponsePart.head(head), promise: nil)
        case .body(let buffer): self.client.write(HTTPServerResponsePart.body(.byteBuffer(buffer)), promise: nil)
        case .end(let trailers): self.client.writeAndFlush(HTTPServerResponsePart.end(trailers), promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.client.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

let arguments = CommandLine.arguments
guard arguments.count == 4, ["raw", "http1"].contains(arguments[1]),
    let listenPort = Int(arguments[2]), let upstreamPort = Int(arguments[3])
else {
    print("usage: FloorProxies raw|http1 LISTEN_PORT UPSTREAM_PORT")
    exit(64)
}
let mode = arguments[1]
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

enum Upstream {
    static func connect(
        on eventLoop: any EventLoop,
        port: Int,
        _ initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<Channel> {
        ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer(initializer)
            .connect(host: "127.0.0.1", port: port)
    }
}

let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 4096)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { client in
        if mode == "raw" {
            let downstream = ByteRelay()
            let upstream = ByteRelay()
            upstream.peer = client
            return client.pipeline.addHandler(downstream).flatMap {
                Upstream.connect(on: client.eventLoop, port: upstreamPort) { $0.pipeline.addHandler(upstream) }
            }.map { downstream.connected(to: $0) }
        }
        let requests = RequestRelay()
        return client.pipeline.configureHTTPServerPipeline(withPipeliningAssistance: false).flatMap {
            client.pipeline.addHandler(requests)
        }.flatMap {
            Upstream.connect(on: client.eventLoop, port: upstreamPort) { channel in
                channel.pipeline.addHTTPClientHandlers().flatMap {
                    channel.pipeline.addHandler(ResponseRelay(client: client))
                }
            }
        }.map { requests.connected(to: $0) }
    }
    .bind(host: "127.0.0.1", port: listenPort)
    .wait()
print("FloorProxies \(mode) listening on 127.0.0.1:\(listenPort), upstream 127.0.0.1:\(upstreamPort)")
try server.closeFuture.wait()
