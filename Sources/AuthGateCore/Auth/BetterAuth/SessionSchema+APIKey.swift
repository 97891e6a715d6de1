extension SessionSchema {
    /// Locks the row of one API key (`$1`: ``APIKeyHasher/hash(_:)`` of the key) with its
    /// owner, for ``APIKeyUsage``. Times come as milliseconds since 1970 (UTC for columns
    /// without a zone, as Better Auth's adapters write them).
    ///
    /// Columns, in order: id, owner, enabled, expiresAt, remaining, refillAmount,
    /// refillInterval, lastRefillAt, createdAt, rateLimitEnabled, rateLimitTimeWindow,
    /// rateLimitMax, requestCount, lastRequest, the owner's email, role, banned, ban end (the
    /// last two constants without the admin plugin). A key whose `referenceId` is not a user
    /// (an organization's key) has no row.
    public var apiKeyLockSQL: String {
        let q = Self.quoted
        func millis(_ column: String) -> String { "(extract(epoch from k.\"\(column)\") * 1000)::bigint" }
        let role = self.userRole.map { "u.\(q($0))::text" } ?? "NULL::text"
        let ban =
            self.adminPlugin
            ? "coalesce(u.\"banned\", false), (extract(epoch from u.\"banExpires\"))::bigint"
            : "false, NULL::bigint"
        return """
            SELECT k."id"::text, k."referenceId"::text, coalesce(k."enabled", true), \(millis("expiresAt")), \
            k."remaining"::bigint, k."refillAmount"::bigint, k."refillInterval"::bigint, \(millis("lastRefillAt")), \
            coalesce(\(millis("createdAt")), 0), coalesce(k."rateLimitEnabled", true), \
            k."rateLimitTimeWindow"::bigint, k."rateLimitMax"::bigint, coalesce(k."requestCount", 0)::bigint, \
            \(millis("lastRequest")), u.\(q(self.userEmail))::text, \(role), \(ban) \
            FROM \(q(self.apiKeyTable)) k JOIN \(q(self.userTable)) u ON u.\(q(self.userID))::text = k."referenceId"::text \
            WHERE k."key" = $1 FOR UPDATE OF k
            """
    }

    /// Writes one use of a key (``APIKeyUsage/Update``): `$1` id, `$2` remaining, `$3`
    /// lastRefillAt, `$4` requestCount, `$5` lastRequest (milliseconds, or `NULL`). Run in the
    /// transaction that locked the row, with the time zone set to UTC so that columns without
    /// a zone get UTC, as Better Auth writes them.
    public var apiKeyUseSQL: String {
        let q = Self.quoted
        func time(_ bind: Int) -> String {
            "CASE WHEN $\(bind)::bigint IS NULL THEN NULL ELSE to_timestamp($\(bind)::bigint / 1000.0) END"
        }
        return """
            UPDATE \(q(self.apiKeyTable)) SET "remaining" = $2, "lastRefillAt" = \(time(3)), \
            "requestCount" = $4, "lastRequest" = \(time(5)), "updatedAt" = now() \
            WHERE "id" = $1
            """
    }
}
