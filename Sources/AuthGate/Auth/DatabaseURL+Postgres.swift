import AuthGateCore
import PostgresNIO

/// postgres-nio settings for `auth.database_url`, in one place for every component that talks
/// to PostgreSQL (the gateway's one client, the cache-eviction listener, readiness,
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
    /// Only for a pool outside the gateway's service group (``MigrationStatusStore``'s, for a
    /// database a reload named); the gateway's one client is a service of that group, which
    /// closes it after the audit writer. Detached, not a plain `Task`: a plain task inherits
    /// the task-local graceful-shutdown handler of the service that started it, and
    /// `PostgresClient.run()` cancels itself on graceful shutdown, before in-flight requests
    /// are done with it.
    func runDetached() -> Task<Void, Never> {
        Task.detached { await self.run() }
    }
}
