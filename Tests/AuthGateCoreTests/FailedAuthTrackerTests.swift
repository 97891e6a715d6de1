import NIOCore
import Testing

@testable import AuthGateCore

private let second: UInt64 = 1_000_000_000
private let minute: UInt64 = 60 * second
private let start: UInt64 = 1_000 * second

private func account(_ email: String) -> RateLimitKey {
    RateLimitKey(namespace: "login-account", value: email)
}

private func makeTracker(maxKeys: Int = 1_000, shardCount: Int = 16) -> FailedAuthTracker {
    FailedAuthTracker(
        configuration: .init(maxFailures: 5, window: .minutes(15), maxKeys: maxKeys, shardCount: shardCount)
    )
}

@Suite("FailedAuthTracker")
struct FailedAuthTrackerTests {
    @Test("an unknown key is open and is not stored")
    func unknownKey() {
        let tracker = makeTracker()
        #expect(tracker.isLockedOut(account("a"), now: start) == .open)
        #expect(tracker.count == 0)
    }

    @Test("five failures lock the sixth attempt out until the window ends")
    func lockAfterFive() {
        let tracker = makeTracker()
        let key = account("alice@example.com")
        for index in 0..<4 {
            #expect(tracker.recordFailure(key, now: start + UInt64(index) * minute) == .open)
            #expect(tracker.isLockedOut(key, now: start + UInt64(index) * minute) == .open)
        }
        // The fifth failure, 4 minutes after the first: locked for the 11 minutes left.
        #expect(tracker.recordFailure(key, now: start + 4 * minute) == .locked(retryAfterSeconds: 660))
        #expect(tracker.isLockedOut(key, now: start + 4 * minute) == .locked(retryAfterSeconds: 660))
        #expect(tracker.isLockedOut(key, now: start + 14 * minute + 1) == .locked(retryAfterSeconds: 60))
        #expect(tracker.isLockedOut(key, now: start + 15 * minute - 1) == .locked(retryAfterSeconds: 1))
        #expect(tracker.isLockedOut(key, now: start + 15 * minute) == .open)
    }

    @Test("the window starts at the first failure, and the count resets after it")
    func windowFromFirstFailure() {
        let tracker = makeTracker()
        let key = account("bob@example.com")
        #expect(tracker.recordFailure(key, now: start) == .open)
        for _ in 0..<4 {
            tracker.recordFailure(key, now: start + 14 * minute)
        }
        #expect(tracker.isLockedOut(key, now: start + 14 * minute) == .locked(retryAfterSeconds: 60))
        #expect(tracker.isLockedOut(key, now: start + 15 * minute) == .open)
        // A new window: four more failures are not enough.
        for _ in 0..<4 {
            #expect(tracker.recordFailure(key, now: start + 16 * minute) == .open)
        }
        #expect(tracker.recordFailure(key, now: start + 16 * minute) == .locked(retryAfterSeconds: 900))
    }

    @Test("failures spread over more than a window never lock")
    func spreadFailures() {
        let tracker = makeTracker()
        let key = account("carol@example.com")
        for index in 0..<20 {
            // 4 minutes apart: at most 4 in any window that starts at a failure.
            #expect(tracker.recordFailure(key, now: start + UInt64(index) * 4 * minute) == .open)
        }
    }

    @Test("failures while locked do not extend the lockout")
    func lockedFailuresDoNotExtend() {
        let tracker = makeTracker()
        let key = account("dave@example.com")
        for _ in 0..<5 {
            tracker.recordFailure(key, now: start)
        }
        for offset in 1...100 {
            #expect(tracker.recordFailure(key, now: start + UInt64(offset) * second).isLocked)
        }
        #expect(tracker.isLockedOut(key, now: start + 15 * minute) == .open)
    }

    @Test("keys are independent")
    func independentKeys() {
        let tracker = makeTracker()
        for _ in 0..<5 {
            tracker.recordFailure(account("a@example.com"), now: start)
        }
        #expect(tracker.isLockedOut(account("a@example.com"), now: start).isLocked)
        #expect(tracker.isLockedOut(account("b@example.com"), now: start) == .open)
        #expect(tracker.isLockedOut(RateLimitKey(namespace: "login-ip", value: "a@example.com"), now: start) == .open)
        #expect(tracker.recordFailure(account("b@example.com"), now: start) == .open)
    }

    @Test("reset unlocks a key")
    func reset() {
        let tracker = makeTracker()
        let key = account("erin@example.com")
        for _ in 0..<5 {
            tracker.recordFailure(key, now: start)
        }
        #expect(tracker.reset(key))
        #expect(tracker.isLockedOut(key, now: start) == .open)
        #expect(!tracker.reset(key))
    }

    @Test("an expired window is dropped when looked at, and by sweep")
    func expiry() {
        let tracker = makeTracker()
        tracker.recordFailure(account("a"), now: start)
        tracker.recordFailure(account("b"), now: start + 10 * minute)
        #expect(tracker.count == 2)
        #expect(tracker.sweep(now: start + 15 * minute - 1) == 0)
        #expect(tracker.sweep(now: start + 15 * minute) == 1)
        #expect(tracker.count == 1)
        #expect(tracker.isLockedOut(account("b"), now: start + 25 * minute) == .open)
        #expect(tracker.count == 0)
    }

    @Test("many distinct keys never hold more than maxKeys")
    func bounded() {
        let tracker = makeTracker(maxKeys: 1_000)
        var largest = 0
        for index in 0..<200_000 {
            tracker.recordFailure(account("user\(index)@example.com"), now: start + UInt64(index) * 10_000_000)
            if index % 1_000 == 0 {
                largest = max(largest, tracker.count)
            }
        }
        #expect(largest <= 1_000)
        #expect(tracker.count <= 1_000)
        #expect(tracker.shardCounts().allSatisfy { $0 <= 63 })
        #expect(tracker.statistics.insertions == 200_000)
    }

    @Test("a locked key is kept over idle ones when its shard fills")
    func lockedKeySurvivesIdleFlood() {
        let tracker = makeTracker(maxKeys: 16, shardCount: 1)
        let victim = account("target@example.com")
        for _ in 0..<5 {
            tracker.recordFailure(victim, now: start)
        }
        // Keys whose windows have passed by the time the flood arrives.
        for index in 0..<15 {
            tracker.recordFailure(account("old\(index)"), now: start - 15 * minute)
        }
        for index in 0..<15 {
            tracker.recordFailure(account("new\(index)"), now: start + second)
        }
        #expect(tracker.isLockedOut(victim, now: start + second).isLocked)
        #expect(tracker.statistics.evictions == 0)
    }

    @Test("concurrent failures are all counted")
    func concurrent() async {
        let tracker = FailedAuthTracker(configuration: .init(maxFailures: 4_000, window: .minutes(15)))
        let key = account("shared@example.com")
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<499 {
                        tracker.recordFailure(key, now: start)
                    }
                }
            }
        }
        // 8 × 499 = 3,992 failures: 8 short of the threshold.
        #expect(tracker.isLockedOut(key, now: start) == .open)
        for _ in 0..<7 {
            #expect(tracker.recordFailure(key, now: start) == .open)
        }
        #expect(tracker.recordFailure(key, now: start).isLocked)
    }
}
