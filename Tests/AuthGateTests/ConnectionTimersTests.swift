import AuthGateCore
import NIOCore
import NIOEmbedded
import Testing

@testable import AuthGate

/// Records what the timers told the connection.
private final class RecordingOwner: ConnectionTimersOwner {
    var connectionIsIdle = true
    var log: [String] = []

    func idleTimedOut() { self.log.append("idle") }
    func responseTimedOut() { self.log.append("response") }
    func readTimedOut(_ decision: RequestReadTimeoutStateMachine.Decision) { self.log.append("read \(decision)") }
}

private func makeTimers(
    idle: Int64 = 10_000,
    response: Int64 = 5_000,
    header: Int64 = 2_000,
    body: Int64 = 3_000
) -> ConnectionTimers {
    var timeouts = ConnectionTimers.Timeouts(ExchangeSettings(config: GatewayConfig()))
    timeouts.clientIdle = .milliseconds(idle)
    timeouts.response = .milliseconds(response)
    timeouts.requestHeader = .milliseconds(header)
    timeouts.requestBody = .milliseconds(body)
    return ConnectionTimers(timeouts: timeouts, usesEventLoopClock: true)
}

@Suite("ConnectionTimers")
struct ConnectionTimersTests {
    @Test("the header timeout: a connection that sent nothing closes silently, one inside a head is answered")
    func headerTimeout() {
        let loop = EmbeddedEventLoop()
        let silent = RecordingOwner()
        let quiet = makeTimers()
        quiet.start(owner: silent, eventLoop: loop)
        loop.advanceTime(by: .milliseconds(1_999))
        #expect(silent.log == [])
        loop.advanceTime(by: .milliseconds(1))
        #expect(silent.log == ["read closeSilently"])
        quiet.stop()

        let trickling = RecordingOwner()
        let timers = makeTimers()
        timers.start(owner: trickling, eventLoop: loop)
        loop.advanceTime(by: .milliseconds(500))
        // The first head's timeout runs from the connection's opening; its bytes do not move it.
        timers.bytesReceived()
        loop.advanceTime(by: .milliseconds(1_000))
        timers.bytesReceived()
        loop.advanceTime(by: .milliseconds(499))
        #expect(trickling.log == [])
        loop.advanceTime(by: .milliseconds(1))
        #expect(trickling.log == ["read headTimedOut"])
        timers.stop()
    }

    @Test("the idle timeout counts from the end of the last exchange, and waits while one is in progress")
    func idleTimeout() {
        let loop = EmbeddedEventLoop()
        let owner = RecordingOwner()
        let timers = makeTimers(header: 60_000)
        timers.start(owner: owner, eventLoop: loop)
        owner.connectionIsIdle = false
        loop.advanceTime(by: .milliseconds(10_000))
        #expect(owner.log == [], "an exchange is in progress")
        owner.connectionIsIdle = true
        timers.responseEnded(closing: false)
        loop.advanceTime(by: .milliseconds(9_999))
        #expect(owner.log == [])
        loop.advanceTime(by: .milliseconds(10_001))
        #expect(owner.log == ["idle"])
        timers.stop()
    }

    @Test("the response timeout fires once per exchange and not after it was cancelled")
    func responseTimeout() {
        let loop = EmbeddedEventLoop()
        let owner = RecordingOwner()
        let timers = makeTimers(idle: 600_000, header: 600_000)
        timers.start(owner: owner, eventLoop: loop)
        timers.armResponseTimeout(sentAt: loop.now)
        loop.advanceTime(by: .milliseconds(3_000))
        timers.cancelResponseTimeout()
        loop.advanceTime(by: .milliseconds(5_000))
        #expect(owner.log == [], "cancelled: the head arrived")
        // A second exchange armed later moves the same check to its own deadline.
        timers.armResponseTimeout(sentAt: loop.now)
        loop.advanceTime(by: .milliseconds(4_999))
        #expect(owner.log == [])
        loop.advanceTime(by: .milliseconds(1))
        #expect(owner.log == ["response"])
        loop.advanceTime(by: .milliseconds(10_000))
        #expect(owner.log == ["response"], "once")
        timers.stop()
    }

    @Test("a body that makes progress moves its timeout; one that stalls times out")
    func bodyTimeout() {
        let loop = EmbeddedEventLoop()
        let owner = RecordingOwner()
        let timers = makeTimers(idle: 600_000)
        timers.start(owner: owner, eventLoop: loop)
        timers.bytesReceived()
        timers.headReceived()
        for _ in 0..<5 {
            loop.advanceTime(by: .milliseconds(2_500))
            timers.bytesReceived()
        }
        #expect(owner.log == [], "each read came within the body timeout")
        loop.advanceTime(by: .milliseconds(3_000))
        #expect(owner.log == ["read bodyTimedOut"])
        timers.stop()
    }

    @Test("stopped timers tell nothing")
    func stopped() {
        let loop = EmbeddedEventLoop()
        let owner = RecordingOwner()
        let timers = makeTimers()
        timers.start(owner: owner, eventLoop: loop)
        timers.armResponseTimeout(sentAt: loop.now)
        timers.stop()
        loop.advanceTime(by: .seconds(60))
        #expect(owner.log == [])
    }
}
