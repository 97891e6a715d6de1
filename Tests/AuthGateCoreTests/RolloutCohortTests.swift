import Testing

@testable import AuthGateCore

@Suite("RolloutCohort")
struct RolloutCohortTests {
    /// Computed with Python: `int(hashlib.sha256(id.encode('utf-8')).hexdigest()[:8], 16) % 100`.
    @Test(
        "buckets match the documented hash",
        arguments: [
            ("user-1", 52),  // c6c289e4
            ("user-2", 7),  // d92b69cf
            ("user-42", 83),  // 6d894aa3
            ("alice@example.com", 93),  // ff8d9819
            ("", 10),  // e3b0c442
            ("ü-user", 23),  // 1e3efd8f
            ("550e8400-e29b-41d4-a716-446655440000", 29),  // a3a9e1ed
        ]
    )
    func knownBuckets(userID: String, bucket: Int) {
        #expect(RolloutCohort.bucket(userID: userID) == bucket)
    }

    @Test("a bridged or substring-built id hashes like a native one")
    func representationIndependent() {
        let composed = "user-" + String(1)
        let sliced = String("xuser-1".dropFirst())
        #expect(RolloutCohort.bucket(userID: composed) == 52)
        #expect(RolloutCohort.bucket(userID: sliced) == 52)
    }

    @Test("rollout is bucket < percent")
    func threshold() {
        #expect(!RolloutCohort.isInRollout(userID: "user-1", percent: 52))
        #expect(RolloutCohort.isInRollout(userID: "user-1", percent: 53))
        #expect(!RolloutCohort.isInRollout(userID: "user-2", percent: 7))
        #expect(RolloutCohort.isInRollout(userID: "user-2", percent: 8))
    }

    @Test("0 % includes nobody and 100 % everybody")
    func extremes() {
        for index in 0..<1_000 {
            let id = "user-\(index)"
            #expect(!RolloutCohort.isInRollout(userID: id, percent: 0))
            #expect(!RolloutCohort.isInRollout(userID: id, percent: -5))
            #expect(RolloutCohort.isInRollout(userID: id, percent: 100))
            #expect(RolloutCohort.isInRollout(userID: id, percent: 150))
        }
    }

    @Test("buckets stay in 0..<100 and raising the percentage only adds users")
    func monotonic() {
        for index in 0..<1_000 {
            let id = "user-\(index)"
            let bucket = RolloutCohort.bucket(userID: id)
            #expect((0..<100).contains(bucket))
            #expect(!RolloutCohort.isInRollout(userID: id, percent: bucket))
            #expect(RolloutCohort.isInRollout(userID: id, percent: bucket + 1))
        }
    }

    @Test("about 30 % of 10,000 users are in a 30 % rollout")
    func distribution() {
        let included = (0..<10_000).filter { RolloutCohort.isInRollout(userID: "user-\($0)", percent: 30) }.count
        #expect((2_700...3_300).contains(included), "\(included) of 10,000")
    }
}
