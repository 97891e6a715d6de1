import NIOCore

/// The keep-alive pool of one event loop towards one backend, as a state machine.
///
/// It owns no sockets and no timers: it tracks idle, leased and connecting connections and the
/// requests waiting for one, and answers every event with the ``Action`` the I/O layer must
/// carry out. Idle connections are reused last-in first-out, so the warmest connection serves
/// the next request and surplus connections age out through the idle timeout.
public struct UpstreamPoolStateMachine: Sendable {
    /// Identifies a connection of this pool.
    public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: Int
        public init(_ rawValue: Int) { self.rawValue = rawValue }
        public var description: String { "conn-\(self.rawValue)" }
    }

    /// Identifies a request waiting for a connection.
    public struct WaiterID: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: Int
        public init(_ rawValue: Int) { self.rawValue = rawValue }
        public var description: String { "waiter-\(self.rawValue)" }
    }

    /// Why a lease failed.
    public enum LeaseFailure: Error, Sendable, Hashable {
        /// The waiting queue is full.
        case tooManyWaiters
        /// No connection became free before the wait deadline.
        case waitTimedOut
        /// A connection attempt made for this waiter failed.
        case connectFailed
        /// The pool is shutting down.
        case shuttingDown
    }

    /// A side effect for the I/O layer.
    public enum Action: Sendable, Equatable {
        case none
        /// Hand this idle connection to the waiter; cancel its idle timer.
        case lease(ConnectionID, to: WaiterID)
        /// Open a new connection with this id; the waiter stays queued until it is up.
        case createConnection(ConnectionID)
        /// The waiter must wait (queued); start its wait timer.
        case wait(WaiterID)
        /// Fail the waiter.
        case failWaiter(WaiterID, LeaseFailure)
        /// Park the connection as idle; start its idle timer.
        case park(ConnectionID)
        /// Close the connection.
        case close(ConnectionID)
        /// Close one connection and open another for a queued waiter.
        case closeAndCreate(close: ConnectionID, create: ConnectionID)
        /// Fail a waiter and open a connection for the next queued one.
        case failWaiterAndCreate(WaiterID, LeaseFailure, create: ConnectionID)
    }

    private enum Lifecycle: Sendable {
        case running
        case shuttingDown
    }

    public let maxConnections: Int
    public let maxWaiters: Int
    private var lifecycle: Lifecycle = .running
    private var idle: [ConnectionID] = []
    private var leased: Set<ConnectionID> = []
    private var connecting: Set<ConnectionID> = []
    private var waiters = CircularBuffer<WaiterID>()
    private var nextConnectionID = 0

    public init(maxConnections: Int, maxWaiters: Int) {
        precondition(maxConnections > 0)
        self.maxConnections = maxConnections
        self.maxWaiters = maxWaiters
    }

    public var idleCount: Int { self.idle.count }
    /// The parked connections, oldest first (for the pool's idle sweep).
    public var idleConnections: [ConnectionID] { self.idle }
    public var leasedCount: Int { self.leased.count }
    public var connectingCount: Int { self.connecting.count }
    public var waiterCount: Int { self.waiters.count }
    public var totalConnections: Int { self.idle.count + self.leased.count + self.connecting.count }

    private mutating func makeConnectionID() -> ConnectionID {
        self.nextConnectionID += 1
        return ConnectionID(self.nextConnectionID)
    }

    /// A request wants a connection.
    public mutating func leaseRequested(_ waiter: WaiterID) -> Action {
        guard case .running = self.lifecycle else { return .failWaiter(waiter, .shuttingDown) }
        if let connection = self.idle.popLast() {
            self.leased.insert(connection)
            return .lease(connection, to: waiter)
        }
        // Open a connection if the ones already being opened cannot serve every waiter; the
        // waiter bound only limits requests queued behind a full pool.
        if self.totalConnections < self.maxConnections && self.connecting.count < self.waiters.count + 1 {
            self.waiters.append(waiter)
            let id = self.makeConnectionID()
            self.connecting.insert(id)
            return .createConnection(id)
        }
        if self.waiters.count >= self.maxWaiters {
            return .failWaiter(waiter, .tooManyWaiters)
        }
        self.waiters.append(waiter)
        return .wait(waiter)
    }

    /// A connection opened by ``Action/createConnection(_:)`` is up.
    public mutating func connectionEstablished(_ connection: ConnectionID) -> Action {
        guard self.connecting.remove(connection) != nil else { return .close(connection) }
        guard case .running = self.lifecycle else { return .close(connection) }
        return self.handOut(connection)
    }

    /// A connection attempt failed: the oldest waiter gets the failure, because the backend is
    /// most likely down and waiting on would only delay its error.
    public mutating func connectionFailed(_ connection: ConnectionID) -> Action {
        guard self.connecting.remove(connection) != nil else { return .none }
        guard let waiter = self.waiters.popFirst() else { return .none }
        if case .running = self.lifecycle, self.connecting.count < self.waiters.count,
            self.totalConnections < self.maxConnections
        {
            let id = self.makeConnectionID()
            self.connecting.insert(id)
            return .failWaiterAndCreate(waiter, .connectFailed, create: id)
        }
        return .failWaiter(waiter, .connectFailed)
    }

    /// A leased connection comes back; `reusable` is false when the exchange left it unusable.
    public mutating func connectionReleased(_ connection: ConnectionID, reusable: Bool) -> Action {
        guard self.leased.remove(connection) != nil else { return .none }
        guard case .running = self.lifecycle else { return .close(connection) }
        if reusable {
            return self.handOut(connection)
        }
        if !self.waiters.isEmpty && self.connecting.count < self.waiters.count {
            let id = self.makeConnectionID()
            self.connecting.insert(id)
            return .closeAndCreate(close: connection, create: id)
        }
        return .close(connection)
    }

    /// A connection closed by itself (the backend hung up). Leased connections are released by
    /// their user, so only idle ones matter here.
    public mutating func connectionClosed(_ connection: ConnectionID) -> Action {
        if let index = self.idle.firstIndex(of: connection) {
            self.idle.remove(at: index)
        }
        return .none
    }

    /// An idle connection's timer fired.
    public mutating func idleTimeoutFired(_ connection: ConnectionID) -> Action {
        guard let index = self.idle.firstIndex(of: connection) else { return .none }
        self.idle.remove(at: index)
        return .close(connection)
    }

    /// A waiter's deadline passed before a connection was free.
    public mutating func waiterTimedOut(_ waiter: WaiterID) -> Action {
        guard let index = self.waiters.firstIndex(of: waiter) else { return .none }
        self.waiters.remove(at: index)
        return .failWaiter(waiter, .waitTimedOut)
    }

    /// A waiter gave up (its client went away).
    public mutating func waiterCancelled(_ waiter: WaiterID) {
        if let index = self.waiters.firstIndex(of: waiter) {
            self.waiters.remove(at: index)
        }
    }

    /// Stop the pool: every waiter fails, idle connections close, leased ones close on release.
    public mutating func shutdown() -> (failWaiters: [WaiterID], close: [ConnectionID]) {
        self.lifecycle = .shuttingDown
        let waiters = Array(self.waiters)
        self.waiters.removeAll()
        let idle = self.idle
        self.idle.removeAll()
        return (waiters, idle)
    }

    private mutating func handOut(_ connection: ConnectionID) -> Action {
        if let waiter = self.waiters.popFirst() {
            self.leased.insert(connection)
            return .lease(connection, to: waiter)
        }
        self.idle.append(connection)
        return .park(connection)
    }
}
