public import NIOCore
public import NIOHTTP1

/// Parses the backend's HTTP/1 responses on a pooled upstream connection.
///
/// The head is parsed in place, without building `String`s, and bodies are handed on as slices
/// of the received buffer. It replaces NIOHTTP1's response decoder on the upstream side, which
/// with the response encoder was the larger half of NIOHTTP1's cost per proxied exchange
/// (`Benchmarks/scripts/floor-bench.sh`). Requests from clients are
/// still parsed by NIOHTTP1 (llhttp): they are the untrusted side.
///
/// The framing follows RFC 9112 §6.3: no body for a response to `HEAD` and for 1xx, 204 and
/// 304; `Transfer-Encoding` (chunked last: de-chunked here; anything else: until the connection
/// closes); `Content-Length`; else until the connection closes. A response carrying both
/// `Transfer-Encoding` and `Content-Length`, or differing lengths, is an error: a backend that
/// frames ambiguously must not desynchronise a pooled connection. Interim 1xx responses other
/// than 101 are dropped (the gateway answers `Expect: 100-continue` itself).
public struct UpstreamResponseParser: Sendable {
    /// Bounds on what one response head may hold.
    public struct Limits: Sendable {
        /// The status line, the field lines and the blank line together (also bounds trailers).
        public var maxHeadBytes: Int
        /// Field lines in one head.
        public var maxHeaderCount: Int

        public init(maxHeadBytes: Int = 64 * 1024, maxHeaderCount: Int = 256) {
            self.maxHeadBytes = maxHeadBytes
            self.maxHeaderCount = maxHeaderCount
        }
    }

    /// What the next bytes of the connection meant.
    public enum Event: Equatable, Sendable {
        case head(UpstreamResponseHead)
        /// Body bytes, de-chunked.
        case body(ByteBuffer)
        case end
    }

    /// Why a response cannot be relayed; the connection is unusable after any of them.
    public enum Error: Swift.Error, Equatable, Sendable {
        case statusLine
        case headerLine
        case headTooLarge
        case tooManyHeaders
        case contentLength
        case conflictingFraming
        case chunk
        case unsolicitedResponse
        case truncated
    }

    enum State: Sendable {
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(bytesSeen: Int)
        case untilClose
        /// The body is complete; the next call says `.end`.
        case endPending
        /// A 101 head was returned; the next call says `.end`, and then nothing more is parsed.
        case upgradeEndPending
        case upgraded
    }

    private var state: State = .head
    /// One entry per request sent and not yet answered: whether it was a `HEAD`.
    private var requests = CircularBuffer<Bool>(initialCapacity: 2)
    private let limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// True once a 101 head was returned: the bytes after it belong to another protocol.
    public var isUpgraded: Bool {
        switch self.state {
        case .upgradeEndPending, .upgraded: return true
        default: return false
        }
    }

    /// Records a request head written to the connection, so its response can be framed
    /// (a response to `HEAD` has no body whatever its fields say).
    public mutating func requestSent(method: HTTPMethod) {
        self.requests.append(method == .HEAD)
    }

