import AsyncHTTPClient
public import AuthGateCore
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
import NIOPosix

/// A running AuthGate: the proxy listener, the admin listener, the upstream pools and the
/// live configuration.
///
/// ```swift
/// let gateway = try await Gateway.start(config: config, group: .singletonMultiThreadedEventLoopGroup, logger: logger)
/// try gateway.reload(newConfig)            // atomically, for the next requests
/// await gateway.shutdown(drainTimeout: .seconds(10))
/// ```
public final class Gateway: Sendable, CustomReflectable {
    /// The live configuration.
    public let configStore: ConfigStore
    public let metrics: GatewayMetrics
    /// Where `reloadFromFile()` reads the configuration, if anywhere.
    public let configPath: String?
    private let environment: ConfigEnvironment
    private let group: any EventLoopGroup
    private let serverChannel: any Channel
    private let adminChannel: (any Channel)?
    private let tracker: ConnectionTracker
    private let pools: [ObjectIdentifier: UpstreamPools]
    private let logger: Logger
    /// The logger of the admin listener's readiness checks.
    var readinessLogger: Logger { self.logger }
    let httpClient: HTTPClient
    let introspection: IntrospectionCore
    let runtime: GatewayRuntime
    /// Tunnel revalidation and limiter sweeps.
    private let housekeeping = NIOLockedValueBox<Task<Void, Never>?>(nil)
    private let evictionListener: CacheEvictionListener?

    /// The bound address of the proxy listener (useful with port 0).
    public var proxyAddress: SocketAddress { self.serverChannel.localAddress! }
    /// The bound address of the admin listener, if enabled.
    public var adminAddress: SocketAddress? { self.adminChannel?.localAddress }
    /// Client connections open now.
    public var openConnections: Int { self.tracker.count }

    /// No children: the gateway holds the environment and the configuration, secrets included,
    /// and `dump` or `Mirror` of it must not show them.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .class) }

    private init(
        configStore: ConfigStore,
        metrics: GatewayMetrics,
        configPath: String?,
        environment: [String: String],
        group: any EventLoopGroup,
        serverChannel: any Channel,
        adminChannel: (any Channel)?,
        tracker: ConnectionTracker,
        pools: [ObjectIdentifier: UpstreamPools],
        logger: Logger,
        httpClient: HTTPClient,
        introspection: IntrospectionCore,
        runtime: GatewayRuntime,
        evictionListener: CacheEvictionListener?
    ) {
        self.runtime = runtime
        self.evictionListener = evictionListener
        self.httpClient = httpClient
        self.introspection = introspection
        self.configStore = configStore
        self.metrics = metrics
        self.configPath = configPath
        self.environment = ConfigEnvironment(environment)
        self.group = group
        self.serverChannel = serverChannel
        self.adminChannel = adminChannel
        self.tracker = tracker
        self.pools = pools
        self.logger = logger
    }

    /// Validates `config`, binds both listeners and starts serving.
    ///
    /// - Parameters:
    ///   - configPath: the file `reloadFromFile()` (SIGHUP, `POST /admin/reload`) reads.
    ///   - environment: the environment whose overrides apply on every reload.
    public static func start(
        config: GatewayConfig,
        group: any EventLoopGroup,
        logger: Logger,
        configPath: String? = nil,
        environment: [String: String] = [:]
    ) async throws -> Gateway {
        let snapshot = try ConfigSnapshot(config: config, generation: 1)
        let store = ConfigStore(snapshot)
        let metrics = GatewayMetrics()
        let tracker = ConnectionTracker()
        let httpClient = HTTPClient(
            eventLoopGroupProvider: .shared(group),
            configuration: .authServer(connectTimeout: .milliseconds(Int64(config.auth.authServerTimeoutMs)))
        )
        let introspection = Self.makeIntrospection(
            snapshot: snapshot,
            httpClient: httpClient,
            metrics: metrics,
            logger: logger,
            group: group
        )
        let audit = Self.makeAuditSink(config: config, metrics: metrics, logger: logger, group: group)
        let runtime = GatewayRuntime(
            configStore: store,
            metrics: metrics,
            logger: logger,
            introspection: introspection,
            config: config,
            audit: audit
        )

        var pools: [ObjectIdentifier: UpstreamPools] = [:]
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = UpstreamPools(eventLoop: loop, metrics: metrics, logger: logger)
        }
        let poolsByLoop = pools

