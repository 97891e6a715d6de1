public import NIOCore
import NIOHTTP1

/// Parses the HTTP/1.1 requests a client sends, strictly (RFC 9112), over the received bytes.
///
/// AuthGate stands in front of backends that parse requests their own way: whatever the gateway
/// and a backend could read differently (a bare LF, an obs-fold, two lengths, a coding before
/// `chunked`) is a request-smuggling vector. So this parser accepts one spelling of each thing
/// and refuses everything else with 400 (the connection is then closed): lines end in CRLF; the
/// request line is `method SP origin-form SP HTTP/1.x`; field names are tokens with no space
/// before the colon; values hold no control character; a body is framed by one
/// `Content-Length` or by `Transfer-Encoding: chunked` alone on HTTP/1.1, never both. Its limits
/// answer 414 (request line) and 431 (field section). A differential test against NIOHTTP1's
/// decoder (llhttp) and a libFuzzer target keep it honest; the cases it refuses and llhttp
/// accepts are listed there, each with its reason.
///
/// The head is parsed in place: ``ParsedRequestHead`` keeps the received bytes and positions
/// in them, so parsing builds no `String`, and bodies are handed on as slices of the buffer.
///
/// Feed it as ``UpstreamResponseParser`` is fed: `buffer` holds the received bytes not yet
/// consumed, newly received bytes are appended to it, and ``next(_:)`` is called until it
/// returns nil. The parser remembers how far into an unfinished head it has looked, so a head
/// arriving a byte at a time is still scanned once. After a message's `.end`, the bytes that
/// follow parse as the next request (pipelining).
public struct ClientRequestParser: Sendable {
    /// Bounds on what a request head may hold, each with the status it is answered with.
    public struct Limits: Sendable, Equatable {
        /// The request line without its CRLF (414 past it).
        public var maxRequestLineBytes: Int
        /// The request target (414 past it).
        public var maxTargetBytes: Int
        /// The field lines with their CRLFs, without the blank line (431 past it); trailer
        /// sections have the same bound. The raw bytes are counted (name, colon, whitespace,
        /// value, CRLF): a few bytes per field more than `RequestValidator`'s sum of names and
        /// values, so this bound also caps what an unfinished head keeps buffered.
        public var maxFieldBytes: Int
        /// Field lines in one head (431 past it); trailer sections have the same bound.
        public var maxFieldCount: Int
        /// A chunk-size line with its extensions, without its CRLF (400 past it).
        public var maxChunkLineBytes: Int

        public init(
            maxRequestLineBytes: Int = 8 * 1024 + 64,
            maxTargetBytes: Int = 8 * 1024,
            maxFieldBytes: Int = 16 * 1024,
            maxFieldCount: Int = 100,
            maxChunkLineBytes: Int = 4 * 1024
        ) {
            self.maxRequestLineBytes = maxRequestLineBytes
            self.maxTargetBytes = maxTargetBytes
            self.maxFieldBytes = maxFieldBytes
            self.maxFieldCount = maxFieldCount
            self.maxChunkLineBytes = maxChunkLineBytes
        }
    }

    /// What the next bytes of the connection meant.
    public enum Event: Sendable, Equatable {
        case head(ParsedRequestHead)
        /// Body bytes, de-chunked.
        case body(ByteBuffer)
        /// The message is complete; the trailer fields of a chunked body, if it had any.
        case end(ParsedFields?)
    }

    /// The request line, once its CRLF has arrived.
    struct RequestLine: Sendable {
        var method: HTTPMethod
        var version: HTTPVersion
        var target: Range<Int>
        /// Where the field lines start (after the request line's CRLF).
        var fieldsStart: Int
    }

    /// What the field lines said about framing and `Host`, gathered line by line.
    struct FieldFacts: Sendable {
        var contentLength: Int64?
        var transferEncodingChunked = false
        var hostCount = 0
        var host: Range<Int>?
        var connectionClose = false
        var connectionKeepAlive = false
        var connectionUpgrade = false
        var upgrade = false
    }

    /// How far an unfinished head has been scanned: offsets from the buffer's reader index.
    struct HeadProgress: Sendable {
        /// Where the search for the next LF resumes.
        var searchFrom = 0
        /// Where the line being received starts.
        var lineStart = 0
        var requestLine: RequestLine?
        var fieldCount = 0
        var facts = FieldFacts()

