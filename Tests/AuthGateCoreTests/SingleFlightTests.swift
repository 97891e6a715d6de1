import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import AuthGateCore

private struct LookupFailed: Error, Equatable {}

/// A counter shared with lookups that may run on any thread.
@available(macOS 15.0, *)
private final class Counter: Sendable {
    private let value = Mutex(0)

    func increment() {
        self.value.withLock { $0 += 1 }
    }

    var count: Int { self.value.withLock { $0 } }
}

private func key(_ name: String) -> CredentialKey {
    CredentialKey(kind: .sessionCookie, credential: name)
}

@Suite("SingleFlightStateMachine")
struct SingleFlightStateMachineTests {
    @Test("the first join starts, later joins wait, completion hands back every waiter in order")
    func joinAndComplete() {
        var machine = SingleFlightStateMachine<String, Int>()
        #expect(machine.join("a", waiter: 1) == .startLookup)
        #expect(machine.join("a", waiter: 2) == .joinExisting)
        #expect(machine.join("a", waiter: 3) == .joinExisting)
        #expect(machine.waiterCount(for: "a") == 3)
        #expect(machine.inFlightCount == 1)
        guard case .complete(let waiters) = machine.complete("a") else { return }
        #expect(waiters == [1, 2, 3])
        #expect(machine.inFlightCount == 0)
        #expect(machine.waiterCount(for: "a") == 0)
        #expect(machine.lookupsStarted == 1)
        #expect(machine.joins == 2)
    }

    @Test("a join after completion starts a new lookup")
    func newLookupAfterCompletion() {
        var machine = SingleFlightStateMachine<String, Int>()
        #expect(machine.join("a", waiter: 1) == .startLookup)
        _ = machine.complete("a")
        #expect(machine.join("a", waiter: 2) == .startLookup)
        guard case .complete(let waiters) = machine.complete("a") else { return }
        #expect(waiters == [2])
        #expect(machine.lookupsStarted == 2)
        #expect(machine.joins == 0)
    }

    @Test("different keys never join")
    func keysAreIndependent() {
        var machine = SingleFlightStateMachine<String, Int>()
        #expect(machine.join("a", waiter: 1) == .startLookup)
        #expect(machine.join("b", waiter: 2) == .startLookup)
        #expect(machine.join("b", waiter: 3) == .joinExisting)
        guard case .complete(let a) = machine.complete("a") else { return }
        #expect(a == [1])
        #expect(machine.waiterCount(for: "b") == 2)
        guard case .complete(let b) = machine.complete("b") else { return }
        #expect(b == [2, 3])
    }
}

@Suite("SingleFlight")
struct SingleFlightTests {
    @available(macOS 15.0, *)
    @Test("concurrent runs on one key share one lookup and its value")
    func sharedLookup() throws {
        let loop = EmbeddedEventLoop()
        defer { try? loop.syncShutdownGracefully() }
        let singleFlight = SingleFlight<String>()
        var calls = 0
        let answer = loop.makePromise(of: String.self)
        let futures = (0..<5).map { _ in
            singleFlight.run(key: key("a"), on: loop) {
                calls += 1
                return answer.futureResult
            }
        }
        #expect(calls == 1)
        #expect(singleFlight.statistics == .init(lookupsStarted: 1, joins: 4, inFlight: 1))
        let done = Counter()
        for future in futures {
            future.whenSuccess { _ in done.increment() }
        }
        #expect(done.count == 0, "no waiter completes before the lookup")
        answer.succeed("alice")
        #expect(done.count == 5)
        for future in futures {
            #expect(try future.wait() == "alice")
        }
        #expect(singleFlight.statistics.inFlight == 0)
    }

    @Test("a failed lookup fails every waiter")
    func failureFanOut() {
        let loop = EmbeddedEventLoop()
        defer { try? loop.syncShutdownGracefully() }
        let singleFlight = SingleFlight<String>()
        let answer = loop.makePromise(of: String.self)
        let futures = (0..<4).map { _ in
            singleFlight.run(key: key("a"), on: loop) { answer.futureResult }
        }
        answer.fail(LookupFailed())
        for future in futures {
            #expect(throws: LookupFailed.self) { try future.wait() }
        }
        #expect(singleFlight.statistics.inFlight == 0)
    }

    @Test("a run after completion starts a new lookup")
    func newLookupAfterCompletion() throws {
        let loop = EmbeddedEventLoop()
        defer { try? loop.syncShutdownGracefully() }
        let singleFlight = SingleFlight<Int>()
        var calls = 0
        let first = singleFlight.run(key: key("a"), on: loop) {
            calls += 1
            return loop.makeSucceededFuture(1)
        }
        #expect(try first.wait() == 1)
        let second = singleFlight.run(key: key("a"), on: loop) {
            calls += 1
            return loop.makeSucceededFuture(2)
        }
        #expect(try second.wait() == 2)
        #expect(calls == 2)
        #expect(singleFlight.statistics == .init(lookupsStarted: 2, joins: 0, inFlight: 0))
    }

