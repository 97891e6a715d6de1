public import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// A small HTTP/1.1 server that plays the legacy backend in `authgate demo` and the upstream in
/// integration tests.
///
/// Keep-alive and pipelining are honoured; bodies stream both ways with backpressure, so every
/// route handles gigabyte bodies in flat memory. Routes (path, query ignored unless noted):
///
/// | route | answer |
/// |---|---|
/// | any other path, any method | 200 `{"method", "uri", "headers": [[name, value], …], "body_bytes"}` |
/// | `/bytes/N` | 200 with `N` bytes of ``DemoBodyPattern``, `Content-Length: N`, 64 KiB writes |
/// | `/chunked/N` | the same with `Transfer-Encoding: chunked` |
/// | `POST`/`PUT /upload` | 200 `{"bytes": N}`; with `?sha256` also `"sha256"` and `"sha_prefix"` (16 hex) |
/// | `/slow/MS` | 200 `{"slept_ms": MS}` after `MS` milliseconds (a timer, nothing blocks) |
/// | `/status/CODE` | that status (200...599) with `{"status", "reason"}` (no body for 204, 304) |
/// | `/close` | closes the connection without an answer |
/// | `/reset` | resets the connection (`SO_LINGER` 0) without an answer |
/// | `/ws` + WebSocket upgrade | 101, then echoes data frames, answers pings, completes the close |
/// | `/ws` without upgrade, `/upgrade-refused` | 426 with a JSON body |
///
/// Routes that answer do so after the whole request has been received; a request counts towards
/// ``requestCount`` at that moment (so `/close` and `/reset` count too). The WebSocket upgrade is
/// only possible as the first request of a connection. A request that carries `Upgrade` but is not
/// upgraded is answered with `Connection: close` and the connection closed, because NIO's HTTP
/// decoder stops parsing after such a request.
public final class DemoBackend: Sendable {
    /// The largest WebSocket frame payload `/ws` accepts (16 MiB).
    public static let maxWebSocketFrameSize = 1 << 24

    /// The address the backend listens on.
    public let host: String
    /// The port the backend listens on (the one the system chose if started with port 0).
    public let port: Int

    private let serverChannel: any Channel
    private let counters: DemoBackendCounters
    private let registry: DemoConnectionRegistry

    /// `http://host:port`, for building upstream URLs.
    public var baseURL: String {
        host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
    }

    /// The number of requests received in full so far, over all connections.
    public var requestCount: Int { self.counters.requestCount }

    /// The number of TCP connections accepted so far.
    public var connectionCount: Int { self.counters.connectionCount }

    private init(
        host: String,
        port: Int,
        serverChannel: any Channel,
        counters: DemoBackendCounters,
        registry: DemoConnectionRegistry
    ) {
        self.host = host
        self.port = port
        self.serverChannel = serverChannel
        self.counters = counters
        self.registry = registry
    }

    /// Starts a backend listening on `host:port` (port 0 picks a free port, see ``port``).
    ///
    /// - Parameters:
    ///   - host: The address to bind.
    ///   - port: The port to bind, or 0 for any free port.
    ///   - group: The event loops to run the listener and its connections on.
    public static func start(
        host: String = "127.0.0.1",
        port: Int = 0,
        group: any EventLoopGroup
    ) async throws -> DemoBackend {
        let counters = DemoBackendCounters()
        let registry = DemoConnectionRegistry()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 64 * 1024, high: 256 * 1024))
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // A client that half-closes after its request still gets the answer
            // (`HTTPServerPipelineHandler` closes once the response in flight is written).
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                counters.recordConnection()
                guard registry.register(channel) else {
                    return channel.close()
                }
                return channel.eventLoop.makeCompletedFuture {
                    try Self.configurePipeline(of: channel, counters: counters)
                }
            }
        let serverChannel = try await bootstrap.bind(host: host, port: port).get()
        guard let boundPort = serverChannel.localAddress?.port else {
            try? await serverChannel.close()
            throw ChannelError.unknownLocalAddress
        }
        return DemoBackend(
            host: host,
            port: boundPort,
            serverChannel: serverChannel,
            counters: counters,
            registry: registry
        )
    }

    /// Stops listening and closes every open connection. Safe to call more than once.
    public func shutdown() async throws {
        do {
            try await self.serverChannel.close()
        } catch ChannelError.alreadyClosed {
            // Shut down before.
        }
        let open = self.registry.closeAndDrain()
        for channel in open {
            channel.close(promise: nil)
        }
        for channel in open {
            try? await channel.closeFuture.get()
        }
    }

    /// Sets up one accepted connection; runs on its event loop.
    private static func configurePipeline(of channel: any Channel, counters: DemoBackendCounters) throws {
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: Self.maxWebSocketFrameSize,
            automaticErrorHandling: true,
            shouldUpgrade: { channel, head in
                let path = head.uri.prefix { $0 != "?" }
                return channel.eventLoop.makeSucceededFuture(path == "/ws" ? HTTPHeaders() : nil)
            },
            upgradePipelineHandler: { channel, _ in
                // The HTTP handlers are gone by now except ours, which would misread the frames.
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    sync.removeHandler(name: DemoHTTPHandler.name, promise: nil)
                    try sync.addHandler(DemoWebSocketEchoHandler())
                }
            }
        )
        let sync = channel.pipeline.syncOperations
        try sync.configureHTTPServerPipeline(
            withPipeliningAssistance: true,
            withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }),
            withErrorHandling: true
        )
        try sync.addHandler(DemoHTTPHandler(counters: counters), name: DemoHTTPHandler.name)
    }
}
