/// One authentication event of the audit trail: a row of `auth_audit_log`.
///
/// Built on the request path with what the request already has (no lookups), handed to the
/// audit sink and written in batches off the request path. The session id travels as is and is
/// hashed by the writer before it reaches the database or the spill file; no credential is ever
/// part of an event.
public struct AuditEvent: Sendable, Hashable {
    /// What happened; the raw value is the `event_type` column.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A credential was accepted.
        case success = "auth_success"
        /// A credential was refused (401), or could not be decided (503, reason `auth_unavailable`).
        case failure = "auth_failure"
        /// A request was refused by the failed-authentication lockout (429).
        case lockout
        /// A sign-out passed through the gateway and succeeded.
        case signOut = "sign_out"
        /// `POST /api/auth-proxy/refresh`.
        case refresh
    }

    public var kind: Kind
    public var authMethod: AuthMethod?
    public var success: Bool
    public var userID: String?
    /// The Better Auth session id (or a legacy token's `jti`); hashed before it is stored.
    public var sessionID: String?
    public var clientIP: String
    public var userAgent: String?
    /// The normalised path, without the query string.
    public var route: String
    /// The rejection reason code, `auth_unavailable`, `locked_out`, or nil.
    public var reason: String?
    public var requestID: String
    /// Microseconds since 1970.
    public var timeMicros: Int64

    public init(
        kind: Kind,
        authMethod: AuthMethod?,
        success: Bool,
        userID: String?,
        sessionID: String?,
        clientIP: String,
        userAgent: String?,
        route: String,
        reason: String?,
        requestID: String,
        timeMicros: Int64
    ) {
        self.kind = kind
        self.authMethod = authMethod
        self.success = success
        self.userID = userID
        self.sessionID = sessionID
        self.clientIP = clientIP
        self.userAgent = userAgent
        self.route = route
        self.reason = reason
        self.requestID = requestID
        self.timeMicros = timeMicros
    }
}
