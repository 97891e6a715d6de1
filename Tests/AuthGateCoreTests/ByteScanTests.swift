import Testing

@testable import AuthGateCore

/// The scans as byte-by-byte loops: the reference the word-at-a-time scans must agree with.
private func referenceFirstIndex(of byte: UInt8, in bytes: [UInt8], from start: Int, to end: Int) -> Int? {
    (start..<end).first { bytes[$0] == byte }
}

private func referenceContainsControl(_ bytes: [UInt8], _ range: Range<Int>, below bound: UInt8) -> Bool {
    range.contains { bytes[$0] < bound || bytes[$0] == 0x7F }
}

@Suite("ByteScan (eight bytes at a time)")
struct ByteScanTests {
    /// The bytes next to every bound the scans use, and a few ordinary ones.
    private static let interesting: [UInt8] = [
        0x00, 0x01, 0x08, 0x09, 0x0A, 0x0B, 0x0D, 0x1F, 0x20, 0x21, 0x22, 0x7E, 0x7F, 0x80, 0x81, 0x8A, 0x9F,
        0xA0, 0xFE, 0xFF, UInt8(ascii: "a"), UInt8(ascii: "Z"), UInt8(ascii: "0"), UInt8(ascii: ":"),
    ]

    @Test("one special byte at every position of a 1- to 24-byte window, every byte value")
    func everyByteAtEveryPosition() {
        var mismatches: [String] = []
        for length in 1...24 {
            for position in 0..<length {
                for byte in UInt8.min...UInt8.max {
                    // Ordinary bytes around it, with an LF and a NUL just outside the window.
                    var bytes = [UInt8](repeating: UInt8(ascii: "x"), count: length + 2)
                    bytes[0] = 0x0A
                    bytes[length + 1] = 0x00
                    bytes[position + 1] = byte
                    bytes.withUnsafeBytes { raw in
                        let window = 1..<(length + 1)
                        if ByteScan.firstIndex(of: 0x0A, in: raw, from: 1, to: length + 1)
                            != referenceFirstIndex(of: 0x0A, in: bytes, from: 1, to: length + 1)
                        {
                            mismatches.append("firstIndex: length \(length) position \(position) byte \(byte)")
                        }
                        for bound: UInt8 in [0x01, 0x20, 0x21, 0x80]
                        where ByteScan.containsControl(raw, window, below: bound)
                            != referenceContainsControl(bytes, window, below: bound)
                        {
                            mismatches.append("control: length \(length) position \(position) byte \(byte) < \(bound)")
                        }
                    }
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    @Test("agree with the byte loops on 50,000 generated buffers, starts and ends (fixed seed)")
    func generatedBuffers() {
        var generator = ParserTestRandom(seed: 0x5eed_0b17)
        var found = 0
        var controls = 0
        var mismatches: [String] = []
        for _ in 0..<50_000 {
            let count = Int.random(in: 0...48, using: &generator)
            // Mostly ordinary bytes, so that matches fall anywhere, including late.
            let bytes = (0..<count).map { _ -> UInt8 in
                Int.random(in: 0..<12, using: &generator) == 0
                    ? Self.interesting.randomElement(using: &generator)!
                    : UInt8.random(in: 0x21...0x7E, using: &generator)
            }
            let start = Int.random(in: 0...count, using: &generator)
            let end = Int.random(in: start...count, using: &generator)
            // Half the time a byte of the buffer, so that it is often found.
            let needle =
                bytes.isEmpty || Bool.random(using: &generator)
                ? Self.interesting.randomElement(using: &generator)! : bytes.randomElement(using: &generator)!
            let bound = [UInt8(0x01), 0x20, 0x21, 0x80].randomElement(using: &generator)!
            bytes.withUnsafeBytes { raw in
                let index = ByteScan.firstIndex(of: needle, in: raw, from: start, to: end)
                if index != referenceFirstIndex(of: needle, in: bytes, from: start, to: end) {
                    mismatches.append("firstIndex of \(needle) in \(bytes) from \(start) to \(end)")
                }
                if index != nil { found += 1 }
                let control = ByteScan.containsControl(raw, start..<end, below: bound)
                if control != referenceContainsControl(bytes, start..<end, below: bound) {
                    mismatches.append("control < \(bound) in \(bytes)[\(start)..<\(end)]")
                }
                if control { controls += 1 }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
        // Both answers came up often enough for the comparison to mean something.
        #expect(found > 5_000)
        #expect(controls > 5_000)
        #expect(found < 45_000)
        #expect(controls < 45_000)
    }

    @Test("an empty range holds nothing; a start at the end finds nothing")
    func emptyRanges() {
        let bytes: [UInt8] = [0x0A, 0x00, 0x7F]
        bytes.withUnsafeBytes { raw in
            #expect(ByteScan.firstIndex(of: 0x0A, in: raw, from: 3, to: 3) == nil)
            #expect(ByteScan.firstIndex(of: 0x0A, in: raw, from: 1, to: 3) == nil)
            #expect(ByteScan.firstIndex(of: 0x0A, in: raw, from: 0, to: 0) == nil)
            #expect(!ByteScan.containsControl(raw, 1..<1, below: 0x20))
            #expect(ByteScan.containsControl(raw, 2..<3, below: 0x01))
        }
    }
}
