import AsyncHTTPClient
import AuthGateCore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The auth server's JSON Web Key Set, fetched at start, every `refreshInterval`, and again when
/// a token names an unknown `kid` (key rotation).
///
/// Fetches triggered by unknown `kid`s are at least `cooldown` apart, so a flood of tokens with
/// random `kid`s costs the auth server one fetch per cooldown. A token with an unknown `kid`
/// that arrives inside the cooldown is not refused at once: it waits for the fetch scheduled at
/// the end of the cooldown (one shared by every such token), so a key rotated while an attacker
/// holds the cooldown is accepted after at most the rest of the cooldown instead of being
/// refused until a token happens to come after the next fetch. The periodic refresh ignores
/// the cooldown. A failed fetch keeps the keys already known.
final class JWKSStore: Sendable {
    /// What a refresh answered: the keys, and whether they come from a fetch that was already
    /// running when the refresh was asked for (its answer may predate a rotation the caller's
    /// token comes from).
    struct Refreshed: Sendable {
        var keys: JWTKeySet
        var joinedRunningFetch: Bool
    }

    private struct State {
        var keys = JWTKeySet()
        var lastFetch: NIODeadline? = nil
        /// The fetch running now.
        var running: EventLoopFuture<JWTKeySet>? = nil
        /// The fetch scheduled at the end of the cooldown, until it starts.
        var next: (promise: EventLoopPromise<JWTKeySet>, scheduled: Scheduled<Void>?)? = nil
        var periodic: RepeatedTask? = nil
        var stopped = false
        var generation = 0
    }

    private let state = NIOLockedValueBox(State())
    private let client: HTTPClient
    private let url: String
    private let cooldown: TimeAmount
    private let refreshInterval: TimeAmount
    private let timeout: TimeAmount
    private let logger: Logger
    private let metrics: GatewayMetrics

    /// - Parameter refreshInterval: the period of the background refresh; zero or less: none.
    init(
        client: HTTPClient,
        authServerURL: String,
        cooldown: TimeAmount,
        refreshInterval: TimeAmount = .zero,
        timeout: TimeAmount,
        logger: Logger,
        metrics: GatewayMetrics
    ) {
        self.client = client
        self.url = authServerURL + "/api/auth/jwks"
        self.cooldown = cooldown
        self.refreshInterval = refreshInterval
        self.timeout = timeout
        self.logger = logger
        self.metrics = metrics
    }

    /// The keys known now.
    var keys: JWTKeySet { self.state.withLockedValue { $0.keys } }

    /// Fetches the key set now and then every `refreshInterval` on `eventLoop`.
    func start(on eventLoop: any EventLoop) {
        _ = self.refresh(on: eventLoop, force: true)
        guard self.refreshInterval > .zero else { return }
        let task = eventLoop.scheduleRepeatedTask(initialDelay: self.refreshInterval, delay: self.refreshInterval) {
            [weak self] _ in
            _ = self?.refresh(on: eventLoop, force: true)
        }
        let stopped = self.state.withLockedValue { state -> Bool in
            if !state.stopped { state.periodic = task }
            return state.stopped
        }
        if stopped { task.cancel() }
    }

    /// The keys known now, after a fetch if one is running or the cooldown allows one now;
    /// never waits for a fetch scheduled at the end of the cooldown (the readiness probe).
    func refreshWithoutWaiting(on eventLoop: any EventLoop) -> EventLoopFuture<JWTKeySet> {
        let (mayFetch, keys) = self.state.withLockedValue { state -> (Bool, JWTKeySet) in
            guard state.running == nil else { return (true, state.keys) }
            if let last = state.lastFetch, NIODeadline.now() - last < self.cooldown { return (false, state.keys) }
            return (true, state.keys)
        }
        return mayFetch ? self.refresh(on: eventLoop, force: true) : eventLoop.makeSucceededFuture(keys)
    }

