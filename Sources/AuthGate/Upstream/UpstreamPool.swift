import AuthGateCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// A request waiting for an upstream connection.
protocol UpstreamLeaseRequester: AnyObject {
    func leaseSucceeded(_ connection: UpstreamConnection)
    func leaseFailed(_ failure: UpstreamPoolStateMachine.LeaseFailure)
}

/// The pool's settings, taken from the config snapshot when the pool is made.
struct UpstreamPoolConfiguration: Sendable, Equatable {
    var target: UpstreamTarget
    var maxConnections: Int
    var maxWaiters: Int
    var connectTimeout: TimeAmount
    var idleTimeout: TimeAmount
    /// `upstream.max_connections_per_client_ip`; 0 = no cap.
    var maxConnectionsPerClientIP: Int

    init(snapshot: ConfigSnapshot, target: UpstreamTarget? = nil) {
        let upstream = snapshot.config.upstream
        self.target = target ?? snapshot.upstream
        self.maxConnections = upstream.maxConnectionsPerLoop
        self.maxWaiters = upstream.maxWaitersPerLoop
        self.connectTimeout = .milliseconds(Int64(upstream.connectTimeoutMs))
        self.idleTimeout = .milliseconds(Int64(upstream.idleTimeoutMs))
        self.maxConnectionsPerClientIP = upstream.maxConnectionsPerClientIP
    }
}

/// The keep-alive pool of one event loop towards one backend: the I/O half of
/// ``UpstreamPoolStateMachine``. Touched only on its event loop, so it needs no lock; the
/// connections it makes live on the same loop as the client channels that use them.
final class UpstreamPool: @unchecked Sendable {
    enum LeaseResult {
        case leased(UpstreamConnection)
        case pending(UpstreamPoolStateMachine.WaiterID)
        case failed(UpstreamPoolStateMachine.LeaseFailure)
    }

    private struct Waiter {
        var requester: any UpstreamLeaseRequester
        var timer: Scheduled<Void>?
    }

    let eventLoop: any EventLoop
    let configuration: UpstreamPoolConfiguration
    private let metrics: GatewayMetrics
    private let logger: Logger
    private var state: UpstreamPoolStateMachine
    /// Connections leased or asked for, per client IP, against the per-client cap.
    private var clientCounts: ClientConnectionCounts
    private var connections: [UpstreamPoolStateMachine.ConnectionID: UpstreamConnection] = [:]
    /// One timer for the idle timeout of every parked connection, moved lazily: parking and
    /// leasing a connection (twice per request) set no timer of their own.
    private var idleSweep: Scheduled<Void>?
    private var waiters: [UpstreamPoolStateMachine.WaiterID: Waiter] = [:]
    private var nextWaiterID = 0
    private var nextDedicatedID = -1

