public import AuthGateCore
public import Logging
public import NIOCore
public import ServiceLifecycle

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

    /// Starts the gateway and runs its service group (every long-lived part, SIGHUP and the
    /// file watcher included) inside the group that runs this service: a graceful shutdown of
    /// that group stops the parts in ``GatewayPart/shutdownOrder``.
    public func run() async throws {
        let gateway = try await Gateway.make(
            config: self.config,
            group: self.group,
            logger: self.logger,
            configPath: self.configPath,
            environment: self.environment.variables,
            reloadTriggers: true
        )
        await self.onStart(gateway)
        try await gateway.run()
    }
}
