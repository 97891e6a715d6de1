import Testing

@testable import AuthGateCore

private typealias Pool = UpstreamPoolStateMachine
private typealias ConnID = UpstreamPoolStateMachine.ConnectionID
private typealias WaiterID = UpstreamPoolStateMachine.WaiterID

private func waiter(_ n: Int) -> WaiterID { WaiterID(n) }

private func expectCounts(
    _ pool: Pool,
    idle: Int,
    leased: Int,
    connecting: Int,
    waiters: Int,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(pool.idleCount == idle, "idleCount", sourceLocation: sourceLocation)
    #expect(pool.leasedCount == leased, "leasedCount", sourceLocation: sourceLocation)
    #expect(pool.connectingCount == connecting, "connectingCount", sourceLocation: sourceLocation)
    #expect(pool.waiterCount == waiters, "waiterCount", sourceLocation: sourceLocation)
    #expect(pool.totalConnections == idle + leased + connecting, "totalConnections", sourceLocation: sourceLocation)
    #expect(pool.totalConnections <= pool.maxConnections, "over maxConnections", sourceLocation: sourceLocation)
}

/// The connection id of a `.createConnection` action.
private func created(_ action: Pool.Action, sourceLocation: SourceLocation = #_sourceLocation) throws -> ConnID {
    guard case .createConnection(let id) = action else {
        Issue.record("expected .createConnection, got \(action)", sourceLocation: sourceLocation)
        throw PoolTestFailure()
    }
    return id
}

private struct PoolTestFailure: Error {}

/// Leases `count` connections to waiters 1...count on a fresh pool: each one created and
/// established.
private func poolWithLeased(_ count: Int, maxConnections: Int, maxWaiters: Int = 16) throws -> (Pool, [ConnID]) {
    var pool = Pool(maxConnections: maxConnections, maxWaiters: maxWaiters)
    var connections: [ConnID] = []
    for n in 1...count {
        let id = try created(pool.leaseRequested(waiter(n)))
        #expect(pool.connectionEstablished(id) == .lease(id, to: waiter(n)))
        connections.append(id)
    }
    return (pool, connections)
}

@Suite("UpstreamPoolStateMachine")
struct UpstreamPoolStateMachineTests {
    @Test("a new pool is empty")
    func newPool() {
        let pool = Pool(maxConnections: 4, maxWaiters: 8)
        #expect(pool.maxConnections == 4)
        #expect(pool.maxWaiters == 8)
        expectCounts(pool, idle: 0, leased: 0, connecting: 0, waiters: 0)
    }

    @Test("a lease on an empty pool creates a connection and queues the waiter")
    func leaseOnEmptyPoolCreates() throws {
        var pool = Pool(maxConnections: 4, maxWaiters: 8)
        _ = try created(pool.leaseRequested(waiter(1)))
        expectCounts(pool, idle: 0, leased: 0, connecting: 1, waiters: 1)
    }

    @Test("an established connection is leased to the waiting request")
    func establishedLeasesToWaiter() throws {
        var pool = Pool(maxConnections: 4, maxWaiters: 8)
        let c1 = try created(pool.leaseRequested(waiter(1)))
        #expect(pool.connectionEstablished(c1) == .lease(c1, to: waiter(1)))
        expectCounts(pool, idle: 0, leased: 1, connecting: 0, waiters: 0)
    }

    @Test("an established connection with nobody waiting is parked")
    func establishedWithoutWaiterParks() throws {
        var pool = Pool(maxConnections: 4, maxWaiters: 8)
        let c1 = try created(pool.leaseRequested(waiter(1)))
        pool.waiterCancelled(waiter(1))
        expectCounts(pool, idle: 0, leased: 0, connecting: 1, waiters: 0)
        #expect(pool.connectionEstablished(c1) == .park(c1))
        expectCounts(pool, idle: 1, leased: 0, connecting: 0, waiters: 0)
    }

    @Test("a reusable connection released with nobody waiting is parked and reused by the next lease")
    func releaseParksThenReuses() throws {
        var (pool, conns) = try poolWithLeased(1, maxConnections: 4)
        let c1 = conns[0]
        #expect(pool.connectionReleased(c1, reusable: true) == .park(c1))
        expectCounts(pool, idle: 1, leased: 0, connecting: 0, waiters: 0)
        #expect(pool.leaseRequested(waiter(2)) == .lease(c1, to: waiter(2)))
        expectCounts(pool, idle: 0, leased: 1, connecting: 0, waiters: 0)
    }

