import AuthGateCore
import Logging
import NIOCore
import PostgresNIO

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
    /// The per-account counts shared with other instances (`lockout.store: postgres` with
    /// `auth.database_url`); `nil` with the `memory` store.
    let lockoutStore: PostgresLockoutStore?
    let tunnels: TunnelRegistry
    let migrationStatus: MigrationStatusStore
    /// Where authentication events go: ``AuditLog`` when `audit.enabled` and
    /// `auth.database_url`, else ``DisabledAuditSink``.
    let audit: any AuditSink
    /// The limiter, the lockout and the identity cache, as admission reads them.
    let admissionState: AdmissionState

    /// The limiter's and the lockout's sizes, and the lockout's threshold, window and store, are
    /// read from `config` once, at start. `database` is the gateway's one `PostgresClient` for
    /// `auth.database_url`, if it has one.
    init(
        configStore: ConfigStore,
        metrics: GatewayMetrics,
        logger: Logger,
        introspection: IntrospectionCore,
        config: GatewayConfig,
        audit: any AuditSink = DisabledAuditSink(),
        database: (url: DatabaseURL, client: PostgresClient)? = nil
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
        if config.lockout.store == .postgres, let client = database?.client {
            self.lockoutStore = PostgresLockoutStore(
                client: client,
                window: .milliseconds(Int64(config.lockout.windowMs)),
                timeout: .milliseconds(Int64(config.lockout.storeTimeoutMs)),
                metrics: metrics,
                logger: logger
            )
        } else {
            self.lockoutStore = nil
        }
        self.admissionState = AdmissionState(
            rateLimiter: self.rateLimiter,
            lockout: self.lockout,
            cache: introspection.cache
        )
        self.tunnels = TunnelRegistry(metrics: metrics)
        self.migrationStatus = MigrationStatusStore(logger: logger, metrics: metrics, shared: database)
    }
}
