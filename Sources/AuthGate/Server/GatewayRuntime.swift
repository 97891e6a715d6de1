import AuthGateCore
import Logging
import NIOCore

/// What every connection of a running gateway shares: the config, the metrics, the logger, the
/// introspection core and the rollout policy's state (limiter buckets, lockout windows, open
/// tunnels, cached migration statuses), which lives across reloads.
final class GatewayRuntime: Sendable {
    let configStore: ConfigStore
    let metrics: GatewayMetrics
    let logger: Logger
    let introspection: IntrospectionCore
    let rateLimiter: RateLimiter
    let lockout: FailedAuthTracker
    let tunnels: TunnelRegistry
    let migrationStatus: MigrationStatusStore
    /// Where authentication events go: ``AuditLog`` when `audit.enabled` and
    /// `auth.database_url`, else ``DisabledAuditSink``.
    let audit: any AuditSink

    /// The limiter's and the lockout's sizes, and the lockout's threshold and window, are read
    /// from `config` once, at start.
    init(
        configStore: ConfigStore,
        metrics: GatewayMetrics,
        logger: Logger,
        introspection: IntrospectionCore,
        config: GatewayConfig,
        audit: any AuditSink = DisabledAuditSink()
    ) {
        self.audit = audit
        self.configStore = configStore
        self.metrics = metrics
        self.logger = logger
        self.introspection = introspection
        self.rateLimiter = RateLimiter(configuration: .init(maxKeys: config.rateLimits.maxTrackedKeys))
        self.lockout = FailedAuthTracker(
            configuration: .init(
                maxFailures: config.lockout.maxFailures,
                window: .milliseconds(Int64(config.lockout.windowMs)),
                maxKeys: config.rateLimits.maxTrackedKeys
            )
        )
        self.tunnels = TunnelRegistry(metrics: metrics)
        self.migrationStatus = MigrationStatusStore(logger: logger, metrics: metrics)
    }
}
