import NIOCore

/// Appends the pieces of one HTTP head to memory reserved for all of them at once.
///
/// A head is a few dozen short pieces (names, `": "`, values, CRLFs). Written one by one into a
/// `ByteBuffer`, every piece pays the buffer's capacity check, its storage access and its
/// writer-index update; the callgrind profile of the request path
/// (`Benchmarks/scripts/profile-request-path.sh`) counted about 250 instructions per piece. Here a
/// piece is a bounds check and a copy. Writing past the reserved bytes is a precondition failure,
/// never a write out of bounds.
struct ReservedBytesWriter: ~Copyable {
    private let base: UnsafeMutableRawBufferPointer
    /// How many bytes were written.
    private(set) var count = 0

    init(_ base: UnsafeMutableRawBufferPointer) {
        self.base = base
    }

    /// Calls `body` with a writer over at least `capacity` writable bytes of `buffer` and moves
    /// the buffer's writer index past what it wrote.
    static func write<Result>(
        into buffer: inout ByteBuffer,
        capacity: Int,
        _ body: (inout ReservedBytesWriter) -> Result
    ) -> Result {
        var result: Result? = nil
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { memory in
            var writer = ReservedBytesWriter(memory)
            result = body(&writer)
            return writer.count
        }
        return result!
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= self.base.count &- self.count, "a head outgrew its reserved bytes")
        if let source = bytes.baseAddress, let target = self.base.baseAddress {
            (target + self.count).copyMemory(from: source, byteCount: bytes.count)
        }
        self.count &+= bytes.count
    }

    @inline(__always)
    mutating func append(_ string: String) {
        if let done: Void = string.utf8.withContiguousStorageIfAvailable({ self.append(UnsafeRawBufferPointer($0)) }) {
            return done
        }
        for byte in string.utf8 { self.append(byte) }
    }

    @inline(__always)
    mutating func append(_ string: StaticString) {
        string.withUTF8Buffer { self.append(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        precondition(self.count < self.base.count, "a head outgrew its reserved bytes")
        self.base[self.count] = byte
        self.count &+= 1
    }

    /// The decimal digits of a non-negative number.
    mutating func appendDecimal(_ value: Int) {
        precondition(value >= 0)
        var divisor = 1
        while value / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            self.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: value / divisor % 10))
            divisor /= 10
        }
    }
}