    @Test("idle connections are reused last-in first-out")
    func lifoReuse() throws {
        var (pool, conns) = try poolWithLeased(3, maxConnections: 3)
        let (c1, c2, c3) = (conns[0], conns[1], conns[2])
        #expect(Set(conns).count == 3)
        // Released in the order c2, c1, c3.
        #expect(pool.connectionReleased(c2, reusable: true) == .park(c2))
        #expect(pool.connectionReleased(c1, reusable: true) == .park(c1))
        #expect(pool.connectionReleased(c3, reusable: true) == .park(c3))
        expectCounts(pool, idle: 3, leased: 0, connecting: 0, waiters: 0)
        #expect(pool.leaseRequested(waiter(10)) == .lease(c3, to: waiter(10)))
        #expect(pool.leaseRequested(waiter(11)) == .lease(c1, to: waiter(11)))
        // c1 comes back and is now the warmest.
        #expect(pool.connectionReleased(c1, reusable: true) == .park(c1))
        #expect(pool.leaseRequested(waiter(12)) == .lease(c1, to: waiter(12)))
        #expect(pool.leaseRequested(waiter(13)) == .lease(c2, to: waiter(13)))
        expectCounts(pool, idle: 0, leased: 3, connecting: 0, waiters: 0)
    }

    @Test("maxConnections is respected: extra requests wait")
    func maxConnectionsRespected() throws {
        var pool = Pool(maxConnections: 2, maxWaiters: 10)
        let c1 = try created(pool.leaseRequested(waiter(1)))
        expectCounts(pool, idle: 0, leased: 0, connecting: 1, waiters: 1)
        let c2 = try created(pool.leaseRequested(waiter(2)))
        #expect(c1 != c2)
        expectCounts(pool, idle: 0, leased: 0, connecting: 2, waiters: 2)
        #expect(pool.leaseRequested(waiter(3)) == .wait(waiter(3)))
        #expect(pool.leaseRequested(waiter(4)) == .wait(waiter(4)))
        expectCounts(pool, idle: 0, leased: 0, connecting: 2, waiters: 4)
        // First come, first served.
        #expect(pool.connectionEstablished(c2) == .lease(c2, to: waiter(1)))
        #expect(pool.connectionEstablished(c1) == .lease(c1, to: waiter(2)))
        expectCounts(pool, idle: 0, leased: 2, connecting: 0, waiters: 2)
        #expect(pool.leaseRequested(waiter(5)) == .wait(waiter(5)))
        expectCounts(pool, idle: 0, leased: 2, connecting: 0, waiters: 3)
    }

    @Test("a second request while the first one's connection is being opened opens another")
    func concurrentRequestsOpenOneEach() throws {
        var pool = Pool(maxConnections: 5, maxWaiters: 10)
        var ids: Set<ConnID> = []
        for n in 1...5 {
            ids.insert(try created(pool.leaseRequested(waiter(n))))
        }
        #expect(ids.count == 5)
        expectCounts(pool, idle: 0, leased: 0, connecting: 5, waiters: 5)
        #expect(pool.leaseRequested(waiter(6)) == .wait(waiter(6)))
    }

    @Test("a request while a surplus connection is being opened waits for it instead of opening another")
    func surplusConnectingServesNewWaiter() throws {
        var pool = Pool(maxConnections: 5, maxWaiters: 10)
        _ = try created(pool.leaseRequested(waiter(1)))
        pool.waiterCancelled(waiter(1))
        // One connection in flight, nobody waiting: the next waiter takes it.
        #expect(pool.leaseRequested(waiter(2)) == .wait(waiter(2)))
        expectCounts(pool, idle: 0, leased: 0, connecting: 1, waiters: 1)
    }

    @Test("the waiter queue is bounded")
    func waiterQueueBound() throws {
        var pool = Pool(maxConnections: 1, maxWaiters: 2)
        _ = try created(pool.leaseRequested(waiter(1)))
        #expect(pool.leaseRequested(waiter(2)) == .wait(waiter(2)))
        #expect(pool.leaseRequested(waiter(3)) == .failWaiter(waiter(3), .tooManyWaiters))
        expectCounts(pool, idle: 0, leased: 0, connecting: 1, waiters: 2)
        // Once a waiter leaves there is room again.
        #expect(pool.waiterTimedOut(waiter(2)) == .failWaiter(waiter(2), .waitTimedOut))
        #expect(pool.leaseRequested(waiter(4)) == .wait(waiter(4)))
        expectCounts(pool, idle: 0, leased: 0, connecting: 1, waiters: 2)
    }

    @Test("a full waiter queue does not stop a lease of an idle connection")
    func idleLeaseIgnoresWaiterBound() throws {
        var (pool, conns) = try poolWithLeased(1, maxConnections: 1, maxWaiters: 1)
        #expect(pool.connectionReleased(conns[0], reusable: true) == .park(conns[0]))
        #expect(pool.leaseRequested(waiter(2)) == .lease(conns[0], to: waiter(2)))
    }

