import AuthGateCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

/// The shared per-account failure counts of `lockout.store: postgres`, in
/// ``SharedLockout/table`` of `auth.database_url` (see ``SharedLockout`` for the rules).
///
/// Only logins reach it: ``lookup(account:eventLoop:)`` once a login body has been read, and
/// ``recordFailure(account:eventLoop:)`` when the auth server answered a login 401. Each call
/// runs one query in a Task (a login is an edge, not the hot path) and answers on the caller's
/// event loop within `lockout.store_timeout_ms`, whatever PostgreSQL does: a query that fails,
/// or has not finished by then, answers ``SharedLockout/Answer/unavailable`` (the caller then
/// goes on with its in-memory count), is counted in `authgate_lockout_store_failures_total`,
/// and is logged once per outage (``LockoutStoreStateMachine``). The future never fails.
final class PostgresLockoutStore: Sendable {
    private let client: PostgresClient
    private let windowMs: Int64
    private let timeout: TimeAmount
    private let machine: NIOLockedValueBox<LockoutStoreStateMachine>
    private let metrics: GatewayMetrics
    private let logger: Logger

    /// - Parameters:
    ///   - client: the gateway's client for `auth.database_url` (its service group runs and
    ///     closes it).
    ///   - window: `lockout.window_ms`.
    ///   - timeout: `lockout.store_timeout_ms`.
    init(client: PostgresClient, window: TimeAmount, timeout: TimeAmount, metrics: GatewayMetrics, logger: Logger) {
        self.client = client
        self.windowMs = window.nanoseconds / 1_000_000
        self.timeout = timeout
        self.machine = NIOLockedValueBox(LockoutStoreStateMachine())
        self.metrics = metrics
        self.logger = logger
    }

    /// The account's current window in the shared table.
    func lookup(account digest: String, eventLoop: any EventLoop) -> EventLoopFuture<SharedLockout.Answer> {
        var binds = PostgresBindings()
        binds.append(digest)
        return self.run(PostgresQuery(unsafeSQL: SharedLockout.selectSQL, binds: binds), sweep: false, on: eventLoop)
    }

    /// Counts one failed login of the account; the answer is the new count.
    func recordFailure(account digest: String, eventLoop: any EventLoop) -> EventLoopFuture<SharedLockout.Answer> {
        var binds = PostgresBindings()
        binds.append(digest)
        binds.append(self.windowMs)
        return self.run(
            PostgresQuery(unsafeSQL: SharedLockout.recordFailureSQL, binds: binds),
            sweep: true,
            on: eventLoop
        )
    }

    /// Runs `query` and answers on `eventLoop` by the timeout at the latest.
    private func run(
        _ query: PostgresQuery,
        sweep: Bool,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<SharedLockout.Answer> {
        let promise = eventLoop.makePromise(of: SharedLockout.Answer.self)
        let answered = NIOLockedValueBox(false)
        // The first of the query and the timer answers; the other finds it done.
        let finish: @Sendable (Result<SharedLockout.Answer, any Error>) -> Void = { result in
            let first = answered.withLockedValue { done in
                defer { done = true }
                return !done
            }
            guard first else { return }
            self.finished(result)
            switch result {
            case .success(let answer): promise.succeed(answer)
            case .failure: promise.succeed(.unavailable)
            }
        }
        let client = self.client
        let logger = self.logger
        let task = Task {
            do {
                let rows = try await client.query(query, logger: logger)
                var answer = SharedLockout.Answer.clear
                for try await (failures, remainingMs) in rows.decode((Int32, Int64).self) {
                    answer = .window(failures: Int(failures), remainingMs: remainingMs)
                }
                finish(.success(answer))
                if sweep { await self.sweepIfDue() }
            } catch {
                finish(.failure(error))
            }
        }
        let timer = eventLoop.scheduleTask(in: self.timeout) {
            finish(.failure(LockoutStoreTimeout()))
            task.cancel()
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return promise.futureResult
    }

    /// Counts, and logs the start and the end of an outage once each.
    private func finished(_ result: Result<SharedLockout.Answer, any Error>) {
        let succeeded: Bool
        if case .success = result { succeeded = true } else { succeeded = false }
        if !succeeded { self.metrics.lockoutStoreFailures.increment() }
        let action = self.machine.withLockedValue { $0.queryFinished(succeeded: succeeded) }
        switch action {
        case .none:
            break
        case .logUnavailable:
            var reason = "unknown"
            if case .failure(let error) = result { reason = AuditLog.describe(error) }
            self.logger.warning(
                "lockout store unavailable; logins use this instance's in-memory count",
                metadata: ["table": "\(SharedLockout.table)", "error": "\(reason)"]
            )
        case .logRecovered(let failedQueries):
            self.logger.notice(
                "lockout store reachable again",
                metadata: ["table": "\(SharedLockout.table)", "failed_queries": "\(failedQueries)"]
            )
        }
    }

    /// Deletes expired rows when ``LockoutStoreStateMachine`` says it is time; bounded like
    /// every query, and its failure changes nothing but a debug line.
    private func sweepIfDue() async {
        let due = self.machine.withLockedValue { $0.failureRecorded(now: NIODeadline.now().uptimeNanoseconds) }
        guard due else { return }
        let client = self.client
        let logger = self.logger
        let timeout = self.timeout
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let rows = try await client.query(PostgresQuery(unsafeSQL: SharedLockout.sweepSQL), logger: logger)
                    for try await _ in rows {}
                }
                group.addTask {
                    try await Task.sleep(for: .nanoseconds(timeout.nanoseconds))
                    throw LockoutStoreTimeout()
                }
                defer { group.cancelAll() }
                _ = try await group.next()
            }
        } catch {
            self.logger.debug("lockout store sweep failed", metadata: ["error": "\(AuditLog.describe(error))"])
        }
    }
}

/// A lockout query took longer than `lockout.store_timeout_ms`.
struct LockoutStoreTimeout: Error, CustomStringConvertible {
    var description: String { "lockout query timed out" }
}
