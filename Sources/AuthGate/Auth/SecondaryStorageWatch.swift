import Atomics
import AuthGateCore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// With `auth.session_resolver: postgres`, confirms empty session lookups with the auth
/// server's get-session, now and then, to notice that Better Auth keeps its sessions in a
/// secondary storage (Redis) rather than in the `session` table; then it logs the fact once
/// and `/ready` reports the session store down until a lookup finds a session in the table.
///
/// The decisions are ``SecondaryStorageDetector``'s; this runs its probes. Only values whose
/// HMAC was verified are ever probed (the caller's duty), at most one probe in flight and one
/// per ``SecondaryStorageWatch/interval``. A found lookup costs one relaxed atomic load while
/// nothing is suspected; cache hits never come here.
final class SecondaryStorageWatch: Sendable {
    /// The least time between two probes.
    static let interval = TimeAmount.seconds(10)

    private let detector: NIOLockedValueBox<SecondaryStorageDetector>
    /// ``SecondaryStorageDetector/isWatching``, readable without the lock.
    private let watching = ManagedAtomic<Bool>(false)
    /// The auth server's get-session.
    let prober: any SessionResolver
    let metrics: GatewayMetrics
    let logger: Logger

    init(prober: any SessionResolver, metrics: GatewayMetrics, logger: Logger, interval: TimeAmount = interval) {
        self.detector = NIOLockedValueBox(SecondaryStorageDetector(interval: interval))
        self.prober = prober
        self.metrics = metrics
        self.logger = logger
    }

    /// The `session_store` line of `/ready`.
    var readiness: (status: Readiness.Status, reason: String?) {
        self.detector.withLockedValue { $0.readiness }
    }

    /// The postgres resolver's answer for an HMAC-verified value, reviewed: a session found
    /// may clear a detection; an empty answer may be probed, and then the probe's answer is
    /// the one returned (get-session is the authority: a session it finds is accepted, a user
    /// it says is banned is refused). An empty answer not probed, or a probe that failed,
    /// stays `.notFound`.
    func review(
        _ lookup: SessionLookup,
        token: String,
        signedValue: String,
        cookieName: String
    ) async -> SessionLookup {
        switch lookup {
        case .found, .banned:
            guard self.watching.load(ordering: .relaxed) else { return lookup }
            self.perform(self.detector.withLockedValue { self.step(&$0) { $0.lookupFound() } })
            return lookup
        case .notFound:
            let now = NIODeadline.now()
            let action = self.detector.withLockedValue { self.step(&$0) { $0.lookupFoundNothing(now: now) } }
            guard action == .probe else { return lookup }
            let answer: SessionLookup?
            do throws(ResolverUnavailable) {
                answer = try await self.prober.resolve(token: token, signedValue: signedValue, cookieName: cookieName)
            } catch {
                self.logger.debug("secondary storage probe failed", metadata: ["reason": "\(error.reason)"])
                answer = nil
            }
            let exists: Bool?
            switch answer {
            case .found, .banned:
                exists = true
                self.metrics.sessionStoreProbesMissingFromTable.increment()
            case .notFound:
                exists = false
                self.metrics.sessionStoreProbesNotFound.increment()
            case nil:
                exists = nil
                self.metrics.sessionStoreProbeFailures.increment()
            }
            self.perform(self.detector.withLockedValue { self.step(&$0) { $0.probeFinished(sessionExists: exists) } })
            return answer ?? .notFound
        }
    }

    /// Runs `event` on the detector and publishes whether found lookups need the lock.
    private func step(
        _ detector: inout SecondaryStorageDetector,
        _ event: (inout SecondaryStorageDetector) -> SecondaryStorageDetector.Action
    ) -> SecondaryStorageDetector.Action {
        let action = event(&detector)
        self.watching.store(detector.isWatching, ordering: .relaxed)
        return action
    }

    private func perform(_ action: SecondaryStorageDetector.Action) {
        switch action {
        case .none, .probe:
            break
        case .reportDetected:
            // Never the token: the value probed is a credential.
            self.logger.error(
                "Better Auth keeps sessions in secondaryStorage, not in PostgreSQL: set auth.session_resolver: http",
                metadata: [
                    "session_store": "secondary_storage",
                    "detail": "get-session found a session that the session table does not have",
                ]
            )
        case .reportCleared:
            self.logger.notice("a session was found in the PostgreSQL session table again: session store check cleared")
        }
    }
}
