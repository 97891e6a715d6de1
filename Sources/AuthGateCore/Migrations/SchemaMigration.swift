import Crypto

/// One versioned SQL migration shipped with the binary (`authgate db migrate`).
///
/// The SQL is the text of `deploy/sql/<version>_<name>.sql`, embedded byte for byte, so DBAs
/// who apply the files by hand and the binary run the same statements. The checksum (SHA-256
/// of the UTF-8 text, lowercase hex) is recorded in ``SchemaMigration/tableName`` beside the
/// version; a recorded checksum that differs from the shipped one means the shipped file was
/// edited after it was applied somewhere, and the migrator refuses to go on.
public struct SchemaMigration: Sendable, Hashable {
    /// The version, unique and increasing; the file name's `NNN` prefix.
    public var version: Int
    /// The file name after the prefix, without `.sql`.
    public var name: String
    /// The SQL text: several statements separated by `;` (see ``SQLStatementSplitter``).
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// SHA-256 of ``sql``, lowercase hex.
    public var checksum: String {
        Self.checksum(of: self.sql)
    }

    /// `001_better_auth_compat.sql`.
    public var fileName: String {
        let digits = String(self.version)
        return String(repeating: "0", count: max(0, 3 - digits.count)) + digits + "_" + self.name + ".sql"
    }

    /// SHA-256 of `text`'s UTF-8 bytes, lowercase hex.
    public static func checksum(of text: String) -> String {
        let digest = SHA256.hash(data: Array(text.utf8))
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Every migration this binary ships, in version order.
    ///
    /// 1. Better Auth's tables as this deployment names them (`better_auth_users`,
    ///    `better_auth_sessions`, `better_auth_accounts`, `better_auth_verification_tokens`) and
    ///    the JWT plugin's `jwks`.
    /// 2. `auth_audit_log`.
    /// 3. `users.migration_status` and `users.last_auth_method` with their indexes (the legacy
    ///    `users` table must exist).
    /// 4. `authgate_lockout_failures`, the per-account failure counts of `lockout.store: postgres`.
    public static let all: [SchemaMigration] = [
        SchemaMigration(version: 1, name: "better_auth_compat", sql: betterAuthCompatSQL),
        SchemaMigration(version: 2, name: "auth_audit_log", sql: authAuditLogSQL),
        SchemaMigration(version: 3, name: "users_migration_status", sql: usersMigrationStatusSQL),
        SchemaMigration(version: 4, name: "lockout_failures", sql: lockoutFailuresSQL),
    ]

    /// `deploy/sql/better_auth_compat.sql`: every migration's SQL, concatenated in order, for
    /// DBAs who apply them by hand (`psql -1 -v ON_ERROR_STOP=1 -f better_auth_compat.sql`).
    public static var concatenatedSQL: String {
        Self.all.map(\.sql).joined()
    }

    /// The table recording applied migrations.
    public static let tableName = "authgate_schema_migrations"

    /// Creates ``tableName`` if it is missing.
    public static let createTableSQL = """
        CREATE TABLE IF NOT EXISTS \(tableName) (\
        version integer PRIMARY KEY, \
        name text NOT NULL, \
        checksum text NOT NULL, \
        applied_at timestamptz NOT NULL DEFAULT now())
        """

    /// Whether ``tableName`` exists: one row, one `bool` column.
    public static let tableExistsSQL = "SELECT to_regclass('\(tableName)') IS NOT NULL"

    /// The applied migrations: `version, name, checksum`, in version order.
    public static let selectAppliedSQL = "SELECT version, name, checksum FROM \(tableName) ORDER BY version"

    /// Records one applied migration: binds `$1` version, `$2` name, `$3` checksum.
    public static let insertAppliedSQL = "INSERT INTO \(tableName) (version, name, checksum) VALUES ($1, $2, $3)"

    /// The `pg_advisory_xact_lock` key that serialises `authgate db migrate` runs: the bytes of
    /// `"authgate"` read as a big-endian 64-bit integer.
    public static let advisoryLockKey: Int64 = 0x6175_7468_6761_7465
}

/// A row of ``SchemaMigration/tableName``.
public struct AppliedSchemaMigration: Sendable, Hashable {
    public var version: Int
    public var name: String
    public var checksum: String

    public init(version: Int, name: String, checksum: String) {
        self.version = version
        self.name = name
        self.checksum = checksum
    }
}

/// What `authgate db migrate` has to do, decided from the shipped migrations and the rows of
/// ``SchemaMigration/tableName``; no I/O.
public struct SchemaMigrationPlan: Sendable, Hashable {
    /// Shipped migrations not yet applied, in version order (a gap left by an older binary is
    /// filled too).
    public var pending: [SchemaMigration]
    /// Shipped migrations already applied with the same checksum.
    public var applied: [SchemaMigration]

    /// Why a plan cannot be made; the database is left alone.
    public enum Refusal: Error, Hashable, CustomStringConvertible {
        /// A recorded checksum differs from the shipped SQL's.
        case checksumMismatch(version: Int, name: String, recorded: String, shipped: String)
        /// A recorded version this binary does not ship: the database was migrated by a newer
        /// AuthGate.
        case unknownVersion(version: Int, name: String)

        public var description: String {
            switch self {
            case .checksumMismatch(let version, let name, let recorded, let shipped):
                return
                    "migration \(version) (\(name)) was applied with checksum \(recorded.prefix(12))…, but this "
                    + "binary ships \(shipped.prefix(12))…: the SQL changed after it was applied; refusing to "
                    + "migrate (compare deploy/sql with what the database holds)"
            case .unknownVersion(let version, let name):
                return
                    "the database records migration \(version) (\(name)), which this binary does not ship: it was "
                    + "migrated by a newer AuthGate; refusing to migrate"
            }
        }
    }

    public init(pending: [SchemaMigration], applied: [SchemaMigration]) {
        self.pending = pending
        self.applied = applied
    }

    /// Compares `shipped` with `recorded`.
    ///
    /// - Throws: ``Refusal`` for the first recorded row (by version) that is unknown or whose
    ///   checksum differs.
    public static func make(
        shipped: [SchemaMigration] = SchemaMigration.all,
        recorded: [AppliedSchemaMigration]
    ) throws(Refusal) -> SchemaMigrationPlan {
        var byVersion: [Int: SchemaMigration] = [:]
        for migration in shipped { byVersion[migration.version] = migration }
        var appliedVersions = Set<Int>()
        for row in recorded.sorted(by: { $0.version < $1.version }) {
            guard let migration = byVersion[row.version] else {
                throw .unknownVersion(version: row.version, name: row.name)
            }
            let checksum = migration.checksum
            guard checksum == row.checksum else {
                throw .checksumMismatch(
                    version: row.version,
                    name: migration.name,
                    recorded: row.checksum,
                    shipped: checksum
                )
            }
            appliedVersions.insert(row.version)
        }
        let ordered = shipped.sorted { $0.version < $1.version }
        return SchemaMigrationPlan(
            pending: ordered.filter { !appliedVersions.contains($0.version) },
            applied: ordered.filter { appliedVersions.contains($0.version) }
        )
    }
}
