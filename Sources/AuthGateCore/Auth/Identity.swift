/// How a caller proved who they are.
public enum AuthMethod: String, Sendable, Hashable {
    /// A token issued by the legacy backend (HS256/RS256 JWT or an opaque introspected token).
    case legacy
    /// A Better Auth session (cookie or bearer) or a Better Auth JWT.
    case betterAuth = "better-auth"
}

/// The kind of credential that produced an identity; finer than ``AuthMethod``, for metrics,
/// logs and `token inspect`.
public enum CredentialKind: String, Sendable, Hashable {
    case legacyJWT = "legacy_jwt"
    case legacyOpaque = "legacy_opaque"
    case betterAuthSessionCookie = "better_auth_session_cookie"
    case betterAuthSessionBearer = "better_auth_session_bearer"
    case betterAuthJWT = "better_auth_jwt"
    case betterAuthHS256JWT = "better_auth_hs256_jwt"
    /// A key of Better Auth's API key plugin (`x-api-key`).
    case betterAuthAPIKey = "better_auth_api_key"

    public var method: AuthMethod {
        switch self {
        case .legacyJWT, .legacyOpaque: return .legacy
        default: return .betterAuth
        }
    }
}

/// Who the caller is, as established by the introspection core. This is what becomes the
/// `X-Auth-*` headers; nothing in it comes from a client-sent header.
public struct Identity: Sendable, Hashable {
    public var userID: String
    public var email: String?
    public var roles: [String]
    public var kind: CredentialKind
    /// The Better Auth session id, or the legacy token's `jti`/`sid` when it has one.
    public var sessionID: String?
    /// When the credential stops being valid, in seconds since 1970; caps the cache TTL.
    public var expiresAt: Int64?
    /// The admin who opened this session as the user (Better Auth's admin plugin,
    /// `session.impersonatedBy`), or `nil`.
    public var impersonatedBy: String? = nil
    /// The session's active organization (Better Auth's organization plugin,
    /// `session.activeOrganizationId`), and the user's role in it (`member.role`).
    public var organizationID: String? = nil
    public var organizationRole: String? = nil

    public init(
        userID: String,
        email: String?,
        roles: [String],
        kind: CredentialKind,
        sessionID: String?,
        expiresAt: Int64?
    ) {
        self.userID = userID
        self.email = email
        self.roles = roles
        self.kind = kind
        self.sessionID = sessionID
        self.expiresAt = expiresAt
    }

    public var method: AuthMethod { self.kind.method }

    /// The `X-Auth-Method` value: the method, except that an API key says `api-key`, so a
    /// backend can tell a machine's key from a person's session.
    public var methodHeaderValue: String {
        self.kind == .betterAuthAPIKey ? "api-key" : self.method.rawValue
    }
}

/// Why a credential was not accepted. The raw value is the stable reason code of the 401 body
/// and of the metrics' `reason` label; never rename one.
public enum RejectionReason: String, Sendable, Hashable, Error, CaseIterable {
    case missingCredential = "missing_credential"
    case malformed = "malformed_token"
    case tooLarge = "token_too_large"
    case unsupportedAlgorithm = "unsupported_algorithm"
    case algorithmKeyMismatch = "algorithm_key_mismatch"
    case unknownKey = "unknown_key"
    case forbiddenHeader = "forbidden_header"
    case badSignature = "bad_signature"
    case expired = "token_expired"
    case notYetValid = "token_not_yet_valid"
    case wrongIssuer = "wrong_issuer"
    case wrongAudience = "wrong_audience"
    case missingSubject = "missing_subject"
    case sessionNotFound = "session_not_found"
    case sessionExpired = "session_expired"
    case rawTokenNotAllowed = "raw_token_not_allowed"
    case inactive = "token_inactive"
    case methodNotAllowed = "auth_method_not_allowed"
    /// A legacy token of a user the users table marks `migrated`, under `migration_policy: refuse`.
    case userMigrated = "user_migrated"
    /// A user Better Auth's admin plugin has banned (`banned`, until `banExpires` if set).
    case userBanned = "user_banned"
    /// An API key the `apikey` table does not hold (or whose owner is not a user).
    case apiKeyInvalid = "api_key_invalid"
    case apiKeyDisabled = "api_key_disabled"
    case apiKeyExpired = "api_key_expired"
    /// An API key with no `remaining` uses left (answered 429).
    case apiKeyUsageExceeded = "api_key_usage_exceeded"
    /// An API key over its own window, `rateLimitMax` per `rateLimitTimeWindow` (answered 429).
    case apiKeyRateLimited = "api_key_rate_limited"
}

extension RejectionReason {
    /// A sentence for the 401 body; never contains the credential.
    public var message: String {
        switch self {
        case .missingCredential: return "No credential: send a bearer token or the session cookie."
        case .malformed: return "The credential is malformed."
        case .tooLarge: return "The credential is too large."
        case .unsupportedAlgorithm: return "The token's algorithm is not accepted."
        case .algorithmKeyMismatch: return "The token's algorithm does not match its key."
        case .unknownKey: return "The token was signed with an unknown key."
        case .forbiddenHeader: return "The token's header carries a forbidden key reference."
        case .badSignature: return "The credential's signature is invalid."
        case .expired: return "The token has expired."
        case .notYetValid: return "The token is not valid yet."
        case .wrongIssuer: return "The token was issued by another issuer."
        case .wrongAudience: return "The token is meant for another audience."
        case .missingSubject: return "The token names no subject."
        case .sessionNotFound: return "The session does not exist or has ended."
        case .sessionExpired: return "The session has expired."
        case .rawTokenNotAllowed: return "Unsigned session tokens are not accepted."
        case .inactive: return "The token is not active."
        case .methodNotAllowed: return "This route does not accept this kind of credential."
        case .userMigrated: return "This account has moved to Better Auth: sign in again."
        case .userBanned: return "This account is banned."
        case .apiKeyInvalid: return "The API key is not valid."
        case .apiKeyDisabled: return "The API key is disabled."
        case .apiKeyExpired: return "The API key has expired."
        case .apiKeyUsageExceeded: return "The API key has reached its usage limit."
        case .apiKeyRateLimited: return "The API key is over its rate limit; try again later."
        }
    }
}

extension RejectionReason {
    /// Whether a rejection is evidence of guessing or forging: a credential refused by the
    /// phase, an expired one or none at all is what honest clients send after a flip or a
    /// long pause, and must not lock their address out; nor is a genuine API key used too
    /// late or too often a guess at one.
    public var countsTowardsLockout: Bool {
        switch self {
        case .methodNotAllowed, .expired, .sessionExpired, .missingCredential, .userMigrated, .notYetValid,
            .apiKeyExpired, .apiKeyUsageExceeded, .apiKeyRateLimited:
            return false
        default:
            return true
        }
    }
}
