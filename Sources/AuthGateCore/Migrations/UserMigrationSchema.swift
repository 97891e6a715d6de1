/// The tables `authgate users migrate` reads and writes, and the SQL it sends.
///
/// The legacy table and its key and status columns come from `rollout.users_table`,
/// `rollout.users_id_column` and `rollout.migration_status_column`; the Better Auth tables are
/// the ones migration 001 creates. Every name is a validated plain identifier and is always
/// double-quoted (``SessionSchema/quoted(_:)``), so the builders are injection-proof; values
/// are always bound.
///
/// Ids are compared as text: the legacy id may be an integer, a uuid or text, while Better
/// Auth's ids are text. To keep the legacy primary-key index usable, statements that address
/// legacy rows by id cast the bound `text[]` to the id column's own type (``idType``, read from
/// the catalog) instead of casting the column.
public struct UserMigrationSchema: Sendable, Hashable {
    public var usersTable: String = "users"
    public var idColumn: String = "id"
    public var emailColumn: String = "email"
    /// The display-name column, if the legacy table has one (Better Auth's `name` is required;
    /// users without one get an empty name).
    public var nameColumn: String? = "name"
    public var passwordHashColumn: String = "password_hash"
    public var statusColumn: String = "migration_status"
    /// The soft-delete column: users with it set are never migrated (they stay `pending` and
    /// are counted apart). `nil`, or a table without the column, migrates every pending user.
    public var deletedAtColumn: String? = "deleted_at"
    public var betterAuthUsersTable: String = "better_auth_users"
    public var betterAuthAccountsTable: String = "better_auth_accounts"
    /// The id column's type as `format_type` spells it (`integer`, `uuid`, `character
    /// varying(64)`); `nil` compares `id::text` instead (correct, but without the index).
    public var idType: String? = nil

    /// The prefix of the credential accounts the migration creates: the account of legacy user
    /// `42` has id `legacy-42`. The Better Auth user keeps the legacy id itself, so
    /// `X-Auth-User-Id` is the same whichever way the user signs in, and a rerun finds the rows
    /// it made.
    public static let accountIDPrefix = "legacy-"

    /// The `pg_try_advisory_lock` key held for a whole `authgate users migrate` run: the bytes
    /// of `"authuser"` read as a big-endian 64-bit integer.
    public static let advisoryLockKey: Int64 = 0x6175_7468_7573_6572

    public init() {}

    /// The names that are not plain identifiers.
    public var invalidNames: [String] {
        [
            self.usersTable, self.idColumn, self.emailColumn, self.passwordHashColumn, self.statusColumn,
            self.betterAuthUsersTable, self.betterAuthAccountsTable,
        ].filter { !SessionSchema.isValidIdentifier($0) }
            + [self.nameColumn, self.deletedAtColumn].compactMap { $0 }.filter { !SessionSchema.isValidIdentifier($0) }
    }

    /// The Better Auth credential account id of legacy user `id`.
    public static func accountID(forLegacyID id: String) -> String {
        Self.accountIDPrefix + id
    }

