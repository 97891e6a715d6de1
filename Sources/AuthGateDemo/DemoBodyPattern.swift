import NIOCore

/// The bytes the demo backend generates for `/bytes/N` and `/chunked/N`: byte `i` of a body is
/// `"a" + i % 26`, so a client can check every byte's value and position.
public enum DemoBodyPattern {
    /// The size of the chunks the backend writes.
    public static let chunkSize = 64 * 1024

    /// The expected byte at `offset` of a generated body.
    @inlinable
    public static func byte(at offset: Int) -> UInt8 {
        UInt8(ascii: "a") &+ UInt8(truncatingIfNeeded: offset % 26)
    }

    /// `chunkSize + 26` bytes of the pattern, so that a chunk for any offset is a slice of it.
    private static let source: ByteBuffer = {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(chunkSize + 26)
        for offset in 0..<(chunkSize + 26) {
            buffer.writeInteger(byte(at: offset))
        }
        return buffer
    }()

    /// The `length` pattern bytes starting at body offset `offset`, without copying.
    static func chunk(startingAt offset: Int, length: Int) -> ByteBuffer {
        precondition(length <= chunkSize)
        return source.getSlice(at: offset % 26, length: length)!
    }
}
