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