    @Test("maxWaiters 0 ('never wait') still opens connections up to maxConnections")
    func zeroWaitersStillConnects() throws {
        // gateway.conf.example: "0 = never wait". A request that can have a new connection does
        // not wait for a busy one, so it must not be refused.
        var pool = Pool(maxConnections: 2, maxWaiters: 0)
        let first = pool.leaseRequested(waiter(1))
        guard case .createConnection(let c1) = first else {
            Issue.record("maxWaiters 0: expected .createConnection on an empty pool, got \(first)")
            return
        }
        #expect(pool.connectionEstablished(c1) == .lease(c1, to: waiter(1)))
        let second = pool.leaseRequested(waiter(2))
        guard case .createConnection(let c2) = second else {
            Issue.record("maxWaiters 0: expected .createConnection below maxConnections, got \(second)")
            return
        }
        #expect(pool.connectionEstablished(c2) == .lease(c2, to: waiter(2)))
        // At maxConnections, with every connection busy, nobody may wait.
        #expect(pool.leaseRequested(waiter(3)) == .failWaiter(waiter(3), .tooManyWaiters))
        expectCounts(pool, idle: 0, leased: 2, connecting: 0, waiters: 0)
    }

    @Test("a reusable connection released while requests wait goes to the oldest waiter")
    func releaseHandsOverToWaiter() throws {
        var (pool, conns) = try poolWithLeased(1, maxConnections: 1)
        let c1 = conns[0]
        #expect(pool.leaseRequested(waiter(2)) == .wait(waiter(2)))
        #expect(pool.leaseRequested(waiter(3)) == .wait(waiter(3)))
        expectCounts(pool, idle: 0, leased: 1, connecting: 0, waiters: 2)
        #expect(pool.connectionReleased(c1, reusable: true) == .lease(c1, to: waiter(2)))
        expectCounts(pool, idle: 0, leased: 1, connecting: 0, waiters: 1)
        #expect(pool.connectionReleased(c1, reusable: true) == .lease(c1, to: waiter(3)))
        expectCounts(pool, idle: 0, leased: 1, connecting: 0, waiters: 0)
        #expect(pool.connectionReleased(c1, reusable: true) == .park(c1))
        expectCounts(pool, idle: 1, leased: 0, connecting: 0, waiters: 0)
    }

    @Test("an unusable connection released while requests wait is replaced")
    func releaseNotReusableWithWaiters() throws {
        var (pool, conns) = try poolWithLeased(1, maxConnections: 1)
        let c1 = conns[0]
        #expect(pool.leaseRequested(waiter(2)) == .wait(waiter(2)))
        let action = pool.connectionReleased(c1, reusable: false)
        guard case .closeAndCreate(let closed, let c2) = action else {
            Issue.record("expected .closeAndCreate, got \(action)")
            return
        }
        #expect(closed == c1)
        #expect(c2 != c1)
        expectCounts(pool, idle: 0, leased: 0, connecting: 1, waiters: 1)
        #expect(pool.connectionEstablished(c2) == .lease(c2, to: waiter(2)))
        expectCounts(pool, idle: 0, leased: 1, connecting: 0, waiters: 0)
    }

    @Test("an unusable connection released with nobody waiting is closed")
    func releaseNotReusableNoWaiters() throws {
        var (pool, conns) = try poolWithLeased(2, maxConnections: 2)
        #expect(pool.connectionReleased(conns[0], reusable: false) == .close(conns[0]))
        expectCounts(pool, idle: 0, leased: 1, connecting: 0, waiters: 0)
        // It is gone: the next request opens a new connection.
        let c3 = try created(pool.leaseRequested(waiter(3)))
        #expect(!conns.contains(c3))
    }

    @Test("an unusable connection released while enough connections are opening is only closed")
    func releaseNotReusableEnoughConnecting() throws {
        var (pool, conns) = try poolWithLeased(1, maxConnections: 2)
        _ = try created(pool.leaseRequested(waiter(2)))
        expectCounts(pool, idle: 0, leased: 1, connecting: 1, waiters: 1)
        #expect(pool.connectionReleased(conns[0], reusable: false) == .close(conns[0]))
        expectCounts(pool, idle: 0, leased: 0, connecting: 1, waiters: 1)
    }

    @Test("releasing a connection that is not leased does nothing")
    func releaseUnknown() throws {
        var (pool, conns) = try poolWithLeased(1, maxConnections: 2)
        #expect(pool.connectionReleased(ConnID(999), reusable: true) == .none)
        #expect(pool.connectionReleased(conns[0], reusable: true) == .park(conns[0]))
        // A double release must not lease or park it twice.
        #expect(pool.connectionReleased(conns[0], reusable: true) == .none)
        expectCounts(pool, idle: 1, leased: 0, connecting: 0, waiters: 0)
    }

    @Test("a failed connect fails the oldest waiter and opens a connection for the others")
    func connectFailure() throws {
        var pool = Pool(maxConnections: 1, maxWaiters: 10)
        let c1 = try created(pool.leaseRequested(waiter(1)))
        #expect(pool.leaseRequested(waiter(2)) == .wait(waiter(2)))
        #expect(pool.leaseRequested(waiter(3)) == .wait(waiter(3)))
        let action = pool.connectionFailed(c1)
        guard case .failWaiterAndCreate(let failed, let reason, let c2) = action else {
            Issue.record("expected .failWaiterAndCreate, got \(action)")
            return
        }
        #expect(failed == waiter(1))
        #expect(reason == .connectFailed)
        #expect(c2 != c1)
        expectCounts(pool, idle: 0, leased: 0, connecting: 1, waiters: 2)
        #expect(pool.connectionEstablished(c2) == .lease(c2, to: waiter(2)))
        expectCounts(pool, idle: 0, leased: 1, connecting: 0, waiters: 1)
    }

