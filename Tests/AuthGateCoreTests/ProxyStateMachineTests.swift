import NIOCore
import NIOHTTP1
import Testing

@testable import AuthGateCore

// MARK: - Helpers

private typealias Machine = ProxyStateMachine
private typealias Info = ProxyStateMachine.RequestInfo

private func requestHead(_ method: HTTPMethod = .GET, uri: String = "/api/items") -> HTTPRequestHead {
    var head = HTTPRequestHead(version: .http1_1, method: method, uri: uri)
    head.headers.add(name: "Host", value: "backend.internal")
    return head
}

private func info(
    _ method: HTTPMethod = .GET,
    framing: RequestBodyFraming = .none,
    keepAlive: Bool = true,
    isUpgrade: Bool = false,
    maxBodyBytes: Int64 = 0
) -> Info {
    Info(method: method, framing: framing, keepAlive: keepAlive, isUpgrade: isUpgrade, maxBodyBytes: maxBodyBytes)
}

private func bytes(_ text: String) -> ByteBuffer {
    ByteBuffer(string: text)
}

private func bytes(count: Int) -> ByteBuffer {
    ByteBuffer(repeating: UInt8(ascii: "x"), count: count)
}

private func responseHead(_ status: HTTPResponseStatus = .ok) -> HTTPResponseHead {
    HTTPResponseHead(version: .http1_1, status: status)
}

private func describe(_ action: Machine.Action) -> String {
    String(describing: action)
}

private func expectNone(_ action: Machine.Action, sourceLocation: SourceLocation = #_sourceLocation) {
    guard case .none = action else {
        Issue.record("expected .none, got \(describe(action))", sourceLocation: sourceLocation)
        return
    }
}

private func expectLease(
    _ action: Machine.Action,
    dedicated expected: Bool,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard case .leaseUpstream(let dedicated) = action else {
        Issue.record("expected .leaseUpstream, got \(describe(action))", sourceLocation: sourceLocation)
        return
    }
    #expect(dedicated == expected, sourceLocation: sourceLocation)
}

private func expectSendRequest(
    _ action: Machine.Action,
    head expectedHead: HTTPRequestHead,
    body expectedBody: [ByteBuffer],
    end expectedEnd: Bool,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard case .sendRequest(let head, let body, let end) = action else {
        Issue.record("expected .sendRequest, got \(describe(action))", sourceLocation: sourceLocation)
        return
    }
    #expect(head == expectedHead, sourceLocation: sourceLocation)
    #expect(Array(body) == expectedBody, sourceLocation: sourceLocation)
    #expect(end == expectedEnd, sourceLocation: sourceLocation)
}

private func expectForwardBody(
    _ action: Machine.Action,
    _ expected: ByteBuffer,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard case .forwardRequestBody(let buffer) = action else {
        Issue.record("expected .forwardRequestBody, got \(describe(action))", sourceLocation: sourceLocation)
        return
    }
    #expect(buffer == expected, sourceLocation: sourceLocation)
}

private func expectForwardEnd(_ action: Machine.Action, sourceLocation: SourceLocation = #_sourceLocation) {
    guard case .forwardRequestEnd = action else {
        Issue.record("expected .forwardRequestEnd, got \(describe(action))", sourceLocation: sourceLocation)
        return
    }
}

private func expectResponseHead(
    _ action: Machine.Action,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard case .forwardResponseHead = action else {
        Issue.record("expected .forwardResponseHead, got \(describe(action))", sourceLocation: sourceLocation)
        return
    }
}

extension ProxyStateMachine {
    /// The tests hand the machine response heads; the bytes the handler writes for the client
    /// do not matter to it, only the status.
    mutating func responseHead(_ head: HTTPResponseHead, upstreamReusable: Bool, clientKeepAlive: Bool) -> Action {
        self.responseHead(
            .init(status: head.status, bytes: ByteBuffer(), chunked: false),
            upstreamReusable: upstreamReusable,
            clientKeepAlive: clientKeepAlive
        )
    }
}

private func expectResponseBody(
    _ action: Machine.Action,
    _ expected: ByteBuffer,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard case .forwardResponseBody(let buffer) = action else {
        Issue.record("expected .forwardResponseBody, got \(describe(action))", sourceLocation: sourceLocation)
        return
    }
    #expect(buffer == expected, sourceLocation: sourceLocation)
}

private func expectFinish(
    _ action: Machine.Action,
    upstream expectedUpstream: Machine.UpstreamDisposition,
    closeClient expectedClose: Bool,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard case .finishResponse(let upstream, let closeClient) = action else {
        Issue.record("expected .finishResponse, got \(describe(action))", sourceLocation: sourceLocation)
        return
    }
    #expect(upstream == expectedUpstream, sourceLocation: sourceLocation)
    #expect(closeClient == expectedClose, sourceLocation: sourceLocation)
}

