import AuthGateCore
import Logging
import PostgresNIO

/// Resolves sessions straight from Better Auth's tables with one indexed query (`session`
/// joined to `user` by token, unexpired only), through the gateway's `PostgresClient` (which
/// its service group runs and closes).
final class PostgresSessionResolver: SessionResolver {
    let client: PostgresClient
    let sql: String
    let banSQL: String
    let apiKeyLockSQL: String
    let apiKeyUseSQL: String
    let adminPlugin: Bool
    let pluginColumns: Bool
    let logger: Logger

    init(client: PostgresClient, schema: SessionSchema, logger: Logger) {
        self.client = client
        self.sql = schema.lookupSQL
        self.banSQL = schema.banLookupSQL
        self.apiKeyLockSQL = schema.apiKeyLockSQL
        self.apiKeyUseSQL = schema.apiKeyUseSQL
        self.adminPlugin = schema.adminPlugin
        self.pluginColumns = schema.hasPluginColumns
        self.logger = logger
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

    /// Nothing: the client is the gateway's, closed by its service group.
    func shutdown() async {}

    /// One transaction: the key's row locked, ``APIKeyUsage`` decides, the use is written.
    /// Concurrent uses of one key (from every gateway and the auth server) queue on the lock,
    /// so `remaining` and the window are exact.
    func resolveAPIKey(_ key: String, usage: APIKeyUsage) async throws(ResolverUnavailable) -> APIKeyLookup {
        let hash = APIKeyHasher.hash(key)
        let lockSQL = self.apiKeyLockSQL
        let useSQL = self.apiKeyUseSQL
        let logger = self.logger
        do {
            return try await self.client.withTransaction(logger: logger) { connection -> APIKeyLookup in
                _ = try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL TIME ZONE 'UTC'"), logger: logger)
                var binds = PostgresBindings()
                binds.append(hash)
                let rows = try await connection.query(PostgresQuery(unsafeSQL: lockSQL, binds: binds), logger: logger)
                var found: (APIKeyRecord, email: String?, role: String?, ban: UserBan)?
                for try await row in rows {
                    let cells = row.makeRandomAccess()
                    let record = APIKeyRecord(
                        id: try cells[0].decode(String.self),
                        ownerID: try cells[1].decode(String.self),
                        enabled: try cells[2].decode(Bool.self),
                        expiresAt: try cells[3].decode(Int64?.self),
                        remaining: try cells[4].decode(Int64?.self),
                        refillAmount: try cells[5].decode(Int64?.self),
                        refillInterval: try cells[6].decode(Int64?.self),
                        lastRefillAt: try cells[7].decode(Int64?.self),
                        createdAt: try cells[8].decode(Int64.self),
                        rateLimitEnabled: try cells[9].decode(Bool.self),
                        rateLimitTimeWindow: try cells[10].decode(Int64?.self),
                        rateLimitMax: try cells[11].decode(Int64?.self),
                        requestCount: try cells[12].decode(Int64.self),
                        lastRequest: try cells[13].decode(Int64?.self)
                    )
                    found = (
                        record,
                        try cells[14].decode(String?.self),
                        try cells[15].decode(String?.self),
                        UserBan(banned: try cells[16].decode(Bool.self), expiresAt: try cells[17].decode(Int64?.self))
                    )
                }
                guard let (record, email, role, ban) = found else { return .refused(.apiKeyInvalid) }
                let nowMillis = Timestamp.epochMillis()
                if ban.isInEffect(now: nowMillis / 1000) { return .refused(.userBanned) }
                switch usage.evaluate(record, now: nowMillis) {
                case .refuse(let reason, _):
                    return .refused(reason)
                case .accept(let update):
                    var binds = PostgresBindings()
                    binds.append(record.id)
                    binds.append(update.remaining)
                    binds.append(update.lastRefillAt)
                    binds.append(update.requestCount)
                    binds.append(update.lastRequest)
                    _ = try await connection.query(PostgresQuery(unsafeSQL: useSQL, binds: binds), logger: logger)
                    var identity = Identity.betterAuthSession(
                        userID: record.ownerID,
                        email: email,
                        role: role,
                        sessionID: record.id,
                        expiresAt: record.expiresAt.map { $0 / 1000 }
                    )
                    identity.kind = .betterAuthAPIKey
                    return .found(identity, cacheable: !usage.counts(record))
                }
            }
        } catch {
            throw ResolverUnavailable(reason: "api key query failed: \(String(reflecting: error).prefix(200))")
        }
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
