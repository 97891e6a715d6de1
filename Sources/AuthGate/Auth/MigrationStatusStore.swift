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

    private struct Client {
        var url: DatabaseURL
        var client: PostgresClient
        var runner: Task<Void, Never>
    }

    static let maxEntries = 100_000
    private let entries = NIOLockedValueBox<[String: Entry]>([:])
    private let client = NIOLockedValueBox<Client?>(nil)
    private let logger: Logger
    private let metrics: GatewayMetrics

    init(logger: Logger, metrics: GatewayMetrics) {
        self.logger = logger
        self.metrics = metrics
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

    private func client(for url: DatabaseURL) -> PostgresClient {
        self.client.withLockedValue { current in
            if let current, current.url == url { return current.client }
            current?.runner.cancel()
            let configuration = url.clientConfiguration(maximumConnections: 4)
            let client = PostgresClient(configuration: configuration, backgroundLogger: self.logger)
            current = Client(url: url, client: client, runner: client.runDetached())
            return client
        }
    }

    func shutdown() {
        self.client.withLockedValue { $0?.runner.cancel() }
    }
}