    @Test("runs on different keys do not join")
    func differentKeys() throws {
        let loop = EmbeddedEventLoop()
        defer { try? loop.syncShutdownGracefully() }
        let singleFlight = SingleFlight<String>()
        var calls = 0
        let answerA = loop.makePromise(of: String.self)
        let answerB = loop.makePromise(of: String.self)
        let futureA = singleFlight.run(key: key("a"), on: loop) {
            calls += 1
            return answerA.futureResult
        }
        let futureB = singleFlight.run(key: key("b"), on: loop) {
            calls += 1
            return answerB.futureResult
        }
        #expect(calls == 2)
        answerA.succeed("a")
        #expect(try futureA.wait() == "a")
        #expect(singleFlight.statistics.inFlight == 1, "b is still in flight")
        answerB.succeed("b")
        #expect(try futureB.wait() == "b")
        #expect(singleFlight.statistics.joins == 0)
    }

    @available(macOS 15.0, *)
    @Test("200 runs on one key from four event loops cost one lookup; each gets the value on its own loop")
    func concurrentRunsAcrossLoops() async throws {
        // `NIOAsyncTestingEventLoop` runs each loop on its own serial queue, so the four loops
        // run these calls in parallel, like the threads of a `MultiThreadedEventLoopGroup`.
        let loops = (0..<4).map { _ in NIOAsyncTestingEventLoop() }
        let singleFlight = SingleFlight<String>()
        let calls = Counter()
        let onOwnLoop = Counter()
        let answer = loops[0].makePromise(of: String.self)

        let submitted = (0..<200).map { n in
            let loop = loops[n % loops.count]
            return loop.submit {
                let future = singleFlight.run(key: key("shared"), on: loop) {
                    calls.increment()
                    return answer.futureResult
                }
                future.whenComplete { _ in
                    if loop.inEventLoop { onOwnLoop.increment() }
                }
                return future
            }
        }
        // Every call has been made before the lookup completes.
        var futures: [EventLoopFuture<String>] = []
        for (n, submission) in submitted.enumerated() {
            let future = try await submission.get()
            #expect(future.eventLoop === loops[n % loops.count])
            futures.append(future)
        }
        #expect(calls.count == 1)
        #expect(singleFlight.statistics == .init(lookupsStarted: 1, joins: 199, inFlight: 1))

        answer.succeed("alice")
        for future in futures {
            #expect(try await future.get() == "alice")
        }
        #expect(onOwnLoop.count == 200)
        #expect(singleFlight.statistics.inFlight == 0)
        for loop in loops {
            await loop.shutdownGracefully()
        }
    }

    @available(macOS 15.0, *)
    @Test("a failure reaches the waiters of every event loop")
    func concurrentFailureAcrossLoops() async throws {
        let loops = (0..<4).map { _ in NIOAsyncTestingEventLoop() }
        let singleFlight = SingleFlight<String>()
        let calls = Counter()
        let answer = loops[3].makePromise(of: String.self)
        let submitted = (0..<40).map { n in
            let loop = loops[n % loops.count]
            return loop.submit {
                singleFlight.run(key: key("shared"), on: loop) {
                    calls.increment()
                    return answer.futureResult
                }
            }
        }
        var futures: [EventLoopFuture<String>] = []
        for submission in submitted {
            futures.append(try await submission.get())
        }
        #expect(calls.count == 1)
        answer.fail(LookupFailed())
        for future in futures {
            await #expect(throws: LookupFailed.self) { try await future.get() }
        }
        for loop in loops {
            await loop.shutdownGracefully()
        }
    }

    @available(macOS 15.0, *)
    @Test("many keys from many loops: one lookup per key")
    func concurrentManyKeys() async throws {
        let loops = (0..<4).map { _ in NIOAsyncTestingEventLoop() }
        let singleFlight = SingleFlight<Int>(shardCount: 4)
        let calls = Counter()
        let answers = (0..<10).map { _ in loops[0].makePromise(of: Int.self) }
        let submitted = (0..<400).map { n in
            let loop = loops[n % loops.count]
            let keyIndex = n % answers.count
            return loop.submit {
                singleFlight.run(key: key("key-\(keyIndex)"), on: loop) {
                    calls.increment()
                    return answers[keyIndex].futureResult
                }
            }
        }
        var futures: [EventLoopFuture<Int>] = []
        for submission in submitted {
            futures.append(try await submission.get())
        }
        #expect(calls.count == 10)
        #expect(singleFlight.statistics == .init(lookupsStarted: 10, joins: 390, inFlight: 10))
        for (index, answer) in answers.enumerated() {
            answer.succeed(index)
        }
        for (n, future) in futures.enumerated() {
            #expect(try await future.get() == n % answers.count)
        }
        for loop in loops {
            await loop.shutdownGracefully()
        }
    }
}
