import AuthGateCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import AuthGate

/// ``SecondaryStorageWatch`` with a get-session stand-in: what it probes, what it answers,
/// what `/ready` says and what it logs (no network).
@Suite("SecondaryStorageWatch")
struct SecondaryStorageWatchTests {
    /// Answers like get-session; records what it was asked; optionally waits for `release`.
    final class Prober: SessionResolver {
        let answer: NIOLockedValueBox<Result<SessionLookup, ResolverUnavailable>>
        let asked = NIOLockedValueBox<[(token: String, signedValue: String, cookieName: String)]>([])
        let gate: AsyncStream<Void>?

        init(_ answer: Result<SessionLookup, ResolverUnavailable>, gate: AsyncStream<Void>? = nil) {
            self.answer = NIOLockedValueBox(answer)
            self.gate = gate
        }

        func resolve(
            token: String,
            signedValue: String,
            cookieName: String
        ) async throws(ResolverUnavailable)
            -> SessionLookup
        {
            self.asked.withLockedValue { $0.append((token, signedValue, cookieName)) }
            if let gate = self.gate {
                for await _ in gate { break }
            }
            return try self.answer.withLockedValue { $0 }.get()
        }

        func resolveAPIKey(_ key: String, usage: APIKeyUsage) async throws(ResolverUnavailable) -> APIKeyLookup {
            .refused(.apiKeyInvalid)
        }

        func shutdown() async {}
    }

    /// Keeps every log record, rendered with its metadata.
    struct Recorder: LogHandler {
        let lines: NIOLockedValueBox<[(level: Logger.Level, text: String)]>
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
            let text = "\(event.message) \(merged.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " "))"
            self.lines.withLockedValue { $0.append((event.level, text)) }
        }
    }

    static let token = "session-token-1234567890abcdefgh"
    static let signedValue = token + ".c2lnbmF0dXJlLW9mLXRoZS1zZXNzaW9uLXRva2VuLXg="
    static let identity = Identity.betterAuthSession(
        userID: "u1",
        email: "u@example.com",
        role: nil,
        sessionID: "s1",
        expiresAt: nil
    )

    private func make(
        _ prober: Prober,
        interval: TimeAmount = .seconds(10)
    ) -> (SecondaryStorageWatch, GatewayMetrics, NIOLockedValueBox<[(level: Logger.Level, text: String)]>) {
        let lines = NIOLockedValueBox<[(level: Logger.Level, text: String)]>([])
        let logger = Logger(label: "test") { _ in Recorder(lines: lines) }
        let metrics = GatewayMetrics()
        return (
            SecondaryStorageWatch(prober: prober, metrics: metrics, logger: logger, interval: interval), metrics, lines
        )
    }

    private func review(_ watch: SecondaryStorageWatch, _ lookup: SessionLookup) async -> SessionLookup {
        await watch.review(
            lookup,
            token: Self.token,
            signedValue: Self.signedValue,
            cookieName: "better-auth.session_token"
        )
    }

    @Test("an empty lookup get-session answers is the detection: answered from it, logged once, /ready down")
    func detection() async {
        let prober = Prober(.success(.found(Self.identity)))
        let (watch, metrics, lines) = self.make(prober)
        #expect(watch.readiness.status == .up)
        guard case .found(let identity) = await self.review(watch, .notFound) else {
            Issue.record("the probed request was not answered from get-session")
            return
        }
        #expect(identity.userID == "u1")
        let asked = prober.asked.withLockedValue { $0 }
        #expect(asked.count == 1)
        #expect(asked.first?.signedValue == Self.signedValue)
        #expect(asked.first?.cookieName == "better-auth.session_token")
        #expect(watch.readiness.status == .down)
        #expect(watch.readiness.reason == SecondaryStorageDetector.reason)
        #expect(metrics.sessionStoreProbesMissingFromTable.value == 1)

        // Inside the interval: no probe, the empty lookup stays empty.
        guard case .notFound = await self.review(watch, .notFound) else {
            Issue.record("a second probe inside the interval")
            return
        }
        #expect(prober.asked.withLockedValue { $0.count } == 1)

        let logged = lines.withLockedValue { $0 }
        let errors = logged.filter { $0.level == .error }
        #expect(errors.count == 1)
        #expect(errors.first?.text.contains("set auth.session_resolver: http") == true)
        #expect(!logged.contains { $0.text.contains(Self.token) })
    }

    @Test("a lookup that finds a session in the table clears /ready and says so")
    func clearing() async {
        let (watch, _, lines) = self.make(Prober(.success(.found(Self.identity))))
        _ = await self.review(watch, .notFound)
        #expect(watch.readiness.status == .down)
        guard case .found = await self.review(watch, .found(Self.identity)) else {
            Issue.record("a found lookup was changed")
            return
        }
        #expect(watch.readiness.status == .up)
        #expect(lines.withLockedValue { $0 }.contains { $0.level == .notice && $0.text.contains("cleared") })
    }

    @Test("get-session not finding it either, or failing, changes nothing: still 401")
    func noDetection() async {
        let prober = Prober(.success(.notFound))
        let (watch, metrics, lines) = self.make(prober, interval: .zero)
        guard case .notFound = await self.review(watch, .notFound) else {
            Issue.record("not found became something else")
            return
        }
        prober.answer.withLockedValue { $0 = .failure(ResolverUnavailable(reason: "get-session failed")) }
        guard case .notFound = await self.review(watch, .notFound) else {
            Issue.record("a failed probe became something else")
            return
        }
        #expect(metrics.sessionStoreProbesNotFound.value == 1)
        #expect(metrics.sessionStoreProbeFailures.value == 1)
        #expect(watch.readiness.status == .up)
        #expect(!lines.withLockedValue { $0 }.contains { $0.level >= .error })
    }

    @Test("never more than one probe in flight")
    func oneInFlight() async {
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let prober = Prober(.success(.found(Self.identity)), gate: gate)
        let (watch, _, _) = self.make(prober, interval: .zero)
        async let first = self.review(watch, .notFound)
        while prober.asked.withLockedValue({ $0.count }) == 0 { await Task.yield() }
        // The probe is held: further empty lookups are not probed, however many.
        for _ in 0..<5 {
            guard case .notFound = await self.review(watch, .notFound) else {
                Issue.record("a second probe while one was in flight")
                return
            }
        }
        #expect(prober.asked.withLockedValue { $0.count } == 1)
        open.yield()
        open.finish()
        guard case .found = await first else {
            Issue.record("the held probe's answer was lost")
            return
        }
        #expect(watch.readiness.status == .down)
    }
}