        let server = config.server
        let serverChannel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: Int32(server.backlog))
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 128 * 1024))
            .childChannelOption(.maxMessagesPerRead, value: 8)
            .childChannelInitializer { channel in
                guard tracker.add(channel) else {
                    return channel.close()
                }
                metrics.acceptedConnections.increment()
                metrics.openConnections.increment()
                channel.closeFuture.whenComplete { _ in metrics.openConnections.decrement() }
                let snapshot = store.current
                let pools = poolsByLoop[ObjectIdentifier(channel.eventLoop)]!
                do {
                    try Self.configureProxyPipeline(
                        channel: channel,
                        snapshot: snapshot,
                        runtime: runtime,
                        pools: pools
                    )
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: snapshot.proxyAddress.host, port: snapshot.proxyAddress.port)
            .get()

        var adminChannel: (any Channel)? = nil
        let gatewayBox = GatewayBox()
        if config.admin.enabled {
            do {
                adminChannel = try await AdminServer.bind(
                    address: snapshot.adminAddress,
                    group: group,
                    gateway: gatewayBox
                )
            } catch {
                try? await serverChannel.close()
                throw error
            }
        }

        let gateway = Gateway(
            configStore: store,
            metrics: metrics,
            configPath: configPath,
            environment: environment,
            group: group,
            serverChannel: serverChannel,
            adminChannel: adminChannel,
            tracker: tracker,
            pools: poolsByLoop,
            logger: logger,
            httpClient: httpClient,
            introspection: introspection,
            runtime: runtime,
            evictionListener: config.auth.databaseURL.flatMap { DatabaseURL($0.value) }.map {
                CacheEvictionListener(
                    url: $0,
                    cache: introspection.cache,
                    metrics: metrics,
                    logger: logger,
                    eventLoop: group.next(),
                    onEviction: { payload in
                        runtime.tunnels.applyEviction(payload, core: introspection, settings: store.current.auth)
                    }
                )
            }
        )
        gatewayBox.set(gateway)
        gateway.housekeeping.withLockedValue { $0 = Task { await gateway.runHousekeeping() } }
        logger.info(
            "authgate listening",
            metadata: [
                "proxy": "\(serverChannel.localAddress.map(Self.describe) ?? "?")",
                "admin": "\(adminChannel?.localAddress.map(Self.describe) ?? "disabled")",
                "upstream": "\(snapshot.upstream.hostHeader)",
            ]
        )
        return gateway
    }

    /// The cache, resolvers and key store behind authentication. The resolver kind and the
    /// cache's size are fixed at start; everything else follows reloads.
    static func makeIntrospection(
        snapshot: ConfigSnapshot,
        httpClient: HTTPClient,
        metrics: GatewayMetrics,
        logger: Logger,
        group: any EventLoopGroup
    ) -> IntrospectionCore {
        let config = snapshot.config
        let cache = IdentityCache(
            configuration: .init(
                maxEntries: config.cache.maxEntries,
                maxNegativeEntries: config.cache.maxNegativeEntries,
                positiveTTL: .milliseconds(Int64(config.cache.positiveTTLMs)),
                negativeTTL: .milliseconds(Int64(config.cache.negativeTTLMs)),
                staleIfError: .milliseconds(Int64(config.cache.staleIfErrorMs))
            )
        )
        let timeout = TimeAmount.milliseconds(Int64(config.auth.authServerTimeoutMs))
        // The auth server's get-session: the http resolver, and the postgres resolver's check
        // for sessions kept in secondaryStorage.
        var authServerResolver = HTTPSessionResolver(
            client: httpClient,
            authServerURL: snapshot.auth.authServerURL,
            cookieName: snapshot.auth.authServerCookieName,
            timeout: timeout,
            adminPlugin: config.auth.adminPlugin,
            organizationPlugin: config.auth.organizationPlugin
        )
        authServerResolver.apiKeyHeader = config.auth.apiKeyHeader.lowercased()
        let resolver: (any SessionResolver)?
        switch config.auth.sessionResolver {
        case .postgres:
            if let url = config.auth.databaseURL.flatMap({ DatabaseURL($0.value) }) {
                resolver = PostgresSessionResolver(url: url, schema: snapshot.sessionSchema, logger: logger)
            } else {
                resolver = nil
            }
        case .http:
            resolver = authServerResolver
        }
        let jwks =
            config.auth.jwksEnabled
            ? JWKSStore(
                client: httpClient,
                authServerURL: snapshot.auth.authServerURL,
                cooldown: .milliseconds(Int64(config.auth.jwksRefreshCooldownMs)),
                refreshInterval: .milliseconds(Int64(config.auth.jwksRefreshIntervalMs)),
                timeout: timeout,
                logger: logger,
                metrics: metrics
            ) : nil
        // Warm the key set and refresh it periodically; failures are logged and retried on the
        // first unknown kid.
        jwks?.start(on: group.next())
        // The postgres resolver cannot see sessions Better Auth keeps in its secondaryStorage:
        // empty lookups are confirmed with get-session now and then, to say so.
        let secondaryStorage =
            (resolver is PostgresSessionResolver)
            ? SecondaryStorageWatch(
                prober: authServerResolver,
                metrics: metrics,
                logger: logger
            ) : nil
        return IntrospectionCore(
            cache: cache,
            jwks: jwks,
            sessionResolver: resolver,
            metrics: metrics,
            logger: logger,
            authServer: AuthServerClient(client: httpClient, origin: snapshot.auth.authServerURL, timeout: timeout),
            legacyIntrospection: config.auth.legacyIntrospectionURL.map {
                LegacyIntrospectionClient(client: httpClient, url: $0, timeout: timeout)
            },
            banLookup: Self.banLookup(config: config, snapshot: snapshot, resolver: resolver, logger: logger),
            secondaryStorage: secondaryStorage
        )
    }

    /// Where Better Auth JWTs are checked for an admin-plugin ban: the postgres resolver's pool,
    /// or with the http resolver one of its own on `auth.database_url`; `nil` without the admin
    /// plugin or a database.
    static func banLookup(
        config: GatewayConfig,
        snapshot: ConfigSnapshot,
        resolver: (any SessionResolver)?,
        logger: Logger
    ) -> PostgresSessionResolver? {
        guard config.auth.adminPlugin else { return nil }
        if let postgres = resolver as? PostgresSessionResolver { return postgres }
        guard let url = config.auth.databaseURL.flatMap({ DatabaseURL($0.value) }) else { return nil }
        return PostgresSessionResolver(url: url, schema: snapshot.sessionSchema, logger: logger)
    }

    /// The audit trail: an ``AuditLog`` (started: it replays a spill file left by a previous
    /// run first) when `audit.enabled` and `auth.database_url` is set, else a sink that drops
    /// nothing because nothing is built. Fixed at start; reloads do not change it.
    static func makeAuditSink(
        config: GatewayConfig,
        metrics: GatewayMetrics,
        logger: Logger,
        group: any EventLoopGroup
    ) -> any AuditSink {
        guard config.audit.enabled, let url = config.auth.databaseURL.flatMap({ DatabaseURL($0.value) }) else {
            return DisabledAuditSink()
        }
        let log = AuditLog(
            url: url,
            settings: AuditLog.Settings(config: config),
            metrics: metrics,
            logger: logger,
            eventLoop: group.next()
        )
        log.start()
        return log
    }

    /// `127.0.0.1:8080` / `[::1]:8080`.
    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        if case .v6 = address { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }

    static func configureProxyPipeline(
        channel: any Channel,
        snapshot: ConfigSnapshot,
        runtime: GatewayRuntime,
        pools: UpstreamPools
    ) throws {
        // The parser answers 414 and 431 past its bounds; RequestValidator then checks the
        // exact `limits.*` on the complete head.
        let sync = channel.pipeline.syncOperations
        let decoder = ClientRequestDecoder(limits: ClientRequestDecoder.limits(snapshot.config.limits))
        let proxy = ProxyHandler(runtime: runtime, pools: pools, snapshot: snapshot)
        try sync.addHandler(ClientReadObserver(proxy: proxy))
        try sync.addHandler(ByteToMessageHandler(decoder))
        try sync.addHandler(proxy)
    }

    // MARK: - Reload

    /// Validates `config` and makes it current for every request that starts from now on.
    /// A listener address change needs a restart and is reported, not applied.
    @discardableResult
    public func reload(_ config: GatewayConfig) throws(ConfigError) -> ConfigSnapshot {
        let previous = self.configStore.current
        do {
            let snapshot = try self.configStore.replace(with: config)
            self.metrics.configReloads.increment()
            if Self.authChanged(previous.config, config) {
                // Keys, flags or resolvers changed: nothing verified under the old ones stays.
                let purged = self.introspection.cache.purgeAll()
                self.logger.info(
                    "authentication settings changed; identity cache purged",
                    metadata: ["entries": "\(purged)"]
                )
            }
            if snapshot.proxyAddress != previous.proxyAddress || snapshot.adminAddress != previous.adminAddress {
                self.logger.warning("listener addresses changed; they take effect on restart")
            }
            self.logger.info("configuration reloaded", metadata: ["generation": "\(snapshot.generation)"])
            return snapshot
        } catch {
            self.metrics.configReloadFailures.increment()
            for issue in error.issues {
                self.logger.error(
                    "configuration rejected; keeping the running one",
                    metadata: ["file": "\(error.file ?? "-")", "key": "\(issue.key)", "reason": "\(issue.reason)"]
                )
            }
            throw error
        }
    }

    /// Reads the configuration file again (SIGHUP, `POST /admin/reload`).
    @discardableResult
    public func reloadFromFile() throws(ConfigError) -> ConfigSnapshot {
        guard let configPath else {
            throw ConfigError(
                file: nil,
                issues: [ConfigIssue(key: "", reason: "the gateway was started without a file")]
            )
        }
        let config: GatewayConfig
        do {
            config = try ConfigLoader.load(path: configPath, environment: self.environment.variables)
        } catch {
            self.metrics.configReloadFailures.increment()
            for issue in error.issues {
                self.logger.error(
                    "configuration rejected; keeping the running one",
                    metadata: ["file": "\(configPath)", "key": "\(issue.key)", "reason": "\(issue.reason)"]
                )
            }
            throw error
        }
        return try self.reload(config)
    }

    /// Whether anything that decides what a cached identity is worth changed. The rollout flags
    /// are not among them: the policy is applied after every cache hit, so a phase flip keeps
    /// the cache warm.
    static func authChanged(_ old: GatewayConfig, _ new: GatewayConfig) -> Bool {
        var oldAuth = old.auth
        oldAuth.enableDualAuth = new.auth.enableDualAuth
        oldAuth.preferBetterAuth = new.auth.preferBetterAuth
        return oldAuth != new.auth || old.sessionStore != new.sessionStore
    }

    // MARK: - Housekeeping

    /// Revalidates open tunnels every `websocket.revalidate_interval_ms` and forgets idle limiter
    /// and lockout entries; both intervals follow reloads.
    private func runHousekeeping() async {
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
        if fromDatabase, let resolver = self.introspection.sessionResolver as? PostgresSessionResolver {
            do {
                let count = try await resolver.countActiveSessions(sql: snapshot.sessionSchema.activeSessionCountSQL)
                self.metrics.activeSessions.set(count)
                return
            } catch {
                self.logger.debug(
                    "active session count failed",
                    metadata: ["error": "\(String(reflecting: error).prefix(200))"]
                )
            }
        }
        self.metrics.activeSessions.set(self.introspection.cache.activeSessionCount())
    }

    // MARK: - Shutdown

    /// Stops accepting, lets in-flight exchanges finish until `drainTimeout`, then closes
    /// everything that is left.
    public func shutdown(drainTimeout: TimeAmount? = nil) async {
        let timeout =
            drainTimeout ?? .milliseconds(Int64(self.configStore.current.config.server.drainTimeoutMs))
        self.logger.info("draining", metadata: ["open_connections": "\(self.tracker.count)"])
        try? await self.serverChannel.close()
        let loop = self.serverChannel.eventLoop
        let drained = self.tracker.drain(on: loop)
        let deadline = loop.scheduleTask(in: timeout) {}
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
        try? await self.adminChannel?.close()
        self.housekeeping.withLockedValue { $0?.cancel() }
        // Every exchange is over: write (or spill) the audit events still queued.
        if let audit = self.runtime.audit as? AuditLog {
            await audit.shutdown(timeout: timeout)
        }
        self.runtime.migrationStatus.shutdown()
        self.runtime.lockoutStore?.shutdown()
        self.evictionListener?.stop()
        await self.introspection.sessionResolver?.shutdown()
        if let bans = self.introspection.banLookup, bans !== self.introspection.sessionResolver as AnyObject? {
            await bans.shutdown()
        }
        try? await self.httpClient.shutdown()
        await self.introspection.jwks?.settle()
        for (_, pools) in self.pools {
            // Pools live on their loops.
            for loop in self.group.makeIterator() where self.pools[ObjectIdentifier(loop)] === pools {
                try? await loop.submit { pools.shutdown() }.get()
            }
        }
        self.logger.info("stopped")
    }
}

/// Lets the admin listener, bound before the gateway object exists, reach it.
final class GatewayBox: Sendable {
    private let box = NIOLockedValueBox<Gateway?>(nil)
    func set(_ gateway: Gateway) { self.box.withLockedValue { $0 = gateway } }
    var gateway: Gateway? { self.box.withLockedValue { $0 } }
}

/// A flag that can be claimed once across threads.
final class NIOLockedOnce: Sendable {
    private let claimed = NIOLockedValueBox(false)
    func claim() -> Bool {
        self.claimed.withLockedValue { claimed in
            if claimed { return false }
            claimed = true
            return true
        }
    }
}
