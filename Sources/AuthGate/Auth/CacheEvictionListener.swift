import AuthGateCore
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// Cross-instance cache eviction through PostgreSQL `LISTEN/NOTIFY` on the channel
/// `authgate_cache_evict`, the database the deployment already runs.
///
/// Payloads: `session:<session id>` (sent by the trigger in `deploy/sql/authgate_notify.sql`
/// when Better Auth deletes a session, i.e. on sign-out), `user:<user id>`, or `all`. Every
/// instance that listens evicts at once; a lost connection is re-established with a backoff
/// (200 ms, doubling, at most ``maximumRetryDelay``).
///
/// ## The gap
///
/// `NOTIFY` reaches only the connections listening when it is sent: a sign-out while the
/// listener is disconnected (PostgreSQL restarting, a network cut, a failover) is never
/// delivered. So when `LISTEN` is re-established after a lost connection or a failed attempt,
/// the listener does what an `all` notification does: it purges the identity cache (every
/// entry could have been evicted by a notification it missed) and has open tunnels
/// revalidated. The purge comes after `LISTEN` has succeeded, so a sign-out is either in the
/// gap (purged) or delivered; an answer fetched before the purge and stored after it is
/// dropped by the cache's invalidation epoch. The first `LISTEN`, on the first attempt at
/// start, purges nothing: nothing was listening before it, but nothing was cached long before
/// it either.
///
/// `LISTEN` holds its connection for as long as it listens, so it has one of its own rather
/// than one of the gateway's `PostgresClient`. It runs as a service of the gateway's group
/// and stops (closing the connection) when the graceful shutdown reaches it.
struct CacheEvictionListener: Service, CustomStringConvertible {
    static let channel = "authgate_cache_evict"
    /// The longest wait between two connection attempts: the bound on how long a sign-out can
    /// go unseen once PostgreSQL is back.
    static let maximumRetryDelay: Duration = .seconds(2)

    let url: DatabaseURL
    let cache: IdentityCache
    let metrics: GatewayMetrics
    let logger: Logger
    let eventLoop: any EventLoop
    let onEviction: @Sendable (String) -> Void

    init(
        url: DatabaseURL,
        cache: IdentityCache,
        metrics: GatewayMetrics,
        logger: Logger,
        eventLoop: any EventLoop,
        onEviction: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.url = url
        self.cache = cache
        self.metrics = metrics
        self.logger = logger
        self.eventLoop = eventLoop
        self.onEviction = onEviction
    }

    /// `CacheEvictionListener`: never the database URL it holds.
    var description: String { "CacheEvictionListener" }

    func run() async {
        await cancelWhenGracefulShutdown { await self.listen() }
    }

    private func listen() async {
        let url = self.url
        let cache = self.cache
        let metrics = self.metrics
        let logger = self.logger
        let eventLoop = self.eventLoop
        let onEviction = self.onEviction
        var delay: Duration = .milliseconds(200)
        var connectionID = 0
        // Whether notifications may have been missed: after a lost connection or a failed
        // attempt.
        var missedSome = false
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
                delay = .milliseconds(200)
                // Whatever ends the listening (the server went away, cancellation), the
                // connection is closed before it is released: postgres-nio requires it.
                do {
                    try await withTaskCancellationHandler {
                        try await connection.listen(on: Self.channel) { notifications in
                            // LISTEN has succeeded: from here on nothing is missed.
                            var metadata: Logger.Metadata = ["channel": "\(Self.channel)"]
                            if missedSome {
                                let purged = Self.apply("all", to: cache)
                                onEviction("all")
                                metadata["purged"] = "\(purged)"
                                missedSome = false
                            }
                            logger.info("listening for cache evictions", metadata: metadata)
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
                    "cache eviction listener disconnected; retrying, and purging the identity cache once listening again",
                    metadata: ["error": "\(String(reflecting: error).prefix(200))"]
                )
            }
            // However the listening ended, notifications sent from now until the next
            // LISTEN are lost.
            missedSome = true
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, Self.maximumRetryDelay)
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
}