    init(eventLoop: any EventLoop, configuration: UpstreamPoolConfiguration, metrics: GatewayMetrics, logger: Logger) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        self.state = UpstreamPoolStateMachine(
            maxConnections: configuration.maxConnections,
            maxWaiters: configuration.maxWaiters
        )
        self.clientCounts = ClientConnectionCounts(limit: configuration.maxConnectionsPerClientIP)
    }

    /// Takes one of `client`'s slots before a lease; false when the client holds its cap of
    /// this pool's connections already (it is answered 503 and never queues).
    func acquireClientSlot(_ client: String) -> Bool {
        self.eventLoop.assertInEventLoop()
        return self.clientCounts.acquire(client)
    }

    /// Gives back a slot of ``acquireClientSlot(_:)`` once the exchange no longer holds or
    /// waits for a connection.
    func releaseClientSlot(_ client: String) {
        self.eventLoop.assertInEventLoop()
        self.clientCounts.release(client)
    }

    /// Asks for a connection. An idle one is returned at once; otherwise the requester is
    /// called back on this loop.
    func lease(_ requester: any UpstreamLeaseRequester) -> LeaseResult {
        self.eventLoop.assertInEventLoop()
        self.nextWaiterID += 1
        let waiterID = UpstreamPoolStateMachine.WaiterID(self.nextWaiterID)
        switch self.state.leaseRequested(waiterID) {
        case .lease(let connectionID, _):
            return .leased(self.connections[connectionID]!)
        case .failWaiter(_, let failure):
            return .failed(failure)
        case .createConnection(let connectionID):
            self.addWaiter(waiterID, requester)
            self.connect(connectionID)
            return .pending(waiterID)
        case .wait:
            self.addWaiter(waiterID, requester)
            return .pending(waiterID)
        default:
            preconditionFailure("unexpected pool action for a lease")
        }
    }

    private func addWaiter(_ id: UpstreamPoolStateMachine.WaiterID, _ requester: any UpstreamLeaseRequester) {
        let timer = self.eventLoop.scheduleTask(in: self.configuration.connectTimeout + .milliseconds(50)) {
            self.run(self.state.waiterTimedOut(id))
        }
        self.waiters[id] = Waiter(requester: requester, timer: timer)
    }

    /// The requester no longer needs a connection.
    func cancel(_ waiter: UpstreamPoolStateMachine.WaiterID) {
        self.eventLoop.assertInEventLoop()
        self.state.waiterCancelled(waiter)
        self.waiters.removeValue(forKey: waiter)?.timer?.cancel()
    }

    /// Gives a leased connection back.
    func release(_ connection: UpstreamConnection, reusable: Bool) {
        self.eventLoop.assertInEventLoop()
        connection.handler.delegate = nil
        if connection.id.rawValue < 0 {
            // Dedicated (upgrade) connections are never pooled.
            connection.channel.close(promise: nil)
            return
        }
        let reusable = reusable && connection.channel.isActive
        if reusable { connection.parkedAt = .now() }
        self.run(self.state.connectionReleased(connection.id, reusable: reusable))
    }

    /// A connection just for one upgraded exchange; it never returns to the pool.
    func connectDedicated() -> EventLoopFuture<UpstreamConnection> {
        self.nextDedicatedID -= 1
        let id = UpstreamPoolStateMachine.ConnectionID(self.nextDedicatedID)
        return self.makeChannel(id)
    }

    /// Closes idle connections and fails waiters; leased connections close when released.
    func shutdown() {
        self.eventLoop.assertInEventLoop()
        let (failWaiters, close) = self.state.shutdown()
        for waiter in failWaiters {
            self.run(.failWaiter(waiter, .shuttingDown))
        }
        for connection in close {
            self.run(.close(connection))
        }
        self.idleSweep?.cancel()
        self.idleSweep = nil
    }

    /// Closes the parked connections idle for the idle timeout, and moves the sweep to the
    /// next expiry.
    private func sweepIdleConnections() {
        self.idleSweep = nil
        let now = NIODeadline.now()
        var next: NIODeadline?
        for id in self.state.idleConnections {
            guard let connection = self.connections[id] else { continue }
            let expiry = connection.parkedAt + self.configuration.idleTimeout
            if expiry <= now {
                self.run(self.state.idleTimeoutFired(id))
            } else {
                next = min(next ?? expiry, expiry)
            }
        }
        if let next { self.scheduleIdleSweep(at: next) }
    }

    private func scheduleIdleSweep(at deadline: NIODeadline) {
        self.idleSweep = self.eventLoop.scheduleTask(deadline: deadline) {
            self.sweepIdleConnections()
        }
    }

    // MARK: - Actions

    private func run(_ action: UpstreamPoolStateMachine.Action) {
        switch action {
        case .none:
            break
        case .lease(let connectionID, let waiterID):
            guard let waiter = self.waiters.removeValue(forKey: waiterID),
                let connection = self.connections[connectionID]
            else {
                self.run(self.state.connectionReleased(connectionID, reusable: false))
                return
            }
            waiter.timer?.cancel()
            waiter.requester.leaseSucceeded(connection)
        case .createConnection(let connectionID):
            self.connect(connectionID)
        case .wait:
            break
        case .failWaiter(let waiterID, let failure):
            if let waiter = self.waiters.removeValue(forKey: waiterID) {
                waiter.timer?.cancel()
                waiter.requester.leaseFailed(failure)
            }
        case .park:
            // The connection's `parkedAt` is set; a sweep already scheduled runs no later
            // than this connection's expiry.
            if self.idleSweep == nil {
                self.scheduleIdleSweep(at: .now() + self.configuration.idleTimeout)
            }
        case .close(let connectionID):
            if let connection = self.connections.removeValue(forKey: connectionID) {
                connection.handler.onClose = nil
                connection.channel.close(promise: nil)
            }
        case .closeAndCreate(let close, let create):
            self.run(.close(close))
            self.connect(create)
        case .failWaiterAndCreate(let waiterID, let failure, let create):
            self.run(.failWaiter(waiterID, failure))
            self.connect(create)
        }
    }

    private func connect(_ id: UpstreamPoolStateMachine.ConnectionID) {
        self.makeChannel(id).whenComplete { result in
            switch result {
            case .success(let connection):
                self.connections[id] = connection
                connection.parkedAt = .now()
                connection.handler.onClose = { [unowned self] in
                    self.connections.removeValue(forKey: id)
                    self.run(self.state.connectionClosed(id))
                }
                self.run(self.state.connectionEstablished(id))
            case .failure(let error):
                self.metrics.upstreamConnectFailures.increment()
                self.logger.warning(
                    "upstream connect failed",
                    metadata: ["upstream": "\(self.configuration.target.hostHeader)", "error": "\(error)"]
                )
                self.run(self.state.connectionFailed(id))
            }
        }
    }

    private func makeChannel(_ id: UpstreamPoolStateMachine.ConnectionID) -> EventLoopFuture<UpstreamConnection> {
        let target = self.configuration.target
        let metrics = self.metrics
        return ClientBootstrap(group: self.eventLoop)
            .connectTimeout(self.configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 128 * 1024))
            .channelInitializer { channel in
                do {
                    // One handler: requests go down as bytes (UpstreamRequestWriter), responses
                    // are parsed in the handler, which learns each request's method from the
                    // connection (HEAD has no body). After a 101 the tunnel removes it.
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler())
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .connect(host: target.host, port: target.port)
            .flatMapThrowing { channel in
                metrics.upstreamConnectionsOpened.increment()
                let handler = try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
                return UpstreamConnection(id: id, channel: channel, handler: handler)
            }
    }
}

