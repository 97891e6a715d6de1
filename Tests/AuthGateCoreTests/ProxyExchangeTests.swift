import AuthGateCore
import NIOCore
import NIOHTTP1
import Testing

/// What a connection keeps of the exchange in flight, and the answers it writes for it.
@Suite struct ProxyExchangeTests {
    static func admission(keepAlive: Bool = true, isUpgrade: Bool = false) -> Admission {
        var admission = Admission(decision: .forward, requestID: "req-1", target: "/api/items?page=2")
        admission.clientIP = "203.0.113.9"
        admission.keepAlive = keepAlive
        admission.expectsContinue = true
        admission.routeClass = .authenticated
        admission.route = RouteMatch(access: .public)
        admission.info = ProxyStateMachine.RequestInfo(
            method: .GET,
            framing: .none,
            keepAlive: keepAlive,
            isUpgrade: isUpgrade,
            maxBodyBytes: 1024
        )
        return admission
    }

    static func identity() -> Identity {
        Identity(
            userID: "user-1",
            email: "u@example.com",
            roles: [],
            kind: .betterAuthSessionCookie,
            sessionID: "s-1",
            expiresAt: 1_800_000_000
        )
    }

    @Test func beginningAnExchangeClearsWhatThePreviousOneLeft() {
        var exchange = ProxyExchange()
        exchange.identity = Self.identity()
        exchange.acceptedAttempts = [.legacyJWT("t")]
        exchange.plan = AuthenticationPlan(attempts: [.legacyJWT("t")], hadCredentials: true)
        exchange.headReceived(method: .POST, version: .http1_0, target: "/api//items", at: .uptimeNanoseconds(7))
        #expect(exchange.target == "/api//items")
        exchange.begin(Self.admission(isUpgrade: true), userAgent: "curl/8")

        #expect(exchange.method == .POST)
        #expect(exchange.version == .http1_0)
        #expect(exchange.startedAt == .uptimeNanoseconds(7))
        #expect(exchange.identity == nil)
        #expect(exchange.acceptedAttempts.isEmpty)
        #expect(exchange.plan.attempts.isEmpty)
        #expect(!exchange.plan.hadCredentials)
        #expect(exchange.clientIP == "203.0.113.9")
        #expect(exchange.keepAlive)
        #expect(exchange.expectsContinue)
        #expect(exchange.isUpgrade)
        #expect(exchange.routeClass == .authenticated)
        #expect(exchange.route.access == .public)
        #expect(exchange.userAgent == "curl/8")
        #expect(exchange.target == "/api/items?page=2")
        #expect(exchange.loggedPath == "/api/items")
    }

    @Test func aHeadlessAnswerIsTheGatewaysOwnToNoRequest() {
        var exchange = ProxyExchange()
        exchange.headReceived(method: .DELETE, version: .http1_0, target: "/x", at: .uptimeNanoseconds(1))
        exchange.routeClass = .authenticated
        exchange.headless(requestID: "req-9")
        #expect(exchange.requestID == "req-9")
        #expect(exchange.method == .GET)
        #expect(exchange.version == .http1_1)
        #expect(exchange.routeClass == .unrouted)
    }

    @Test func anErrorAnswerCarriesItsRequestIDCORSFieldsAndFraming() throws {
        var exchange = ProxyExchange()
        exchange.begin(Self.admission(), userAgent: nil)
        exchange.requestID = "req-1"
        exchange.version = .http1_0
        exchange.cors = CORSResponseHeaders(
            allowOrigin: "https://app.example.com",
            allowCredentials: true,
            exposeHeaders: nil,
            varyOrigin: true
        )
        let (head, body) = exchange.errorAnswer(.upstreamUnavailable, close: true)
        #expect(head.status == GatewayError.upstreamUnavailable.status)
        #expect(head.version == .http1_0)
        #expect(head.headers["X-Request-Id"] == ["req-1"])
        #expect(head.headers["Content-Length"] == [String(body.utf8.count)])
        #expect(head.headers["Connection"] == ["close"])
        #expect(head.headers["Access-Control-Allow-Origin"] == ["https://app.example.com"])
        let json = try JSONParser.parse(Array(body.utf8))
        #expect(json["request_id"]?.stringValue == "req-1")
        #expect(json["error"]?.stringValue == GatewayError.upstreamUnavailable.code.rawValue)

        exchange.cors = nil
        let (open, _) = exchange.errorAnswer(.upstreamUnavailable, close: false)
        #expect(open.headers["Connection"].isEmpty)
        #expect(open.headers["Access-Control-Allow-Origin"].isEmpty)
    }

    @Test func aRefusedPreflightNamesWhatWasRefused() {
        var exchange = ProxyExchange()
        exchange.requestID = "req-2"
        let allowed = CORSPreflightAnswer(allowOrigin: "https://a.example", allowCredentials: false, varyOrigin: false)
        let (head, denial) = exchange.preflightAnswer(allowed, keepAlive: true)
        #expect(head.status == CORSPreflightAnswer.status)
        #expect(head.headers["X-Request-Id"] == ["req-2"])
        #expect(head.headers["Connection"].isEmpty)
        #expect(denial == nil)

        var method = allowed
        method.denial = .method("PURGE")
        #expect(exchange.preflightAnswer(method, keepAlive: false).denial == "cors_method_not_allowed")
        #expect(exchange.preflightAnswer(method, keepAlive: false).head.headers["Connection"] == ["close"])
        var header = allowed
        header.denial = .header("x-secret")
        #expect(exchange.preflightAnswer(header, keepAlive: true).denial == "cors_header_not_allowed")
    }

    @Test func anAuditEventNamesTheRoutesPathAndTheCaller() {
        var exchange = ProxyExchange()
        exchange.begin(Self.admission(), userAgent: "agent/1")
        exchange.requestID = "req-3"
        let event = exchange.auditEvent(
            .success,
            method: .betterAuth,
            success: true,
            identity: Self.identity(),
            reason: nil,
            timeMicros: 42
        )
        #expect(event.route == "/api/items")
        #expect(event.userID == "user-1")
        #expect(event.sessionID == "s-1")
        #expect(event.clientIP == "203.0.113.9")
        #expect(event.userAgent == "agent/1")
        #expect(event.requestID == "req-3")
        #expect(event.timeMicros == 42)
        #expect(event.success)
    }
}
