import NIOConcurrencyHelpers
public import NIOCore

/// The bookkeeping of single-flight lookups: which keys have a lookup in flight and who waits
/// for each.
///
/// A pure state machine: it never calls a lookup nor completes a waiter, it tells its owner to.
/// The first ``join(_:waiter:)`` of a key answers ``JoinAction/startLookup``; every further
/// one until ``complete(_:)`` answers ``JoinAction/joinExisting``; ``complete(_:)`` hands back
/// every waiter of the key, in arrival order, and forgets the key, so the next join starts a
/// new lookup.
public struct SingleFlightStateMachine<Key: Hashable, Waiter> {
    /// What the owner must do after a join.
    public enum JoinAction: Hashable, Sendable {
        /// No lookup was in flight for the key: start one, and call ``complete(_:)`` when it
        /// finishes.
        case startLookup
        /// A lookup is in flight: the waiter will be handed back by its ``complete(_:)``.
        case joinExisting
    }

    /// What the owner must do when a lookup finished.
    public enum CompleteAction {
        /// Complete these waiters with the lookup's result.
        case complete(waiters: [Waiter])
    }

    private var inFlight: [Key: [Waiter]] = [:]

    /// Lookups started so far.
    public private(set) var lookupsStarted = 0
    /// Joins that found a lookup in flight.
    public private(set) var joins = 0

    public init() {}

    /// The number of keys with a lookup in flight.
    public var inFlightCount: Int { self.inFlight.count }

    /// The number of waiters for `key`, 0 when nothing is in flight for it.
    public func waiterCount(for key: Key) -> Int { self.inFlight[key]?.count ?? 0 }

    /// `waiter` wants the value of `key`.
    public mutating func join(_ key: Key, waiter: Waiter) -> JoinAction {
        if let index = self.inFlight.index(forKey: key) {
            // Appends in place, without copying the waiters of the flight.
            self.inFlight.values[index].append(waiter)
            self.joins += 1
            return .joinExisting
        }
        self.inFlight[key] = [waiter]
        self.lookupsStarted += 1
        return .startLookup
    }

    /// The lookup for `key` finished.
    public mutating func complete(_ key: Key) -> CompleteAction {
        guard let waiters = self.inFlight.removeValue(forKey: key) else {
            preconditionFailure("completed a single-flight lookup that was not in flight")
        }
        return .complete(waiters: waiters)
    }
}

extension SingleFlightStateMachine: Sendable where Key: Sendable, Waiter: Sendable {}
extension SingleFlightStateMachine.CompleteAction: Sendable where Waiter: Sendable {}

/// Merges concurrent lookups of one credential: however many requests miss the cache for the
/// same key at once, the authority is asked once and every request gets the answer.
///
/// The table is sharded like ``IdentityCache``, one lock per shard. No lock is held while the
/// lookup is started or while the waiters are completed. Each caller gets a future on the event
/// loop it passed, whichever loop ran the lookup, so its continuation stays on its own channel's
/// loop.
///
/// The lookup must finish: a lookup that never completes strands every request that joined
/// it, so give the lookup its own timeout. A lookup must not `run` the same key again (it would
/// join itself and never complete).
public final class SingleFlight<Value: Sendable>: Sendable {
    /// Counts for metrics.
    public struct Statistics: Sendable, Hashable {
        /// Lookups started.
        public var lookupsStarted: Int
        /// Callers that joined a lookup in flight instead of starting one.
        public var joins: Int
        /// Keys with a lookup in flight now.
        public var inFlight: Int
    }

    private typealias StateMachine = SingleFlightStateMachine<CredentialKey, EventLoopPromise<Value>>

    private let shards: [NIOLockedValueBox<StateMachine>]
    private let shardMask: Int

    /// A table with `shardCount` shards, rounded down to a power of two (at least one).
    public init(shardCount: Int = 16) {
        var count = 1
        while count * 2 <= shardCount {
            count *= 2
        }
        self.shards = (0..<count).map { _ in NIOLockedValueBox(StateMachine()) }
        self.shardMask = count - 1
    }

    /// The value for `key`, from a lookup already in flight for it or, if there is none, from
    /// `lookup`.
    ///
    /// - Parameters:
    ///   - key: the credential's key.
    ///   - eventLoop: the loop the returned future completes on.
    ///   - lookup: starts the lookup; called at most once per flight, on the calling thread,
    ///     by the caller that started the flight.
    /// - Returns: a future on `eventLoop` with the lookup's value or error.
    public func run(
        key: CredentialKey,
        on eventLoop: any EventLoop,
        lookup: () -> EventLoopFuture<Value>
    ) -> EventLoopFuture<Value> {
        let promise = eventLoop.makePromise(of: Value.self)
        let shard = self.shards[key.shardIndex(mask: self.shardMask)]
        let action = shard.withLockedValue { $0.join(key, waiter: promise) }
        switch action {
        case .joinExisting:
            break
        case .startLookup:
            lookup().whenComplete { result in
                let action = shard.withLockedValue { $0.complete(key) }
                switch action {
                case .complete(let waiters):
                    // Off-loop completion hops to each waiter's own loop.
                    for waiter in waiters {
                        waiter.completeWith(result)
                    }
                }
            }
        }
        return promise.futureResult
    }

    /// The counts summed over the shards.
    public var statistics: Statistics {
        var statistics = Statistics(lookupsStarted: 0, joins: 0, inFlight: 0)
        for shard in self.shards {
            shard.withLockedValue { machine in
                statistics.lookupsStarted += machine.lookupsStarted
                statistics.joins += machine.joins
                statistics.inFlight += machine.inFlightCount
            }
        }
        return statistics
    }
}
