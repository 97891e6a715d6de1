import NIOCore
import NIOHTTP1
import Testing

@testable import AuthGateCore

/// Whole exchanges, asserted as the exact sequence of actions the handler is told to carry out.
@Suite("ProxyStateMachine action sequences")
struct ProxyStateMachineSequenceTests {
    private typealias Machine = ProxyStateMachine

    private static func head(_ method: HTTPMethod = .GET, _ fields: [(String, String)] = []) -> HTTPRequestHead {
        HTTPRequestHead(
            version: .http1_1,
            method: method,
            uri: "/api/items",
            headers: HTTPHeaders([("Host", "backend.internal")] + fields)
        )
    }

    private static func info(
        _ method: HTTPMethod = .GET,
        framing: RequestBodyFraming = .none,
        keepAlive: Bool = true,
        isUpgrade: Bool = false,
        requestBufferBytes: Int64 = 0
    ) -> Machine.RequestInfo {
        Machine.RequestInfo(
            method: method,
            framing: framing,
            keepAlive: keepAlive,
            isUpgrade: isUpgrade,
            maxBodyBytes: 0,
            requestBufferBytes: requestBufferBytes
        )
    }

    private static let noBody = CircularBuffer<ByteBuffer>()

    /// A response head as the handler hands it over: its bytes are the handler's business.
    private static func relayed(_ status: HTTPResponseStatus) -> Machine.RelayedHead {
        .init(status: status, bytes: ByteBuffer(string: "HTTP/1.1 \(status.code)\r\n\r\n"), chunked: false)
    }

