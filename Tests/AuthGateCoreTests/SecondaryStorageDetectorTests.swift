import NIOCore
import Testing

@testable import AuthGateCore

@Suite("SecondaryStorageDetector")
struct SecondaryStorageDetectorTests {
    private static func at(seconds: Int64) -> NIODeadline {
        .uptimeNanoseconds(UInt64(1_000_000_000 + seconds * 1_000_000_000))
    }

    @Test("an empty lookup starts a probe; get-session finding the session is the detection, reported once")
    func detection() {
        var detector = SecondaryStorageDetector(interval: .seconds(10))
        #expect(detector.state == .unknown)
        #expect(detector.readiness.status == .up)
        #expect(detector.lookupFoundNothing(now: Self.at(seconds: 0)) == .probe)
        #expect(detector.state == .suspected)
        #expect(detector.probeInFlight)
        #expect(detector.readiness.status == .up)
        #expect(detector.probeFinished(sessionExists: true) == .reportDetected)
        #expect(detector.state == .detected)
        #expect(detector.readiness.status == .down)
        #expect(detector.readiness.reason == SecondaryStorageDetector.reason)
        // Probes go on at the interval; confirming again is not reported again.
        #expect(detector.lookupFoundNothing(now: Self.at(seconds: 10)) == .probe)
        #expect(detector.state == .detected)
        #expect(detector.probeFinished(sessionExists: true) == .none)
        #expect(detector.lookupFoundNothing(now: Self.at(seconds: 20)) == .probe)
        #expect(detector.probeFinished(sessionExists: false) == .none)
        #expect(detector.lookupFoundNothing(now: Self.at(seconds: 30)) == .probe)
        #expect(detector.probeFinished(sessionExists: nil) == .none)
        #expect(detector.state == .detected)
    }

    @Test("at most one probe in flight and at most one per interval")
    func rateLimit() {
        var detector = SecondaryStorageDetector(interval: .seconds(10))
        #expect(detector.lookupFoundNothing(now: Self.at(seconds: 0)) == .probe)
        // In flight: no second probe, however late.
        #expect(detector.lookupFoundNothing(now: Self.at(seconds: 0)) == .none)
        #expect(detector.lookupFoundNothing(now: Self.at(seconds: 60)) == .none)
        #expect(detector.probeFinished(sessionExists: false) == .none)
        #expect(detector.state == .unknown)
        // Finished, but inside the interval of the last start.
        #expect(detector.lookupFoundNothing(now: Self.at(seconds: 9)) == .none)
        #expect(detector.lookupFoundNothing(now: Self.at(seconds: 10)) == .probe)
        #expect(detector.probeFinished(sessionExists: nil) == .none)
        #expect(detector.state == .unknown)
        #expect(detector.lookupFoundNothing(now: Self.at(seconds: 15)) == .none)
    }

    @Test("get-session not finding the session either, or not answering, detects nothing")
    func noDetection() {
        var detector = SecondaryStorageDetector(interval: .seconds(10))
        for (step, answer) in [false, nil, false].enumerated() {
            #expect(detector.lookupFoundNothing(now: Self.at(seconds: Int64(step) * 10)) == .probe)
            #expect(detector.probeFinished(sessionExists: answer) == .none)
            #expect(detector.state == .unknown)
            #expect(detector.readiness.status == .up)
        }
    }

    @Test("a lookup that finds a session in the table clears the detection")
    func clearing() {
        var detector = SecondaryStorageDetector(interval: .seconds(10))
        _ = detector.lookupFoundNothing(now: Self.at(seconds: 0))
        _ = detector.probeFinished(sessionExists: true)
        #expect(detector.isWatching)
        #expect(detector.lookupFound() == .reportCleared)
        #expect(detector.state == .cleared)
        #expect(detector.readiness.status == .up)
        #expect(detector.readiness.reason == nil)
        #expect(!detector.isWatching)
        #expect(detector.lookupFound() == .none)
        // A new detection after the clearing is reported again.
        #expect(detector.lookupFoundNothing(now: Self.at(seconds: 10)) == .probe)
        #expect(detector.probeFinished(sessionExists: true) == .reportDetected)
        #expect(detector.state == .detected)
    }

    @Test("a session found in the table while a probe runs vetoes the detection")
    func veto() {
        var detector = SecondaryStorageDetector(interval: .seconds(10))
        _ = detector.lookupFoundNothing(now: Self.at(seconds: 0))
        #expect(detector.isWatching)
        #expect(detector.lookupFound() == .none)
        #expect(detector.state == .unknown)
        #expect(detector.probeFinished(sessionExists: true) == .none)
        #expect(detector.state == .unknown)
        #expect(detector.readiness.status == .up)
    }

    @Test("found lookups in the ordinary case need no attention")
    func ordinary() {
        var detector = SecondaryStorageDetector(interval: .seconds(10))
        #expect(!detector.isWatching)
        #expect(detector.lookupFound() == .none)
        #expect(detector.state == .unknown)
        #expect(!detector.probeInFlight)
    }
}
