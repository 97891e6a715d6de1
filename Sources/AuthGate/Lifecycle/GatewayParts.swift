import AsyncHTTPClient
import AuthGateCore
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import UnixSignals

/// The long-lived parts of a running gateway, each run as a swift-service-lifecycle `Service`
/// in the gateway's one `ServiceGroup`.
///
/// ``startOrder`` is the one place where their order is stated. The group starts them in that
/// order and, on a graceful shutdown (SIGTERM, SIGINT, ``Gateway/shutdown(drainTimeout:)``),
/// stops them one at a time in ``shutdownOrder``, the reverse, each after the one before it has
/// returned:
///
/// 1. ``reloadSignal`` and ``configFileWatcher``: no reload starts once draining has begun.
/// 2. ``proxyListener``: stops accepting, lets the exchanges in flight finish until the drain
///    timeout, then closes what is left.
/// 3. ``adminListener``: `/ready` and `/metrics` answer during the drain; closed after it.
/// 4. ``housekeeping``: tunnel revalidation, session counts and limiter sweeps.
/// 5. ``auditWriter``: every exchange is over, so nothing is recorded any more; it writes (or
///    spills) what is queued, within the drain timeout.
/// 6. ``cacheEvictionListener``: `LISTEN` on its own connection.
/// 7. ``postgres``: the one `PostgresClient` of the session resolver, the ban and API-key
///    lookups, the lockout store, the migration statuses and the audit writer; closed when none
///    of them can query any more.
/// 8. ``resources``: the HTTP client (auth server, JWKS), the key store's refresh and the
///    upstream pools.
enum GatewayPart: String, CaseIterable, Sendable {
    case resources
    case postgres
    case cacheEvictionListener
    case auditWriter
    case housekeeping
    case adminListener
    case proxyListener
    case configFileWatcher
    case reloadSignal

    /// The order the service group starts the parts in.
    static let startOrder: [GatewayPart] = [
        .resources,
        .postgres,
        .cacheEvictionListener,
        .auditWriter,
        .housekeeping,
        .adminListener,
        .proxyListener,
        .configFileWatcher,
        .reloadSignal,
    ]

    /// The order they are stopped in on a graceful shutdown: the reverse of ``startOrder``, as
    /// `ServiceGroup` does it.
    static var shutdownOrder: [GatewayPart] { Self.startOrder.reversed() }
}

/// What the parts' services are made of: built by ``Gateway``'s composition root, which asks
/// for each part of ``GatewayPart/startOrder`` in turn.
struct GatewayComponents: Sendable {
    let gateway: Gateway
    let group: any EventLoopGroup
    let logger: Logger
    let database: (url: DatabaseURL, client: PostgresClient)?
    let audit: AuditLog?
    let pools: [(any EventLoop, UpstreamPools)]
    let serverChannel: any Channel
    let adminChannel: (any Channel)?
    let tracker: ConnectionTracker
    /// Whether SIGHUP and `reload.watch_file` reload the file (the executable only).
    let reloadTriggers: Bool
    /// `server.drain_timeout_ms` of the current snapshot, or the one `shutdown` was given.
    let drainTimeout: @Sendable () -> TimeAmount

    /// The part's service, or `nil` where the configuration has no such part.
    func service(for part: GatewayPart) -> (any Service)? {
        let gateway = self.gateway
        let runtime = gateway.runtime
        let introspection = gateway.introspection
        let store = gateway.configStore
        switch part {
        case .resources:
            return ResourcesService(
                httpClient: gateway.httpClient,
                jwks: introspection.jwks,
                migrationStatus: runtime.migrationStatus,
                pools: self.pools,
                logger: self.logger
            )
        case .postgres:
            return self.database?.client
        case .auditWriter:
            return self.audit.map { AuditWriterService(log: $0, drainTimeout: self.drainTimeout) }
        case .cacheEvictionListener:
            return self.database.map { database in
                CacheEvictionListener(
                    url: database.url,
                    cache: introspection.cache,
                    metrics: gateway.metrics,
                    logger: self.logger,
                    eventLoop: self.group.next(),
                    onEviction: { payload in
                        runtime.tunnels.applyEviction(payload, core: introspection, settings: store.current.auth)
                    }
                )
            }
        case .housekeeping:
            return HousekeepingService(configStore: store, runtime: runtime, introspection: introspection)
        case .adminListener:
            return self.adminChannel.map { ChannelService(channel: $0) }
        case .proxyListener:
            return ProxyListenerService(
                channel: self.serverChannel,
                tracker: self.tracker,
                drainTimeout: self.drainTimeout,
                logger: self.logger
            )
        case .configFileWatcher:
            guard self.reloadTriggers, let path = gateway.configPath else { return nil }
            return ConfigFileWatcher(gateway: gateway, path: path, logger: self.logger)
        case .reloadSignal:
            return self.reloadTriggers ? ReloadSignalService(gateway: gateway, logger: self.logger) : nil
        }
    }
}

/// A part's service, named for the service group's log lines (never its contents: some parts
/// hold the configuration).
struct NamedService: Service, CustomStringConvertible {
    let part: GatewayPart
    let service: any Service

    var description: String { "authgate.\(self.part.rawValue)" }

    func run() async throws {
        try await self.service.run()
    }
}

/// The proxy listener: bound when the gateway starts; on graceful shutdown it stops accepting,
/// waits until every open connection has finished (or the drain timeout), then closes the rest.
struct ProxyListenerService: Service, CustomStringConvertible {
    let channel: any Channel
    let tracker: ConnectionTracker
    /// `server.drain_timeout_ms` of the current snapshot, or the one `shutdown` was given.
    let drainTimeout: @Sendable () -> TimeAmount
    let logger: Logger

