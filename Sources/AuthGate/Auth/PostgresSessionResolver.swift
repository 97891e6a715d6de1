import AuthGateCore
import Logging
import PostgresNIO

/// Resolves sessions straight from Better Auth's tables with one indexed query (`session`
/// joined to `user` by token, unexpired only), through a postgres-nio connection pool.
final class PostgresSessionResolver: SessionResolver {
    let client: PostgresClient
    let sql: String
    let logger: Logger
    private let runner: Task<Void, Never>

    init(url: DatabaseURL, schema: SessionSchema, logger: Logger) {
        let configuration = url.clientConfiguration(maximumConnections: 16)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.sql = schema.lookupSQL
        self.logger = logger
        self.runner = client.runDetached()
    }

    func resolve(
        token: String,
        signedValue: String,
        cookieName: String
    ) async throws(ResolverUnavailable) -> SessionLookup {
        do {
            var binds = PostgresBindings()
            binds.append(token)
            let rows = try await self.client.query(
                PostgresQuery(unsafeSQL: self.sql, binds: binds),
                logger: self.logger
            )
            for try await (id, userID, expiresAt, email, role) in rows.decode(
                (String, String, Int64, String?, String?).self
            ) {
                return .found(
                    .betterAuthSession(userID: userID, email: email, role: role, sessionID: id, expiresAt: expiresAt)
                )
            }
            return .notFound
        } catch {
            throw ResolverUnavailable(reason: "session query failed: \(String(reflecting: error).prefix(200))")
        }
    }

    func shutdown() async {
        self.runner.cancel()
    }
}

extension PostgresSessionResolver {
    /// The number of unexpired sessions in the session table.
    func countActiveSessions(sql: String) async throws -> Int {
        let rows = try await self.client.query(
            PostgresQuery(unsafeSQL: sql, binds: PostgresBindings()),
            logger: self.logger
        )
        for try await count in rows.decode(Int64.self) {
            return Int(count)
        }
        return 0
    }
}
