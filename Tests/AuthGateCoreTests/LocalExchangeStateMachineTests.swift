import AuthGateCore
import NIOCore
import NIOHTTP1
import Testing

@Suite("LocalExchangeStateMachine")
struct LocalExchangeStateMachineTests {
    typealias Machine = LocalExchangeStateMachine

    static let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/api/auth/refresh")
    static let info = ProxyStateMachine.RequestInfo(
        method: .POST,
        framing: .contentLength(30),
        keepAlive: true,
        isUpgrade: false,
        maxBodyBytes: 0
    )

    @Test("an answer from the head drops the body and is over at the end")
    func answeredFromTheHead() {
        var machine = Machine()
        #expect(!machine.isActive)
        machine.answer()
        #expect(machine.isActive)
        #expect(machine.body(ByteBuffer(string: "ignored")) == .none)
        #expect(machine.end() == .none)
        #expect(!machine.isActive)
    }

    @Test("an introspection's body, in parts, is judged at the end")
    func introspection() {
        var machine = Machine()
        machine.answer(reading: .introspect, into: ByteBuffer(), keepAlive: false)
        #expect(machine.body(ByteBuffer(string: "token=")) == .none)
        #expect(machine.body(ByteBuffer(string: "abc")) == .none)
        #expect(machine.isActive)
        #expect(machine.end() == .introspect(body: ByteBuffer(string: "token=abc"), keepAlive: false))
        #expect(!machine.isActive)
    }

    @Test("a refresh's body goes on with the head it came with")
    func refresh() {
        var machine = Machine()
        machine.answer(reading: .refresh(Self.head, Self.info), into: ByteBuffer(), keepAlive: true)
        let body = #"{"refresh_token":"r1"}"#
        #expect(machine.body(ByteBuffer(string: body)) == .none)
        #expect(
            machine.end()
                == .refresh(body: ByteBuffer(string: body), head: Self.head, info: Self.info, keepAlive: true)
        )
        #expect(!machine.isActive)
    }

    @Test("a body over the bound is refused once; the rest is dropped and nothing is judged")
    func tooLarge() {
        var machine = Machine()
        machine.answer(reading: .introspect, into: ByteBuffer(), keepAlive: true)
        #expect(machine.body(ByteBuffer(repeating: UInt8(ascii: "a"), count: Machine.maxBodyBytes)) == .none)
        #expect(machine.body(ByteBuffer(string: "b")) == .refuseTooLarge)
        #expect(machine.body(ByteBuffer(string: "c")) == .none)
        #expect(machine.isActive)
        #expect(machine.end() == .none)
        #expect(!machine.isActive)
    }

    @Test("a reset abandons the request: its end judges nothing")
    func reset() {
        var machine = Machine()
        machine.answer(reading: .refresh(Self.head, Self.info), into: ByteBuffer(), keepAlive: true)
        _ = machine.body(ByteBuffer(string: "{}"))
        machine.reset()
        #expect(!machine.isActive)
        #expect(machine.end() == .none)
    }
}
