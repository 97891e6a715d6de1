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
        /// The cache key of the session credential, when the tunnel was opened with one.
        var sessionKey: CredentialKey?
        var channel: any Channel
    }

    private let entries = NIOLockedValueBox<[ObjectIdentifier: Entry]>([:])
    private let metrics: GatewayMetrics

    init(metrics: GatewayMetrics) {
        self.metrics = metrics
    }

    var count: Int { self.entries.withLockedValue { $0.count } }

    /// Tracks `channel` (the client side of a tunnel) until it closes.
    func register(channel: any Channel, identity: Identity, attempts: [CredentialAttempt], sessionKey: CredentialKey?) {
        let id = ObjectIdentifier(channel)
        let entry = Entry(identity: identity, attempts: attempts, sessionKey: sessionKey, channel: channel)
        self.entries.withLockedValue { $0[id] = entry }
        channel.closeFuture.whenComplete { _ in
            self.entries.withLockedValue { _ = $0.removeValue(forKey: id) }
        }
    }

    /// Closes every tunnel that matches; returns how many.
    @discardableResult
    func close(where matches: (Entry) -> Bool) -> Int {
        let victims = self.entries.withLockedValue { entries in
            entries.values.filter { matches($0) }.map(\.channel)
        }
        for channel in victims { channel.close(promise: nil) }
        self.metrics.tunnelsRevoked.increment(by: victims.count)
        return victims.count
    }

    /// Applies a `LISTEN/NOTIFY` eviction payload (`session:ID`, `user:ID`, `all`).
    func applyEviction(_ payload: String, core: IntrospectionCore, settings: @autoclosure () -> AuthSettings) {
        if payload == "all" {
            self.revalidate(using: core, settings: settings())
        } else if payload.hasPrefix("session:") {
            let id = payload.dropFirst(8)
            self.close { $0.identity.sessionID.map { $0[...] == id } ?? false }
        } else if payload.hasPrefix("user:") {
            let id = payload.dropFirst(5)
            self.close { $0.identity.userID[...] == id }
        }
    }

    /// Authenticates every tunnel's credential again and closes those now rejected.
    func revalidate(using core: IntrospectionCore, settings: AuthSettings) {
        let all = self.entries.withLockedValue { Array($0.values) }
        for entry in all {
            let loop = entry.channel.eventLoop
            loop.execute {
                let metrics = self.metrics
                let close: @Sendable (AuthVerdict) -> Void = { verdict in
                    if case .rejected = verdict, entry.channel.isActive {
                        metrics.tunnelsRevoked.increment()
                        entry.channel.close(promise: nil)
                    }
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
