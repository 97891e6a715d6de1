import AsyncHTTPClient
public import AuthGateCore
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
import NIOPosix
import PostgresNIO
import ServiceLifecycle

/// A running AuthGate: the proxy listener, the admin listener, the upstream pools and the
/// live configuration.
///
/// ```swift
/// let gateway = try await Gateway.start(config: config, group: .singletonMultiThreadedEventLoopGroup, logger: logger)
/// try gateway.reload(newConfig)            // atomically, for the next requests
/// await gateway.shutdown(drainTimeout: .seconds(10))
/// ```
///
/// Every long-lived part is a swift-service-lifecycle `Service` in one `ServiceGroup`, started
/// and stopped in the order ``GatewayPart/startOrder`` states (the way Hummingbird runs
/// `services + [server]`). ``GatewayService`` runs that group inside the executable's, so
/// SIGTERM reaches it as a graceful shutdown; ``start(config:group:logger:configPath:environment:)``
/// runs it on its own, for embedding and tests, and ``shutdown(drainTimeout:)`` stops it.
public final class Gateway: Sendable, CustomReflectable {
    /// The live configuration.
    public let configStore: ConfigStore
    public let metrics: GatewayMetrics
    /// Where `reloadFromFile()` reads the configuration, if anywhere.
    public let configPath: String?
    private let environment: ConfigEnvironment
    private let serverChannel: any Channel
    private let adminChannel: (any Channel)?
    private let tracker: ConnectionTracker
    private let logger: Logger
    /// The logger of the admin listener's readiness checks.
    var readinessLogger: Logger { self.logger }
    let httpClient: HTTPClient
    let introspection: IntrospectionCore
    let runtime: GatewayRuntime
    /// The group of every long-lived part; set once, right after `init`.
    private let serviceGroup = NIOLockedValueBox<ServiceGroup?>(nil)
    private let composedParts = NIOLockedValueBox<[GatewayPart]>([])
    /// The parts this configuration has, in the order the group starts them.
    var parts: [GatewayPart] { self.composedParts.withLockedValue { $0 } }
    /// Completed when the service group has returned.
    private let stopped: EventLoopPromise<Void>
    /// The drain timeout ``shutdown(drainTimeout:)`` was given, over `server.drain_timeout_ms`.
    private let drainTimeoutOverride: NIOLockedValueBox<TimeAmount?>

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
        serverChannel: any Channel,
        adminChannel: (any Channel)?,
        tracker: ConnectionTracker,
        logger: Logger,
        httpClient: HTTPClient,
        introspection: IntrospectionCore,
        runtime: GatewayRuntime,
        stopped: EventLoopPromise<Void>,
        drainTimeoutOverride: NIOLockedValueBox<TimeAmount?>
    ) {
        self.drainTimeoutOverride = drainTimeoutOverride
        self.runtime = runtime
        self.httpClient = httpClient
        self.introspection = introspection
        self.configStore = configStore
        self.metrics = metrics
        self.configPath = configPath
        self.environment = ConfigEnvironment(environment)
        self.serverChannel = serverChannel
        self.adminChannel = adminChannel
        self.tracker = tracker
        self.logger = logger
        self.stopped = stopped
    }

    /// Validates `config`, binds both listeners and starts serving: the service group runs in
    /// a task of its own until ``shutdown(drainTimeout:)``.
    ///
    /// - Parameters:
    ///   - configPath: the file `reloadFromFile()` (`POST /admin/reload`) reads.
    ///   - environment: the environment whose overrides apply on every reload.
    public static func start(
        config: GatewayConfig,
        group: any EventLoopGroup,
        logger: Logger,
        configPath: String? = nil,
        environment: [String: String] = [:]
    ) async throws -> Gateway {
        let gateway = try await Self.make(
            config: config,
            group: group,
            logger: logger,
            configPath: configPath,
            environment: environment,
            reloadTriggers: false
        )
        Task { try? await gateway.run() }
        return gateway
    }

    /// The composition root: validates `config`, builds every part, binds both listeners (they
    /// accept from here on) and the service group that runs and stops the parts; ``run()``
    /// runs it.
    ///
    /// - Parameter reloadTriggers: whether SIGHUP and `reload.watch_file` reload `configPath`
    ///   (the executable); `POST /admin/reload` always does.
    static func make(
        config: GatewayConfig,
        group: any EventLoopGroup,
        logger: Logger,
        configPath: String?,
        environment: [String: String],
        reloadTriggers: Bool
    ) async throws -> Gateway {
        let snapshot = try ConfigSnapshot(config: config, generation: 1)
        let store = ConfigStore(snapshot)
        let metrics = GatewayMetrics()
        let tracker = ConnectionTracker()
        let httpClient = HTTPClient(
            eventLoopGroupProvider: .shared(group),
            configuration: .authServer(connectTimeout: .milliseconds(Int64(config.auth.authServerTimeoutMs)))
        )
        // One pool for every PostgreSQL user of the gateway; `LISTEN` and `/ready` open
        // connections of their own (a listener holds one for as long as it listens; the probe
        // checks that a new connection can be made).
        let database = Self.makeDatabase(config: config, logger: logger)
        let introspection = Self.makeIntrospection(
            snapshot: snapshot,
            httpClient: httpClient,
            metrics: metrics,
            logger: logger,
            group: group,
            database: database?.client
        )
        let audit = Self.makeAuditLog(
            config: config,
            database: database?.client,
            metrics: metrics,
            logger: logger,
            group: group
        )
        let runtime = GatewayRuntime(
            configStore: store,
            metrics: metrics,
            logger: logger,
            introspection: introspection,
            config: config,
            audit: audit ?? DisabledAuditSink(),
            database: database
        )

        var pools: [(any EventLoop, UpstreamPools)] = []
        var poolsByLoop: [ObjectIdentifier: UpstreamPools] = [:]
        for loop in group.makeIterator() {
            let loopPools = UpstreamPools(eventLoop: loop, metrics: metrics, logger: logger)
            pools.append((loop, loopPools))
            poolsByLoop[ObjectIdentifier(loop)] = loopPools
        }
        let poolsOfLoop = poolsByLoop

        let serverChannel = try await Self.bindProxyListener(
            snapshot: snapshot,
            group: group,
            store: store,
            runtime: runtime,
            tracker: tracker,
            pools: poolsOfLoop
        )

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

        let drainTimeoutOverride = NIOLockedValueBox<TimeAmount?>(nil)
        let gateway = Gateway(
            configStore: store,
            metrics: metrics,
            configPath: configPath,
            environment: environment,
            serverChannel: serverChannel,
            adminChannel: adminChannel,
            tracker: tracker,
            logger: logger,
            httpClient: httpClient,
            introspection: introspection,
            runtime: runtime,
            stopped: group.next().makePromise(of: Void.self),
            drainTimeoutOverride: drainTimeoutOverride
        )
        gatewayBox.set(gateway)

        let components = GatewayComponents(
            gateway: gateway,
            group: group,
            logger: logger,
            database: database,
            audit: audit,
            pools: pools,
            serverChannel: serverChannel,
            adminChannel: adminChannel,
            tracker: tracker,
            reloadTriggers: reloadTriggers,
            drainTimeout: {
                drainTimeoutOverride.withLockedValue { $0 }
                    ?? .milliseconds(Int64(store.current.config.server.drainTimeoutMs))
            }
        )
        // Each part's service, or none where the configuration has no such part.
        let services = GatewayPart.startOrder.compactMap { part in
            components.service(for: part).map { NamedService(part: part, service: $0) }
        }
        let serviceGroup = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                // A part that returns or throws before its turn stops the others in order too,
                // never by cancellation: in-flight requests still drain.
                services: services.map {
                    .init(
                        service: $0,
                        successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup
                    )
                },
                logger: logger
            )
        )
        gateway.serviceGroup.withLockedValue { $0 = serviceGroup }
        gateway.composedParts.withLockedValue { $0 = services.map(\.part) }

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

    /// Binds the proxy listener: every accepted connection is tracked (for the drain), counted
    /// and given the pipeline of the snapshot current when it was accepted.
    static func bindProxyListener(
        snapshot: ConfigSnapshot,
        group: any EventLoopGroup,
        store: ConfigStore,
        runtime: GatewayRuntime,
        tracker: ConnectionTracker,
        pools poolsOfLoop: [ObjectIdentifier: UpstreamPools]
    ) async throws -> any Channel {
        let server = snapshot.config.server
        let metrics = runtime.metrics
        return try await ServerBootstrap(group: group)
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
                let pools = poolsOfLoop[ObjectIdentifier(channel.eventLoop)]!
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
    }

    /// Runs the service group until it has stopped every part: on graceful shutdown (of the
    /// enclosing group, or ``shutdown(drainTimeout:)``), in ``GatewayPart/shutdownOrder``.
    func run() async throws {
        guard let serviceGroup = self.serviceGroup.withLockedValue({ $0 }) else { return }
        do {
            try await serviceGroup.run()
            self.stopped.succeed()
        } catch {
            self.stopped.succeed()
            throw error
        }
    }

    /// The one `PostgresClient` for `auth.database_url`, shared by the session resolver, the
    /// ban and API-key lookups, the lockout store, the migration statuses and the audit writer;
    /// `nil` without a database. It is sized for the parts that use it (16 for sessions, 4 each
    /// for the lockout store and the migration statuses, 2 for the audit writer) and opens
    /// connections on demand.
    static func makeDatabase(config: GatewayConfig, logger: Logger) -> (url: DatabaseURL, client: PostgresClient)? {
        guard let url = config.auth.databaseURL.flatMap({ DatabaseURL($0.value) }) else { return nil }
        var connections = 4
        if config.auth.sessionResolver == .postgres || config.auth.adminPlugin { connections += 16 }
        if config.lockout.store == .postgres { connections += 4 }
        if config.audit.enabled { connections += 2 }
        let client = PostgresClient(
            configuration: url.clientConfiguration(maximumConnections: connections),
            backgroundLogger: logger
        )
        return (url, client)
    }

    /// The cache, resolvers and key store behind authentication. The resolver kind and the
    /// cache's size are fixed at start; everything else follows reloads.
    static func makeIntrospection(
        snapshot: ConfigSnapshot,
        httpClient: HTTPClient,
        metrics: GatewayMetrics,
        logger: Logger,
        group: any EventLoopGroup,
        database: PostgresClient?
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
            if let database {
                resolver = PostgresSessionResolver(client: database, schema: snapshot.sessionSchema, logger: logger)
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
            banLookup: Self.banLookup(
                config: config,
                snapshot: snapshot,
                resolver: resolver,
                database: database,
                logger: logger
            ),
            secondaryStorage: secondaryStorage
        )
    }

    /// Where Better Auth JWTs are checked for an admin-plugin ban: the postgres resolver, or
    /// with the http resolver one on the gateway's `PostgresClient`; `nil` without the admin
    /// plugin or a database.
    static func banLookup(
        config: GatewayConfig,
        snapshot: ConfigSnapshot,
        resolver: (any SessionResolver)?,
        database: PostgresClient?,
        logger: Logger
    ) -> PostgresSessionResolver? {
        guard config.auth.adminPlugin else { return nil }
        if let postgres = resolver as? PostgresSessionResolver { return postgres }
        guard let database else { return nil }
        return PostgresSessionResolver(client: database, schema: snapshot.sessionSchema, logger: logger)
    }

    /// The audit trail: an ``AuditLog`` on the gateway's `PostgresClient` when `audit.enabled`
    /// and `auth.database_url` is set (its writer, ``AuditWriterService``, first replays a
    /// spill file left by a previous run), else `nil`: nothing is recorded. Fixed at start;
    /// reloads do not change it.
    static func makeAuditLog(
        config: GatewayConfig,
        database: PostgresClient?,
        metrics: GatewayMetrics,
        logger: Logger,
        group: any EventLoopGroup
    ) -> AuditLog? {
        guard config.audit.enabled, let database else { return nil }
        return AuditLog(
            client: database,
            settings: AuditLog.Settings(config: config),
            metrics: metrics,
            logger: logger,
            eventLoop: group.next()
        )
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
        // One handler: the proxy handler parses the bytes itself (ClientRequestStream). The
        // parser answers 414 and 431 past its bounds; RequestValidator then checks the exact
        // `limits.*` on the complete head.
        try channel.pipeline.syncOperations.addHandler(ProxyHandler(runtime: runtime, pools: pools, snapshot: snapshot))
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

    // MARK: - Shutdown

    /// Stops the gateway in ``GatewayPart/shutdownOrder``: stops accepting, lets in-flight
    /// exchanges finish until `drainTimeout` (default `server.drain_timeout_ms`), closes what
    /// is left, writes the queued audit events, then closes the pools and clients. Returns once
    /// everything has stopped.
    public func shutdown(drainTimeout: TimeAmount? = nil) async {
        if let drainTimeout {
            self.drainTimeoutOverride.withLockedValue { $0 = drainTimeout }
        }
        await self.serviceGroup.withLockedValue({ $0 })?.triggerGracefulShutdown()
        try? await self.stopped.futureResult.get()
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
