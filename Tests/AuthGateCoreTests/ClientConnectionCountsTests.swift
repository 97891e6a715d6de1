import Testing

@testable import AuthGateCore

@Suite("ClientConnectionCounts")
struct ClientConnectionCountsTests {
    @Test("a client gets up to the cap, other clients are not affected, a release frees a slot")
    func cap() {
        var counts = ClientConnectionCounts(limit: 2)
        #expect(counts.acquire("203.0.113.1") == true)
        #expect(counts.acquire("203.0.113.1") == true)
        #expect(counts.acquire("203.0.113.1") == false)
        #expect(counts.count(of: "203.0.113.1") == 2, "a refused slot is not taken")
        #expect(counts.acquire("198.51.100.2") == true)
        #expect(counts.acquire("198.51.100.2") == true)
        counts.release("203.0.113.1")
        #expect(counts.acquire("203.0.113.1") == true)
        #expect(counts.acquire("203.0.113.1") == false)
    }

    @Test("entries are dropped at zero; a release of nothing is ignored")
    func bounded() {
        var counts = ClientConnectionCounts(limit: 3)
        for index in 0..<1000 {
            #expect(counts.acquire("10.0.\(index / 256).\(index % 256)") == true)
        }
        #expect(counts.trackedClients == 1000)
        for index in 0..<1000 {
            counts.release("10.0.\(index / 256).\(index % 256)")
        }
        #expect(counts.trackedClients == 0)
        counts.release("10.9.9.9")
        #expect(counts.count(of: "10.9.9.9") == 0)
        #expect(counts.trackedClients == 0)
    }

    @Test("0 is no cap and tracks nothing")
    func disabled() {
        var counts = ClientConnectionCounts(limit: 0)
        for _ in 0..<10_000 { #expect(counts.acquire("192.0.2.1") == true) }
        #expect(counts.trackedClients == 0)
    }
}
