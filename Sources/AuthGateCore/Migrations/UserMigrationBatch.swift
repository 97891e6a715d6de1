/// A legacy user as one batch of `authgate users migrate` reads it.
public struct LegacyUser: Sendable, Hashable {
    public var id: String
    public var email: String?
    public var name: String?
    /// The legacy password hash; it becomes the credential account's `password` unchanged, so
    /// it must be in a format the auth server verifies (Better Auth's scrypt `salt:key` hex by
    /// default). A user without one gets a Better Auth user and no credential account.
    public var passwordHash: String?

    public init(id: String, email: String?, name: String?, passwordHash: String?) {
        self.id = id
        self.email = email
        self.name = name
        self.passwordHash = passwordHash
    }
}

/// A Better Auth user that shares an id or an email with a legacy user of the batch.
public struct ExistingBetterAuthUser: Sendable, Hashable {
    public var id: String
    public var email: String
    /// Whether the credential account the migration would create (`legacy-<id>`) exists.
    public var hasLegacyAccount: Bool

    public init(id: String, email: String, hasLegacyAccount: Bool) {
        self.id = id
        self.email = email
        self.hasLegacyAccount = hasLegacyAccount
    }
}

/// Why a legacy user cannot be migrated as it is. The batch holding it is rolled back and the
/// run stops: a person has to look at the user.
public enum UserMigrationProblem: Error, Hashable, CustomStringConvertible {
    /// The user has no email; Better Auth's email is required.
    case missingEmail(userID: String)
    /// A Better Auth user with the legacy id exists (an earlier, interrupted or hand-made
    /// migration) but its email differs: half-migrated.
    case halfMigrated(userID: String, legacyEmail: String, betterAuthEmail: String)
    /// Another Better Auth user (signed up on its own) already has the email.
    case emailTaken(userID: String, email: String, betterAuthUserID: String)
    /// Several pending legacy users share one email (Better Auth's email is unique).
    case duplicateEmail(email: String, userIDs: [String])

    public var description: String {
        switch self {
        case .missingEmail(let id):
            return "legacy user \(id) has no email; Better Auth needs one"
        case .halfMigrated(let id, let legacyEmail, let betterAuthEmail):
            return
                "legacy user \(id) is half-migrated: it is still pending, but Better Auth user \(id) already "
                + "exists with email \(betterAuthEmail) instead of \(legacyEmail)"
        case .emailTaken(let id, let email, let other):
            return "legacy user \(id): email \(email) already belongs to Better Auth user \(other)"
        case .duplicateEmail(let email, let ids):
            return "legacy users \(ids.joined(separator: ", ")) share the email \(email); Better Auth's email is unique"
        }
    }
}

/// The rows one batch writes, decided without I/O from the locked legacy rows and the Better
/// Auth users that share their ids or emails.
public struct UserMigrationBatch: Sendable, Hashable {
    /// A Better Auth user to create.
    public struct NewUser: Sendable, Hashable {
        public var id: String
        public var name: String
        /// Lower-cased, as Better Auth stores and looks emails up.
        public var email: String
    }

    /// A credential account to create.
    public struct NewAccount: Sendable, Hashable {
        public var id: String
        public var userID: String
        public var passwordHash: String
    }

    /// Better Auth users to insert (`ON CONFLICT DO NOTHING`).
    public var newUsers: [NewUser] = []
    /// Credential accounts to insert (`ON CONFLICT DO NOTHING`).
    public var newAccounts: [NewAccount] = []
    /// Legacy ids to mark `migrated`: every user of the batch.
    public var legacyIDs: [String] = []
    /// Users whose Better Auth user existed with the same id and email (a migration made by
    /// hand or by an older run): they are adopted, not duplicated.
    public var adopted: [String] = []

    public init() {}

    /// Plans one batch.
    ///
    /// Rules, per legacy user:
    /// - no email → ``UserMigrationProblem/missingEmail(userID:)``;
    /// - a Better Auth user with the same id and the same (case-insensitive) email → adopted:
    ///   the credential account is added if missing, nothing else is written;
    /// - a Better Auth user with the same id and another email → ``UserMigrationProblem/halfMigrated(userID:legacyEmail:betterAuthEmail:)``;
    /// - a Better Auth user with another id and the same email → ``UserMigrationProblem/emailTaken(userID:email:betterAuthUserID:)``;
    /// - two users of the batch with one email → ``UserMigrationProblem/duplicateEmail(email:userIDs:)``;
    /// - otherwise a new Better Auth user with the legacy id, and, if the user has a password
    ///   hash, a credential account `legacy-<id>` holding it.
    ///
    /// - Returns: the batch, or every problem found (in legacy order) if there is any.
    public static func plan(
        legacy: [LegacyUser],
        existing: [ExistingBetterAuthUser]
    ) -> Result<UserMigrationBatch, UserMigrationProblems> {
        var byID: [String: ExistingBetterAuthUser] = [:]
        var byEmail: [String: ExistingBetterAuthUser] = [:]
        for user in existing {
            byID[user.id] = user
            byEmail[user.email.lowercased()] = user
        }
        var batch = UserMigrationBatch()
        var problems: [UserMigrationProblem] = []
        var emailsInBatch: [String: [String]] = [:]
        var emailOrder: [String] = []
        for user in legacy {
            guard let rawEmail = user.email, !rawEmail.isEmpty else {
                problems.append(.missingEmail(userID: user.id))
                continue
            }
            let email = rawEmail.lowercased()
            if emailsInBatch[email] == nil { emailOrder.append(email) }
            emailsInBatch[email, default: []].append(user.id)
            if let same = byID[user.id] {
                guard same.email.lowercased() == email else {
                    problems.append(.halfMigrated(userID: user.id, legacyEmail: rawEmail, betterAuthEmail: same.email))
                    continue
                }
                batch.adopted.append(user.id)
            } else if let other = byEmail[email], other.id != user.id {
                problems.append(.emailTaken(userID: user.id, email: rawEmail, betterAuthUserID: other.id))
                continue
            } else {
                batch.newUsers.append(NewUser(id: user.id, name: user.name ?? "", email: email))
            }
            if let hash = user.passwordHash, !hash.isEmpty, byID[user.id]?.hasLegacyAccount != true {
                batch.newAccounts.append(
                    NewAccount(
                        id: UserMigrationSchema.accountID(forLegacyID: user.id),
                        userID: user.id,
                        passwordHash: hash
                    )
                )
            }
            batch.legacyIDs.append(user.id)
        }
        for email in emailOrder {
            if let ids = emailsInBatch[email], ids.count > 1 {
                problems.append(.duplicateEmail(email: email, userIDs: ids))
            }
        }
        return problems.isEmpty ? .success(batch) : .failure(UserMigrationProblems(problems))
    }
}

/// The problems that stopped a batch or a preflight check.
public struct UserMigrationProblems: Error, Hashable, CustomStringConvertible {
    public var problems: [UserMigrationProblem]

    public init(_ problems: [UserMigrationProblem]) {
        self.problems = problems
    }

    /// The first problems (at most three) on one line, with how many more there are.
    public var description: String {
        let shown = self.problems.prefix(3).map(\.description).joined(separator: "; ")
        let more = self.problems.count > 3 ? " (and \(self.problems.count - 3) more)" : ""
        return shown + more
    }
}