    @Test("a failed connect with other connects covering the waiters only fails the oldest")
    func connectFailureCovered() throws {
        var pool = Pool(maxConnections: 3, maxWaiters: 10)
        let c1 = try created(pool.leaseRequested(waiter(1)))
        let c2 = try created(pool.leaseRequested(waiter(2)))
        #expect(pool.connectionFailed(c1) == .failWaiter(waiter(1), .connectFailed))
        expectCounts(pool, idle: 0, leased: 0, connecting: 1, waiters: 1)
        #expect(pool.connectionFailed(c2) == .failWaiter(waiter(2), .connectFailed))
        expectCounts(pool, idle: 0, leased: 0, connecting: 0, waiters: 0)
    }

    @Test("a failed connect with nobody waiting, or for an unknown id, does nothing")
    func connectFailureNoWaiter() throws {
        var pool = Pool(maxConnections: 2, maxWaiters: 10)
        let c1 = try created(pool.leaseRequested(waiter(1)))
        pool.waiterCancelled(waiter(1))
        #expect(pool.connectionFailed(c1) == .none)
        expectCounts(pool, idle: 0, leased: 0, connecting: 0, waiters: 0)
        #expect(pool.connectionFailed(c1) == .none)
        #expect(pool.connectionFailed(ConnID(42)) == .none)
    }

    @Test("an established event for a connection the pool is not opening closes it")
    func establishedUnknown() {
        var pool = Pool(maxConnections: 2, maxWaiters: 10)
        #expect(pool.connectionEstablished(ConnID(7)) == .close(ConnID(7)))
        expectCounts(pool, idle: 0, leased: 0, connecting: 0, waiters: 0)
    }

    @Test("the idle timeout closes only idle connections")
    func idleTimeout() throws {
        var (pool, conns) = try poolWithLeased(3, maxConnections: 3)
        let (c1, c2, c3) = (conns[0], conns[1], conns[2])
        #expect(pool.connectionReleased(c1, reusable: true) == .park(c1))
        expectCounts(pool, idle: 1, leased: 2, connecting: 0, waiters: 0)
        // A leased connection's stale timer does nothing.
        #expect(pool.idleTimeoutFired(c2) == .none)
        expectCounts(pool, idle: 1, leased: 2, connecting: 0, waiters: 0)
        #expect(pool.idleTimeoutFired(c1) == .close(c1))
        expectCounts(pool, idle: 0, leased: 2, connecting: 0, waiters: 0)
        #expect(pool.idleTimeoutFired(c1) == .none)
        // The leased ones are still usable.
        #expect(pool.connectionReleased(c3, reusable: true) == .park(c3))
        #expect(pool.leaseRequested(waiter(9)) == .lease(c3, to: waiter(9)))
    }

    @Test("the idle timeout of a connection still being opened does nothing")
    func idleTimeoutConnecting() throws {
        var pool = Pool(maxConnections: 2, maxWaiters: 10)
        let c1 = try created(pool.leaseRequested(waiter(1)))
        #expect(pool.idleTimeoutFired(c1) == .none)
        expectCounts(pool, idle: 0, leased: 0, connecting: 1, waiters: 1)
    }

    @Test("the idle timeout removes the right connection from the middle of the idle list")
    func idleTimeoutMiddle() throws {
        var (pool, conns) = try poolWithLeased(3, maxConnections: 3)
        for connection in conns {
            #expect(pool.connectionReleased(connection, reusable: true) == .park(connection))
        }
        #expect(pool.idleTimeoutFired(conns[1]) == .close(conns[1]))
        #expect(pool.leaseRequested(waiter(10)) == .lease(conns[2], to: waiter(10)))
        #expect(pool.leaseRequested(waiter(11)) == .lease(conns[0], to: waiter(11)))
        expectCounts(pool, idle: 0, leased: 2, connecting: 0, waiters: 0)
    }

    @Test("an idle connection that closes by itself is forgotten")
    func connectionClosedIdle() throws {
        var (pool, conns) = try poolWithLeased(1, maxConnections: 2)
        let c1 = conns[0]
        #expect(pool.connectionReleased(c1, reusable: true) == .park(c1))
        #expect(pool.connectionClosed(c1) == .none)
        expectCounts(pool, idle: 0, leased: 0, connecting: 0, waiters: 0)
        // The next lease must not get the dead connection.
        let next = try created(pool.leaseRequested(waiter(2)))
        #expect(next != c1)
        #expect(pool.idleTimeoutFired(c1) == .none)
    }

