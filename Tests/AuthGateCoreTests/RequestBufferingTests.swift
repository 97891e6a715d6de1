import NIOCore
import NIOHTTP1
import Testing

@testable import AuthGateCore

private func head(_ method: HTTPMethod = .POST) -> HTTPRequestHead {
    var head = HTTPRequestHead(version: .http1_1, method: method, uri: "/upload")
    head.headers.add(name: "Host", value: "backend.internal")
    return head
}

private func info(
    _ framing: RequestBodyFraming,
    buffer: Int64 = 1024,
    maxBody: Int64 = 0
) -> ProxyStateMachine.RequestInfo {
    ProxyStateMachine.RequestInfo(
        method: .POST,
        framing: framing,
        keepAlive: true,
        isUpgrade: false,
        maxBodyBytes: maxBody,
        requestBufferBytes: buffer
    )
}

private func bytes(_ count: Int) -> ByteBuffer {
    ByteBuffer(repeating: UInt8(ascii: "b"), count: count)
}

@Suite("RequestBuffering")
struct RequestBufferingTests {
    @Test("which bodies are read before the lease")
    func decision() {
        #expect(RequestBuffering.buffersBeforeLease(.contentLength(1024), limit: 1024))
        #expect(!RequestBuffering.buffersBeforeLease(.contentLength(1025), limit: 1024))
        #expect(RequestBuffering.buffersBeforeLease(.chunked, limit: 1024))
        #expect(!RequestBuffering.buffersBeforeLease(.none, limit: 1024))
        #expect(!RequestBuffering.buffersBeforeLease(.contentLength(1), limit: 0), "0 disables")
        #expect(!RequestBuffering.buffersBeforeLease(.chunked, limit: 0))
    }

    @Test("a small body is read whole, byte by byte, and only then is a connection leased")
    func smallBodyBeforeLease() {
        var machine = ProxyStateMachine()
        guard case .readRequestBody = machine.requestHead(head(), info: info(.contentLength(10))) else {
            Issue.record("the body is not read first")
            return
        }
        #expect(machine.shouldReadClient)
        for _ in 0..<10 {
            guard case .none = machine.requestBody(bytes(1)) else {
                Issue.record("a lease before the body ended")
                return
            }
        }
        guard case .leaseUpstream(dedicated: false) = machine.requestEnd() else {
            Issue.record("no lease at the body's end")
            return
        }
        #expect(!machine.shouldReadClient)
        guard case .sendRequest(_, let body, let end) = machine.upstreamLeased(reused: false) else {
            Issue.record("the request is not sent")
            return
        }
        #expect(end)
        #expect(body.count == 1, "the trickled bytes are one contiguous buffer")
        #expect(body.first?.readableBytes == 10)
    }

    @Test("a large body leases at once and streams, as before")
    func largeBodyStreams() {
        var machine = ProxyStateMachine()
        guard case .leaseUpstream(dedicated: false) = machine.requestHead(head(), info: info(.contentLength(1025)))
        else {
            Issue.record("a large body is buffered")
            return
        }
    }

    @Test("a chunked body is buffered until it passes the limit, then the rest streams")
    func chunkedOverflow() {
        var machine = ProxyStateMachine()
        guard case .readRequestBody = machine.requestHead(head(), info: info(.chunked)) else {
            Issue.record("the chunked body is not read first")
            return
        }
        guard case .none = machine.requestBody(bytes(1000)) else {
            Issue.record("a lease within the limit")
            return
        }
        guard case .leaseUpstream(dedicated: false) = machine.requestBody(bytes(100)) else {
            Issue.record("no lease past the limit")
            return
        }
        guard case .sendRequest(_, let body, let end) = machine.upstreamLeased(reused: false) else {
            Issue.record("the request is not sent")
            return
        }
        #expect(!end)
        #expect(body.reduce(0) { $0 + $1.readableBytes } == 1100)
        guard case .forwardRequestBody = machine.requestBody(bytes(5)) else {
            Issue.record("the rest does not stream")
            return
        }
    }

    @Test("after authentication the body is read before the lease; the body limit still holds")
    func authenticatedThenBuffered() {
        var machine = ProxyStateMachine()
        _ = machine.requestHead(head(), info: info(.contentLength(100), maxBody: 50), authenticate: true)
        guard case .readRequestBody = machine.authenticated(head()) else {
            Issue.record("the body is not read after the verdict")
            return
        }
        _ = machine.requestBody(bytes(40))
        guard case .respondWithError(let error, upstream: nil, closeClient: true) = machine.requestBody(bytes(40))
        else {
            Issue.record("no 413")
            return
        }
        #expect(error == .payloadTooLarge)
    }

    @Test("a body that stalls while buffered is a 408 with nothing leased")
    func timeoutWhileBuffering() {
        var machine = ProxyStateMachine()
        _ = machine.requestHead(head(), info: info(.contentLength(10)))
        _ = machine.requestBody(bytes(3))
        guard case .respondWithError(let error, upstream: nil, closeClient: true) = machine.requestTimedOut() else {
            Issue.record("no 408")
            return
        }
        #expect(error == .requestTimeout)
        #expect(error.status == .requestTimeout)
    }

    @Test("a body that stalls after the response started closes both connections, the upstream never reused")
    func timeoutWhileStreaming() {
        var machine = ProxyStateMachine()
        _ = machine.requestHead(head(), info: info(.contentLength(10_000)))
        _ = machine.upstreamLeased(reused: false)
        _ = machine.responseHead(
            .init(status: .ok, bytes: ByteBuffer(), chunked: false),
            upstreamReusable: true,
            clientKeepAlive: true
        )
        guard case .abort(upstream: .close) = machine.requestTimedOut() else {
            Issue.record("not aborted")
            return
        }
    }
}