    /// The next event in `buffer`, consuming what it parsed; nil when more bytes are needed or
    /// the connection was upgraded.
    public mutating func next(_ buffer: inout ByteBuffer) throws -> Event? {
        while true {
            switch self.state {
            case .head:
                switch try self.parseHead(&buffer) {
                case .needMoreData: return nil
                case .interim: continue  // dropped: parse the next head
                case .final(let head): return .head(head)
                }

            case .fixedBody(let remaining):
                let available = buffer.readableBytes
                guard available > 0 else { return nil }
                let length = Swift.min(available, remaining)
                self.state = length == remaining ? .endPending : .fixedBody(remaining: remaining - length)
                return .body(buffer.readSlice(length: length)!)

            case .endPending:
                self.state = .head
                return .end

            case .upgradeEndPending:
                self.state = .upgraded
                return .end

            case .untilClose:
                let available = buffer.readableBytes
                guard available > 0 else { return nil }
                return .body(buffer.readSlice(length: available)!)

            case .chunkSize:
                guard let size = try self.parseChunkSize(&buffer) else { return nil }
                self.state = size == 0 ? .trailers(bytesSeen: 0) : .chunkData(remaining: size)

            case .chunkData(let remaining):
                let available = buffer.readableBytes
                guard available > 0 else { return nil }
                let length = Swift.min(available, remaining)
                self.state = length == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - length)
                return .body(buffer.readSlice(length: length)!)

            case .chunkDataEnd:
                guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
                if first == ASCII.lf {
                    buffer.moveReaderIndex(forwardBy: 1)
                } else if first == ASCII.cr {
                    guard let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self) else {
                        return nil
                    }
                    guard second == ASCII.lf else { throw Error.chunk }
                    buffer.moveReaderIndex(forwardBy: 2)
                } else {
                    throw Error.chunk
                }
                self.state = .chunkSize

            case .trailers(let bytesSeen):
                guard let (lineLength, consumed) = Self.nextLine(in: buffer) else {
                    if bytesSeen + buffer.readableBytes > self.limits.maxHeadBytes { throw Error.chunk }
                    return nil
                }
                buffer.moveReaderIndex(forwardBy: consumed)
                if lineLength == 0 {
                    self.state = .head
                    return .end
                }
                let seen = bytesSeen + consumed
                if seen > self.limits.maxHeadBytes { throw Error.chunk }
                self.state = .trailers(bytesSeen: seen)

            case .upgraded:
                return nil
            }
        }
    }

    /// At the connection's end: `.end` for a body delimited by the close, nil between messages
    /// (or after an upgrade); anything else was cut short.
    public mutating func finish(_ buffer: inout ByteBuffer) throws -> Event? {
        switch self.state {
        case .untilClose:
            if buffer.readableBytes > 0 {
                return .body(buffer.readSlice(length: buffer.readableBytes)!)
            }
            self.state = .head
            return .end
        case .endPending:
            self.state = .head
            return .end
        case .head:
            if buffer.readableBytes == 0 { return nil }
            throw Error.truncated
        case .upgradeEndPending:
            self.state = .upgraded
            return .end
        case .upgraded:
            return nil
        case .fixedBody, .chunkSize, .chunkData, .chunkDataEnd, .trailers:
            throw Error.truncated
        }
    }

    // MARK: - Head

    /// Framing facts gathered from the fields while they are parsed.
    struct Framing {
        var contentLength: Int?
        var contentLengthInvalid = false
        var transferEncoding = false
        var chunked = false
        var connectionClose = false
        var connectionKeepAlive = false
        /// A `Connection` token other than close, keep-alive and upgrade: a field name.
        var connectionOptions = false
    }

    private enum HeadResult {
        case needMoreData
        /// A 1xx other than 101, consumed and dropped.
        case interim
        case final(UpstreamResponseHead)
    }

    private mutating func parseHead(_ buffer: inout ByteBuffer) throws -> HeadResult {
        let limits = self.limits
        let parsed = try buffer.withUnsafeReadableBytes { bytes in
            try Self.parseHead(bytes, limits: limits)
        }
        guard let parsed else { return .needMoreData }
        let fields = buffer.getSlice(at: buffer.readerIndex + parsed.fields.lowerBound, length: parsed.fields.count)!
        buffer.moveReaderIndex(forwardBy: parsed.consumed)

        let code = parsed.code
        guard let isHEAD = self.requests.first else { throw Error.unsolicitedResponse }
        if code < 200 && code != 101 {
            return .interim
        }
        self.requests.removeFirst()
        let framing = parsed.framing
        if code == 101 {
            self.state = .upgradeEndPending
        } else if isHEAD || code == 204 || code == 304 {
            self.state = .endPending
        } else if framing.transferEncoding {
            if framing.contentLength != nil { throw Error.conflictingFraming }
            self.state = framing.chunked ? .chunkSize : .untilClose
        } else if let length = framing.contentLength {
            self.state = length == 0 ? .endPending : .fixedBody(remaining: length)
        } else {
            self.state = .untilClose
        }
        let keepAlive: Bool
        if parsed.version == .http1_1 {
            keepAlive = !framing.connectionClose
        } else {
            keepAlive = framing.connectionKeepAlive && !framing.connectionClose
        }
        let selfDelimited: Bool
        if case .untilClose = self.state { selfDelimited = false } else { selfDelimited = true }
        return .final(
            UpstreamResponseHead(
                version: parsed.version,
                status: HTTPResponseStatus(statusCode: code),
                keepAlive: keepAlive,
                selfDelimited: selfDelimited,
                fields: fields,
                hasConnectionOptions: framing.connectionOptions
            )
        )
    }

    private struct ParsedHead {
        var version: HTTPVersion
        var code: Int
        var framing: Framing
        /// Where the field lines are, relative to the head's first byte.
        var fields: Range<Int>
        var consumed: Int
    }

    /// Parses a head line by line as far as it has arrived; nil until its blank line is there.
    private static func parseHead(_ bytes: UnsafeRawBufferPointer, limits: Limits) throws -> ParsedHead? {
        // A head must end within the limit: search no further.
        let limit = Swift.min(bytes.count, limits.maxHeadBytes)
        // Status line: "HTTP/1.x SSS[ reason]".
        guard var line = Self.line(in: bytes, from: 0, limit: limit) else {
            return try Self.incomplete(bytes, limits)
        }
        let status = try Self.parseStatusLine(bytes, end: line.content)
        let fieldsStart = line.next
        var framing = Framing()
        var position = fieldsStart
        var count = 0
        while true {
            guard let next = Self.line(in: bytes, from: position, limit: limit) else {
                return try Self.incomplete(bytes, limits)
            }
            line = next
            if line.content == position { break }  // the blank line
            if count == limits.maxHeaderCount { throw Error.tooManyHeaders }
            count += 1
            let (name, value) = try Self.parseField(bytes, from: position, to: line.content)
            Self.noteFraming(bytes, name: name, value: value, into: &framing)
            if framing.contentLengthInvalid { throw Error.contentLength }
            position = line.next
        }
        return ParsedHead(
            version: status.version,
            code: status.code,
            framing: framing,
            fields: fieldsStart..<position,
            consumed: line.next
        )
    }

    /// A head without its end so far: an error once it can no longer fit the limit.
    private static func incomplete(_ bytes: UnsafeRawBufferPointer, _ limits: Limits) throws -> ParsedHead? {
        if bytes.count >= limits.maxHeadBytes { throw Error.headTooLarge }
        return nil
    }

    /// The line starting at `start`, if its LF is before `limit`: `content` ends before CR LF
    /// (or LF), `next` is where the next line starts.
    private static func line(
        in bytes: UnsafeRawBufferPointer,
        from start: Int,
        limit: Int
    ) -> (content: Int, next: Int)? {
        guard let index = ByteScan.firstIndex(of: ASCII.lf, in: bytes, from: start, to: limit) else { return nil }
        if index > start && bytes[index - 1] == ASCII.cr { return (index - 1, index + 1) }
        return (index, index + 1)
    }

    private static func parseStatusLine(
        _ bytes: UnsafeRawBufferPointer,
        end: Int
    ) throws -> (version: HTTPVersion, code: Int) {
        // "HTTP/1.1 200" is the shortest form.
        guard end >= 12,
            bytes[0] == UInt8(ascii: "H"), bytes[1] == UInt8(ascii: "T"), bytes[2] == UInt8(ascii: "T"),
            bytes[3] == UInt8(ascii: "P"), bytes[4] == UInt8(ascii: "/"), bytes[5] == UInt8(ascii: "1"),
            bytes[6] == UInt8(ascii: "."), bytes[8] == ASCII.space
        else { throw Error.statusLine }
        let version: HTTPVersion
        switch bytes[7] {
        case UInt8(ascii: "1"): version = .http1_1
        case UInt8(ascii: "0"): version = .http1_0
        default: throw Error.statusLine
        }
        var code = 0
        for index in 9..<12 {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw Error.statusLine }
            code = code * 10 + Int(digit)
        }
        guard code >= 100, end == 12 || bytes[12] == ASCII.space else { throw Error.statusLine }
        // The reason phrase: the bytes of a field value (RFC 9112 §4).
        for index in 12..<end where !HTTPCharacterClass.isFieldValue(bytes[index]) {
            throw Error.statusLine
        }
        return (version, code)
    }

    /// One field line: the name's and the trimmed value's byte ranges.
    private static func parseField(
        _ bytes: UnsafeRawBufferPointer,
        from start: Int,
        to end: Int
    ) throws -> (name: Range<Int>, value: Range<Int>) {
        var colon = start
        while colon < end && bytes[colon] != UInt8(ascii: ":") {
            guard HTTPCharacterClass.isToken(bytes[colon]) else { throw Error.headerLine }
            colon += 1
        }
        // No colon, an empty name, or (checked above) a space or fold before the colon.
        guard colon < end, colon > start else { throw Error.headerLine }
        var valueStart = colon + 1
        var valueEnd = end
        while valueStart < valueEnd && ASCII.isWhitespace(bytes[valueStart]) {
            valueStart += 1
        }
        while valueEnd > valueStart && ASCII.isWhitespace(bytes[valueEnd - 1]) {
            valueEnd -= 1
        }
        if ByteScan.containsControl(bytes, valueStart..<valueEnd, below: ASCII.space) {
            for index in valueStart..<valueEnd where !HTTPCharacterClass.isFieldValue(bytes[index]) {
                throw Error.headerLine
            }
        }
        return (start..<colon, valueStart..<valueEnd)
    }

    private static func noteFraming(
        _ bytes: UnsafeRawBufferPointer,
        name: Range<Int>,
        value: Range<Int>,
        into framing: inout Framing
    ) {
        switch name.count {
        case 14 where bytes[name].equalsLowercaseASCII("content-length"):
            framing.noteContentLength(bytes, value)
        case 17 where bytes[name].equalsLowercaseASCII("transfer-encoding"):
            framing.transferEncoding = true
            framing.chunked = Self.lastCodingIsChunked(bytes, value)
        case 10 where bytes[name].equalsLowercaseASCII("connection"):
            forEachListElement(in: bytes, value) { token in
                if token.count == 5 && bytes[token].equalsLowercaseASCII("close") {
                    framing.connectionClose = true
                } else if token.count == 10 && bytes[token].equalsLowercaseASCII("keep-alive") {
                    framing.connectionKeepAlive = true
                } else if !bytes[token].equalsLowercaseASCII("upgrade") {
                    framing.connectionOptions = true
                }
            }
        default:
            break
        }
    }

    /// Whether the last coding in a `Transfer-Encoding` value is `chunked`.
    private static func lastCodingIsChunked(_ bytes: UnsafeRawBufferPointer, _ value: Range<Int>) -> Bool {
        var last: Range<Int>?
        forEachListElement(in: bytes, value) { last = $0 }
        guard let last else { return false }
        return bytes[last].equalsLowercaseASCII("chunked")
    }

    // MARK: - Chunks

    /// A chunk-size line's size (extensions ignored), consuming the line; nil when it has not
    /// fully arrived.
    private func parseChunkSize(_ buffer: inout ByteBuffer) throws -> Int? {
        guard let (lineLength, consumed) = Self.nextLine(in: buffer) else {
            if buffer.readableBytes > 4096 { throw Error.chunk }
            return nil
        }
        let size = try buffer.withUnsafeReadableBytes { bytes -> Int in
            var size = 0
            var digits = 0
            var index = 0
            while index < lineLength, let digit = hexValue(bytes[index]) {
                guard digits < 15 else { throw Error.chunk }
                size = size << 4 | Int(digit)
                digits += 1
                index += 1
            }
            guard digits > 0 else { throw Error.chunk }
            while index < lineLength && ASCII.isWhitespace(bytes[index]) {
                index += 1
            }
            guard index == lineLength || bytes[index] == UInt8(ascii: ";") else { throw Error.chunk }
            return size
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        return size
    }

    /// The next line in the buffer: its length without CR LF, and the bytes it takes with them.
    private static func nextLine(in buffer: ByteBuffer) -> (length: Int, consumed: Int)? {
        buffer.withUnsafeReadableBytes { bytes in
            guard let lf = bytes.firstIndex(of: ASCII.lf) else { return nil }
            if lf > 0 && bytes[lf - 1] == ASCII.cr { return (lf - 1, lf + 1) }
            return (lf, lf + 1)
        }
    }
}

extension UpstreamResponseParser.Framing {
    /// Records one Content-Length value: digits, or a list of identical digit strings; a
    /// malformed one, or one that disagrees with an earlier one, sets `contentLengthInvalid`.
    mutating func noteContentLength(_ bytes: UnsafeRawBufferPointer, _ value: Range<Int>) {
        var index = value.lowerBound
        while true {
            while index < value.upperBound && ASCII.isWhitespace(bytes[index]) {
                index += 1
            }
            var length = 0
            var digits = 0
            while index < value.upperBound, case let digit = bytes[index] &- UInt8(ascii: "0"), digit < 10 {
                guard digits < 18 else {
                    self.contentLengthInvalid = true
                    return
                }
                length = length * 10 + Int(digit)
                digits += 1
                index += 1
            }
            while index < value.upperBound && ASCII.isWhitespace(bytes[index]) {
                index += 1
            }
            guard digits > 0, self.contentLength == nil || self.contentLength == length else {
                self.contentLengthInvalid = true
                return
            }
            self.contentLength = length
            if index == value.upperBound { return }
            guard bytes[index] == UInt8(ascii: ",") else {
                self.contentLengthInvalid = true
                return
            }
            index += 1
        }
    }
}
