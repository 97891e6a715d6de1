import AuthGateCore
import Logging
import PostgresNIO

/// Resolves sessions straight from Better Auth's tables with one indexed query (`session`
/// joined to `user` by token, unexpired only), through a postgres-nio connection pool.
final class PostgresSessionResolver: SessionResolver {
    let client: PostgresClient
    let sql: String
    let banSQL: String
    let adminPlugin: Bool
    let pluginColumns: Bool
    let logger: Logger
    private let runner: Task<Void, Never>

    init(url: DatabaseURL, schema: SessionSchema, logger: Logger) {
        let configuration = url.clientConfiguration(maximumConnections: 16)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.sql = schema.lookupSQL
        self.banSQL = schema.banLookupSQL
        self.adminPlugin = schema.adminPlugin
        self.pluginColumns = schema.hasPluginColumns
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
            if self.pluginColumns {
                for try await (
                    id, userID, expiresAt, email, role, banned, banExpires, impersonatedBy, organization,
                    organizationRole
                )
                    in rows.decode(
                        (String, String, Int64, String?, String?, Bool, Int64?, String?, String?, String?).self
                    )
                {
                    let ban = UserBan(banned: banned, expiresAt: banExpires)
                    if ban.isInEffect(now: Int64(Timestamp.epochSeconds())) { return .banned }
                    var identity = Identity.betterAuthSession(
                        userID: userID,
                        email: email,
                        role: role,
                        sessionID: id,
                        expiresAt: expiresAt
                    )
                    identity.impersonatedBy = impersonatedBy.flatMap { $0.isEmpty ? nil : $0 }
                    identity.organizationID = organization.flatMap { $0.isEmpty ? nil : $0 }
                    identity.organizationRole = identity.organizationID == nil ? nil : organizationRole
                    return .found(identity)
                }
                return .notFound
            }
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

    /// The admin plugin's ban of `userID`; a user not in the table is not banned (the JWT's
    /// signature is what vouches for it).
    func ban(userID: String) async throws(ResolverUnavailable) -> UserBan {
        do {
            var binds = PostgresBindings()
            binds.append(userID)
            let rows = try await self.client.query(
                PostgresQuery(unsafeSQL: self.banSQL, binds: binds),
                logger: self.logger
            )
            for try await (banned, expiresAt) in rows.decode((Bool, Int64?).self) {
                return UserBan(banned: banned, expiresAt: expiresAt)
            }
            return UserBan(banned: false, expiresAt: nil)
        } catch {
            throw ResolverUnavailable(reason: "ban query failed: \(String(reflecting: error).prefix(200))")
        }
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
