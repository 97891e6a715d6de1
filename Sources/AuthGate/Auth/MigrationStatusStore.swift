import AuthGateCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

/// `users.migration_status` of legacy users, looked up in PostgreSQL and cached
/// (`rollout.migration_policy`, `rollout.migration_status_ttl_ms`).
///
/// A hit is answered on the event loop; a miss runs one query off it. When the database cannot
/// answer, the user counts as not migrated (fail open) and the failure is logged and counted:
/// the policy is a migration aid, and refusing every legacy token because the database blinked
/// would turn a rollout into an outage.
final class MigrationStatusStore: Sendable {
    enum Status: Sendable, Equatable {
        case migrated
        case notMigrated
    }

    private struct Entry {
        var status: Status
        var expires: NIODeadline
    }

    /// A pool of its own, for a database other than the gateway's (a reload changed
    /// `auth.database_url`, or set it where the gateway started without one).
    private struct OwnClient {
        var url: DatabaseURL
        var client: PostgresClient
        var runner: Task<Void, Never>
    }

    static let maxEntries = 100_000
    private let entries = NIOLockedValueBox<[String: Entry]>([:])
    private let ownClient = NIOLockedValueBox<OwnClient?>(nil)
    /// The gateway's client and the database it reaches, when it has one.
    private let shared: (url: DatabaseURL, client: PostgresClient)?
    private let logger: Logger
    private let metrics: GatewayMetrics

    /// - Parameter shared: the gateway's `PostgresClient` (run by its service group) and
    ///   `auth.database_url` at start; lookups in that database go through it.
    init(logger: Logger, metrics: GatewayMetrics, shared: (url: DatabaseURL, client: PostgresClient)? = nil) {
        self.logger = logger
        self.metrics = metrics
        self.shared = shared
    }

    /// The cached status, if fresh.
    func cached(userID: String, now: NIODeadline = .now()) -> Status? {
        self.entries.withLockedValue { entries in
            guard let entry = entries[userID], entry.expires > now else { return nil }
            return entry.status
        }
    }

    /// Looks the user up and caches the answer for `ttl`.
    func lookup(userID: String, config: GatewayConfig, eventLoop: any EventLoop) -> EventLoopFuture<Status> {
        guard let url = config.auth.databaseURL.flatMap({ DatabaseURL($0.value) }) else {
            return eventLoop.makeSucceededFuture(.notMigrated)
        }
        let rollout = config.rollout
        let sql =
            "SELECT \(SessionSchema.quoted(rollout.migrationStatusColumn))::text FROM \(SessionSchema.quoted(rollout.usersTable)) WHERE \(SessionSchema.quoted(rollout.usersIDColumn))::text = $1 LIMIT 1"
        let ttl = TimeAmount.milliseconds(Int64(rollout.migrationStatusTTLMs))
        let client = self.client(for: url)
        let logger = self.logger
        let metrics = self.metrics
        return eventLoop.makeFutureWithTask { () -> Status in
            do {
                var binds = PostgresBindings()
                binds.append(userID)
                let rows = try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
                var status = Status.notMigrated
                for try await (value) in rows.decode(String?.self) where value == "migrated" {
                    status = .migrated
                }
                self.store(userID, status, ttl: ttl)
                return status
            } catch {
                metrics.migrationStatusFailures.increment()
                logger.warning(
                    "migration_status lookup failed; treating the user as not migrated",
                    metadata: ["error": "\(String(reflecting: error).prefix(200))"]
                )
                return .notMigrated
            }
        }
    }

    private func store(_ userID: String, _ status: Status, ttl: TimeAmount) {
        guard ttl > .zero else { return }
        self.entries.withLockedValue { entries in
            if entries.count >= Self.maxEntries {
                let now = NIODeadline.now()
                entries = entries.filter { $0.value.expires > now }
                if entries.count >= Self.maxEntries { entries.removeAll(keepingCapacity: true) }
            }
            entries[userID] = Entry(status: status, expires: .now() + ttl)
        }
    }

    /// Forgets every cached status (an admin purge).
    func purge() {
        self.entries.withLockedValue { $0.removeAll() }
    }

    /// The gateway's client for its database; for another one (the URL follows reloads), a
    /// pool of its own, replaced when the URL changes again.
    private func client(for url: DatabaseURL) -> PostgresClient {
        if let shared = self.shared, shared.url == url { return shared.client }
        return self.ownClient.withLockedValue { current in
            if let current, current.url == url { return current.client }
            current?.runner.cancel()
            let configuration = url.clientConfiguration(maximumConnections: 4)
            let client = PostgresClient(configuration: configuration, backgroundLogger: self.logger)
            current = OwnClient(url: url, client: client, runner: client.runDetached())
            return client
        }
    }

    /// Closes the pool of its own, if a reload made one; the gateway's client is its service
    /// group's to close.
    func shutdown() async {
        let runner = self.ownClient.withLockedValue { $0?.runner }
        runner?.cancel()
        await runner?.value
    }
}
