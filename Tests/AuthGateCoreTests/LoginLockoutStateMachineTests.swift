import AuthGateCore
import NIOCore
import NIOHTTP1
import Testing

@Suite("LoginLockoutStateMachine")
struct LoginLockoutStateMachineTests {
    typealias Machine = LoginLockoutStateMachine

    static let account = RateLimitKey(namespace: "account", value: "alice@example.com")

    static func head(_ status: HTTPResponseStatus) -> UpstreamResponseParser.Event {
        .head(
            UpstreamResponseHead(
                version: .http1_1,
                status: status,
                keepAlive: true,
                selfDelimited: true,
                fields: ByteBuffer(string: "content-length: 2\r\n")
            )
        )
    }

    /// `hold(_:)` through a helper: `#expect` cannot call a mutating method itself.
    static func hold(_ machine: inout Machine, _ item: Machine.Held) -> Bool {
        machine.hold(item)
    }

    @Test("an exchange that is not a login counts nothing and holds nothing")
    func notALogin() {
        var machine = Machine()
        machine.begin(countsFailure: false)
        machine.accountKnown(Self.account, sharedDigest: "d1")
        #expect(machine.account == nil)
        #expect(!machine.countsFailure(status: .unauthorized))
        #expect(machine.holdsForSharedFailure(status: .unauthorized) == nil)
        #expect(!Self.hold(&machine, .event(.end)))
        #expect(!machine.isHolding)
    }

    @Test("a login's 401 counts for the IP and the account; other answers count nothing")
    func localCount() {
        var machine = Machine()
        machine.begin(countsFailure: true)
        #expect(machine.account == nil)
        #expect(machine.countsFailure(status: .unauthorized))
        machine.accountKnown(Self.account, sharedDigest: nil)
        #expect(machine.account == Self.account)
        #expect(!machine.countsFailure(status: .ok))
        #expect(!machine.countsFailure(status: .forbidden))
        // Without the shared store nothing is held.
        #expect(machine.holdsForSharedFailure(status: .unauthorized) == nil)
        #expect(!machine.isHolding)
        #expect(machine.countsFailure(status: .unauthorized))
    }

    @Test("with the shared store a 401 is held, with all after it, until stored; then relayed and counted once")
    func sharedStoreHoldsTheAnswer() {
        var machine = Machine()
        machine.begin(countsFailure: true)
        machine.accountKnown(Self.account, sharedDigest: "digest-1")
        // A success is never held.
        #expect(machine.holdsForSharedFailure(status: .ok) == nil)
        #expect(machine.holdsForSharedFailure(status: .unauthorized) == "digest-1")
        #expect(machine.isHolding)
        #expect(Self.hold(&machine, .event(Self.head(.unauthorized))))
        #expect(Self.hold(&machine, .event(.body(ByteBuffer(string: "no")))))
        #expect(Self.hold(&machine, .event(.end)))
        #expect(machine.account == Self.account)
        #expect(
            machine.release() == [
                .event(Self.head(.unauthorized)), .event(.body(ByteBuffer(string: "no"))), .event(.end),
            ]
        )
        #expect(!machine.isHolding)
        // Replayed, the head is not held again (the failure is stored), and counts locally.
        #expect(machine.holdsForSharedFailure(status: .unauthorized) == nil)
        #expect(machine.countsFailure(status: .unauthorized))
        #expect(machine.account == Self.account)
        #expect(machine.release() == [])
    }

    @Test("a failure of the backend while the answer is held is held too, in order")
    func failureWhileHolding() {
        var machine = Machine()
        machine.begin(countsFailure: true)
        machine.accountKnown(Self.account, sharedDigest: "digest-1")
        _ = machine.holdsForSharedFailure(status: .unauthorized)
        #expect(Self.hold(&machine, .event(Self.head(.unauthorized))))
        #expect(Self.hold(&machine, .failed(protocolError: false)))
        #expect(machine.release() == [.event(Self.head(.unauthorized)), .failed(protocolError: false)])
    }

    @Test("a locked-out account's refusal counts nothing more of the account; a new exchange starts clean")
    func refusedAndReset() {
        var machine = Machine()
        machine.begin(countsFailure: true)
        machine.accountKnown(Self.account, sharedDigest: "digest-1")
        machine.accountRefused()
        #expect(machine.account == nil)
        #expect(machine.holdsForSharedFailure(status: .unauthorized) == nil)

        machine.begin(countsFailure: true)
        machine.accountKnown(Self.account, sharedDigest: "digest-2")
        _ = machine.holdsForSharedFailure(status: .unauthorized)
        #expect(machine.isHolding)
        machine.begin(countsFailure: false)
        #expect(!machine.isHolding)
        #expect(machine.account == nil)
        #expect(machine.release() == [])
    }
}