private func expectError(
    _ action: Machine.Action,
    _ expectedError: GatewayError,
    upstream expectedUpstream: Machine.UpstreamDisposition?,
    closeClient expectedClose: Bool,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard case .respondWithError(let error, let upstream, let closeClient) = action else {
        Issue.record("expected .respondWithError, got \(describe(action))", sourceLocation: sourceLocation)
        return
    }
    #expect(error == expectedError, sourceLocation: sourceLocation)
    #expect(upstream == expectedUpstream, sourceLocation: sourceLocation)
    #expect(closeClient == expectedClose, sourceLocation: sourceLocation)
}

private func expectAbort(
    _ action: Machine.Action,
    upstream expectedUpstream: Machine.UpstreamDisposition?,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard case .abort(let upstream) = action else {
        Issue.record("expected .abort, got \(describe(action))", sourceLocation: sourceLocation)
        return
    }
    #expect(upstream == expectedUpstream, sourceLocation: sourceLocation)
}

private func expectRetry(_ action: Machine.Action, sourceLocation: SourceLocation = #_sourceLocation) {
    guard case .retry = action else {
        Issue.record("expected .retry, got \(describe(action))", sourceLocation: sourceLocation)
        return
    }
}

private func expectReleaseUnneeded(
    _ action: Machine.Action,
    _ expected: Machine.UpstreamDisposition,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard case .releaseUnneeded(let disposition) = action else {
        Issue.record("expected .releaseUnneeded, got \(describe(action))", sourceLocation: sourceLocation)
        return
    }
    #expect(disposition == expected, sourceLocation: sourceLocation)
}

/// A machine that has sent a bodiless request (head and end) on a connection and awaits the
/// response head.
private func forwardingBodiless(
    _ method: HTTPMethod = .GET,
    keepAlive: Bool = true,
    reused: Bool = false,
    isUpgrade: Bool = false
) -> Machine {
    var machine = Machine()
    let head = requestHead(method)
    expectLease(
        machine.requestHead(head, info: info(method, keepAlive: keepAlive, isUpgrade: isUpgrade)),
        dedicated: isUpgrade
    )
    expectNone(machine.requestEnd())
    expectSendRequest(machine.upstreamLeased(reused: reused), head: head, body: [], end: true)
    return machine
}

/// A machine forwarding a chunked upload whose end has not arrived yet.
private func forwardingUpload(maxBodyBytes: Int64 = 0, keepAlive: Bool = true) -> Machine {
    var machine = Machine()
    let head = requestHead(.POST)
    expectLease(
        machine.requestHead(
            head,
            info: info(.POST, framing: .chunked, keepAlive: keepAlive, maxBodyBytes: maxBodyBytes)
        ),
        dedicated: false
    )
    expectSendRequest(machine.upstreamLeased(reused: false), head: head, body: [], end: false)
    return machine
}

// MARK: - Tests

@Suite("ProxyStateMachine")
struct ProxyStateMachineTests {
    // MARK: Request side

    @Test("a fresh machine is idle and reads the client")
    func freshMachine() {
        let machine = Machine()
        #expect(machine.isIdle)
        #expect(!machine.isTunnelling)
        #expect(machine.shouldReadClient)
    }

    @Test("a request head asks for a pooled upstream connection and stops client reads")
    func headLeasesUpstream() {
        var machine = Machine()
        expectLease(machine.requestHead(requestHead(), info: info()), dedicated: false)
        #expect(!machine.isIdle)
        #expect(!machine.shouldReadClient)
    }

    @Test("an upgrade request head asks for a dedicated connection")
    func upgradeHeadLeasesDedicated() {
        var machine = Machine()
        expectLease(machine.requestHead(requestHead(), info: info(isUpgrade: true)), dedicated: true)
    }

    @Test("a second head while an exchange is in progress is ignored")
    func headWhileBusyIsIgnored() {
        var machine = Machine()
        expectLease(machine.requestHead(requestHead(), info: info()), dedicated: false)
        expectNone(machine.requestHead(requestHead(.DELETE), info: info(.DELETE)))
        // The first exchange is untouched: its head is the one sent.
        expectNone(machine.requestEnd())
        expectSendRequest(machine.upstreamLeased(reused: false), head: requestHead(), body: [], end: true)
    }

    @Test("body parts and the end received while waiting are sent with the head, in order")
    func bufferedBodyAndEndFlushed() {
        var machine = Machine()
        let head = requestHead(.POST)
        expectLease(machine.requestHead(head, info: info(.POST, framing: .contentLength(10))), dedicated: false)
        expectNone(machine.requestBody(bytes("hello")))
        expectNone(machine.requestBody(bytes("world")))
        expectNone(machine.requestEnd())
        #expect(!machine.shouldReadClient)
        expectSendRequest(
            machine.upstreamLeased(reused: false),
            head: head,
            body: [bytes("hello"), bytes("world")],
            end: true
        )
        #expect(machine.shouldReadClient)
        #expect(!machine.isIdle)
    }

    @Test("body received while waiting without the end: sent with end false, the rest is forwarded")
    func bufferedBodyWithoutEnd() {
        var machine = Machine()
        let head = requestHead(.PUT)
        expectLease(machine.requestHead(head, info: info(.PUT, framing: .chunked)), dedicated: false)
        expectNone(machine.requestBody(bytes("part-1")))
        expectSendRequest(machine.upstreamLeased(reused: true), head: head, body: [bytes("part-1")], end: false)
        expectForwardBody(machine.requestBody(bytes("part-2")), bytes("part-2"))
        expectForwardBody(machine.requestBody(bytes("part-3")), bytes("part-3"))
        expectForwardEnd(machine.requestEnd())
    }

