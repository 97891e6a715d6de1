/// The bytes the HTTP/1 grammar is written in.
enum ASCII {
    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")

    /// Optional whitespace in HTTP (RFC 9110 §5.6.3): a space or a tab.
    @inline(__always)
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == ASCII.space || byte == ASCII.tab
    }
}

extension Collection<UInt8> {
    /// Whether these bytes equal `reference`, a lower-case ASCII literal, ignoring ASCII case;
    /// with `dashMatchesUnderscore`, `_` also stands for a `-` of the reference (the spellings
    /// a CGI-style backend reads as one header).
    @inline(__always)
    func equalsLowercaseASCII(_ reference: StaticString, dashMatchesUnderscore: Bool = false) -> Bool {
        guard self.count == reference.utf8CodeUnitCount else { return false }
        return reference.withUTF8Buffer { expectedBytes in
            var index = 0
            for byte in self {
                let expected = expectedBytes[index]
                index += 1
                if byte == expected { continue }
                if expected == UInt8(ascii: "-") {
                    if !(dashMatchesUnderscore && byte == UInt8(ascii: "_")) { return false }
                } else if expected < UInt8(ascii: "a") || expected > UInt8(ascii: "z") || byte | 0x20 != expected {
                    return false
                }
            }
            return true
        }
    }

    /// ASCII case-insensitive equality with other bytes.
    func equalsIgnoringASCIICase(_ other: some Collection<UInt8>) -> Bool {
        guard self.count == other.count else { return false }
        for (a, b) in zip(self, other) where a != b {
            let lower = a | 0x20
            guard lower == b | 0x20, lower >= UInt8(ascii: "a"), lower <= UInt8(ascii: "z") else { return false }
        }
        return true
    }
}

/// Calls `body` with each element of a comma-separated field value (RFC 9110 §5.6.1),
/// trimmed of spaces and tabs; empty elements are skipped.
func forEachListElement(in bytes: UnsafeRawBufferPointer, _ value: Range<Int>, _ body: (Range<Int>) -> Void) {
    var start = value.lowerBound
    while start <= value.upperBound {
        var end = start
        while end < value.upperBound && bytes[end] != UInt8(ascii: ",") { end += 1 }
        var elementStart = start
        var elementEnd = end
        while elementStart < elementEnd && ASCII.isWhitespace(bytes[elementStart]) { elementStart += 1 }
        while elementEnd > elementStart && ASCII.isWhitespace(bytes[elementEnd - 1]) { elementEnd -= 1 }
        if elementEnd > elementStart { body(elementStart..<elementEnd) }
        start = end + 1
    }
}