    @Test("a leased connection that closes stays leased until its user releases it")
    func connectionClosedLeased() throws {
        var (pool, conns) = try poolWithLeased(1, maxConnections: 2)
        #expect(pool.connectionClosed(conns[0]) == .none)
        expectCounts(pool, idle: 0, leased: 1, connecting: 0, waiters: 0)
        #expect(pool.connectionReleased(conns[0], reusable: false) == .close(conns[0]))
        expectCounts(pool, idle: 0, leased: 0, connecting: 0, waiters: 0)
    }

    @Test("a waiter that times out is failed and removed; the others keep their place")
    func waiterTimeout() throws {
        var (pool, conns) = try poolWithLeased(1, maxConnections: 1)
        #expect(pool.leaseRequested(waiter(2)) == .wait(waiter(2)))
        #expect(pool.leaseRequested(waiter(3)) == .wait(waiter(3)))
        #expect(pool.leaseRequested(waiter(4)) == .wait(waiter(4)))
        #expect(pool.waiterTimedOut(waiter(3)) == .failWaiter(waiter(3), .waitTimedOut))
        expectCounts(pool, idle: 0, leased: 1, connecting: 0, waiters: 2)
        #expect(pool.waiterTimedOut(waiter(3)) == .none)
        #expect(pool.waiterTimedOut(waiter(99)) == .none)
        #expect(pool.connectionReleased(conns[0], reusable: true) == .lease(conns[0], to: waiter(2)))
        #expect(pool.connectionReleased(conns[0], reusable: true) == .lease(conns[0], to: waiter(4)))
        #expect(pool.connectionReleased(conns[0], reusable: true) == .park(conns[0]))
    }

    @Test("a cancelled waiter never gets a connection")
    func waiterCancelled() throws {
        var pool = Pool(maxConnections: 1, maxWaiters: 10)
        let c1 = try created(pool.leaseRequested(waiter(1)))
        #expect(pool.leaseRequested(waiter(2)) == .wait(waiter(2)))
        pool.waiterCancelled(waiter(1))
        expectCounts(pool, idle: 0, leased: 0, connecting: 1, waiters: 1)
        #expect(pool.connectionEstablished(c1) == .lease(c1, to: waiter(2)))
        pool.waiterCancelled(waiter(2))  // already served: nothing to cancel
        expectCounts(pool, idle: 0, leased: 1, connecting: 0, waiters: 0)
    }

    @Test("shutdown fails every waiter; connections close as they come back or come up")
    func shutdownWithWaiters() throws {
        var (pool, conns) = try poolWithLeased(2, maxConnections: 3)
        let (c1, c2) = (conns[0], conns[1])
        let c3 = try created(pool.leaseRequested(waiter(3)))
        #expect(pool.leaseRequested(waiter(4)) == .wait(waiter(4)))
        expectCounts(pool, idle: 0, leased: 2, connecting: 1, waiters: 2)

        let result = pool.shutdown()
        #expect(result.failWaiters == [waiter(3), waiter(4)])
        #expect(result.close == [])
        expectCounts(pool, idle: 0, leased: 2, connecting: 1, waiters: 0)

        #expect(pool.leaseRequested(waiter(5)) == .failWaiter(waiter(5), .shuttingDown))
        #expect(pool.connectionReleased(c1, reusable: true) == .close(c1))
        expectCounts(pool, idle: 0, leased: 1, connecting: 1, waiters: 0)
        #expect(pool.connectionEstablished(c3) == .close(c3))
        expectCounts(pool, idle: 0, leased: 1, connecting: 0, waiters: 0)
        #expect(pool.connectionReleased(c2, reusable: false) == .close(c2))
        expectCounts(pool, idle: 0, leased: 0, connecting: 0, waiters: 0)
    }

    @Test("shutdown closes idle connections")
    func shutdownClosesIdle() throws {
        var (pool, conns) = try poolWithLeased(3, maxConnections: 3)
        #expect(pool.connectionReleased(conns[0], reusable: true) == .park(conns[0]))
        #expect(pool.connectionReleased(conns[2], reusable: true) == .park(conns[2]))
        let result = pool.shutdown()
        #expect(result.failWaiters == [])
        #expect(Set(result.close) == [conns[0], conns[2]])
        #expect(result.close.count == 2)
        expectCounts(pool, idle: 0, leased: 1, connecting: 0, waiters: 0)
        #expect(pool.idleTimeoutFired(conns[0]) == .none)
        #expect(pool.connectionReleased(conns[1], reusable: true) == .close(conns[1]))
        expectCounts(pool, idle: 0, leased: 0, connecting: 0, waiters: 0)
        // A second shutdown has nothing left to do.
        let again = pool.shutdown()
        #expect(again.failWaiters.isEmpty)
        #expect(again.close.isEmpty)
    }

    @Test("a connect failing during shutdown fails nobody and opens nothing")
    func connectFailureDuringShutdown() throws {
        var pool = Pool(maxConnections: 2, maxWaiters: 10)
        let c1 = try created(pool.leaseRequested(waiter(1)))
        _ = pool.shutdown()
        #expect(pool.connectionFailed(c1) == .none)
        expectCounts(pool, idle: 0, leased: 0, connecting: 0, waiters: 0)
    }

