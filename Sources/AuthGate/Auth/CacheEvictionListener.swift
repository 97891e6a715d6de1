import AuthGateCore
import Logging
import NIOCore
import PostgresNIO

/// Cross-instance cache eviction through PostgreSQL `LISTEN/NOTIFY` on the channel
/// `authgate_cache_evict`, the database the deployment already runs.
///
/// Payloads: `session:<session id>` (sent by the trigger in `deploy/sql/authgate_notify.sql`
/// when Better Auth deletes a session, i.e. on sign-out), `user:<user id>`, or `all`. Every
/// instance that listens evicts at once; a lost connection is re-established with a backoff.
final class CacheEvictionListener: Sendable {
    static let channel = "authgate_cache_evict"

    private let task: Task<Void, Never>

    init(
        url: DatabaseURL,
        cache: IdentityCache,
        metrics: GatewayMetrics,
        logger: Logger,
        eventLoop: any EventLoop,
        onEviction: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.task = Task {
            var delay: Duration = .milliseconds(200)
            var connectionID = 0
            while !Task.isCancelled {
                connectionID += 1
                do {
                    let configuration = url.connectionConfiguration()
                    let connection = try await PostgresConnection.connect(
                        on: eventLoop,
                        configuration: configuration,
                        id: connectionID,
                        logger: logger
                    ).get()
                    logger.info("listening for cache evictions", metadata: ["channel": "\(Self.channel)"])
                    delay = .milliseconds(200)
                    // Whatever ends the listening (the server went away, cancellation), the
                    // connection is closed before it is released: postgres-nio requires it.
                    do {
                        try await withTaskCancellationHandler {
                            try await connection.listen(on: Self.channel) { notifications in
                                for try await notification in notifications {
                                    let evicted = Self.apply(notification.payload, to: cache)
                                    onEviction(notification.payload)
                                    metrics.cacheNotifications.increment()
                                    logger.debug("cache eviction", metadata: ["evicted": "\(evicted)"])
                                }
                            }
                        } onCancel: {
                            connection.close().whenComplete { _ in }
                        }
                    } catch {
                        try? await connection.close().get()
                        throw error
                    }
                    try? await connection.close().get()
                } catch {
                    if Task.isCancelled { break }
                    logger.warning(
                        "cache eviction listener disconnected; retrying",
                        metadata: ["error": "\(String(reflecting: error).prefix(200))"]
                    )
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(10))
            }
        }
    }

    /// Applies one payload; returns how many entries went.
    @discardableResult
    static func apply(_ payload: String, to cache: IdentityCache) -> Int {
        if payload == "all" { return cache.purgeAll() }
        if payload.hasPrefix("session:") { return cache.evictSession(String(payload.dropFirst(8))) }
        if payload.hasPrefix("user:") { return cache.evictUser(String(payload.dropFirst(5))) }
        return 0
    }

    func stop() {
        self.task.cancel()
    }
}
