public import AuthGateCore
public import Logging
public import NIOCore
public import ServiceLifecycle
import UnixSignals

/// Runs a ``Gateway`` as a swift-service-lifecycle service: SIGHUP reloads the config file,
/// and a graceful shutdown (SIGTERM, SIGINT) drains in-flight requests before returning.
///
/// The service holds the configuration and the environment, secrets included, and the service
/// group names it in its log lines by `"\(service)"`: it describes and reflects itself as
/// `GatewayService` only.
public struct GatewayService: Service, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let config: GatewayConfig
    private let configPath: String?
    private let environment: ConfigEnvironment
    private let group: any EventLoopGroup
    private let logger: Logger
    private let onStart: @Sendable (Gateway) async -> Void

    public init(
        config: GatewayConfig,
        configPath: String?,
        environment: [String: String],
        group: any EventLoopGroup,
        logger: Logger,
        onStart: @escaping @Sendable (Gateway) async -> Void = { _ in }
    ) {
        self.config = config
        self.configPath = configPath
        self.environment = ConfigEnvironment(environment)
        self.group = group
        self.logger = logger
        self.onStart = onStart
    }

    /// `GatewayService`: never the configuration or the environment it holds.
    public var description: String { "GatewayService" }
    public var debugDescription: String { self.description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    public func run() async throws {
        let gateway = try await Gateway.start(
            config: self.config,
            group: self.group,
            logger: self.logger,
            configPath: self.configPath,
            environment: self.environment.variables
        )
        await self.onStart(gateway)
        let logger = self.logger
        let reloader = Task {
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                logger.info("SIGHUP: reloading configuration")
                _ = try? gateway.reloadFromFile()
            }
        }
        let watcher = self.configPath.map { path in
            Task { await ConfigFileWatcher(gateway: gateway, path: path, logger: logger).run() }
        }
        // Wait until the service group asks us to stop (or the task is cancelled).
        try? await gracefulShutdown()
        reloader.cancel()
        watcher?.cancel()
        await gateway.shutdown()
    }
}