    /// Whether `type` (from `format_type`) may be spliced into a cast: letters, digits, spaces,
    /// `_`, `(`, `)`, `,`, `.` and `"` only, at most 100 bytes.
    public static func isSafeTypeName(_ type: String) -> Bool {
        guard !type.isEmpty, type.utf8.count <= 100 else { return false }
        return type.utf8.allSatisfy { b in
            let isLetter = (b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "z")
            let isDigit = b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")
            return isLetter || isDigit || b == UInt8(ascii: " ") || b == UInt8(ascii: "_")
                || b == UInt8(ascii: "(") || b == UInt8(ascii: ")") || b == UInt8(ascii: ",")
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "\"")
        }
    }

    private var q: (String) -> String { SessionSchema.quoted }

    /// ` AND l."deleted_at" IS NULL` (with `alias`, else the bare column), or nothing without a
    /// soft-delete column: the condition that keeps soft-deleted users out of a migration.
    func notSoftDeleted(alias: String? = "l") -> String {
        guard let column = self.deletedAtColumn else { return "" }
        return " AND \(alias.map { "\($0)." } ?? "")\(q(column)) IS NULL"
    }

    /// `"id" = ANY($n::text[]::integer[])`, or `"id"::text = ANY($n::text[])` without a safe type.
    func idMatches(_ parameter: Int, alias: String? = nil) -> String {
        let column = (alias.map { "\($0)." } ?? "") + q(self.idColumn)
        if let type = self.idType, Self.isSafeTypeName(type), type != "text" {
            return "\(column) = ANY($\(parameter)::text[]::\(type)[])"
        }
        return "\(column)::text = ANY($\(parameter)::text[])"
    }

    // MARK: catalog

    /// The columns of a table: binds `$1` the quoted table name (``SessionSchema/quoted(_:)``);
    /// rows `(name text, type text)`; no rows if the table does not exist.
    public static let columnsSQL = """
        SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)::text FROM pg_attribute a \
        WHERE a.attrelid = to_regclass($1::text) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
        """

    // MARK: counts

    /// Soft-deleted users: one row `(pending bigint, all bigint)`, the pending ones a migration
    /// skips and all of them. Only with a soft-delete column.
    public var softDeletedCountsSQL: String? {
        guard let column = self.deletedAtColumn else { return nil }
        return """
            SELECT count(*) FILTER (WHERE \(q(self.statusColumn)) = 'pending'), count(*) FROM \(q(self.usersTable)) \
            WHERE \(q(column)) IS NOT NULL
            """
    }

    /// `migration_status, count` of the legacy table, by status.
    public var statusCountsSQL: String {
        "SELECT \(q(self.statusColumn))::text, count(*) FROM \(q(self.usersTable)) GROUP BY 1 ORDER BY 1"
    }

    /// The number of rows the migration created that still exist: one row, `(users bigint,
    /// accounts bigint)`: Better Auth users whose id is a migrated legacy id, and credential
    /// accounts with a `legacy-` id.
    public var createdRowsSQL: String {
        """
        SELECT (SELECT count(*) FROM \(q(self.betterAuthUsersTable)) b JOIN \(q(self.usersTable)) l \
        ON b."id" = l.\(q(self.idColumn))::text WHERE l.\(q(self.statusColumn)) = 'migrated'), \
        (SELECT count(*) FROM \(q(self.betterAuthAccountsTable)) \
        WHERE "providerId" = 'credential' AND "id" LIKE '\(Self.accountIDPrefix)%')
        """
    }

    /// Up to `$1` ids of the users a run in `direction` would take, in id order (for a dry run).
    public func firstIDsSQL(status direction: UserMigrationDirection) -> String {
        let live = direction == .migrate ? self.notSoftDeleted() : ""
        return """
            SELECT l.\(q(self.idColumn))::text FROM \(q(self.usersTable)) l \
            WHERE l.\(q(self.statusColumn)) = '\(direction.fromStatus)'\(live) ORDER BY l.\(q(self.idColumn)) LIMIT $1
            """
    }

    // MARK: batches

    /// One batch of `pending` users that are not soft-deleted, locked for the transaction,
    /// skipping rows another transaction holds: binds `$1` the batch size; rows `(id, email,
    /// name, password_hash)`.
    /// Columns are qualified (`l."id"`) so that `ORDER BY` sorts by the column itself (its
    /// index, numeric order) and not by the `::text` output column of the same name.
    public var selectPendingBatchSQL: String {
        let name = self.nameColumn.map { "l.\(q($0))::text" } ?? "NULL::text"
        return """
            SELECT l.\(q(self.idColumn))::text, l.\(q(self.emailColumn))::text, \(name), \
            l.\(q(self.passwordHashColumn))::text FROM \(q(self.usersTable)) l \
            WHERE l.\(q(self.statusColumn)) = 'pending'\(self.notSoftDeleted()) ORDER BY l.\(q(self.idColumn)) \
            LIMIT $1 FOR UPDATE SKIP LOCKED
            """
    }

    /// One batch of `migrated` users for a rollback: binds `$1` the batch size; rows `(id)`.
    /// Soft-deleted users are rolled back too: the rollback undoes whatever the migration made.
    public var selectMigratedBatchSQL: String {
        """
        SELECT l.\(q(self.idColumn))::text FROM \(q(self.usersTable)) l \
        WHERE l.\(q(self.statusColumn)) = 'migrated' ORDER BY l.\(q(self.idColumn)) LIMIT $1 FOR UPDATE SKIP LOCKED
        """
    }

    /// Better Auth users that share an id (`$1 text[]`) or an email (`$2 text[]`, lower-cased:
    /// Better Auth stores emails lower-cased, so the unique index on `email` serves the lookup)
    /// with the batch: rows `(id, email, has_legacy_account bool)`.
    public var existingBetterAuthUsersSQL: String {
        """
        SELECT b."id", b."email", EXISTS (SELECT 1 FROM \(q(self.betterAuthAccountsTable)) a \
        WHERE a."id" = '\(Self.accountIDPrefix)' || b."id" AND a."providerId" = 'credential') \
        FROM \(q(self.betterAuthUsersTable)) b WHERE b."id" = ANY($1::text[]) OR b."email" = ANY($2::text[])
        """
    }

    /// Creates Better Auth users: binds `$1` ids, `$2` names, `$3` emails (`text[]` each).
    public var insertBetterAuthUsersSQL: String {
        """
        INSERT INTO \(q(self.betterAuthUsersTable)) ("id", "name", "email", "emailVerified", "createdAt", "updatedAt") \
        SELECT t.id, t.name, t.email, false, now(), now() FROM unnest($1::text[], $2::text[], $3::text[]) \
        AS t(id, name, email) ON CONFLICT ("id") DO NOTHING RETURNING 1
        """
    }

    /// Creates credential accounts: binds `$1` account ids, `$2` user ids, `$3` password hashes.
    /// `accountId` is the user id, as Better Auth's own credential accounts have it.
    public var insertCredentialAccountsSQL: String {
        """
        INSERT INTO \(q(self.betterAuthAccountsTable)) ("id", "accountId", "providerId", "userId", "password", \
        "createdAt", "updatedAt") SELECT t.id, t.user_id, 'credential', t.user_id, t.password, now(), now() \
        FROM unnest($1::text[], $2::text[], $3::text[]) AS t(id, user_id, password) ON CONFLICT ("id") DO NOTHING RETURNING 1
        """
    }

    /// Sets the status of the users `$1 text[]` from `direction.fromStatus` to
    /// `direction.toStatus`; returns one row per user changed.
    public func markSQL(_ direction: UserMigrationDirection) -> String {
        """
        UPDATE \(q(self.usersTable)) SET \(q(self.statusColumn)) = '\(direction.toStatus)' \
        WHERE \(self.idMatches(1)) AND \(q(self.statusColumn)) = '\(direction.fromStatus)' RETURNING 1
        """
    }

    /// Deletes the credential accounts the migration created: binds `$1` account ids.
    public var deleteCredentialAccountsSQL: String {
        """
        DELETE FROM \(q(self.betterAuthAccountsTable)) WHERE "id" = ANY($1::text[]) AND "providerId" = 'credential' RETURNING 1
        """
    }

    /// Deletes the Better Auth users the migration created (their sessions and any other
    /// accounts go with them, `ON DELETE CASCADE`): binds `$1` user ids.
    public var deleteBetterAuthUsersSQL: String {
        "DELETE FROM \(q(self.betterAuthUsersTable)) WHERE \"id\" = ANY($1::text[]) RETURNING 1"
    }

    // MARK: preflight

    /// Pending users that cannot be migrated as they are, at most `$1` of them: a Better Auth
    /// user with the same id and another email (half-migrated), a Better Auth user with another
    /// id and the same email, or no email. Rows `(id, email, name, password_hash,
    /// better_auth_id, better_auth_email)`; feed them to ``UserMigrationBatch/plan(legacy:existing:)``
    /// for the message.
    public var conflictsSQL: String {
        let name = self.nameColumn.map { "l.\(q($0))::text" } ?? "NULL::text"
        let columns =
            "l.\(q(self.idColumn))::text, l.\(q(self.emailColumn))::text, \(name), l.\(q(self.passwordHashColumn))::text"
        let pending = "l.\(q(self.statusColumn)) = 'pending'\(self.notSoftDeleted())"
        let users = q(self.usersTable)
        let betterAuth = q(self.betterAuthUsersTable)
        return """
            (SELECT \(columns), b."id", b."email" FROM \(users) l JOIN \(betterAuth) b \
            ON b."id" = l.\(q(self.idColumn))::text \
            WHERE \(pending) AND lower(b."email") IS DISTINCT FROM lower(l.\(q(self.emailColumn))::text) LIMIT $1) \
            UNION ALL (SELECT \(columns), b."id", b."email" FROM \(users) l JOIN \(betterAuth) b \
            ON b."email" = lower(l.\(q(self.emailColumn))::text) \
            WHERE \(pending) AND b."id" <> l.\(q(self.idColumn))::text LIMIT $1) \
            UNION ALL (SELECT \(columns), NULL::text, NULL::text FROM \(users) l \
            WHERE \(pending) AND coalesce(l.\(q(self.emailColumn))::text, '') = '' LIMIT $1)
            """
    }

    /// Lower-cased emails shared by several pending users (Better Auth's email is unique): rows
    /// `(email, ids text[])`, at most `$1`.
    public var duplicateEmailsSQL: String {
        """
        SELECT lower(\(q(self.emailColumn))::text), array_agg(\(q(self.idColumn))::text ORDER BY \(q(self.idColumn))) \
        FROM \(q(self.usersTable)) WHERE \(q(self.statusColumn)) = 'pending'\(self.notSoftDeleted(alias: nil)) \
        AND coalesce(\(q(self.emailColumn))::text, '') <> '' \
        GROUP BY 1 HAVING count(*) > 1 LIMIT $1
        """
    }
}

/// Which way `authgate users migrate` moves users.
public enum UserMigrationDirection: Sendable, Hashable {
    /// `pending` → `migrated`: create the Better Auth user and credential account.
    case migrate
    /// `migrated` → `pending`: delete what ``migrate`` created (`--rollback`).
    case rollback

    /// The status of the users a batch takes.
    public var fromStatus: String { self == .migrate ? "pending" : "migrated" }
    /// The status a batch leaves them in.
    public var toStatus: String { self == .migrate ? "migrated" : "pending" }
}
