import NIOConcurrencyHelpers
import NIOCore

/// Tracks the open client connections so that a drain can ask each to finish and close, and
/// force-close the stragglers at the deadline.
final class ConnectionTracker: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var draining = false
        var drained: [EventLoopPromise<Void>] = []
    }
    private let state = NIOLockedValueBox(State())

    /// Registers a new connection; returns false if the gateway is draining (close it).
    func add(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let accepted = self.state.withLockedValue { state -> Bool in
            if state.draining { return false }
            state.channels[id] = channel
            return true
        }
        guard accepted else { return false }
        channel.closeFuture.whenComplete { _ in
            let promises = self.state.withLockedValue { state -> [EventLoopPromise<Void>] in
                state.channels.removeValue(forKey: id)
                if state.draining && state.channels.isEmpty {
                    defer { state.drained.removeAll() }
                    return state.drained
                }
                return []
            }
            for promise in promises { promise.succeed() }
        }
        return true
    }

    var count: Int { self.state.withLockedValue { $0.channels.count } }

    /// Asks every connection to finish its current exchange and close; the future completes
    /// when all are closed.
    func drain(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        let channels = self.state.withLockedValue { state -> [any Channel]? in
            state.draining = true
            if state.channels.isEmpty { return nil }
            state.drained.append(promise)
            return Array(state.channels.values)
        }
        guard let channels else {
            promise.succeed()
            return promise.futureResult
        }
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        return promise.futureResult
    }

    /// Closes whatever is still open.
    func closeAll() {
        let channels = self.state.withLockedValue { Array($0.channels.values) }
        for channel in channels {
            channel.close(promise: nil)
        }
    }
}
