/// Byte-level comparisons of UTF-8 strings over their contiguous storage.
///
/// Iterating a `String.UTF8View` costs about 30 instructions a byte; a native string's bytes
/// are contiguous, and comparing them as a buffer costs one or two. Paths and header names
/// compare as bytes (no Unicode normalisation), as the backend reads them.
extension StringProtocol {
    /// Calls `body` with the string's UTF-8 bytes, contiguous: a native string's are already;
    /// any other (a bridged string, never on Linux) is copied first.
    @inline(__always)
    func withContiguousUTF8<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        if let result = try self.utf8.withContiguousStorageIfAvailable(body) { return result }
        return try Array(self.utf8).withUnsafeBufferPointer(body)
    }

    /// Whether the two strings' UTF-8 bytes are equal; lengths are compared first.
    @inline(__always)
    func utf8Equals(_ other: some StringProtocol) -> Bool {
        guard self.utf8.count == other.utf8.count else { return false }
        return self.withContiguousUTF8 { mine in other.withContiguousUTF8 { theirs in mine.bytesEqual(theirs) } }
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// Byte equality with `other`.
    @inline(__always)
    func bytesEqual(_ other: some Collection<UInt8>) -> Bool {
        guard self.count == other.count else { return false }
        var index = 0
        for byte in other {
            if self[index] != byte { return false }
            index &+= 1
        }
        return true
    }
}