    @Test("nothing buffered: the head is sent alone with end false")
    func nothingBuffered() {
        var machine = Machine()
        let head = requestHead(.POST)
        expectLease(machine.requestHead(head, info: info(.POST, framing: .chunked)), dedicated: false)
        expectSendRequest(machine.upstreamLeased(reused: false), head: head, body: [], end: false)
        expectForwardEnd(machine.requestEnd())
    }

    @Test("a retry sends the head again, alone, with the end")
    func retryResendsHead() {
        // A reused connection fails before the head for a bodiless GET: the retry sends the head
        // again with no body.
        var machine = Machine()
        let head = requestHead(.GET)
        expectLease(machine.requestHead(head, info: info(.GET)), dedicated: false)
        expectNone(machine.requestEnd())
        expectSendRequest(machine.upstreamLeased(reused: true), head: head, body: [], end: true)
        expectRetry(machine.upstreamFailed())
        expectSendRequest(machine.upstreamLeased(reused: false), head: head, body: [], end: true)
    }

    @Test("body and end while idle are ignored")
    func bodyWhileIdleIgnored() {
        var machine = Machine()
        expectNone(machine.requestBody(bytes("stray")))
        expectNone(machine.requestEnd())
        #expect(machine.isIdle)
    }

    // MARK: Response side

    @Test(
        "a complete response finishes the exchange; reuse follows upstreamReusable, close follows clientKeepAlive",
        arguments: [(true, true), (true, false), (false, true), (false, false)]
    )
    func responseFinishes(upstreamReusable: Bool, clientKeepAlive: Bool) {
        var machine = forwardingBodiless()
        var head = responseHead(.ok)
        head.headers.add(name: "Content-Length", value: "4")
        expectResponseHead(
            machine.responseHead(head, upstreamReusable: upstreamReusable, clientKeepAlive: clientKeepAlive)
        )
        #expect(!machine.isIdle)
        expectResponseBody(machine.responseBody(bytes("ab")), bytes("ab"))
        expectResponseBody(machine.responseBody(bytes("cd")), bytes("cd"))
        expectFinish(
            machine.responseEnd(),
            upstream: upstreamReusable ? .reuse : .close,
            closeClient: !clientKeepAlive
        )
        #expect(machine.isIdle == clientKeepAlive)
        #expect(machine.shouldReadClient == clientKeepAlive)
        // Only a kept-alive connection takes the next request.
        let next = machine.requestHead(requestHead(), info: info())
        if clientKeepAlive {
            expectLease(next, dedicated: false)
        } else {
            expectNone(next)
        }
    }

