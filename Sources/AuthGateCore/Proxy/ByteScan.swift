/// Scans of received bytes eight at a time (SWAR: one 64-bit word holds eight bytes).
///
/// Every request's head is searched for line ends and every field value checked for control
/// bytes; byte by byte that costs five or six instructions a byte, which on a request with a
/// bearer token or a cookie is thousands of instructions. A word's test costs about as much as
/// one byte's. The word tests are exact (not hints): `hasLess` flags a byte exactly when some
/// byte of the word is below the bound, and the lowest flagged byte is the first such byte
/// (a borrow only moves towards the higher bytes), so the first match's offset is exact too.
enum ByteScan {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// The high bit of every byte of `word` that is below `bound` (at most 128), and possibly of
    /// bytes above the lowest such byte; zero exactly when no byte is below `bound`.
    @inline(__always)
    private static func hasLess(_ word: UInt64, _ bound: UInt8) -> UInt64 {
        (word &- Self.ones &* UInt64(bound)) & ~word & Self.highBits
    }

    /// The same for bytes equal to `byte`.
    @inline(__always)
    private static func hasByte(_ word: UInt64, _ byte: UInt8) -> UInt64 {
        Self.hasLess(word ^ (Self.ones &* UInt64(byte)), 1)
    }

    @inline(__always)
    private static func word(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// The offset of the first `byte` in `bytes[start..<end]` (`end` at most `bytes.count`), or
    /// nil.
    @inline(__always)
    static func firstIndex(of byte: UInt8, in bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int? {
        var index = start
        while index &+ 8 <= end {
            let found = Self.hasByte(Self.word(bytes, at: index), byte)
            if found != 0 { return index &+ found.trailingZeroBitCount &>> 3 }
            index &+= 8
        }
        while index < end {
            if bytes[index] == byte { return index }
            index &+= 1
        }
        return nil
    }

    /// Whether `bytes[range]` holds a byte below `bound` (at most 128) or DEL (0x7F): a control
    /// byte, for the bounds the grammar uses. Bytes from 0x80 up are neither.
    @inline(__always)
    static func containsControl(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, below bound: UInt8) -> Bool {
        var index = range.lowerBound
        let end = range.upperBound
        while index &+ 8 <= end {
            let word = Self.word(bytes, at: index)
            if Self.hasLess(word, bound) | Self.hasByte(word, 0x7F) != 0 { return true }
            index &+= 8
        }
        while index < end {
            let byte = bytes[index]
            if byte < bound || byte == 0x7F { return true }
            index &+= 1
        }
        return false
    }
}
