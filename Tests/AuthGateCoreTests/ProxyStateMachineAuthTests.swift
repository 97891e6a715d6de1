import AuthGateCore
import NIOCore
import NIOHTTP1
import Testing

/// The `authenticating` state: nothing reaches the backend before the verdict.
@Suite("ProxyStateMachine authentication")
struct ProxyStateMachineAuthTests {
    typealias Machine = ProxyStateMachine

    static func head(_ method: HTTPMethod = .GET) -> HTTPRequestHead {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: "/api/me")
        head.headers.add(name: "Host", value: "backend")
        return head
    }

    static func info(
        _ method: HTTPMethod = .GET,
        framing: RequestBodyFraming = .none,
        maxBody: Int64 = 0
    ) -> Machine.RequestInfo {
        .init(method: method, framing: framing, keepAlive: true, isUpgrade: false, maxBodyBytes: maxBody)
    }

    @Test("an authenticated route asks for a verdict first and reads nothing meanwhile")
    func authenticateFirst() {
        var machine = Machine()
        guard case .authenticate = machine.requestHead(Self.head(), info: Self.info(), authenticate: true) else {
            Issue.record("expected .authenticate")
            return
        }
        #expect(machine.isAuthenticating)
        #expect(!machine.shouldReadClient)
    }

    static let lockedOut = GatewayError.tooManyRequests(retryAfterSeconds: 60, reason: .lockedOut)

    static func login(maxBytes: Int = 64) -> LoginBodyCheck {
        LoginBodyCheck(
            contentType: "application/json",
            maxBytes: maxBytes,
            emailField: "email",
            allocator: ByteBufferAllocator()
        )
    }

    @Test("a login's body is read into its check until it has seen enough; the account is then asked for")
    func loginBodyOverItsBound() {
        var machine = Machine()
        let head = Self.head(.POST)
        let info = Self.info(.POST, framing: .contentLength(40))
        #expect(machine.requestHead(head, info: info, login: Self.login(maxBytes: 16)) == .none)
        #expect(machine.isAuthenticating)
        #expect(machine.shouldReadClient)
        #expect(machine.requestBody(ByteBuffer(string: #"{"email":"#)) == .none)
        #expect(machine.shouldReadClient)
        // Over the check's bound: no account is read, and nothing more is read before the verdict.
        #expect(machine.requestBody(ByteBuffer(string: #""carol@example.com"}"#)) == .checkLoginAccount(nil))
        #expect(!machine.shouldReadClient)
        #expect(machine.isAuthenticating)
        // The end asks nothing again.
        #expect(machine.requestEnd() == .none)
        #expect(machine.authenticated() == .leaseUpstream(dedicated: false))
        let body = [ByteBuffer(string: #"{"email":"#), ByteBuffer(string: #""carol@example.com"}"#)]
        #expect(machine.upstreamLeased(reused: false) == .sendRequest(head, body: CircularBuffer(body), end: true))
    }

    @Test("a login's account is asked for once its body has ended, and the body is sent after the verdict")
    func loginBodyToItsEnd() {
        var machine = Machine()
        let head = Self.head(.POST)
        let json = #"{"email":" Alice@Example.com","password":"x"}"#
        let info = Self.info(.POST, framing: .contentLength(Int64(json.utf8.count)))
        #expect(machine.requestHead(head, info: info, login: Self.login()) == .none)
        #expect(machine.requestBody(ByteBuffer(string: String(json.prefix(20)))) == .none)
        #expect(machine.requestBody(ByteBuffer(string: String(json.dropFirst(20)))) == .none)
        let account = LoginAccount(
            email: "alice@example.com",
            key: RateLimitKey(namespace: "account", value: "alice@example.com")
        )
        #expect(machine.requestEnd() == .checkLoginAccount(account))
        #expect(machine.requestEnded)
        #expect(!machine.shouldReadClient)
        #expect(machine.isAuthenticating)
        // A locked account is refused before anything went upstream.
        var locked = machine
        #expect(
            locked.authenticationFailed(Self.lockedOut)
                == .respondWithError(Self.lockedOut, upstream: nil, closeClient: false)
        )
        #expect(machine.authenticated() == .leaseUpstream(dedicated: false))
        let body = [ByteBuffer(string: String(json.prefix(20))), ByteBuffer(string: String(json.dropFirst(20)))]
        #expect(machine.upstreamLeased(reused: false) == .sendRequest(head, body: CircularBuffer(body), end: true))
    }

    @Test("a login body over the request's body limit is a 413 whatever the check says")
    func loginBodyOverTheBodyLimit() {
        var machine = Machine()
        _ = machine.requestHead(
            Self.head(.POST),
            info: Self.info(.POST, framing: .contentLength(100), maxBody: 8),
            login: Self.login()
        )
        #expect(
            machine.requestBody(ByteBuffer(string: #"{"email":"a@b.c"}"#))
                == .respondWithError(.payloadTooLarge, upstream: nil, closeClient: true)
        )
        #expect(!machine.isAuthenticating)
    }

    @Test("the body is buffered while authenticating and sent with the identity-bearing head")
    func bodyBufferedUntilVerdict() {
        var machine = Machine()
        _ = machine.requestHead(
            Self.head(.POST),
            info: Self.info(.POST, framing: .contentLength(6)),
            authenticate: true
        )
        guard case .none = machine.requestBody(ByteBuffer(string: "abc")) else {
            Issue.record("body leaked")
            return
        }
        guard case .none = machine.requestBody(ByteBuffer(string: "def")) else {
            Issue.record("body leaked")
            return
        }
        guard case .none = machine.requestEnd() else {
            Issue.record("end leaked")
            return
        }
        var withIdentity = Self.head(.POST)
        withIdentity.headers.add(name: "X-Auth-User-Id", value: "u-1")
        guard case .leaseUpstream(dedicated: false) = machine.authenticated(withIdentity) else {
            Issue.record("expected a lease after the verdict")
            return
        }
        guard case .sendRequest(let sent, let body, let end) = machine.upstreamLeased(reused: false) else {
            Issue.record("expected sendRequest")
            return
        }
        #expect(sent.headers["X-Auth-User-Id"] == ["u-1"])
        #expect(Array(body) == [ByteBuffer(string: "abc"), ByteBuffer(string: "def")])
        #expect(end)
    }

    @Test("a rejection answers 401 and keeps a bodiless keep-alive connection for the next request")
    func rejectionKeepsConnection() {
        var machine = Machine()
        _ = machine.requestHead(Self.head(), info: Self.info(), authenticate: true)
        guard
            case .respondWithError(let error, let upstream, let close) = machine.authenticationFailed(
                .unauthorized(.expired)
            )
        else {
            Issue.record("expected an error answer")
            return
        }
        #expect(error.status == .unauthorized)
        #expect(error.code.rawValue == "token_expired")
        #expect(upstream == nil)
        #expect(!close)
        _ = machine.requestEnd()
        #expect(machine.isIdle)
    }

    @Test("a rejection with an unread body closes the connection")
    func rejectionWithBodyCloses() {
        var machine = Machine()
        _ = machine.requestHead(Self.head(.POST), info: Self.info(.POST, framing: .chunked), authenticate: true)
        guard case .respondWithError(_, _, let close) = machine.authenticationFailed(.authUnavailable) else {
            Issue.record("expected an error answer")
            return
        }
        #expect(close)
    }

    @Test("the body limit applies while authenticating")
    func bodyLimitWhileAuthenticating() {
        var machine = Machine()
        _ = machine.requestHead(
            Self.head(.POST),
            info: Self.info(.POST, framing: .chunked, maxBody: 4),
            authenticate: true
        )
        guard case .respondWithError(let error, _, let close) = machine.requestBody(ByteBuffer(string: "12345")) else {
            Issue.record("expected 413")
            return
        }
        #expect(error == .payloadTooLarge)
        #expect(close)
    }

    @Test("a verdict after the client left is ignored")
    func verdictAfterClose() {
        var machine = Machine()
        _ = machine.requestHead(Self.head(), info: Self.info(), authenticate: true)
        guard case .none = machine.clientClosed() else {
            Issue.record("nothing to cancel")
            return
        }
        guard case .none = machine.authenticated(Self.head()) else {
            Issue.record("verdict must be ignored")
            return
        }
    }

    @Test("upstream.retry_idempotent off: no retry even for a bodiless GET on a reused connection")
    func retryDisabled() {
        var machine = Machine()
        var info = Self.info()
        info.retryIdempotent = false
        _ = machine.requestHead(Self.head(), info: info)
        _ = machine.requestEnd()
        _ = machine.upstreamLeased(reused: true)
        guard case .respondWithError(let error, _, _) = machine.upstreamFailed() else {
            Issue.record("expected 502 without a retry")
            return
        }
        #expect(error == .upstreamUnavailable)
    }

    @Test("a client that leaves between the 101 head and its end aborts the dedicated connection")
    func clientLeavesWhileSwitching() {
        var machine = Machine()
        let info = Machine.RequestInfo(method: .GET, framing: .none, keepAlive: true, isUpgrade: true, maxBodyBytes: 0)
        _ = machine.requestHead(Self.head(), info: info)
        _ = machine.requestEnd()
        _ = machine.upstreamLeased(reused: false)
        _ = machine.responseHead(
            HTTPResponseHead(version: .http1_1, status: .switchingProtocols),
            upstreamReusable: false,
            clientKeepAlive: false
        )
        guard case .abort(upstream: .close) = machine.clientClosed() else {
            Issue.record("expected the upstream to be closed")
            return
        }
    }
}