    @Test("response body and end before the response head are ignored")
    func responsePartsBeforeHeadIgnored() {
        var machine = forwardingBodiless()
        expectNone(machine.responseBody(bytes("early")))
        expectNone(machine.responseEnd())
        #expect(!machine.isIdle)
        // The exchange still completes normally.
        expectResponseHead(
            machine.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true)
        )
        expectFinish(machine.responseEnd(), upstream: .reuse, closeClient: false)
        #expect(machine.isIdle)
    }

    @Test("a second response head is ignored")
    func secondResponseHeadIgnored() {
        var machine = forwardingBodiless()
        expectResponseHead(
            machine.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true)
        )
        expectNone(machine.responseHead(responseHead(.notFound), upstreamReusable: true, clientKeepAlive: true))
        expectFinish(machine.responseEnd(), upstream: .reuse, closeClient: false)
    }

    @Test("response parts while idle are ignored")
    func responseWhileIdleIgnored() {
        var machine = Machine()
        expectNone(machine.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true))
        expectNone(machine.responseBody(bytes("x")))
        expectNone(machine.responseEnd())
        expectNone(machine.upstreamFailed())
        expectNone(machine.upstreamProtocolError())
        expectNone(machine.responseTimedOut())
        #expect(machine.isIdle)
    }

    @Test("request and response body interleave while both stream")
    func interleavedStreaming() {
        var machine = forwardingUpload()
        expectForwardBody(machine.requestBody(bytes("up-1")), bytes("up-1"))
        expectResponseHead(
            machine.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true)
        )
        expectResponseBody(machine.responseBody(bytes("down-1")), bytes("down-1"))
        expectForwardBody(machine.requestBody(bytes("up-2")), bytes("up-2"))
        expectForwardEnd(machine.requestEnd())
        expectResponseBody(machine.responseBody(bytes("down-2")), bytes("down-2"))
        expectFinish(machine.responseEnd(), upstream: .reuse, closeClient: false)
        #expect(machine.isIdle)
    }

    @Test("a response that ends before the upload closes both sides and drops the rest of the upload")
    func responseEndsBeforeRequest() {
        var machine = forwardingUpload()
        expectForwardBody(machine.requestBody(bytes("chunk")), bytes("chunk"))
        let head = responseHead(.payloadTooLarge)
        expectResponseHead(machine.responseHead(head, upstreamReusable: true, clientKeepAlive: true))
        expectFinish(machine.responseEnd(), upstream: .close, closeClient: true)
        #expect(!machine.isIdle)
        // The client's remaining bytes are read and dropped.
        #expect(machine.shouldReadClient)
        expectNone(machine.requestBody(bytes("late-1")))
        expectNone(machine.requestBody(bytes("late-2")))
        expectNone(machine.requestEnd())
        // Then the connection is finished: nothing more is read or accepted.
        #expect(!machine.shouldReadClient)
        #expect(!machine.isIdle)
        expectNone(machine.requestHead(requestHead(), info: info()))
    }

    @Test("a protocol error while discarding the upload aborts without an upstream")
    func protocolErrorWhileDiscarding() {
        var machine = forwardingUpload()
        expectResponseHead(
            machine.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true)
        )
        expectFinish(machine.responseEnd(), upstream: .close, closeClient: true)
        expectAbort(machine.clientProtocolError(.badRequest("bad chunk")), upstream: nil)
        #expect(!machine.shouldReadClient)
    }

    @Test("an upgrade request answered and ended before its end closes (no discarding)")
    func upgradeAnsweredBeforeEnd() {
        var machine = Machine()
        let head = requestHead()
        expectLease(machine.requestHead(head, info: info(isUpgrade: true)), dedicated: true)
        expectSendRequest(machine.upstreamLeased(reused: false), head: head, body: [], end: false)
        let refusal = responseHead(.forbidden)
        expectResponseHead(machine.responseHead(refusal, upstreamReusable: true, clientKeepAlive: true))
        expectFinish(machine.responseEnd(), upstream: .close, closeClient: true)
        #expect(!machine.shouldReadClient)
        expectNone(machine.requestBody(bytes("x")))
    }

    // MARK: Lease failure

    @Test(
        "a lease failure answers the error; the client stays only if the request ended, keep-alive, no upgrade",
        arguments: [
            (true, true, false, false),
            (true, false, false, true),
            (false, true, false, true),
            (false, false, false, true),
            (true, true, true, true),
        ]
    )
    func leaseFailure(requestEnded: Bool, keepAlive: Bool, isUpgrade: Bool, expectedClose: Bool) {
        var machine = Machine()
        let framing: RequestBodyFraming = requestEnded ? .none : .chunked
        expectLease(
            machine.requestHead(
                requestHead(),
                info: info(framing: framing, keepAlive: keepAlive, isUpgrade: isUpgrade)
            ),
            dedicated: isUpgrade
        )
        if requestEnded {
            expectNone(machine.requestEnd())
        } else {
            expectNone(machine.requestBody(bytes("pending")))
        }
        expectError(
            machine.upstreamLeaseFailed(.upstreamBusy),
            .upstreamBusy,
            upstream: nil,
            closeClient: expectedClose
        )
        #expect(machine.isIdle == !expectedClose)
        #expect(machine.shouldReadClient == !expectedClose)
    }

    @Test("the error from the pool is passed through unchanged")
    func leaseFailureKeepsError() {
        var machine = Machine()
        expectLease(machine.requestHead(requestHead(), info: info()), dedicated: false)
        expectNone(machine.requestEnd())
        guard case .respondWithError(let error, _, _) = machine.upstreamLeaseFailed(.shuttingDown) else {
            Issue.record("expected .respondWithError")
            return
        }
        #expect(error.code.rawValue == "shutting_down")
        #expect(error.status == .serviceUnavailable)
        #expect(error.headers.count == 1)
        #expect(error.headers.first?.0 == "Retry-After")
    }

    @Test("a lease failure when not waiting is ignored")
    func leaseFailureWhenNotWaiting() {
        var idle = Machine()
        expectNone(idle.upstreamLeaseFailed(.upstreamUnavailable))
        #expect(idle.isIdle)

        var forwarding = forwardingBodiless()
        expectNone(forwarding.upstreamLeaseFailed(.upstreamUnavailable))
        // Still forwarding: the response goes through.
        expectResponseHead(
            forwarding.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true)
        )
    }

    // MARK: Upstream failure and retry

    @Test(
        "an idempotent bodiless request on a reused connection is retried once, then answered 502",
        arguments: [HTTPMethod.GET, .HEAD, .OPTIONS, .TRACE, .PUT, .DELETE]
    )
    func retryOnceThen502(method: HTTPMethod) {
        var machine = forwardingBodiless(method, reused: true)
        expectRetry(machine.upstreamFailed())
        // Back to waiting for a connection.
        #expect(!machine.shouldReadClient)
        #expect(!machine.isIdle)
        expectSendRequest(machine.upstreamLeased(reused: true), head: requestHead(method), body: [], end: true)
        expectError(machine.upstreamFailed(), .upstreamUnavailable, upstream: .close, closeClient: false)
        #expect(machine.isIdle)
    }

    @Test("a retried request that fails again on a fresh connection is answered 502")
    func retryThenFreshFailure() {
        var machine = forwardingBodiless(.GET, reused: true)
        expectRetry(machine.upstreamFailed())
        expectSendRequest(machine.upstreamLeased(reused: false), head: requestHead(), body: [], end: true)
        expectError(machine.upstreamFailed(), .upstreamUnavailable, upstream: .close, closeClient: false)
    }

    @Test("the retry's lease can fail like any lease")
    func retryLeaseFails() {
        var machine = forwardingBodiless(.GET, keepAlive: false, reused: true)
        expectRetry(machine.upstreamFailed())
        expectError(
            machine.upstreamLeaseFailed(.upstreamUnavailable),
            .upstreamUnavailable,
            upstream: nil,
            closeClient: true
        )
        #expect(!machine.isIdle)
    }

    @Test("a failure on a fresh connection is not retried")
    func freshConnectionNotRetried() {
        var machine = forwardingBodiless(.GET, reused: false)
        expectError(machine.upstreamFailed(), .upstreamUnavailable, upstream: .close, closeClient: false)
    }

    @Test("non-idempotent methods are never retried", arguments: [HTTPMethod.POST, .PATCH])
    func nonIdempotentNotRetried(method: HTTPMethod) {
        var machine = forwardingBodiless(method, reused: true)
        expectError(machine.upstreamFailed(), .upstreamUnavailable, upstream: .close, closeClient: false)
        #expect(machine.isIdle)
    }

    @Test("an idempotent request with a body is not retried")
    func requestWithBodyNotRetried() {
        var machine = Machine()
        let head = requestHead(.PUT)
        expectLease(machine.requestHead(head, info: info(.PUT, framing: .contentLength(3))), dedicated: false)
        expectNone(machine.requestBody(bytes("abc")))
        expectNone(machine.requestEnd())
        expectSendRequest(machine.upstreamLeased(reused: true), head: head, body: [bytes("abc")], end: true)
        expectError(machine.upstreamFailed(), .upstreamUnavailable, upstream: .close, closeClient: false)
    }

    @Test("a bodiless request whose end has not arrived is not retried; the client stays for its end")
    func unfinishedRequestNotRetried() {
        var machine = Machine()
        let head = requestHead(.GET)
        expectLease(machine.requestHead(head, info: info(.GET)), dedicated: false)
        expectSendRequest(machine.upstreamLeased(reused: true), head: head, body: [], end: false)
        expectError(machine.upstreamFailed(), .upstreamUnavailable, upstream: .close, closeClient: false)
        #expect(!machine.isIdle)
        expectNone(machine.requestEnd())
        #expect(machine.isIdle)
    }

    @Test("a request with a body whose end has not arrived is not retried and the client is closed")
    func unfinishedBodyRequestNotRetried() {
        var machine = Machine()
        let head = requestHead(.PUT)
        expectLease(machine.requestHead(head, info: info(.PUT, framing: .contentLength(10))), dedicated: false)
        expectSendRequest(machine.upstreamLeased(reused: true), head: head, body: [], end: false)
        expectError(machine.upstreamFailed(), .upstreamUnavailable, upstream: .close, closeClient: true)
        #expect(!machine.isIdle)
    }

    @Test("an upgrade request is not retried")
    func upgradeNotRetried() {
        var machine = forwardingBodiless(.GET, reused: true, isUpgrade: true)
        expectError(machine.upstreamFailed(), .upstreamUnavailable, upstream: .close, closeClient: true)
    }

    @Test("a failure before the head without keep-alive closes the client")
    func failureWithoutKeepAlive() {
        var machine = forwardingBodiless(.POST, keepAlive: false, reused: false)
        expectError(machine.upstreamFailed(), .upstreamUnavailable, upstream: .close, closeClient: true)
        #expect(!machine.isIdle)
        #expect(!machine.shouldReadClient)
    }

    @Test("a failure after the response head aborts both connections")
    func failureAfterHeadAborts() {
        var machine = forwardingBodiless(.GET, reused: true)
        expectResponseHead(
            machine.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true)
        )
        expectResponseBody(machine.responseBody(bytes("partial")), bytes("partial"))
        expectAbort(machine.upstreamFailed(), upstream: .close)
        #expect(!machine.isIdle)
        #expect(!machine.shouldReadClient)
        // Nothing after the abort.
        expectNone(machine.responseBody(bytes("more")))
        expectNone(machine.responseEnd())
        expectNone(machine.upstreamFailed())
    }

    @Test("a malformed response before the head is answered 502 upstream_invalid_response")
    func protocolErrorBeforeHead() {
        var machine = forwardingBodiless()
        expectError(machine.upstreamProtocolError(), .upstreamInvalidResponse, upstream: .close, closeClient: false)
        #expect(machine.isIdle)
    }

    @Test("a malformed response after the head aborts")
    func protocolErrorAfterHead() {
        var machine = forwardingBodiless()
        expectResponseHead(
            machine.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true)
        )
        expectAbort(machine.upstreamProtocolError(), upstream: .close)
        #expect(!machine.shouldReadClient)
    }

    // MARK: Response timeout

    @Test("a response timeout before the head is answered 504 upstream_timeout")
    func responseTimeoutBeforeHead() {
        var machine = forwardingBodiless()
        let action = machine.responseTimedOut()
        expectError(action, .upstreamTimeout, upstream: .close, closeClient: false)
        if case .respondWithError(let error, _, _) = action {
            #expect(error.status == .gatewayTimeout)
            #expect(error.code.rawValue == "upstream_timeout")
        }
        #expect(machine.isIdle)
        // A late head from the abandoned connection is ignored.
        expectNone(machine.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true))
    }

    @Test("a response timeout during an unfinished upload closes the client")
    func responseTimeoutDuringUpload() {
        var machine = forwardingUpload()
        expectForwardBody(machine.requestBody(bytes("x")), bytes("x"))
        expectError(machine.responseTimedOut(), .upstreamTimeout, upstream: .close, closeClient: true)
        #expect(!machine.shouldReadClient)
    }

    @Test("a response timeout after the head is ignored")
    func responseTimeoutAfterHead() {
        var machine = forwardingBodiless()
        expectResponseHead(
            machine.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true)
        )
        expectNone(machine.responseTimedOut())
        expectResponseBody(machine.responseBody(bytes("ok")), bytes("ok"))
        expectFinish(machine.responseEnd(), upstream: .reuse, closeClient: false)
    }

    @Test("a response timeout while waiting for a lease is ignored")
    func responseTimeoutWhileWaiting() {
        var machine = Machine()
        expectLease(machine.requestHead(requestHead(), info: info()), dedicated: false)
        expectNone(machine.responseTimedOut())
        expectNone(machine.requestEnd())
        expectSendRequest(machine.upstreamLeased(reused: false), head: requestHead(), body: [], end: true)
    }

    // MARK: Body limit

    @Test("a body over the limit while waiting is answered 413 with no upstream")
    func bodyLimitWhileWaiting() {
        var machine = Machine()
        expectLease(
            machine.requestHead(requestHead(.POST), info: info(.POST, framing: .chunked, maxBodyBytes: 10)),
            dedicated: false
        )
        expectNone(machine.requestBody(bytes(count: 6)))
        expectError(machine.requestBody(bytes(count: 5)), .payloadTooLarge, upstream: nil, closeClient: true)
        #expect(!machine.shouldReadClient)
        // The lease that was already in flight is not wanted any more.
        expectReleaseUnneeded(machine.upstreamLeased(reused: false), .reuse)
    }

    @Test("a body exactly at the limit passes")
    func bodyExactlyAtLimit() {
        var machine = Machine()
        let head = requestHead(.POST)
        expectLease(machine.requestHead(head, info: info(.POST, framing: .chunked, maxBodyBytes: 10)), dedicated: false)
        expectNone(machine.requestBody(bytes(count: 4)))
        expectSendRequest(machine.upstreamLeased(reused: false), head: head, body: [bytes(count: 4)], end: false)
        expectForwardBody(machine.requestBody(bytes(count: 6)), bytes(count: 6))
        expectForwardEnd(machine.requestEnd())
    }

    @Test("a body over the limit while forwarding, before the response, is answered 413 and the upstream closed")
    func bodyLimitWhileForwarding() {
        var machine = forwardingUpload(maxBodyBytes: 10)
        expectForwardBody(machine.requestBody(bytes(count: 10)), bytes(count: 10))
        expectError(machine.requestBody(bytes(count: 1)), .payloadTooLarge, upstream: .close, closeClient: true)
        #expect(!machine.shouldReadClient)
        expectNone(machine.requestBody(bytes(count: 1)))
    }

    @Test("a body over the limit while the response streams aborts")
    func bodyLimitWhileStreaming() {
        var machine = forwardingUpload(maxBodyBytes: 10)
        expectForwardBody(machine.requestBody(bytes(count: 8)), bytes(count: 8))
        expectResponseHead(
            machine.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true)
        )
        expectAbort(machine.requestBody(bytes(count: 3)), upstream: .close)
        #expect(!machine.shouldReadClient)
    }

    @Test("a limit of 0 disables the body limit")
    func zeroLimitDisables() {
        var machine = forwardingUpload(maxBodyBytes: 0)
        for _ in 0..<64 {
            expectForwardBody(machine.requestBody(bytes(count: 16_384)), bytes(count: 16_384))
        }
        expectForwardEnd(machine.requestEnd())
    }

    @Test("the limit counts bytes buffered while waiting and forwarded afterwards together")
    func limitCountsAcrossPhases() {
        var machine = Machine()
        let head = requestHead(.POST)
        expectLease(machine.requestHead(head, info: info(.POST, framing: .chunked, maxBodyBytes: 10)), dedicated: false)
        expectNone(machine.requestBody(bytes(count: 7)))
        expectSendRequest(machine.upstreamLeased(reused: false), head: head, body: [bytes(count: 7)], end: false)
        expectError(machine.requestBody(bytes(count: 4)), .payloadTooLarge, upstream: .close, closeClient: true)
    }

    // MARK: Client going away

    @Test("the client closing while waiting cancels the lease; a late lease is released unused")
    func clientClosedWhileWaiting() {
        var machine = Machine()
        expectLease(machine.requestHead(requestHead(), info: info()), dedicated: false)
        guard case .cancelLease = machine.clientClosed() else {
            Issue.record("expected .cancelLease")
            return
        }
        #expect(!machine.shouldReadClient)
        expectReleaseUnneeded(machine.upstreamLeased(reused: true), .reuse)
        expectNone(machine.upstreamLeaseFailed(.upstreamUnavailable))
    }

    @Test("the client closing while forwarding aborts and closes the upstream")
    func clientClosedWhileForwarding() {
        var beforeHead = forwardingBodiless()
        expectAbort(beforeHead.clientClosed(), upstream: .close)
        #expect(!beforeHead.shouldReadClient)
        expectNone(beforeHead.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true))

        var afterHead = forwardingBodiless()
        expectResponseHead(
            afterHead.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true)
        )
        expectAbort(afterHead.clientClosed(), upstream: .close)
        expectNone(afterHead.responseBody(bytes("x")))
        expectNone(afterHead.responseEnd())
    }

    @Test("the client closing while idle or after close does nothing")
    func clientClosedWhileIdle() {
        var machine = Machine()
        expectNone(machine.clientClosed())
        #expect(!machine.shouldReadClient)
        #expect(!machine.isIdle)
        expectNone(machine.clientClosed())
        expectNone(machine.requestHead(requestHead(), info: info()))
    }

    @Test("a lease arriving while idle is released unused")
    func leaseWhileIdle() {
        var machine = Machine()
        expectReleaseUnneeded(machine.upstreamLeased(reused: false), .reuse)
        #expect(machine.isIdle)
    }

    // MARK: Rejections and client protocol errors

    @Test("a rejected request is answered and the connection closed")
    func requestRejected() {
        var machine = Machine()
        let error = GatewayError.badRequest("nope")
        expectError(machine.requestRejected(error), error, upstream: nil, closeClient: true)
        #expect(!machine.isIdle)
        #expect(!machine.shouldReadClient)
    }

    @Test("a client protocol error while waiting answers with no upstream")
    func protocolErrorWhileWaiting() {
        var machine = Machine()
        expectLease(machine.requestHead(requestHead(.POST), info: info(.POST, framing: .chunked)), dedicated: false)
        expectError(machine.clientProtocolError(.headersTooLarge), .headersTooLarge, upstream: nil, closeClient: true)
        expectReleaseUnneeded(machine.upstreamLeased(reused: false), .reuse)
    }

    @Test("a client protocol error while forwarding answers before the head and aborts after it")
    func protocolErrorWhileForwarding() {
        var beforeHead = forwardingUpload()
        let error = GatewayError.badRequest("Invalid chunk size in a chunked body.")
        expectError(beforeHead.clientProtocolError(error), error, upstream: .close, closeClient: true)

        var afterHead = forwardingUpload()
        expectResponseHead(
            afterHead.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true)
        )
        expectAbort(afterHead.clientProtocolError(error), upstream: .close)
    }

    @Test("requestRejected while an exchange runs behaves like a client protocol error")
    func rejectedWhileForwarding() {
        var machine = forwardingUpload()
        expectError(machine.requestRejected(.uriTooLong), .uriTooLong, upstream: .close, closeClient: true)
    }

    @Test("a client protocol error in the idle state is answered and closes")
    func protocolErrorIdle() {
        var machine = Machine()
        expectError(machine.clientProtocolError(.headersTooLarge), .headersTooLarge, upstream: nil, closeClient: true)
        expectNone(machine.clientProtocolError(.headersTooLarge))
    }

    // MARK: Upgrade

    @Test("an upgrade: the 101 head is forwarded, its end starts the tunnel")
    func upgradeToTunnel() {
        var machine = forwardingBodiless(.GET, isUpgrade: true)
        var head = responseHead(.switchingProtocols)
        head.headers.add(name: "Upgrade", value: "websocket")
        head.headers.add(name: "Connection", value: "Upgrade")
        expectResponseHead(machine.responseHead(head, upstreamReusable: false, clientKeepAlive: false))
        #expect(!machine.shouldReadClient)
        #expect(!machine.isTunnelling)
        #expect(!machine.isIdle)
        guard case .startTunnel = machine.responseEnd() else {
            Issue.record("expected .startTunnel")
            return
        }
        #expect(machine.isTunnelling)
        #expect(!machine.shouldReadClient)
        #expect(!machine.isIdle)
        // HTTP events no longer apply.
        expectNone(machine.requestBody(bytes("frame")))
        expectNone(machine.responseBody(bytes("frame")))
        expectNone(machine.responseEnd())
        expectNone(machine.upstreamFailed())
        expectNone(machine.clientProtocolError(.badRequest("x")))
    }

    @Test("the upstream failing between the 101 head and its end aborts")
    func upgradeFailsBeforeEnd() {
        var machine = forwardingBodiless(.GET, isUpgrade: true)
        let head = responseHead(.switchingProtocols)
        expectResponseHead(machine.responseHead(head, upstreamReusable: false, clientKeepAlive: false))
        expectAbort(machine.upstreamFailed(), upstream: .close)
        #expect(!machine.isTunnelling)
        expectNone(machine.responseEnd())
        #expect(!machine.isTunnelling)
    }

    @Test("a 101 for a request that did not ask to upgrade is answered 502")
    func unexpected101() {
        var machine = forwardingBodiless(.GET, isUpgrade: false)
        let action = machine.responseHead(
            responseHead(.switchingProtocols),
            upstreamReusable: true,
            clientKeepAlive: true
        )
        expectError(action, .upstreamInvalidResponse, upstream: .close, closeClient: true)
        if case .respondWithError(let error, _, _) = action {
            #expect(error.status == .badGateway)
            #expect(error.code.rawValue == "upstream_invalid_response")
        }
        #expect(!machine.isTunnelling)
        expectNone(machine.responseEnd())
        #expect(!machine.isTunnelling)
    }

    @Test("a 101 before the upgrade request ended is answered 502")
    func early101() {
        var machine = Machine()
        let head = requestHead()
        expectLease(machine.requestHead(head, info: info(isUpgrade: true)), dedicated: true)
        expectSendRequest(machine.upstreamLeased(reused: false), head: head, body: [], end: false)
        expectError(
            machine.responseHead(responseHead(.switchingProtocols), upstreamReusable: false, clientKeepAlive: false),
            .upstreamInvalidResponse,
            upstream: .close,
            closeClient: true
        )
    }

    @Test("an upgrade refused by the backend is an ordinary response")
    func upgradeRefused() {
        var machine = forwardingBodiless(.GET, isUpgrade: true)
        let head = responseHead(.unauthorized)
        expectResponseHead(machine.responseHead(head, upstreamReusable: true, clientKeepAlive: true))
        expectResponseBody(machine.responseBody(bytes("no")), bytes("no"))
        expectFinish(machine.responseEnd(), upstream: .reuse, closeClient: false)
        #expect(!machine.isTunnelling)
        #expect(machine.isIdle)
    }

    // MARK: shouldReadClient per state

    @Test("shouldReadClient in every state")
    func shouldReadClientPerState() {
        // idle
        var machine = Machine()
        #expect(machine.shouldReadClient)
        // waitingForUpstream
        expectLease(machine.requestHead(requestHead(.POST), info: info(.POST, framing: .chunked)), dedicated: false)
        #expect(!machine.shouldReadClient)
        // forwarding (awaiting head)
        _ = machine.upstreamLeased(reused: false)
        #expect(machine.shouldReadClient)
        // forwarding (streaming)
        expectResponseHead(
            machine.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true)
        )
        #expect(machine.shouldReadClient)
        // discardingRequest
        expectFinish(machine.responseEnd(), upstream: .close, closeClient: true)
        #expect(machine.shouldReadClient)
        // closed
        expectNone(machine.requestEnd())
        #expect(!machine.shouldReadClient)

        // switchingProtocols and tunnelling
        var upgrade = forwardingBodiless(.GET, isUpgrade: true)
        #expect(upgrade.shouldReadClient)
        _ = upgrade.responseHead(responseHead(.switchingProtocols), upstreamReusable: false, clientKeepAlive: false)
        #expect(!upgrade.shouldReadClient)
        _ = upgrade.responseEnd()
        #expect(upgrade.isTunnelling)
        #expect(!upgrade.shouldReadClient)

        // back to idle after a kept-alive exchange
        var keepAlive = forwardingBodiless()
        _ = keepAlive.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true)
        _ = keepAlive.responseEnd()
        #expect(keepAlive.shouldReadClient)
        #expect(keepAlive.isIdle)
    }

    @Test("several exchanges on one kept-alive connection")
    func severalExchanges() {
        var machine = Machine()
        for index in 0..<5 {
            let head = requestHead(.GET, uri: "/api/item/\(index)")
            expectLease(machine.requestHead(head, info: info()), dedicated: false)
            expectNone(machine.requestEnd())
            expectSendRequest(machine.upstreamLeased(reused: index > 0), head: head, body: [], end: true)
            expectResponseHead(
                machine.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true)
            )
            expectResponseBody(machine.responseBody(bytes("#\(index)")), bytes("#\(index)"))
            expectFinish(machine.responseEnd(), upstream: .reuse, closeClient: false)
            #expect(machine.isIdle)
        }
    }

    @Test("a retry is per exchange: the next request on the connection may be retried again")
    func retryFlagResetsPerExchange() {
        var machine = Machine()
        for _ in 0..<2 {
            expectLease(machine.requestHead(requestHead(), info: info()), dedicated: false)
            expectNone(machine.requestEnd())
            _ = machine.upstreamLeased(reused: true)
            expectRetry(machine.upstreamFailed())
            _ = machine.upstreamLeased(reused: true)
            expectResponseHead(
                machine.responseHead(responseHead(), upstreamReusable: true, clientKeepAlive: true)
            )
            expectFinish(machine.responseEnd(), upstream: .reuse, closeClient: false)
        }
    }

    @Test("RequestInfo.isIdempotent follows RFC 9110")
    func idempotentMethods() {
        for method in [HTTPMethod.GET, .HEAD, .OPTIONS, .TRACE, .PUT, .DELETE] {
            #expect(info(method).isIdempotent, "\(method)")
        }
        for method in [HTTPMethod.POST, .PATCH, .CONNECT, .RAW(value: "PURGE")] {
            #expect(!info(method).isIdempotent, "\(method)")
        }
    }
}
