public import NIOCore
public import NIOHTTP1

/// What a client connection knows of the exchange in flight, from its head to its response's
/// end: the request's shape, what admission said of it, who the caller turned out to be, and
/// the answers the gateway writes for it itself.
///
/// One value per connection, replaced field by field as each exchange starts (no allocation
/// per exchange: the strings and arrays it holds come from the head and from admission).
public struct ProxyExchange: Sendable {
    public var method: HTTPMethod = .GET
    public var version: HTTPVersion = .http1_1
    public var requestID = ""
    /// The client connection stays open after the response.
    public var keepAlive = true
    /// The client waits for `100 Continue` before it sends the body.
    public var expectsContinue = false
    public var startedAt: NIODeadline = .uptimeNanoseconds(0)
    /// When the head went upstream (the upstream latency's start).
    public var sentAt: NIODeadline = .uptimeNanoseconds(0)
    /// The request target: as received until admission normalises it, then normalised (for
    /// the access log and audit events).
    public var target = ""
    /// The backend's status, once its head arrived.
    public var responseStatus: UInt = 0
    public var clientIP = ""
    public var userAgent: String?
    /// How the request is authenticated (attempts, and what decides a refusal's reason).
    public var plan = AuthenticationPlan(attempts: [], hadCredentials: false)
    /// Cache keys to evict once a sign-out passing through the gateway succeeds.
    public var evictOnSuccess: [CredentialKey] = []
    /// The route rule the exchange matched.
    public var route = RouteMatch(access: .authenticated)
    /// The `route_class` of the exchange's metrics.
    public var routeClass: RouteClass = .unrouted
    /// The identity the exchange was accepted with (for tunnels and the access log).
    public var identity: Identity?
    /// The attempts an upgrade was accepted with, kept for the tunnel's revalidation.
    public var acceptedAttempts: [CredentialAttempt] = []
    public var isUpgrade = false
    /// The CORS fields of the exchange's answers; `nil` when the gateway does not handle CORS
    /// for it (`cors:` off, or the route says `cors: false`).
    public var cors: CORSResponseHeaders?

    public init() {}

    /// A head arrived, before admission looks at it.
    public mutating func headReceived(method: HTTPMethod, version: HTTPVersion, target: String, at now: NIODeadline) {
        self.method = method
        self.version = version
        self.target = target
        self.startedAt = now
    }

    /// Replaces what the previous exchange left with what admission says of this one, for a
    /// request admission let through to a decision (`info` is set).
    public mutating func begin(_ admission: Admission, userAgent: String?) {
        self.clientIP = admission.clientIP
        self.keepAlive = admission.keepAlive
        self.expectsContinue = admission.expectsContinue
        self.identity = nil
        self.acceptedAttempts = []
        self.evictOnSuccess = admission.evictOnSuccess
        self.routeClass = admission.routeClass
        self.userAgent = userAgent
        self.plan = AuthenticationPlan(attempts: [], hadCredentials: false)
        self.isUpgrade = admission.info?.isUpgrade ?? false
        self.target = admission.target
        self.route = admission.route
    }

    /// A request that never had a head parsed (a malformed or timed-out one): its answer is
    /// the gateway's own, to no known request.
    public mutating func headless(requestID: String) {
        self.requestID = requestID
        self.method = .GET
        self.version = .http1_1
        self.routeClass = .unrouted
    }

    /// The audit event of this exchange's authentication step.
    public func auditEvent(
        _ kind: AuditEvent.Kind,
        method: AuthMethod?,
        success: Bool,
        identity: Identity?,
        reason: String?,
        timeMicros: Int64
    ) -> AuditEvent {
        AuditEvent(
            kind: kind,
            authMethod: method,
            success: success,
            userID: identity?.userID,
            sessionID: identity?.sessionID,
            clientIP: self.clientIP,
            userAgent: self.userAgent,
            route: String(RequestAdmission.path(of: self.target)),
            reason: reason,
            requestID: self.requestID,
            timeMicros: timeMicros
        )
    }

    /// The gateway's JSON error answer for this exchange: its head (CORS fields included) and
    /// its body.
    public func errorAnswer(_ error: GatewayError, close: Bool) -> (head: HTTPResponseHead, body: String) {
        let body = ErrorBody.render(error, requestID: self.requestID)
        var head = ErrorBody.responseHead(
            for: error,
            bodyLength: body.utf8.count,
            requestID: self.requestID,
            version: self.version,
            close: close
        )
        self.cors?.add(to: &head.headers)
        return (head, body)
    }

    /// The head of an answer from one of the gateway's own endpoints.
    public func localAnswerHead(_ answer: LocalResponse, keepAlive: Bool) -> HTTPResponseHead {
        answer.head(version: self.version, requestID: self.requestID, cors: self.cors, keepAlive: keepAlive)
    }

    /// The 204 head answering a CORS preflight, and the access log's `error` when it is
    /// refused.
    public func preflightAnswer(
        _ answer: CORSPreflightAnswer,
        keepAlive: Bool
    ) -> (head: HTTPResponseHead, denial: String?) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(10)
        answer.add(to: &headers)
        headers.add(name: "X-Request-Id", value: self.requestID)
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let denial: String?
        switch answer.denial {
        case .none: denial = nil
        case .method: denial = "cors_method_not_allowed"
        case .header: denial = "cors_header_not_allowed"
        }
        return (HTTPResponseHead(version: self.version, status: CORSPreflightAnswer.status, headers: headers), denial)
    }

    /// The path of the target, without its query (for the access log).
    public var loggedPath: Substring {
        self.target.split(separator: "?", maxSplits: 1).first ?? ""
    }
}
