import AuthGateCore
import Logging
import NIOCore

/// What every connection of a running gateway shares: the config, the metrics and the logger.
final class GatewayRuntime: Sendable {
    let configStore: ConfigStore
    let metrics: GatewayMetrics
    let logger: Logger
    let introspection: IntrospectionCore

    init(configStore: ConfigStore, metrics: GatewayMetrics, logger: Logger, introspection: IntrospectionCore) {
        self.configStore = configStore
        self.metrics = metrics
        self.logger = logger
        self.introspection = introspection
    }
}