        var isFresh: Bool { self.searchFrom == 0 }
    }

    /// How far an unfinished trailer section has been scanned.
    struct TrailerProgress: Sendable {
        var searchFrom = 0
        var lineStart = 0
        var fieldCount = 0
    }

    enum State: Sendable {
        /// Receiving a head (or the empty lines before one).
        case head(HeadProgress)
        case fixedBody(remaining: Int64)
        case chunkSize
        case chunkData(remaining: Int64)
        case chunkDataEnd
        case trailers(TrailerProgress)
        /// The body is complete; the next call says `.end`.
        case endPending(ParsedFields?)
        /// A request that closes the connection (RFC 9112 §9.6) has ended: what follows it is
        /// not parsed, as the connection closes once that request is answered.
        case closed
        /// An error was thrown; it is thrown again for any further call.
        case failed(ClientRequestParserError)
    }

    private(set) var state: State = .head(HeadProgress())
    /// Whether the message being parsed closes the connection after it.
    private var closesAfterMessage = false
    public let limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Whether no byte of a next message has been parsed: the connection is between requests.
    public var isBetweenMessages: Bool {
        if case .head(let progress) = self.state { return progress.isFresh }
        return false
    }

    /// Whether a request that closes the connection has ended: the parser reads nothing more.
    public var isClosed: Bool {
        if case .closed = self.state { return true }
        return false
    }

    /// Where a message that just ended leaves the parser.
    private var afterMessage: State {
        self.closesAfterMessage ? .closed : .head(HeadProgress())
    }

    /// The next event in `buffer`, consuming what it parsed; nil when more bytes are needed.
    ///
    /// Bytes of an unfinished head stay in `buffer` (unconsumed) until the head is complete:
    /// append to `buffer`, do not alter what it holds.
    public mutating func next(_ buffer: inout ByteBuffer) throws(ClientRequestParserError) -> Event? {
        do throws(ClientRequestParserError) {
            return try self.step(&buffer)
        } catch {
            self.state = .failed(error)
            throw error
        }
    }

    /// At the connection's end: `.end` for a body that had just completed, nil between messages;
    /// inside a message, ``ClientRequestParserError/incomplete``.
    public mutating func finish(_ buffer: inout ByteBuffer) throws(ClientRequestParserError) -> Event? {
        if let event = try self.next(&buffer) { return event }
        switch self.state {
        case .head(let progress) where progress.isFresh && buffer.readableBytes == 0:
            return nil
        case .closed:
            return nil
        case .failed(let error):
            throw error
        default:
            self.state = .failed(.incomplete)
            throw .incomplete
        }
    }

    private mutating func step(_ buffer: inout ByteBuffer) throws(ClientRequestParserError) -> Event? {
        switch self.state {
        case .head(var progress):
            if progress.isFresh {
                // RFC 9112 §2.2: empty lines (CRLF) before a request line are ignored.
                while let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) {
                    guard first == ASCII.cr else {
                        if first == ASCII.lf { throw .bareLineEnding }
                        break
                    }
                    guard let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self) else {
                        return nil
                    }
                    guard second == ASCII.lf else { throw .bareLineEnding }
                    buffer.moveReaderIndex(forwardBy: 2)
                }
                if buffer.readableBytes == 0 { return nil }
            }
            let limits = self.limits
            let outcome = buffer.withUnsafeReadableBytes { bytes in
                Result { () throws(ClientRequestParserError) in try Self.scanHead(bytes, &progress, limits) }
            }
            guard let (headLength, framing) = try outcome.get(), let line = progress.requestLine else {
                self.state = .head(progress)
                return nil
            }
            let bytes = buffer.readSlice(length: headLength)!
            let fieldsLength = headLength - 2 - line.fieldsStart
            let fields = ParsedFields(
                bytes: bytes.getSlice(at: bytes.readerIndex + line.fieldsStart, length: fieldsLength)!,
                count: progress.fieldCount
            )
            // The host range was recorded relative to the head's start, as all offsets are.
            let facts = progress.facts
            // RFC 9112 §9.3: HTTP/1.1 persists unless `close`; HTTP/1.0 only with `keep-alive`.
            let keepAlive =
                !facts.connectionClose && (line.version == .http1_1 || facts.connectionKeepAlive)
            self.closesAfterMessage = !keepAlive
            let head = ParsedRequestHead(
                bytes: bytes,
                method: line.method,
                version: line.version,
                fields: fields,
                framing: framing,
                keepAlive: keepAlive,
                isUpgrade: facts.connectionUpgrade && facts.upgrade,
                targetRange: line.target,
                hostRange: facts.host
            )
            switch framing {
            case .none: self.state = .endPending(nil)
            case .contentLength(let length): self.state = .fixedBody(remaining: length)
            case .chunked: self.state = .chunkSize
            }
            return .head(head)