    /// The key set after a refresh; see ``refreshed(on:force:)``.
    func refresh(on eventLoop: any EventLoop, force: Bool = false) -> EventLoopFuture<JWTKeySet> {
        self.refreshed(on: eventLoop, force: force).map(\.keys)
    }

    /// Refreshes the key set: joins the fetch scheduled at the end of the cooldown, or the one
    /// running; else fetches now, or — inside the cooldown — schedules a fetch at its end and
    /// joins it. `force` (start, the periodic refresh) ignores the cooldown and any scheduled
    /// fetch. Never fails: errors keep the old keys.
    func refreshed(on eventLoop: any EventLoop, force: Bool = false) -> EventLoopFuture<Refreshed> {
        enum Decision {
            case join(EventLoopFuture<JWTKeySet>, running: Bool)
            case current(JWTKeySet)
            case fetch(EventLoopPromise<JWTKeySet>)
            case schedule(EventLoopPromise<JWTKeySet>, at: NIODeadline)
        }
        let now = NIODeadline.now()
        let decision = self.state.withLockedValue { state -> Decision in
            if state.stopped { return .current(state.keys) }
            if !force, let next = state.next { return .join(next.promise.futureResult, running: false) }
            if let running = state.running { return .join(running, running: true) }
            let promise = eventLoop.makePromise(of: JWTKeySet.self)
            if !force, let last = state.lastFetch, now - last < self.cooldown {
                state.next = (promise, nil)
                return .schedule(promise, at: last + self.cooldown)
            }
            state.lastFetch = now
            state.running = promise.futureResult
            return .fetch(promise)
        }
        switch decision {
        case .join(let future, let running):
            return future.hop(to: eventLoop).map { Refreshed(keys: $0, joinedRunningFetch: running) }
        case .current(let keys):
            return eventLoop.makeSucceededFuture(Refreshed(keys: keys, joinedRunningFetch: false))
        case .fetch(let promise):
            self.run(promise)
            return promise.futureResult.map { Refreshed(keys: $0, joinedRunningFetch: false) }
        case .schedule(let promise, let deadline):
            let scheduled = eventLoop.scheduleTask(deadline: deadline) { [self] in
                let start = self.state.withLockedValue { state -> Bool in
                    guard let next = state.next, next.promise.futureResult === promise.futureResult else {
                        return false
                    }
                    state.next = nil
                    state.lastFetch = .now()
                    state.running = promise.futureResult
                    return true
                }
                if start { self.run(promise) }
            }
            self.state.withLockedValue { state in
                if let next = state.next, next.promise.futureResult === promise.futureResult {
                    state.next = (promise, scheduled)
                }
            }
            return promise.futureResult.map { Refreshed(keys: $0, joinedRunningFetch: false) }
        }
    }

    private func run(_ promise: EventLoopPromise<JWTKeySet>) {
        promise.completeWithTask {
            let keys = await self.fetch()
            return self.state.withLockedValue { state in
                if state.running === promise.futureResult {
                    state.running = nil
                }
                if let keys {
                    state.keys = keys
                    state.generation += 1
                }
                return state.keys
            }
        }
    }

    /// Stops the periodic refresh, answers a scheduled fetch that has not started with the keys
    /// known, and waits until a fetch in flight has completed its future: the gateway's shutdown
    /// calls it after the HTTP client has stopped (which ends the fetch), so no promise is left
    /// behind on an event loop that is about to go away.
    func settle() async {
        let (periodic, next, keys) = self.state.withLockedValue {
            state -> (RepeatedTask?, (promise: EventLoopPromise<JWTKeySet>, scheduled: Scheduled<Void>?)?, JWTKeySet) in
            state.stopped = true
            defer {
                state.periodic = nil
                state.next = nil
            }
            return (state.periodic, state.next, state.keys)
        }
        periodic?.cancel()
        next?.scheduled?.cancel()
        next?.promise.succeed(keys)
        guard let running = self.state.withLockedValue({ $0.running }) else { return }
        _ = try? await running.get()
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
