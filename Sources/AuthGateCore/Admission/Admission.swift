/// What ``RequestAdmission`` decided for one request head, and what the exchange carries from
/// that decision: the request's identity on the wire, its route, the counters and the audit
/// event the decision calls for. The handler carries it out; it decides nothing itself.
public struct Admission: Sendable {
    /// The one thing to do with the request.
    public enum Decision: Sendable, Equatable {
        /// The head breaks the request rules (RFC 9112, the limits): the error, and the
        /// connection closes where the framing is in doubt.
        case invalid(GatewayError)
        /// Refused before anything is sent upstream.
        case reject(GatewayError)
        /// Answered by the gateway itself.
        case answerLocally(LocalAnswer)
        /// A public login whose account is in the body: read it (bounded) before the request
        /// goes on, to count failures per account.
        case checkLoginBody(contentType: String?)
        /// Forwarded with no caller to find (a public route); kept credentials already stripped.
        case forward
        /// The route needs a caller: the plan goes to the introspection core.
        case authenticate(AuthenticationPlan)
    }

    /// The answers the gateway gives itself.
    public enum LocalAnswer: Sendable, Equatable {
        /// `GET /health`.
        case health
        /// A CORS preflight from an allowed (or refused) origin.
        case preflight(CORSPreflightAnswer)
        /// `POST /api/auth-proxy/introspect`: answered once the body is read.
        case introspect
        /// `GET /api/auth-proxy/flags`: the flags for the caller, who may be anonymous.
        case flags
        /// A refresh whose token is in the body: routed once the body is read.
        case refreshFromBody
        /// A Better Auth session refresh: the auth server extends `signedValue`.
        case refreshSession(signedValue: String)
        /// A refresh of nothing the gateway can refresh: 401 with `reason`.
        case refreshRefused(RejectionReason)
        /// A local endpoint over its limit.
        case limited(GatewayError)
    }

    /// The decision.
    public var decision: Decision
    /// `X-Request-ID`: the client's, where trusted, or a new one.
    public var requestID: String
    /// The client's address, from a trusted `X-Forwarded-For` or the peer.
    public var clientIP: String = ""
    /// Whether the client's connection stays open after the exchange.
    public var keepAlive: Bool = false
    /// Whether the client waits for `100 Continue`.
    public var expectsContinue: Bool = false
    /// What the proxy state machine needs of the request; `nil` for an invalid head.
    public var info: ProxyStateMachine.RequestInfo?
    /// The CORS fields of the exchange's answers; `nil` when the gateway does not handle CORS
    /// for it.
    public var cors: CORSResponseHeaders?
    /// The matched route (the defaults before the route is looked up).
    public var route: RouteMatch = RouteMatch(access: .authenticated)
    /// The class the request is counted under.
    public var routeClass: RouteClass = .unrouted
    /// The normalised target as the client asked for it (before a refresh is re-targeted): for
    /// the access log and the audit trail.
    public var target: String
    /// The counter the decision adds one to.
    public var counter: AdmissionCounter?
    /// The audit event the decision records.
    public var audit: AdmissionAudit?
    /// Cache entries to evict once the exchange succeeds (a sign-out's session).
    public var evictOnSuccess: [CredentialKey] = []
    /// Whether a failed answer to this request counts towards the lockout (a login path).
    public var countsLoginFailure: Bool = false

    public init(decision: Decision, requestID: String, target: String) {
        self.decision = decision
        self.requestID = requestID
        self.target = target
    }
}

/// The counters an admission decision adds to.
public enum AdmissionCounter: Sendable, Hashable {
    /// `authgate_rejected_requests_total`: an invalid head.
    case rejectedRequest
    /// A target that does not normalise, or a malformed path parameter.
    case badPath
    /// The per-client-IP limit.
    case rateLimitedIP
    /// A route class's (or a local endpoint's) limit.
    case rateLimitedClass
    /// The failed-authentication lockout of the client IP.
    case lockedOut
    /// The per-user limit.
    case rateLimitedUser
    /// No resolver could answer a credential: `authgate_auth_unavailable_total`.
    case authUnavailable
    /// A migrated user's legacy token refused (`rollout.migration_policy: refuse`).
    case migratedLegacyRefused
    /// A migrated user's legacy token recorded (`rollout.migration_policy: record`).
    case migratedLegacyRecorded
}

/// An audit event without the exchange's context (client, route, request id): the kind, the
/// method, the outcome and its reason.
public struct AdmissionAudit: Sendable, Hashable {
    public var kind: AuditEvent.Kind
    public var method: AuthMethod?
    public var success: Bool
    public var reason: String?

    public init(kind: AuditEvent.Kind, method: AuthMethod?, success: Bool, reason: String?) {
        self.kind = kind
        self.method = method
        self.success = success
        self.reason = reason
    }
}

/// How a request that needs a caller is authenticated: the credential attempts in the order
/// the rollout flags give, and what decides the reason when none is accepted.
public struct AuthenticationPlan: Sendable, Hashable {
    /// The attempts, in order; empty when nothing the route accepts was sent.
    public var attempts: [CredentialAttempt]
    /// Whether the request carried any credential (an empty plan is then `malformed`, not
    /// `missing_credential`, and a refusal counts towards the lockout).
    public var hadCredentials: Bool
    /// Whether a credential was there but could not be read at all: refused as `malformed`
    /// without an attempt.
    public var isMalformed: Bool
    /// Whether the credentials were refused by the rollout phase only (another phase would
    /// accept them): `method_not_allowed`.
    public var refusedByPolicy: Bool
    /// The bearer token, to tell a valid legacy token refused by the phase.
    public var bearer: Substring?
    /// Whether the route's policy accepts legacy tokens.
    public var legacyAccepted: Bool
    /// The method the first attempt tries: the one a refusal is counted under.
    public let attemptMethod: AuthMethod?

    public init(
        attempts: [CredentialAttempt],
        hadCredentials: Bool,
        isMalformed: Bool = false,
        refusedByPolicy: Bool = false,
        bearer: Substring? = nil,
        legacyAccepted: Bool = true
    ) {
        self.attempts = attempts
        self.hadCredentials = hadCredentials
        self.isMalformed = isMalformed
        self.refusedByPolicy = refusedByPolicy
        self.bearer = bearer
        self.legacyAccepted = legacyAccepted
        self.attemptMethod = attempts.first?.method
    }
}
