import AuthGateCore
import PostgresNIO

/// postgres-nio settings for `auth.database_url`, in one place for every component that talks
/// to PostgreSQL (session resolver, migration status, audit log, cache-eviction listener,
/// migrations). TLS is not supported yet (the URL parser refuses `sslmode=require`).
extension DatabaseURL {
    /// A pool that opens connections on demand, at most `maximumConnections`.
    func clientConfiguration(maximumConnections: Int) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: self.host,
            port: self.port,
            username: self.username,
            password: self.password,
            database: self.database,
            tls: .disable
        )
        configuration.options.minimumConnections = 0
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(2)
        return configuration
    }

    /// One dedicated connection (LISTEN, migrations).
    func connectionConfiguration(connectTimeout: TimeAmount = .seconds(10)) -> PostgresConnection.Configuration {
        var configuration = PostgresConnection.Configuration(
            host: self.host,
            port: self.port,
            username: self.username,
            password: self.password,
            database: self.database,
            tls: .disable
        )
        configuration.options.connectTimeout = connectTimeout
        return configuration
    }
}

extension PostgresClient {
    /// Runs the pool in a detached task, which the owner cancels when it is done with the pool.
    ///
    /// Detached, not a plain `Task`: a plain task inherits the task-local graceful-shutdown
    /// handler of the swift-service-lifecycle service that started the gateway, and
    /// `PostgresClient.run()` cancels itself on graceful shutdown. SIGTERM would then close the
    /// pools at once, while in-flight requests still resolve sessions and before the audit
    /// writer has written what is queued (which went to the spill file). The gateway's
    /// shutdown closes its pools itself, in order, once nothing needs them.
    func runDetached() -> Task<Void, Never> {
        Task.detached { await self.run() }
    }
}
