import NIOCore
import NIOHTTP1
import Testing

@testable import AuthGateCore

private let head = HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/a"))
private let body = HTTPServerRequestPart.body(ByteBuffer(string: "x"))
private let end = HTTPServerRequestPart.end(nil)

private func describe(_ event: PipeliningStateMachine.Event) -> String {
    switch event {
    case .part(.head(let head)): return "head \(head.uri)"
    case .part(.body): return "body"
    case .part(.end): return "end"
    case .parserError(let error): return "error \(error)"
    }
}

@Suite("Pipelining state machine")
struct PipeliningStateMachineTests {
    @Test("a client that waits for each response is never held and never stops reading")
    func sequentialClient() {
        var machine = PipeliningStateMachine()
        for _ in 0..<3 {
            let r1 = machine.inbound(head)
            #expect(r1 == .deliver)
            #expect(machine.shouldRead)
            let r2 = machine.inbound(end)
            #expect(r2 == .deliver)
            // The request has ended and its response is pending: reading goes on, so the
            // channel keeps its read interest (no epoll_ctl per request).
            #expect(machine.shouldRead)
            #expect(!machine.isIdle)
            let r3 = machine.responseEnded()
            #expect(r3 == .none)
            #expect(machine.isIdle)
        }
    }

    @Test("a request sent before the previous response is held, with everything after it, and delivered in order")
    func pipelinedRequestsAreHeld() {
        var machine = PipeliningStateMachine()
        let r4 = machine.inbound(head)
        #expect(r4 == .deliver)
        let r5 = machine.inbound(end)
        #expect(r5 == .deliver)
        let second = HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/b"))
        let third = HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/c"))
        let r6 = machine.inbound(second)
        #expect(r6 == .hold)
        #expect(!machine.shouldRead, "reading stops while requests are held")
        let r7 = machine.inbound(body)
        #expect(r7 == .hold)
        let r8 = machine.inbound(end)
        #expect(r8 == .hold)
        let r9 = machine.inbound(third)
        #expect(r9 == .hold)
        let r10 = machine.inbound(end)
        #expect(r10 == .hold)
        let r11 = machine.nextHeldEvent()
        #expect(r11 == nil, "nothing is delivered before the response is out")

        let r12 = machine.responseEnded()
        #expect(r12 == .deliverHeld)
        var delivered: [String] = []
        while let (event, action) = machine.nextHeldEvent() {
            #expect(action == .deliver)
            delivered.append(describe(event))
        }
        #expect(delivered == ["head /b", "body", "end"], "delivery stops at the next request waiting for its response")
        #expect(!machine.shouldRead)
        let r13 = machine.responseEnded()
        #expect(r13 == .deliverHeld)
        while let (event, _) = machine.nextHeldEvent() { delivered.append(describe(event)) }
        #expect(delivered == ["head /b", "body", "end", "head /c", "end"])
        #expect(machine.shouldRead, "reading resumes once nothing is held")
        let r14 = machine.responseEnded()
        #expect(r14 == .none)
        #expect(machine.isIdle)
    }

    @Test("an early response (before the request ended) lets the rest of the request through")
    func earlyResponse() {
        var machine = PipeliningStateMachine()
        let r15 = machine.inbound(head)
        #expect(r15 == .deliver)
        let r16 = machine.inbound(body)
        #expect(r16 == .deliver)
        let r17 = machine.responseEnded()
        #expect(r17 == .none)
        let r18 = machine.inbound(body)
        #expect(r18 == .deliver)
        let r19 = machine.inbound(end)
        #expect(r19 == .deliver)
        #expect(machine.isIdle)
        let r20 = machine.inbound(head)
        #expect(r20 == .deliver)
    }

    @Test("a parser error behind a pending response is held; with nothing pending it is answered like a request")
    func parserErrors() {
        var machine = PipeliningStateMachine()
        let r21 = machine.inbound(head)
        #expect(r21 == .deliver)
        let r22 = machine.inbound(end)
        #expect(r22 == .deliver)
        let r23 = machine.parserError(.invalidMethod)
        #expect(r23 == false)
        let r24 = machine.responseEnded()
        #expect(r24 == .deliverHeld)
        let next = machine.nextHeldEvent()
        #expect(next.map { describe($0.0) } == "error \(HTTPParserError.invalidMethod)")
        #expect(!machine.isIdle, "the error is answered like a request")
        let r25 = machine.responseEnded()
        #expect(r25 == .none)

        var fresh = PipeliningStateMachine()
        let r26 = fresh.parserError(.invalidVersion)
        #expect(r26)
        #expect(!fresh.isIdle)
    }

    @Test("drain: an idle connection closes at once")
    func quiesceIdle() {
        var machine = PipeliningStateMachine()
        let r27 = machine.quiesce()
        #expect(r27 == .close)
        #expect(!machine.shouldRead)
        let r28 = machine.inbound(head)
        #expect(r28 == .drop)
    }

    @Test("drain: a pending response closes the connection after it, says Connection: close, and drops held requests")
    func quiesceWhileResponsePending() {
        var machine = PipeliningStateMachine()
        let r29 = machine.inbound(head)
        #expect(r29 == .deliver)
        let r30 = machine.inbound(end)
        #expect(r30 == .deliver)
        let r31 = machine.inbound(head)
        #expect(r31 == .hold)
        let r32 = machine.quiesce()
        #expect(r32 == .none)
        #expect(machine.responseMustClose)
        #expect(!machine.shouldRead)
        #expect(!machine.hasHeldEvents, "the held request is dropped: the client sees the close and retries")
        let r33 = machine.inbound(end)
        #expect(r33 == .drop)
        let r34 = machine.responseEnded()
        #expect(r34 == .close)
        let r35 = machine.quiesce()
        #expect(r35 == .none, "a second drain changes nothing")
    }

    @Test("drain: a request still arriving is read to its end, then the connection closes after its response")
    func quiesceWhileRequestArriving() {
        var machine = PipeliningStateMachine()
        let r36 = machine.inbound(head)
        #expect(r36 == .deliver)
        let r37 = machine.quiesce()
        #expect(r37 == .none)
        #expect(machine.shouldRead)
        let r38 = machine.inbound(body)
        #expect(r38 == .deliver)
        let r39 = machine.inbound(end)
        #expect(r39 == .deliver)
        #expect(!machine.shouldRead)
        let r40 = machine.responseEnded()
        #expect(r40 == .close)
    }

    @Test("drain: after an early response, the request's end closes the connection")
    func quiesceAfterEarlyResponse() {
        var machine = PipeliningStateMachine()
        let r41 = machine.inbound(head)
        #expect(r41 == .deliver)
        let r42 = machine.responseEnded()
        #expect(r42 == .none)
        let r43 = machine.quiesce()
        #expect(r43 == .none)
        let r44 = machine.inbound(body)
        #expect(r44 == .deliver)
        let r45 = machine.inbound(end)
        #expect(r45 == .deliverAndClose)
        let r46 = machine.inbound(head)
        #expect(r46 == .drop)
    }

    @Test("a closed connection drops what it held")
    func closedDropsHeld() {
        var machine = PipeliningStateMachine()
        let r47 = machine.inbound(head)
        #expect(r47 == .deliver)
        let r48 = machine.inbound(end)
        #expect(r48 == .deliver)
        let r49 = machine.inbound(head)
        #expect(r49 == .hold)
        machine.closed()
        #expect(!machine.hasHeldEvents)
        let r50 = machine.inbound(end)
        #expect(r50 == .drop)
    }
}