        case .fixedBody(let remaining):
            guard let slice = Self.readBody(&buffer, remaining: remaining) else { return nil }
            let left = remaining - Int64(slice.readableBytes)
            self.state = left == 0 ? .endPending(nil) : .fixedBody(remaining: left)
            return .body(slice)

        case .chunkSize:
            let limits = self.limits
            let outcome = buffer.withUnsafeReadableBytes { bytes in
                Result { () throws(ClientRequestParserError) in try Self.parseChunkSizeLine(bytes, limits) }
            }
            guard let (size, consumed) = try outcome.get() else { return nil }
            buffer.moveReaderIndex(forwardBy: consumed)
            self.state = size == 0 ? .trailers(TrailerProgress()) : .chunkData(remaining: size)
            return try self.step(&buffer)

        case .chunkData(let remaining):
            guard let slice = Self.readBody(&buffer, remaining: remaining) else { return nil }
            let left = remaining - Int64(slice.readableBytes)
            self.state = left == 0 ? .chunkDataEnd : .chunkData(remaining: left)
            return .body(slice)

        case .chunkDataEnd:
            guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
            guard first == ASCII.cr else { throw .chunkDataEnd }
            guard let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self) else { return nil }
            guard second == ASCII.lf else { throw .chunkDataEnd }
            buffer.moveReaderIndex(forwardBy: 2)
            self.state = .chunkSize
            return try self.step(&buffer)

        case .trailers(var progress):
            let limits = self.limits
            let outcome = buffer.withUnsafeReadableBytes { bytes in
                Result { () throws(ClientRequestParserError) in try Self.scanTrailers(bytes, &progress, limits) }
            }
            guard let sectionLength = try outcome.get() else {
                self.state = .trailers(progress)
                return nil
            }
            let section = buffer.readSlice(length: sectionLength)!
            self.state = self.afterMessage
            guard progress.fieldCount > 0 else { return .end(nil) }
            return .end(
                ParsedFields(
                    bytes: section.getSlice(at: section.readerIndex, length: sectionLength - 2)!,
                    count: progress.fieldCount
                )
            )

        case .endPending(let trailers):
            self.state = self.afterMessage
            return .end(trailers)

        case .closed:
            return nil

        case .failed(let error):
            throw error
        }
    }

    /// Up to `remaining` body bytes from `buffer`; nil when it is empty.
    private static func readBody(_ buffer: inout ByteBuffer, remaining: Int64) -> ByteBuffer? {
        let available = buffer.readableBytes
        guard available > 0 else { return nil }
        let length = Int64(available) < remaining ? available : Int(remaining)
        return buffer.readSlice(length: length)!
    }

    // MARK: - Head

    /// Scans the head's lines from where the last call stopped; the head's length and the
    /// body's framing once its blank line is there.
    private static func scanHead(
        _ bytes: UnsafeRawBufferPointer,
        _ progress: inout HeadProgress,
        _ limits: Limits
    ) throws(ClientRequestParserError) -> (Int, RequestBodyFraming)? {
        while true {
            guard let lineFeed = Self.lineFeed(in: bytes, from: progress.searchFrom) else {
                progress.searchFrom = bytes.count
                // Refuse as soon as the line can no longer fit (the decisions below, on the
                // whole line, make the same call: the outcome does not depend on the split).
                if let line = progress.requestLine {
                    if bytes.count - line.fieldsStart > limits.maxFieldBytes + 2 { throw .fieldsTooLarge }
                } else if bytes.count > limits.maxRequestLineBytes + 1 {
                    throw .requestLineTooLong
                }
                return nil
            }
            progress.searchFrom = lineFeed + 1
            let lineStart = progress.lineStart
            progress.lineStart = lineFeed + 1

            guard let line = progress.requestLine else {
                // The leading empty lines are gone: this is the request line.
                if lineFeed > limits.maxRequestLineBytes + 1 { throw .requestLineTooLong }
                guard lineFeed > 0, bytes[lineFeed - 1] == ASCII.cr else { throw .bareLineEnding }
                var requestLine = try Self.parseRequestLine(bytes, end: lineFeed - 1, limits: limits)
                requestLine.fieldsStart = lineFeed + 1
                progress.requestLine = requestLine
                continue
            }

            guard lineFeed > lineStart else { throw .bareLineEnding }
            let isBlank = lineFeed == lineStart + 1 && bytes[lineStart] == ASCII.cr
            if !isBlank && lineFeed + 1 - line.fieldsStart > limits.maxFieldBytes { throw .fieldsTooLarge }
            guard bytes[lineFeed - 1] == ASCII.cr else { throw .bareLineEnding }
            if isBlank {
                return (lineFeed + 1, try Self.framing(progress.facts, version: line.version))
            }
            progress.fieldCount += 1
            if progress.fieldCount > limits.maxFieldCount { throw .fieldsTooLarge }
            let (name, value) = try Self.parseFieldLine(bytes, from: lineStart, to: lineFeed - 1)
            try Self.note(bytes, name: name, value: value, into: &progress.facts)
        }
    }

    /// The first LF at or after `start`.
    @inline(__always)
    private static func lineFeed(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        ByteScan.firstIndex(of: ASCII.lf, in: bytes, from: start, to: bytes.count)
    }

    /// `method SP request-target SP HTTP-version`, the line ending at `end` (its CR).
    private static func parseRequestLine(
        _ bytes: UnsafeRawBufferPointer,
        end: Int,
        limits: Limits
    ) throws(ClientRequestParserError) -> RequestLine {
        var index = 0
        while index < end && bytes[index] != ASCII.space {
            guard HTTPCharacterClass.isToken(bytes[index]) else { throw .method }
            index += 1
        }
        guard index > 0, index < end else { throw .requestLine }
        guard let method = HTTPMethod.parse(UnsafeRawBufferPointer(rebasing: bytes[0..<index])) else {
            throw .method
        }
        if method == .CONNECT { throw .connectMethod }

        let targetStart = index + 1
        index = targetStart
        while index < end && bytes[index] != ASCII.space {
            let byte = bytes[index]
            guard HTTPCharacterClass.isTarget(byte) else { throw .target }
            index += 1
            if byte == UInt8(ascii: "?") { break }
        }
        // The query (after the first `?`) takes a few bytes more than the path.
        while index < end && bytes[index] != ASCII.space {
            guard HTTPCharacterClass.isQueryTarget(bytes[index]) else { throw .target }
            index += 1
        }
        guard index > targetStart, index < end else { throw .requestLine }
        if index - targetStart > limits.maxTargetBytes { throw .requestLineTooLong }
        // Origin form only, and `OPTIONS *`: an absolute-form target would let a client pick
        // what the backend believes the host is.
        if bytes[targetStart] != UInt8(ascii: "/") {
            guard method == .OPTIONS, index - targetStart == 1, bytes[targetStart] == UInt8(ascii: "*") else {
                throw .target
            }
        }

        let versionStart = index + 1
        guard end - versionStart == 8, bytes[versionStart] == UInt8(ascii: "H"),
            bytes[versionStart + 1] == UInt8(ascii: "T"), bytes[versionStart + 2] == UInt8(ascii: "T"),
            bytes[versionStart + 3] == UInt8(ascii: "P"), bytes[versionStart + 4] == UInt8(ascii: "/"),
            bytes[versionStart + 6] == UInt8(ascii: ".")
        else { throw .requestLine }
        let major = bytes[versionStart + 5]
        let minor = bytes[versionStart + 7]
        guard major &- UInt8(ascii: "0") < 10, minor &- UInt8(ascii: "0") < 10 else { throw .requestLine }
        let version: HTTPVersion
        switch (major, minor) {
        case (UInt8(ascii: "1"), UInt8(ascii: "1")): version = .http1_1
        case (UInt8(ascii: "1"), UInt8(ascii: "0")): version = .http1_0
        default: throw .version
        }
        return RequestLine(method: method, version: version, target: targetStart..<index, fieldsStart: 0)
    }

    /// One field line (`start..<end`, without its CRLF): its name's and trimmed value's ranges.
    private static func parseFieldLine(
        _ bytes: UnsafeRawBufferPointer,
        from start: Int,
        to end: Int
    ) throws(ClientRequestParserError) -> (name: Range<Int>, value: Range<Int>) {
        if ASCII.isWhitespace(bytes[start]) { throw .obsoleteLineFolding }
        var colon = start
        while colon < end && bytes[colon] != UInt8(ascii: ":") {
            // A space or tab before the colon is not a token byte: refused here.
            guard HTTPCharacterClass.isToken(bytes[colon]) else { throw .fieldLine }
            colon += 1
        }
        guard colon < end, colon > start else { throw .fieldLine }
        var valueStart = colon + 1
        var valueEnd = end
        while valueStart < valueEnd && ASCII.isWhitespace(bytes[valueStart]) { valueStart += 1 }
        while valueEnd > valueStart && ASCII.isWhitespace(bytes[valueEnd - 1]) { valueEnd -= 1 }
        // Eight bytes at a time first: only a value with a tab, a control or DEL in it is
        // looked at byte by byte.
        if ByteScan.containsControl(bytes, valueStart..<valueEnd, below: ASCII.space) {
            var index = valueStart
            while index < valueEnd {
                guard HTTPCharacterClass.isFieldValue(bytes[index]) else { throw .fieldLine }
                index += 1
            }
        }
        return (start..<colon, valueStart..<valueEnd)
    }

    /// Records what a header field says about framing and `Host`; refuses a second
    /// `Content-Length`, `Transfer-Encoding` or `Host` line and any coding but `chunked`.
    private static func note(
        _ bytes: UnsafeRawBufferPointer,
        name: Range<Int>,
        value: Range<Int>,
        into facts: inout FieldFacts
    ) throws(ClientRequestParserError) {
        switch name.count {
        case 4 where bytes[name].equalsLowercaseASCII("host"):
            facts.hostCount += 1
            guard facts.hostCount == 1 else { throw .host }
            facts.host = value
        case 14 where bytes[name].equalsLowercaseASCII("content-length"):
            guard facts.contentLength == nil else { throw .contentLength }
            facts.contentLength = try Self.parseContentLength(bytes, value)
        case 17 where bytes[name].equalsLowercaseASCII("transfer-encoding"):
            // One line, one coding: `chunked`. A list (`gzip, chunked`), a repeated line or
            // another coding is a framing a backend may read differently.
            guard !facts.transferEncodingChunked, bytes[value].equalsLowercaseASCII("chunked") else {
                throw .transferEncoding
            }
            facts.transferEncodingChunked = true
        case 7 where bytes[name].equalsLowercaseASCII("upgrade"):
            facts.upgrade = true
        case 10 where bytes[name].equalsLowercaseASCII("connection"):
            forEachListElement(in: bytes, value) { token in
                if bytes[token].equalsLowercaseASCII("close") {
                    facts.connectionClose = true
                } else if bytes[token].equalsLowercaseASCII("keep-alive") {
                    facts.connectionKeepAlive = true
                } else if bytes[token].equalsLowercaseASCII("upgrade") {
                    facts.connectionUpgrade = true
                }
            }
        default:
            break
        }
    }

    /// 1 to 18 digits: no sign, no list, no spaces inside.
    private static func parseContentLength(
        _ bytes: UnsafeRawBufferPointer,
        _ value: Range<Int>
    ) throws(ClientRequestParserError) -> Int64 {
        guard !value.isEmpty, value.count <= 18 else { throw .contentLength }
        var length: Int64 = 0
        for index in value {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw .contentLength }
            length = length * 10 + Int64(digit)
        }
        return length
    }

    /// The body's framing (RFC 9112 §6.3) once the field section is complete.
    private static func framing(
        _ facts: FieldFacts,
        version: HTTPVersion
    ) throws(ClientRequestParserError) -> RequestBodyFraming {
        if version == .http1_1 && facts.hostCount != 1 { throw .host }
        if facts.transferEncodingChunked {
            if facts.contentLength != nil { throw .conflictingFraming }
            // RFC 9112 §6.1: an HTTP/1.0 recipient may not understand chunked framing.
            if version != .http1_1 { throw .transferEncoding }
            return .chunked
        }
        if let length = facts.contentLength, length > 0 { return .contentLength(length) }
        return .none
    }

    // MARK: - Chunks

    /// A chunk-size line: the size and the bytes the line takes; nil until its LF is there.
    private static func parseChunkSizeLine(
        _ bytes: UnsafeRawBufferPointer,
        _ limits: Limits
    ) throws(ClientRequestParserError) -> (Int64, Int)? {
        guard let lineFeed = Self.lineFeed(in: bytes, from: 0) else {
            if bytes.count > limits.maxChunkLineBytes + 1 { throw .chunkLineTooLong }
            return nil
        }
        if lineFeed > limits.maxChunkLineBytes + 1 { throw .chunkLineTooLong }
        guard lineFeed > 0, bytes[lineFeed - 1] == ASCII.cr else { throw .bareLineEnding }
        let end = lineFeed - 1
        var index = 0
        var size: Int64 = 0
        while index < end, let digit = hexValue(bytes[index]) {
            guard size <= Int64.max >> 4 else { throw .chunkSize }
            size = size << 4 | Int64(digit)
            index += 1
        }
        guard index > 0 else { throw .chunkSize }
        // chunk-ext = *( ";" ext-name [ "=" ext-val ] ), with no whitespace (the BWS RFC 9112
        // allows is where parsers disagree).
        while index < end {
            guard bytes[index] == UInt8(ascii: ";") else { throw .chunkSize }
            index += 1
            let nameStart = index
            while index < end && HTTPCharacterClass.isToken(bytes[index]) { index += 1 }
            guard index > nameStart else { throw .chunkExtension }
            guard index < end, bytes[index] == UInt8(ascii: "=") else { continue }
            index += 1
            if index < end && bytes[index] == UInt8(ascii: "\"") {
                index = try Self.skipQuotedString(bytes, from: index + 1, end: end)
            } else {
                let valueStart = index
                while index < end && HTTPCharacterClass.isToken(bytes[index]) { index += 1 }
                guard index > valueStart else { throw .chunkExtension }
            }
        }
        return (size, lineFeed + 1)
    }

    /// Past a quoted string's closing quote, from just after its opening one.
    private static func skipQuotedString(
        _ bytes: UnsafeRawBufferPointer,
        from start: Int,
        end: Int
    ) throws(ClientRequestParserError) -> Int {
        var index = start
        while index < end {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { return index + 1 }
            if byte == UInt8(ascii: "\\") {
                guard index + 1 < end, HTTPCharacterClass.isQuotedPairText(bytes[index + 1]) else {
                    throw .chunkExtension
                }
                index += 2
                continue
            }
            guard HTTPCharacterClass.isQuotedText(byte) else { throw .chunkExtension }
            index += 1
        }
        throw .chunkExtension
    }

    /// Scans a trailer section from where the last call stopped; its length (the blank line
    /// included) once the blank line is there. Trailers are field lines, parsed as strictly,
    /// and may not carry the fields that frame or route a message.
    private static func scanTrailers(
        _ bytes: UnsafeRawBufferPointer,
        _ progress: inout TrailerProgress,
        _ limits: Limits
    ) throws(ClientRequestParserError) -> Int? {
        while true {
            guard let lineFeed = Self.lineFeed(in: bytes, from: progress.searchFrom) else {
                progress.searchFrom = bytes.count
                if bytes.count > limits.maxFieldBytes + 2 { throw .fieldsTooLarge }
                return nil
            }
            progress.searchFrom = lineFeed + 1
            let lineStart = progress.lineStart
            progress.lineStart = lineFeed + 1
            guard lineFeed > lineStart else { throw .bareLineEnding }
            let isBlank = lineFeed == lineStart + 1 && bytes[lineStart] == ASCII.cr
            if !isBlank && lineFeed + 1 > limits.maxFieldBytes { throw .fieldsTooLarge }
            guard bytes[lineFeed - 1] == ASCII.cr else { throw .bareLineEnding }
            if isBlank { return lineFeed + 1 }
            progress.fieldCount += 1
            if progress.fieldCount > limits.maxFieldCount { throw .fieldsTooLarge }
            let (name, _) = try Self.parseFieldLine(bytes, from: lineStart, to: lineFeed - 1)
            let fieldName = bytes[name]
            if fieldName.equalsLowercaseASCII("content-length") || fieldName.equalsLowercaseASCII("transfer-encoding")
                || fieldName.equalsLowercaseASCII("host")
            {
                throw .trailerField
            }
        }
    }
}