    var description: String { "ProxyListenerService" }

    func run() async {
        // Cancellation (the group failing) ends the wait too; the drain runs either way.
        try? await gracefulShutdown()
        self.logger.info("draining", metadata: ["open_connections": "\(self.tracker.count)"])
        try? await self.channel.close()
        let loop = self.channel.eventLoop
        let drained = self.tracker.drain(on: loop)
        let deadline = loop.scheduleTask(in: self.drainTimeout()) {}
        let timedOut = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let once = NIOLockedOnce()
            drained.whenComplete { _ in if once.claim() { continuation.resume(returning: false) } }
            deadline.futureResult.whenComplete { _ in if once.claim() { continuation.resume(returning: true) } }
        }
        deadline.cancel()
        if timedOut {
            self.logger.warning("drain deadline reached; closing remaining connections")
            self.tracker.closeAll()
        }
    }
}

/// A channel (the admin listener) that stays open until the graceful shutdown reaches it.
struct ChannelService: Service, CustomStringConvertible {
    let channel: any Channel

    var description: String { "ChannelService" }

    func run() async {
        try? await gracefulShutdown()
        try? await self.channel.close()
    }
}

/// SIGHUP reloads the configuration file.
struct ReloadSignalService: Service, CustomStringConvertible {
    let gateway: Gateway
    let logger: Logger

    var description: String { "ReloadSignalService" }

    func run() async {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            self.logger.info("SIGHUP: reloading configuration")
            _ = try? self.gateway.reloadFromFile()
        }
    }
}

/// What the gateway does now and then, on one 100 ms tick, every interval read from the
/// current snapshot so that reloads change them: tunnel revalidation
/// (`websocket.revalidate_interval_ms`), the count behind `better_auth_active_sessions`
/// (`metrics.active_sessions_interval_ms`) and, every 10 s, forgetting idle limiter and lockout
/// entries.
struct HousekeepingService: Service, CustomStringConvertible {
    let configStore: ConfigStore
    let runtime: GatewayRuntime
    let introspection: IntrospectionCore

    var description: String { "HousekeepingService" }

    func run() async {
        await cancelWhenGracefulShutdown { await self.tick() }
    }

    private func tick() async {
        var sinceRevalidation: Int64 = 0
        var sinceSweep: Int64 = 0
        var sinceSessionCount: Int64 = .max / 2
        let tick: Int64 = 100
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .milliseconds(tick))
            } catch {
                return
            }
            let snapshot = self.configStore.current
            sinceRevalidation += tick
            sinceSweep += tick
            let interval = Int64(snapshot.config.websocket.revalidateIntervalMs)
            if interval > 0 && sinceRevalidation >= interval {
                sinceRevalidation = 0
                if self.runtime.tunnels.count > 0 {
                    self.runtime.tunnels.revalidate(using: self.introspection, settings: snapshot.auth)
                }
            }
            let countInterval = Int64(snapshot.config.metrics.activeSessionsIntervalMs)
            sinceSessionCount += tick
            if sinceSessionCount >= max(countInterval, 1_000) {
                sinceSessionCount = 0
                await self.countActiveSessions(snapshot: snapshot, fromDatabase: countInterval > 0)
            }
            if sinceSweep >= 10_000 {
                sinceSweep = 0
                let now = NIODeadline.now().uptimeNanoseconds
                self.runtime.rateLimiter.sweep(now: now)
                self.runtime.lockout.sweep(now: now)
            }
        }
    }

    /// `better_auth_active_sessions`: counted in the session table when the `postgres` resolver
    /// is in use, else the distinct sessions the cache holds.
    private func countActiveSessions(snapshot: ConfigSnapshot, fromDatabase: Bool) async {
        let metrics = self.runtime.metrics
        if fromDatabase, let resolver = self.introspection.sessionResolver as? PostgresSessionResolver {
            do {
                let count = try await resolver.countActiveSessions(sql: snapshot.sessionSchema.activeSessionCountSQL)
                metrics.activeSessions.set(count)
                return
            } catch {
                self.runtime.logger.debug(
                    "active session count failed",
                    metadata: ["error": "\(String(reflecting: error).prefix(200))"]
                )
            }
        }
        metrics.activeSessions.set(self.introspection.cache.activeSessionCount())
    }
}

/// The audit writer: runs until the graceful shutdown reaches it, then writes (or spills) the
/// events still queued within the drain timeout.
struct AuditWriterService: Service, CustomStringConvertible {
    let log: AuditLog
    let drainTimeout: @Sendable () -> TimeAmount

    var description: String { "AuditWriterService" }

    func run() async {
        let log = self.log
        let drainTimeout = self.drainTimeout
        await withGracefulShutdownHandler {
            await log.runWriter()
        } onGracefulShutdown: {
            log.beginShutdown(timeout: drainTimeout())
        }
    }
}

/// What the other parts use until the very end: the HTTP client, the key store's refresh, the
/// upstream pools (each shut down on its own event loop) and the migration-status pool kept for
/// a database other than the gateway's.
struct ResourcesService: Service, CustomStringConvertible {
    let httpClient: HTTPClient
    let jwks: JWKSStore?
    let migrationStatus: MigrationStatusStore
    let pools: [(any EventLoop, UpstreamPools)]
    let logger: Logger

    var description: String { "ResourcesService" }

    func run() async {
        try? await gracefulShutdown()
        await self.migrationStatus.shutdown()
        try? await self.httpClient.shutdown()
        await self.jwks?.settle()
        for (loop, pools) in self.pools {
            try? await loop.submit { pools.shutdown() }.get()
        }
        self.logger.info("stopped")
    }
}
