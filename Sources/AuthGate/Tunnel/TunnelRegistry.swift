import AuthGateCore
import NIOConcurrencyHelpers
import NIOCore

/// The authenticated WebSocket tunnels that are open, so that a revoked credential closes them.
///
/// An HTTP request is authenticated once; a tunnel lives on. Two things end a tunnel whose
/// credential is no longer good: an eviction (a sign-out through the gateway, an admin purge, a
/// `NOTIFY` from another instance) closes the matching tunnels at once, and a periodic pass
/// (`websocket.revalidate_interval_ms`) asks the introspection core again — a cache hit costs
/// nothing, a miss asks the resolver, which no longer knows a deleted session. A pass that
/// cannot decide (resolver down) leaves the tunnel open: a blip of the auth server must not cut
/// every live connection.
final class TunnelRegistry: Sendable {
    struct Entry: Sendable {
        var identity: Identity
        var attempts: [CredentialAttempt]
        var channel: any Channel
    }

    private let entries = NIOLockedValueBox<[ObjectIdentifier: Entry]>([:])

    var count: Int { self.entries.withLockedValue { $0.count } }

    /// Tracks `channel` (the client side of a tunnel) until it closes.
    func register(channel: any Channel, identity: Identity, attempts: [CredentialAttempt]) {
        let id = ObjectIdentifier(channel)
        self.entries.withLockedValue { $0[id] = Entry(identity: identity, attempts: attempts, channel: channel) }
        channel.closeFuture.whenComplete { _ in
            self.entries.withLockedValue { _ = $0.removeValue(forKey: id) }
        }
    }

    /// Closes every tunnel whose identity matches; returns how many.
    @discardableResult
    func close(where matches: (Identity) -> Bool) -> Int {
        let victims = self.entries.withLockedValue { entries in
            entries.values.filter { matches($0.identity) }.map(\.channel)
        }
        for channel in victims { channel.close(promise: nil) }
        return victims.count
    }

    /// Authenticates every tunnel's credential again and closes those now rejected.
    func revalidate(using core: IntrospectionCore, settings: AuthSettings) {
        let all = self.entries.withLockedValue { Array($0.values) }
        for entry in all {
            let loop = entry.channel.eventLoop
            loop.execute {
                let close: @Sendable (AuthVerdict) -> Void = { verdict in
                    if case .rejected = verdict { entry.channel.close(promise: nil) }
                }
                switch core.authenticate(entry.attempts, settings: settings, eventLoop: loop) {
                case .immediate(let verdict):
                    close(verdict)
                case .pending(let future):
                    future.whenSuccess(close)
                }
            }
        }
    }
}