    @Test("connection ids are never reused")
    func idsUnique() throws {
        var pool = Pool(maxConnections: 1, maxWaiters: 10)
        var seen: Set<ConnID> = []
        for n in 1...50 {
            let id = try created(pool.leaseRequested(waiter(n)))
            #expect(seen.insert(id).inserted)
            #expect(pool.connectionEstablished(id) == .lease(id, to: waiter(n)))
            #expect(pool.connectionReleased(id, reusable: false) == .close(id))
        }
    }

    @Test("ids describe themselves")
    func descriptions() {
        #expect(ConnID(3).description == "conn-3")
        #expect(WaiterID(4).description == "waiter-4")
    }

    // MARK: Randomized

    @Test(
        "random event sequences keep the pool's invariants",
        arguments: [
            (UInt64(1), 1, 1), (UInt64(2), 1, 4), (UInt64(3), 3, 2), (UInt64(4), 4, 16), (UInt64(5), 8, 3),
            (UInt64(0xDEAD_BEEF), 2, 1000),
        ]
    )
    func randomSequences(seed: UInt64, maxConnections: Int, maxWaiters: Int) throws {
        var simulation = PoolSimulation(seed: seed, maxConnections: maxConnections, maxWaiters: maxWaiters)
        try simulation.run(steps: 4_000)
        // The run must have exercised the interesting paths, or it proves little.
        #expect(simulation.stats.leases > 100)
        #expect(simulation.stats.creates > 10)
        #expect(simulation.stats.parks > 10)
        #expect(simulation.stats.waits > 0 || maxConnections > 4)
    }
}

// MARK: - Randomized simulation

/// SplitMix64: small, seedable, good enough for test sequences.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Drives a pool with random events and keeps an independent model of what the I/O layer would
/// believe after carrying out each action; after every step the pool's counters must match the
/// model and the invariants must hold.
private struct PoolSimulation {
    struct Stats {
        var leases = 0
        var creates = 0
        var parks = 0
        var waits = 0
        var failures = 0
        var closes = 0
    }

    var pool: Pool
    var random: SeededGenerator
    let maxConnections: Int
    let maxWaiters: Int
    var running = true

    // The model.
    var idle: [ConnID] = []  // in parking order
    var leased: [ConnID: WaiterID] = [:]
    var connecting: Set<ConnID> = []
    var waiters: [WaiterID] = []  // FIFO
    var everCreated: Set<ConnID> = []
    var resolvedWaiters: Set<WaiterID> = []
    var nextWaiter = 0
    var stats = Stats()

    init(seed: UInt64, maxConnections: Int, maxWaiters: Int) {
        self.pool = Pool(maxConnections: maxConnections, maxWaiters: maxWaiters)
        self.random = SeededGenerator(seed: seed)
        self.maxConnections = maxConnections
        self.maxWaiters = maxWaiters
    }

    mutating func run(steps: Int) throws {
        let shutdownAt = steps - steps / 10
        for step in 0..<steps {
            if step == shutdownAt {
                try self.shutdown(step: step)
            } else {
                try self.randomEvent(step: step)
            }
            try self.checkInvariants(step: step)
        }
    }

    private mutating func pick<T>(_ values: [T]) -> T? {
        values.isEmpty ? nil : values[Int.random(in: 0..<values.count, using: &self.random)]
    }

    private mutating func randomEvent(step: Int) throws {
        let roll = Int.random(in: 0..<100, using: &self.random)
        switch roll {
        case 0..<30:
            self.nextWaiter += 1
            try self.leaseRequested(WaiterID(self.nextWaiter), step: step)
        case 30..<45:
            if let c = self.pick(Array(self.connecting).sorted { $0.rawValue < $1.rawValue }) {
                try self.established(c, step: step)
            }
        case 45..<50:
            if let c = self.pick(Array(self.connecting).sorted { $0.rawValue < $1.rawValue }) {
                try self.failed(c, step: step)
            }
        case 50..<75:
            if let c = self.pick(Array(self.leased.keys).sorted { $0.rawValue < $1.rawValue }) {
                try self.released(c, reusable: Int.random(in: 0..<10, using: &self.random) < 8, step: step)
            }
        case 75..<80:
            if let c = self.pick(self.idle) {
                try self.idleTimeout(c, step: step)
            } else if let c = self.pick(Array(self.leased.keys).sorted { $0.rawValue < $1.rawValue }) {
                // A stale timer of a connection that got leased meanwhile.
                try self.idleTimeout(c, step: step)
            }
        case 80..<84:
            if let c = self.pick(self.idle) {
                try #require(self.pool.connectionClosed(c) == .none, "step \(step)")
                self.idle.removeAll { $0 == c }
                self.stats.closes += 1
            }
        case 84..<92:
            if let w = self.pick(self.waiters) {
                try self.waiterTimedOut(w, step: step)
            } else {
                try #require(self.pool.waiterTimedOut(WaiterID(-1)) == .none, "step \(step)")
            }
        case 92..<97:
            if let w = self.pick(self.waiters) {
                self.pool.waiterCancelled(w)
                self.waiters.removeAll { $0 == w }
                self.resolve(w)
            }
        default:
            // Events about ids the pool does not know.
            let ghost = ConnID(-Int.random(in: 1...1_000, using: &self.random))
            try #require(self.pool.connectionReleased(ghost, reusable: true) == .none, "step \(step)")
            try #require(self.pool.connectionFailed(ghost) == .none, "step \(step)")
            try #require(self.pool.idleTimeoutFired(ghost) == .none, "step \(step)")
        }
    }

