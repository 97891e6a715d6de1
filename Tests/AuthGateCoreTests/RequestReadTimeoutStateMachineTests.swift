import NIOCore
import Testing

@testable import AuthGateCore

private typealias Machine = RequestReadTimeoutStateMachine

private func at(_ milliseconds: Int64) -> NIODeadline {
    .uptimeNanoseconds(UInt64(1_000_000_000 + milliseconds * 1_000_000))
}

private let head = TimeAmount.milliseconds(1000)
private let body = TimeAmount.milliseconds(500)

private func check(_ machine: Machine, _ milliseconds: Int64) -> Machine.Decision {
    machine.check(now: at(milliseconds), headTimeout: head, bodyTimeout: body)
}

@Suite("RequestReadTimeoutStateMachine")
struct RequestReadTimeoutStateMachineTests {
    @Test("a new connection's header timeout counts from the accept; silence closes it without an answer")
    func firstRequestCountsFromAccept() {
        var machine = Machine(openedAt: at(0))
        #expect(check(machine, 999) == .checkAt(at(1000)))
        #expect(check(machine, 1000) == .closeSilently)
        // A first byte late in the window does not restart it (nginx, HAProxy).
        machine.bytesReceived(at: at(900))
        #expect(machine.isReceivingHead)
        #expect(check(machine, 999) == .checkAt(at(1000)))
        #expect(check(machine, 1000) == .headTimedOut)
    }

    @Test("a head that arrives in time stops the header timeout; bytes of the body move the body deadline")
    func headThenBody() {
        var machine = Machine(openedAt: at(0))
        machine.bytesReceived(at: at(10))
        machine.headReceived(at: at(20))
        #expect(!machine.isReceivingHead)
        #expect(check(machine, 519) == .checkAt(at(520)))
        machine.bytesReceived(at: at(400))
        #expect(check(machine, 520) == .checkAt(at(900)))
        machine.bytesReceived(at: at(800))
        #expect(check(machine, 1299) == .checkAt(at(1300)))
        #expect(check(machine, 1300) == .bodyTimedOut)
    }

    @Test("between requests no read timeout runs: the idle timeout governs; the next head counts from its first byte")
    func keepAliveWait() {
        var machine = Machine(openedAt: at(0))
        machine.bytesReceived(at: at(0))
        machine.headReceived(at: at(0))
        machine.requestEnded()
        #expect(check(machine, 100_000) == .checkAt(nil), "waiting for the response")
        machine.responseEnded(at: at(50))
        #expect(check(machine, 100_000) == .checkAt(nil), "idle between requests")
        machine.bytesReceived(at: at(60_000))
        #expect(check(machine, 60_999) == .checkAt(at(61_000)))
        #expect(check(machine, 61_000) == .headTimedOut)
    }

    @Test("a pipelined head that began during a response counts from that response's end")
    func pipelinedHead() {
        var machine = Machine(openedAt: at(0))
        machine.bytesReceived(at: at(0))
        machine.headReceived(at: at(0))
        machine.requestEnded()
        machine.bytesReceived(at: at(100))
        #expect(check(machine, 100_000) == .checkAt(nil), "not while the response is in flight")
        machine.responseEnded(at: at(5000))
        #expect(check(machine, 5999) == .checkAt(at(6000)))
        #expect(check(machine, 6000) == .headTimedOut)
    }

    @Test("the body timeout does not run while the gateway holds reads back, and restarts when they resume")
    func pausedReading() {
        var machine = Machine(openedAt: at(0))
        machine.bytesReceived(at: at(0))
        machine.headReceived(at: at(0))
        machine.readingPaused()
        #expect(machine.deadline(headTimeout: head, bodyTimeout: body) == nil)
        #expect(check(machine, 10_000) == .checkAt(nil))
        machine.readingResumed(at: at(10_000))
        #expect(check(machine, 10_499) == .checkAt(at(10_500)))
        #expect(check(machine, 10_500) == .bodyTimedOut)
        // Resuming when nothing was paused changes nothing.
        machine.readingResumed(at: at(20_000))
        #expect(check(machine, 10_500) == .bodyTimedOut)
    }

    @Test("a body still arriving after the gateway answered early is closed without a second answer")
    func bodyAfterEarlyResponse() {
        var machine = Machine(openedAt: at(0))
        machine.bytesReceived(at: at(0))
        machine.headReceived(at: at(0))
        machine.responseEnded(at: at(10))
        #expect(check(machine, 500) == .bodyTimedOutAfterResponse)
        machine.requestEnded()
        #expect(check(machine, 100_000) == .checkAt(nil), "the request ended after its answer: idle")
    }
}
