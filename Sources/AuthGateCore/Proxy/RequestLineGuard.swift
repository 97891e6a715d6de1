/// Tells a request line that is too long (414) from header fields that are too large (431).
///
/// NIOHTTP1's decoder (llhttp) counts the request target as a header field, so an oversized
/// target and an oversized header both end in the same `HTTPParserError.headerOverflow`. This
/// machine watches the bytes of each message's first line as they arrive and remembers whether
/// that line grew past ``maxRequestLineBytes``; when the decoder overflows, the answer is 414 if
/// it did, 431 otherwise.
///
/// It scans only while a request line is being received (from the start of the connection or
/// of a message until its first LF), so bodies and header lines cost nothing.
public struct RequestLineGuard: Sendable, Equatable {
    enum State: Sendable, Equatable {
        /// Before the first byte of a request line (leading CR and LF are skipped, as llhttp
        /// skips them).
        case awaitingLine
        /// Inside the request line, `bytes` of it seen so far.
        case inLine(bytes: Int)
        /// Past the request line of the message being decoded.
        case pastLine(tooLong: Bool)
    }

    /// A request line longer than this (without its CRLF) is too long.
    public let maxRequestLineBytes: Int
    private(set) var state: State = .awaitingLine

    /// `maxURIBytes` plus room for the longest method and ` HTTP/1.1`: a line longer than
    /// this has a target longer than `maxURIBytes`.
    public init(maxURIBytes: Int) {
        self.maxRequestLineBytes = maxURIBytes + 64
    }

    /// Whether the next bytes still have to be shown to ``scan(_:)``.
    public var isScanning: Bool {
        if case .pastLine = self.state { return false }
        return true
    }

    /// Whether the request line of the message being decoded is longer than the limit (ended
    /// or not).
    public var requestLineTooLong: Bool {
        switch self.state {
        case .awaitingLine: return false
        case .inLine(let bytes): return bytes > self.maxRequestLineBytes
        case .pastLine(let tooLong): return tooLong
        }
    }

    /// Bytes of the connection not shown before, in order.
    public mutating func scan<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        var index = bytes.startIndex
        if case .awaitingLine = self.state {
            while index < bytes.endIndex, bytes[index] == UInt8(ascii: "\r") || bytes[index] == UInt8(ascii: "\n") {
                bytes.formIndex(after: &index)
            }
            guard index < bytes.endIndex else { return }
            self.state = .inLine(bytes: 0)
        }
        guard case .inLine(let seen) = self.state else { return }
        let rest = bytes[index...]
        if let lineFeed = rest.firstIndex(of: UInt8(ascii: "\n")) {
            var length = seen + rest.distance(from: rest.startIndex, to: lineFeed)
            if lineFeed > rest.startIndex, rest[rest.index(lineFeed, offsetBy: -1)] == UInt8(ascii: "\r") {
                length -= 1
            }
            self.state = .pastLine(tooLong: length > self.maxRequestLineBytes)
        } else {
            self.state = .inLine(bytes: seen + rest.count)
        }
    }

    /// The decoder delivered a message's end and nothing after it: the next bytes begin the
    /// next request line.
    public mutating func messageEnded() {
        self.state = .awaitingLine
    }
}