    // MARK: Events

    private mutating func leaseRequested(_ w: WaiterID, step: Int) throws {
        let idleBefore = self.idle
        let action = self.pool.leaseRequested(w)
        switch action {
        case .lease(let c, let to):
            try #require(self.running, "step \(step): lease while shut down")
            try #require(to == w, "step \(step): lease to \(to), expected \(w)")
            try #require(
                c == idleBefore.last,
                "step \(step): LIFO: leased \(c), most recently parked is \(String(describing: idleBefore.last))"
            )
            self.idle.removeLast()
            try self.lease(c, to: w, step: step)
        case .createConnection(let c):
            try #require(self.running, "step \(step)")
            try #require(self.idle.isEmpty, "step \(step): created a connection while one was idle")
            try self.create(c, step: step)
            self.waiters.append(w)
        case .wait(let waiting):
            try #require(self.running, "step \(step)")
            try #require(waiting == w, "step \(step)")
            try #require(self.idle.isEmpty, "step \(step): waiting while a connection is idle")
            self.waiters.append(w)
            self.stats.waits += 1
        case .failWaiter(let failed, let reason):
            try #require(failed == w, "step \(step)")
            if self.running {
                try #require(reason == .tooManyWaiters, "step \(step): \(reason)")
                try #require(self.idle.isEmpty, "step \(step)")
                try #require(self.waiters.count >= self.maxWaiters, "step \(step): refused with room in the queue")
            } else {
                try #require(reason == .shuttingDown, "step \(step): \(reason)")
            }
            self.resolve(w)
            self.stats.failures += 1
        default:
            Issue.record("step \(step): unexpected \(action) for leaseRequested")
            throw PoolTestFailure()
        }
    }

    private mutating func established(_ c: ConnID, step: Int) throws {
        self.connecting.remove(c)
        let action = self.pool.connectionEstablished(c)
        switch action {
        case .lease(let leasedID, let to):
            try #require(self.running && leasedID == c, "step \(step)")
            try #require(to == self.waiters.first, "step \(step): not the oldest waiter")
            self.waiters.removeFirst()
            try self.lease(c, to: to, step: step)
        case .park(let parked):
            try #require(self.running && parked == c, "step \(step)")
            try #require(self.waiters.isEmpty, "step \(step): parked while requests wait")
            try self.park(c, step: step)
        case .close(let closed):
            try #require(!self.running && closed == c, "step \(step): close of a new connection while running")
            self.stats.closes += 1
        default:
            Issue.record("step \(step): unexpected \(action) for connectionEstablished")
            throw PoolTestFailure()
        }
    }

    private mutating func failed(_ c: ConnID, step: Int) throws {
        self.connecting.remove(c)
        let action = self.pool.connectionFailed(c)
        switch action {
        case .none:
            try #require(self.waiters.isEmpty, "step \(step): a connect failure left the waiters alone")
        case .failWaiter(let w, let reason):
            try #require(reason == .connectFailed && w == self.waiters.first, "step \(step)")
            self.waiters.removeFirst()
            self.resolve(w)
            self.stats.failures += 1
        case .failWaiterAndCreate(let w, let reason, let created):
            try #require(self.running, "step \(step)")
            try #require(reason == .connectFailed && w == self.waiters.first, "step \(step)")
            self.waiters.removeFirst()
            self.resolve(w)
            self.stats.failures += 1
            try self.create(created, step: step)
        default:
            Issue.record("step \(step): unexpected \(action) for connectionFailed")
            throw PoolTestFailure()
        }
    }

    private mutating func released(_ c: ConnID, reusable: Bool, step: Int) throws {
        self.leased.removeValue(forKey: c)
        let action = self.pool.connectionReleased(c, reusable: reusable)
        switch action {
        case .lease(let leasedID, let to):
            try #require(self.running && reusable && leasedID == c, "step \(step)")
            try #require(to == self.waiters.first, "step \(step): not the oldest waiter")
            self.waiters.removeFirst()
            try self.lease(c, to: to, step: step)
        case .park(let parked):
            try #require(self.running && reusable && parked == c, "step \(step)")
            try #require(self.waiters.isEmpty, "step \(step): parked while requests wait")
            try self.park(c, step: step)
        case .close(let closed):
            try #require(closed == c, "step \(step)")
            try #require(!self.running || !reusable, "step \(step): closed a reusable connection while running")
            self.stats.closes += 1
        case .closeAndCreate(let closed, let created):
            try #require(self.running && !reusable && closed == c, "step \(step)")
            try #require(!self.waiters.isEmpty, "step \(step): replaced a connection nobody waits for")
            self.stats.closes += 1
            try self.create(created, step: step)
        default:
            Issue.record("step \(step): unexpected \(action) for connectionReleased")
            throw PoolTestFailure()
        }
    }

    private mutating func idleTimeout(_ c: ConnID, step: Int) throws {
        let wasIdle = self.idle.contains(c)
        let action = self.pool.idleTimeoutFired(c)
        if wasIdle {
            try #require(action == .close(c), "step \(step): \(action)")
            self.idle.removeAll { $0 == c }
            self.stats.closes += 1
        } else {
            try #require(action == .none, "step \(step): idle timeout of a busy connection gave \(action)")
        }
    }

    private mutating func waiterTimedOut(_ w: WaiterID, step: Int) throws {
        try #require(self.pool.waiterTimedOut(w) == .failWaiter(w, .waitTimedOut), "step \(step)")
        self.waiters.removeAll { $0 == w }
        self.resolve(w)
        self.stats.failures += 1
    }

    private mutating func shutdown(step: Int) throws {
        let result = self.pool.shutdown()
        self.running = false
        try #require(
            result.failWaiters == self.waiters,
            "step \(step): shutdown failed \(result.failWaiters), queued \(self.waiters)"
        )
        try #require(Set(result.close) == Set(self.idle) && result.close.count == self.idle.count, "step \(step)")
        for w in self.waiters { self.resolve(w) }
        self.waiters.removeAll()
        self.idle.removeAll()
    }

    // MARK: Model updates

    private mutating func lease(_ c: ConnID, to w: WaiterID, step: Int) throws {
        try #require(
            !self.idle.contains(c) && !self.connecting.contains(c),
            "step \(step): \(c) leased while idle or connecting"
        )
        try #require(self.leased[c] == nil, "step \(step): \(c) leased twice")
        try #require(!self.resolvedWaiters.contains(w), "step \(step): \(w) served twice or after it left")
        self.leased[c] = w
        self.resolve(w)
        self.stats.leases += 1
    }

    private mutating func park(_ c: ConnID, step: Int) throws {
        try #require(self.leased[c] == nil && !self.connecting.contains(c), "step \(step): \(c) parked while busy")
        try #require(!self.idle.contains(c), "step \(step): \(c) parked twice")
        self.idle.append(c)
        self.stats.parks += 1
    }

    private mutating func create(_ c: ConnID, step: Int) throws {
        try #require(self.everCreated.insert(c).inserted, "step \(step): connection id \(c) reused")
        self.connecting.insert(c)
        self.stats.creates += 1
    }

    private mutating func resolve(_ w: WaiterID) {
        self.resolvedWaiters.insert(w)
    }

    private func checkInvariants(step: Int) throws {
        let total = self.idle.count + self.leased.count + self.connecting.count
        try #require(self.pool.idleCount == self.idle.count, "step \(step): idleCount")
        try #require(self.pool.leasedCount == self.leased.count, "step \(step): leasedCount")
        try #require(self.pool.connectingCount == self.connecting.count, "step \(step): connectingCount")
        try #require(self.pool.waiterCount == self.waiters.count, "step \(step): waiterCount")
        try #require(self.pool.totalConnections == total, "step \(step): totalConnections")
        try #require(total <= self.maxConnections, "step \(step): \(total) connections, max \(self.maxConnections)")
        // Waiters with a connection being opened for them do not count against the queue bound.
        try #require(
            self.waiters.count <= self.maxWaiters + self.connecting.count,
            "step \(step): \(self.waiters.count) waiters"
        )
        // No connection in two places.
        let idleSet = Set(self.idle)
        try #require(idleSet.count == self.idle.count, "step \(step): duplicate idle entry")
        try #require(idleSet.isDisjoint(with: self.leased.keys), "step \(step): idle and leased")
        try #require(idleSet.isDisjoint(with: self.connecting), "step \(step): idle and connecting")
        try #require(self.connecting.isDisjoint(with: self.leased.keys), "step \(step): connecting and leased")
        if self.running {
            // Nobody waits while a connection sits idle.
            try #require(self.idle.isEmpty || self.waiters.isEmpty, "step \(step): idle connections with waiters")
            // Waiters are never starved: enough connections are being opened for them, up to the limit.
            let needed = min(self.waiters.count, self.maxConnections - self.leased.count - self.idle.count)
            try #require(
                self.connecting.count >= needed,
                "step \(step): \(self.waiters.count) waiters, \(self.connecting.count) connecting, \(self.leased.count) leased"
            )
        }
    }
}