    @Test("a GET on a kept-alive connection: lease, send with its end, relay, reuse")
    func keepAliveGet() {
        var machine = Machine()
        let head = Self.head()
        let actions = [
            machine.requestHead(head, info: Self.info()),
            machine.requestEnd(),
            machine.upstreamLeased(reused: true),
            machine.responseHead(Self.relayed(.ok), upstreamReusable: true, clientKeepAlive: true),
            machine.responseBody(ByteBuffer(string: "ok")),
            machine.responseEnd(),
        ]
        #expect(
            actions == [
                .leaseUpstream(dedicated: false),
                .none,
                .sendRequest(head, body: Self.noBody, end: true),
                .forwardResponseHead(Self.relayed(.ok)),
                .forwardResponseBody(ByteBuffer(string: "ok")),
                .finishResponse(upstream: .reuse, closeClient: false),
            ]
        )
        #expect(machine.isIdle)
    }

    @Test("a streamed POST: the parts that came while leasing go with the head, the rest follow")
    func streamedPost() {
        var machine = Machine()
        let head = Self.head(.POST, [("Content-Length", "6")])
        let actions = [
            machine.requestHead(head, info: Self.info(.POST, framing: .contentLength(6))),
            machine.requestBody(ByteBuffer(string: "abc")),
            machine.upstreamLeased(reused: false),
            machine.requestBody(ByteBuffer(string: "def")),
            machine.requestEnd(),
            machine.responseHead(Self.relayed(.created), upstreamReusable: true, clientKeepAlive: false),
            machine.responseEnd(),
        ]
        var buffered = CircularBuffer<ByteBuffer>()
        buffered.append(ByteBuffer(string: "abc"))
        #expect(
            actions == [
                .leaseUpstream(dedicated: false),
                .none,
                .sendRequest(head, body: buffered, end: false),
                .forwardRequestBody(ByteBuffer(string: "def")),
                .forwardRequestEnd,
                .forwardResponseHead(Self.relayed(.created)),
                .finishResponse(upstream: .reuse, closeClient: true),
            ]
        )
    }

    @Test("a reused connection that fails before answering a GET: one retry, then 502 on a second failure")
    func retryOnce() {
        var machine = Machine()
        let head = Self.head()
        let actions = [
            machine.requestHead(head, info: Self.info()),
            machine.requestEnd(),
            machine.upstreamLeased(reused: true),
            machine.upstreamFailed(),
            machine.upstreamLeased(reused: true),
            machine.upstreamFailed(),
        ]
        #expect(
            actions == [
                .leaseUpstream(dedicated: false),
                .none,
                .sendRequest(head, body: Self.noBody, end: true),
                .retry,
                .sendRequest(head, body: Self.noBody, end: true),
                .respondWithError(.upstreamUnavailable, upstream: .close, closeClient: false),
            ]
        )
        #expect(machine.isIdle)
    }

    @Test("an authenticated request waits for its verdict; a refusal answers without a lease")
    func authentication() {
        var machine = Machine()
        let head = Self.head(.GET, [("Authorization", "Bearer x")])
        var withIdentity = head
        withIdentity.headers.replaceOrAdd(name: "X-Auth-User-Id", value: "u1")
        var accepted = [machine.requestHead(head, info: Self.info(), authenticate: true)]
        accepted.append(machine.requestEnd())
        accepted.append(machine.authenticated(withIdentity))
        accepted.append(machine.upstreamLeased(reused: false))
        #expect(
            accepted == [
                .authenticate, .none, .leaseUpstream(dedicated: false),
                .sendRequest(withIdentity, body: Self.noBody, end: true),
            ]
        )

        var refused = Machine()
        let actions = [
            refused.requestHead(head, info: Self.info(), authenticate: true),
            refused.requestEnd(),
            refused.authenticationFailed(.unauthorized(.missingCredential)),
        ]
        #expect(
            actions == [
                .authenticate, .none,
                .respondWithError(.unauthorized(.missingCredential), upstream: nil, closeClient: false),
            ]
        )
        #expect(refused.isIdle)
    }

    @Test("the machine holds the head while the verdict is awaited; the identity is added to it in place")
    func authenticationEditsTheHeldHead() {
        var machine = Machine()
        let head = Self.head(.GET, [("Authorization", "Bearer x"), ("Accept", "*/*")])
        var actions = [machine.requestHead(head, info: Self.info(), authenticate: true)]
        actions.append(machine.requestEnd())
        actions.append(
            machine.authenticated(editing: { held in
                // The head the machine holds is the one received, every field included.
                #expect(held == head)
                held.headers.remove(name: "Authorization")
                held.headers.add(name: "X-Auth-User-Id", value: "u1")
            })
        )
        actions.append(machine.upstreamLeased(reused: false))
        var forwarded = Self.head(.GET, [("Accept", "*/*")])
        forwarded.headers.add(name: "X-Auth-User-Id", value: "u1")
        #expect(
            actions == [
                .authenticate, .none, .leaseUpstream(dedicated: false),
                .sendRequest(forwarded, body: Self.noBody, end: true),
            ]
        )
        // Once decided, a late verdict edits nothing and does nothing.
        var edited = false
        #expect(machine.authenticated(editing: { _ in edited = true }) == .none)
        #expect(!edited)

        var login = Machine()
        let check = LoginBodyCheck(
            contentType: "application/json",
            maxBytes: 64,
            emailField: "email",
            allocator: ByteBufferAllocator()
        )
        let loginActions = [
            login.requestHead(head, info: Self.info(), login: check),
            login.requestEnd(),
            login.authenticated(),
            login.upstreamLeased(reused: false),
        ]
        #expect(
            loginActions == [
                .none, .checkLoginAccount(nil), .leaseUpstream(dedicated: false),
                .sendRequest(head, body: Self.noBody, end: true),
            ]
        )
    }

    @Test("a WebSocket upgrade: a dedicated lease, the 101 relayed, then the tunnel")
    func upgrade() {
        var machine = Machine()
        let head = Self.head(.GET, [("Upgrade", "websocket"), ("Connection", "Upgrade")])
        let actions = [
            machine.requestHead(head, info: Self.info(isUpgrade: true)),
            machine.requestEnd(),
            machine.upstreamLeased(reused: false),
            machine.responseHead(Self.relayed(.switchingProtocols), upstreamReusable: false, clientKeepAlive: true),
            machine.responseEnd(),
        ]
        #expect(
            actions == [
                .leaseUpstream(dedicated: true), .none, .sendRequest(head, body: Self.noBody, end: true),
                .forwardResponseHead(Self.relayed(.switchingProtocols)), .startTunnel,
            ]
        )
        #expect(machine.isTunnelling)
    }

    @Test("a backend that answers before the body is read: both connections close")
    func earlyResponse() {
        var machine = Machine()
        let head = Self.head(.PUT, [("Transfer-Encoding", "chunked")])
        let actions = [
            machine.requestHead(head, info: Self.info(.PUT, framing: .chunked)),
            machine.upstreamLeased(reused: false),
            machine.responseHead(Self.relayed(.payloadTooLarge), upstreamReusable: true, clientKeepAlive: true),
            machine.responseEnd(),
            machine.requestBody(ByteBuffer(string: "late")),
        ]
        #expect(
            actions == [
                .leaseUpstream(dedicated: false), .sendRequest(head, body: Self.noBody, end: false),
                .forwardResponseHead(Self.relayed(.payloadTooLarge)),
                .finishResponse(upstream: .close, closeClient: true), .none,
            ]
        )
    }
}
