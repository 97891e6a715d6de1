import AsyncHTTPClient
import AuthGateCore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The auth server's JSON Web Key Set, fetched at start and again when a token names an
/// unknown `kid` (key rotation). Concurrent refreshes share one fetch, fetches are at least
/// `cooldown` apart, and a failed fetch keeps the keys already known.
final class JWKSStore: Sendable {
    private struct State {
        var keys = JWTKeySet()
        var lastFetch: NIODeadline? = nil
        var inFlight: EventLoopFuture<JWTKeySet>? = nil
        var generation = 0
    }

    private let state = NIOLockedValueBox(State())
    private let client: HTTPClient
    private let url: String
    private let cooldown: TimeAmount
    private let timeout: TimeAmount
    private let logger: Logger
    private let metrics: GatewayMetrics

    init(
        client: HTTPClient,
        authServerURL: String,
        cooldown: TimeAmount,
        timeout: TimeAmount,
        logger: Logger,
        metrics: GatewayMetrics
    ) {
        self.client = client
        self.url = authServerURL + "/api/auth/jwks"
        self.cooldown = cooldown
        self.timeout = timeout
        self.logger = logger
        self.metrics = metrics
    }

    /// The keys known now.
    var keys: JWTKeySet { self.state.withLockedValue { $0.keys } }

    /// Fetches the key set unless a fetch is running (join it) or the last one was less than
    /// the cooldown ago (answer with the keys known). Never fails: errors keep the old keys.
    func refresh(on eventLoop: any EventLoop, force: Bool = false) -> EventLoopFuture<JWTKeySet> {
        enum Decision {
            case join(EventLoopFuture<JWTKeySet>)
            case current(JWTKeySet)
            case fetch(EventLoopPromise<JWTKeySet>)
        }
        let now = NIODeadline.now()
        let decision = self.state.withLockedValue { state -> Decision in
            if let inFlight = state.inFlight { return .join(inFlight) }
            if !force, let last = state.lastFetch, now - last < self.cooldown { return .current(state.keys) }
            let promise = eventLoop.makePromise(of: JWTKeySet.self)
            state.inFlight = promise.futureResult
            state.lastFetch = now
            return .fetch(promise)
        }
        switch decision {
        case .join(let future):
            return future.hop(to: eventLoop)
        case .current(let keys):
            return eventLoop.makeSucceededFuture(keys)
        case .fetch(let promise):
            promise.completeWithTask {
                let keys = await self.fetch()
                return self.state.withLockedValue { state in
                    state.inFlight = nil
                    if let keys {
                        state.keys = keys
                        state.generation += 1
                    }
                    return state.keys
                }
            }
            return promise.futureResult
        }
    }

    /// Waits until a fetch in flight has completed its future: the gateway's shutdown calls it
    /// after the HTTP client has stopped (which ends the fetch), so no promise is left behind
    /// on an event loop that is about to go away.
    func settle() async {
        guard let inFlight = self.state.withLockedValue({ $0.inFlight }) else { return }
        _ = try? await inFlight.get()
    }

    private func fetch() async -> JWTKeySet? {
        do {
            var request = HTTPClientRequest(url: self.url)
            request.headers.add(name: "Accept", value: "application/json")
            let response = try await self.client.execute(request, timeout: self.timeout)
            guard response.status == .ok else {
                self.logger.warning(
                    "JWKS fetch failed; keeping the known keys",
                    metadata: ["status": "\(response.status.code)"]
                )
                return nil
            }
            let body = try await response.body.collect(upTo: 512 * 1024)
            let keys = try JWTKeySet(jwks: Array(body.readableBytesView))
            self.metrics.jwksFetches.increment()
            self.logger.info("JWKS fetched", metadata: ["keys": "\(keys.count)"])
            return keys
        } catch {
            self.logger.warning("JWKS fetch failed; keeping the known keys", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
