import Testing

@testable import AuthGateCore

private func isLowercaseHex(_ value: String) -> Bool {
    value.utf8.allSatisfy {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0)
    }
}

@Suite("RequestIDGenerator")
struct RequestIDGeneratorTests {
    @Test("ids are 32 lowercase hex characters")
    func format() {
        var generator = RequestIDGenerator()
        for _ in 0..<1_000 {
            let id = generator.next()
            #expect(id.utf8.count == 32, "\(id)")
            #expect(id.count == 32)
            #expect(isLowercaseHex(id), "\(id)")
        }
    }

    @Test("seeded ids have the same format, including seed 0")
    func seededFormat() {
        for seed: UInt64 in [0, 1, .max] {
            var generator = RequestIDGenerator(seed: seed)
            let id = generator.next()
            #expect(id.utf8.count == 32 && isLowercaseHex(id), "\(id)")
        }
    }

    @Test("10 000 draws are distinct")
    func distinct() {
        var generator = RequestIDGenerator()
        var seen = Set<String>()
        for _ in 0..<10_000 {
            seen.insert(generator.next())
        }
        #expect(seen.count == 10_000)
    }

    @Test("10 000 draws from a fixed seed are distinct")
    func distinctSeeded() {
        var generator = RequestIDGenerator(seed: 0)
        var seen = Set<String>()
        for _ in 0..<10_000 {
            seen.insert(generator.next())
        }
        #expect(seen.count == 10_000)
    }

    @Test("generators seeded by the system differ")
    func systemSeedsDiffer() {
        var a = RequestIDGenerator()
        var b = RequestIDGenerator()
        #expect(a.next() != b.next())
    }

    @Test("the same seed gives the same sequence; another seed another one")
    func deterministic() {
        var a = RequestIDGenerator(seed: 1234)
        var b = RequestIDGenerator(seed: 1234)
        var c = RequestIDGenerator(seed: 1235)
        var sequenceA: [String] = []
        var sequenceB: [String] = []
        var sequenceC: [String] = []
        for _ in 0..<100 {
            sequenceA.append(a.next())
            sequenceB.append(b.next())
            sequenceC.append(c.next())
        }
        #expect(sequenceA == sequenceB)
        #expect(Set(sequenceA).isDisjoint(with: sequenceC))
    }

    @Test("every hex digit occurs in every position (all 128 bits are used)")
    func allDigitsAllPositions() {
        var generator = RequestIDGenerator(seed: 42)
        var seen = Array(repeating: Set<UInt8>(), count: 32)
        for _ in 0..<2_000 {
            for (index, byte) in generator.next().utf8.enumerated() {
                seen[index].insert(byte)
            }
        }
        for (index, digits) in seen.enumerated() {
            #expect(digits.count == 16, "position \(index) saw \(digits.count) digits")
        }
    }

    @Test("the two halves of an id are not the same word")
    func halvesDiffer() {
        var generator = RequestIDGenerator(seed: 7)
        for _ in 0..<100 {
            let id = generator.next()
            #expect(id.prefix(16) != id.suffix(16))
        }
    }

    // MARK: isWellFormed

    @Test(
        "well-formed ids: 1-128 characters of [A-Za-z0-9._:-]",
        arguments: [
            "a", "Z", "0", "abc-123", "A.b_c:d-e", "0123456789abcdef0123456789abcdef",
            "550e8400-e29b-41d4-a716-446655440000", "trace:span.1_2-3", String(repeating: "x", count: 128),
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:",
        ]
    )
    func wellFormed(id: String) {
        #expect(RequestIDGenerator.isWellFormed(id))
    }

    @Test(
        "malformed ids are refused",
        arguments: [
            "", String(repeating: "x", count: 129), "has space", " leading", "trailing ", "a/b", "a+b", "a,b", "a;b",
            "a=b", "{id}", "<script>", "a\"b", "a'b", "a\\b", "a\nb", "a\rb", "a\tb", "a\u{00}b", "caf\u{E9}",
            "\u{1F600}", "id%20", "a@b", "a#b", "a?b", "a*b",
        ]
    )
    func malformed(id: String) {
        #expect(!RequestIDGenerator.isWellFormed(id))
    }

    @Test("the length limit counts bytes: 128 is accepted, 129 refused")
    func lengthBoundary() {
        #expect(RequestIDGenerator.isWellFormed(String(repeating: "9", count: 127)))
        #expect(RequestIDGenerator.isWellFormed(String(repeating: "9", count: 128)))
        #expect(!RequestIDGenerator.isWellFormed(String(repeating: "9", count: 129)))
        #expect(!RequestIDGenerator.isWellFormed(String(repeating: "9", count: 10_000)))
    }

    @Test("generated ids are well formed")
    func generatedAreWellFormed() {
        var generator = RequestIDGenerator()
        for _ in 0..<100 {
            #expect(RequestIDGenerator.isWellFormed(generator.next()))
        }
    }
}