/// The pools of one event loop, one per backend target (a reload may change the target; the
/// old pool then drains).
final class UpstreamPools: @unchecked Sendable {
    private let eventLoop: any EventLoop
    private let metrics: GatewayMetrics
    private let logger: Logger
    private var current: UpstreamPool?
    private var authServer: UpstreamPool?

    init(eventLoop: any EventLoop, metrics: GatewayMetrics, logger: Logger) {
        self.eventLoop = eventLoop
        self.metrics = metrics
        self.logger = logger
    }

    /// The pool for the snapshot's upstream, made on first use.
    func pool(for snapshot: ConfigSnapshot) -> UpstreamPool {
        let configuration = UpstreamPoolConfiguration(snapshot: snapshot)
        if let current = self.current, current.configuration == configuration {
            return current
        }
        self.current?.shutdown()
        let pool = UpstreamPool(
            eventLoop: self.eventLoop,
            configuration: configuration,
            metrics: self.metrics,
            logger: self.logger
        )
        self.current = pool
        return pool
    }

    /// The pool towards the auth server (routes with `upstream: auth_server`), made on first
    /// use; `nil` when `auth.auth_server_url` is not a plain `http://` origin.
    func authServerPool(for snapshot: ConfigSnapshot) -> UpstreamPool? {
        guard let target = snapshot.authServerUpstream else { return nil }
        let configuration = UpstreamPoolConfiguration(snapshot: snapshot, target: target)
        if let pool = self.authServer, pool.configuration == configuration {
            return pool
        }
        self.authServer?.shutdown()
        let pool = UpstreamPool(
            eventLoop: self.eventLoop,
            configuration: configuration,
            metrics: self.metrics,
            logger: self.logger
        )
        self.authServer = pool
        return pool
    }

    func shutdown() {
        self.current?.shutdown()
        self.authServer?.shutdown()
    }
}
