import NIOCore
import NIOPosix

/// Why a ``RawHTTPClient`` read failed.
enum RawHTTPClientError: Error, CustomStringConvertible {
    /// The deadline passed while waiting for `waitingFor`.
    case timedOut(waitingFor: String, buffered: Int)
    /// The peer closed the connection before `waitingFor` was complete.
    case connectionClosed(waitingFor: String, buffered: Int)
    /// The bytes received are not valid HTTP/1.x.
    case malformed(String)

    var description: String {
        switch self {
        case .timedOut(let what, let buffered):
            "timed out waiting for \(what) (\(buffered) unread bytes buffered)"
        case .connectionClosed(let what, let buffered):
            "connection closed while waiting for \(what) (\(buffered) unread bytes buffered)"
        case .malformed(let reason):
            "malformed HTTP: \(reason)"
        }
    }
}

/// Header fields in received order, with case-insensitive lookup.
struct RawHTTPHeaders: Sendable, Sequence, CustomStringConvertible {
    /// The fields as received (names in their original case).
    var fields: [(name: String, value: String)] = []

    /// The first value of `name`, or `nil`.
    subscript(name: String) -> String? {
        self.fields.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Every value of `name`, in order.
    func values(_ name: String) -> [String] {
        self.fields.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    /// Whether a field `name` is present.
    func contains(_ name: String) -> Bool {
        self[name] != nil
    }

    func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        self.fields.makeIterator()
    }

    var description: String {
        self.fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }
}

/// One HTTP/1.x response as read off the wire by ``RawHTTPClient``.
struct RawHTTPResponse: Sendable, CustomStringConvertible {
    /// How the body was delimited.
    enum Framing: Sendable, Equatable {
        /// No body (1xx, 204, 304, or an answer to HEAD).
        case none
        case contentLength(Int)
        case chunked
        /// Read until the server closed the connection.
        case untilClose
    }

    /// `HTTP/1.1` or `HTTP/1.0`.
    var version: String
    var status: Int
    var reason: String
    var headers: RawHTTPHeaders
    /// Trailer fields of a chunked body.
    var trailers = RawHTTPHeaders()
    var framing: Framing
    /// The body, or empty if it was read with `collectBody: false`.
    var body: ByteBuffer
    /// The body's length in bytes, counted even when it was not collected.
    var bodyLength: Int
    /// The sizes of the chunks of a chunked body, in order.
    var chunkSizes: [Int] = []

    /// The body decoded as UTF-8.
    var bodyString: String { String(buffer: self.body) }

    var description: String {
        "\(self.version) \(self.status) \(self.reason)\n\(self.headers)\n\n(\(self.bodyLength) body bytes, \(self.framing))"
    }
}

/// A plain TCP client for tests: writes exactly the bytes it is given and parses what comes back,
/// so tests can send malformed, pipelined or smuggling-shaped requests and see the real answers.
///
/// Reads are driven by the reader (auto-read is off): bytes are only read from the socket while a
/// `read…` call waits for them, so a large body streams with backpressure and flat memory when
/// read with `collectBody: false`.
actor RawHTTPClient {
    private enum InboundEvent: Sendable {
        case bytes(ByteBuffer)
        case failed(any Error)
        case closed
        case timeout(UInt64)
    }

    /// Feeds the channel's inbound bytes and its closing into an `AsyncStream`.
    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer

        let continuation: AsyncStream<InboundEvent>.Continuation

        init(continuation: AsyncStream<InboundEvent>.Continuation) {
            self.continuation = continuation
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.continuation.yield(.bytes(Self.unwrapInboundIn(data)))
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            self.continuation.yield(.failed(error))
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.continuation.yield(.closed)
            self.continuation.finish()
            context.fireChannelInactive()
        }
    }

    /// The underlying channel (a `ByteBuffer` in, `ByteBuffer` out pipeline).
    nonisolated let channel: any Channel
    private let continuation: AsyncStream<InboundEvent>.Continuation
    private var events: AsyncStream<InboundEvent>.AsyncIterator
    /// Received and not yet consumed.
    private var buffer = ByteBuffer()
    private var sawEOF = false
    private var timeoutToken: UInt64 = 0

    /// The error the connection failed with, such as a reset, if any.
    private(set) var connectionError: (any Error)?

    private init(
        channel: any Channel,
        events: AsyncStream<InboundEvent>,
        continuation: AsyncStream<InboundEvent>.Continuation
    ) {
        self.channel = channel
        self.events = events.makeAsyncIterator()
        self.continuation = continuation
    }

    deinit {
        self.channel.close(promise: nil)
    }

    /// Opens a TCP connection to `host:port`.
    static func connect(
        host: String = "127.0.0.1",
        port: Int,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> RawHTTPClient {
        let (events, continuation) = AsyncStream.makeStream(of: InboundEvent.self)
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.autoRead, value: false)
            .channelOption(.allowRemoteHalfClosure, value: false)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(continuation: continuation))
                }
            }
            .connect(host: host, port: port)
            .get()
        return RawHTTPClient(channel: channel, events: events, continuation: continuation)
    }

    /// The local port of the connection.
    nonisolated var localPort: Int? { self.channel.localAddress?.port }

    // MARK: Writing

    /// Writes `text` (UTF-8) and waits until it has been handed to the socket.
    func send(_ text: String) async throws {
        try await self.send(self.channel.allocator.buffer(string: text))
    }

    /// Writes `bytes` and waits until they have been handed to the socket.
    func send(_ bytes: ByteBuffer) async throws {
        try await self.channel.writeAndFlush(bytes)
    }

    /// Writes `bytes` and waits until they have been handed to the socket.
    func send(bytes: [UInt8]) async throws {
        try await self.send(self.channel.allocator.buffer(bytes: bytes))
    }

    /// Half-closes the connection: sends FIN, keeps reading.
    func shutdownOutput() async throws {
        try await self.channel.close(mode: .output)
    }

    /// Closes the connection.
    func close() async {
        try? await self.channel.close()
    }

    // MARK: Reading

    /// Reads one response. 1xx responses are returned on their own (call again for the final one).
    ///
    /// - Parameters:
    ///   - timeout: The deadline for the whole response, body included.
    ///   - requestMethod: The method of the request being answered; `HEAD` answers carry no body.
    ///   - collectBody: If `false`, the body is only counted (``RawHTTPResponse/bodyLength``).
    func readResponse(
        timeout: Duration = .seconds(10),
        requestMethod: String = "GET",
        collectBody: Bool = true
    ) async throws -> RawHTTPResponse {
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        let headEnd = try await self.waitFor(pattern: [13, 10, 13, 10], deadline: deadline, what: "response head")
        let headText = self.buffer.readString(length: headEnd)!
        self.buffer.moveReaderIndex(forwardBy: 4)
        var lines = headText.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst()
        let statusParts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw RawHTTPClientError.malformed("status line \(statusLine.debugDescription)")
        }
        let headers = try Self.parseFields(lines)

        var response = RawHTTPResponse(
            version: String(statusParts[0]),
            status: status,
            reason: statusParts.count == 3 ? String(statusParts[2]) : "",
            headers: headers,
            framing: .none,
            body: ByteBuffer(),
            bodyLength: 0
        )
        let transferEncoding = headers.values("transfer-encoding").joined(separator: ",").lowercased()
        if (100..<200).contains(status) || status == 204 || status == 304 || requestMethod == "HEAD" {
            response.framing = .none
        } else if transferEncoding.split(separator: ",").last?.trimmingSpaces == "chunked" {
            response.framing = .chunked
            try await self.readChunkedBody(into: &response, collect: collectBody, deadline: deadline)
        } else if let lengthText = headers["content-length"] {
            guard let length = Int(lengthText.trimmingSpaces), length >= 0 else {
                throw RawHTTPClientError.malformed("content-length \(lengthText.debugDescription)")
            }
            response.framing = .contentLength(length)
            try await self.readBody(length: length, into: &response, collect: collectBody, deadline: deadline)
        } else {
            response.framing = .untilClose
            try await self.readBodyUntilClose(into: &response, collect: collectBody, deadline: deadline)
        }
        self.compactBuffer()
        return response
    }

    /// Reads exactly `count` bytes.
    func readBytes(count: Int, timeout: Duration = .seconds(10)) async throws -> ByteBuffer {
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        while self.buffer.readableBytes < count {
            guard try await self.receiveMore(deadline: deadline, what: "\(count) bytes") else {
                throw RawHTTPClientError.connectionClosed(
                    waitingFor: "\(count) bytes",
                    buffered: self.buffer.readableBytes
                )
            }
        }
        let bytes = self.buffer.readSlice(length: count)!
        self.compactBuffer()
        return bytes
    }

    /// Reads everything until the server closes the connection (including bytes already buffered).
    func readUntilClose(timeout: Duration = .seconds(10)) async throws -> ByteBuffer {
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        while try await self.receiveMore(deadline: deadline, what: "the connection to close") {}
        let rest = self.buffer
        self.buffer = ByteBuffer()
        return rest
    }

    /// Whether the server closes (or resets) the connection within `duration`. Bytes received
    /// meanwhile stay buffered for later reads.
    func isClosed(within duration: Duration = .seconds(2)) async -> Bool {
        let deadline = NIODeadline.now() + TimeAmount(duration)
        do {
            while try await self.receiveMore(deadline: deadline, what: "the connection to close") {}
            return true
        } catch {
            return false
        }
    }

    /// The number of received bytes not consumed by any read yet.
    var bufferedByteCount: Int { self.buffer.readableBytes }

    // MARK: Internals

    /// Waits for more bytes and appends them to `buffer`. Returns `false` at end of stream.
    private func receiveMore(deadline: NIODeadline, what: String) async throws -> Bool {
        if self.sawEOF { return false }
        self.timeoutToken &+= 1
        let token = self.timeoutToken
        let continuation = self.continuation
        let timer = self.channel.eventLoop.scheduleTask(deadline: deadline) {
            continuation.yield(.timeout(token))
        }
        defer { timer.cancel() }
        self.channel.read()
        while true {
            var iterator = self.events
            let event = await iterator.next(isolation: self)
            self.events = iterator
            switch event {
            case .bytes(var bytes):
                self.buffer.writeBuffer(&bytes)
                return true
            case .failed(let error):
                self.connectionError = error
                continue
            case .closed, nil:
                self.sawEOF = true
                return false
            case .timeout(let fired):
                guard fired == token else { continue }
                throw RawHTTPClientError.timedOut(waitingFor: what, buffered: self.buffer.readableBytes)
            }
        }
    }

    /// Waits until `pattern` is in the buffer; returns its offset from the reader index.
    private func waitFor(pattern: [UInt8], deadline: NIODeadline, what: String) async throws -> Int {
        var searchFrom = 0
        while true {
            if let offset = Self.find(pattern, in: self.buffer, from: searchFrom) {
                return offset
            }
            searchFrom = max(0, self.buffer.readableBytes - pattern.count + 1)
            guard try await self.receiveMore(deadline: deadline, what: what) else {
                throw RawHTTPClientError.connectionClosed(waitingFor: what, buffered: self.buffer.readableBytes)
            }
        }
    }

    private func readLine(deadline: NIODeadline, what: String) async throws -> String {
        let end = try await self.waitFor(pattern: [13, 10], deadline: deadline, what: what)
        let line = self.buffer.readString(length: end)!
        self.buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    private func readBody(
        length: Int,
        into response: inout RawHTTPResponse,
        collect: Bool,
        deadline: NIODeadline
    ) async throws {
        var remaining = length
        while remaining > 0 {
            if self.buffer.readableBytes == 0 {
                guard try await self.receiveMore(deadline: deadline, what: "\(remaining) more body bytes") else {
                    throw RawHTTPClientError.connectionClosed(waitingFor: "\(remaining) more body bytes", buffered: 0)
                }
            }
            let take = min(remaining, self.buffer.readableBytes)
            var slice = self.buffer.readSlice(length: take)!
            if collect {
                response.body.writeBuffer(&slice)
            }
            response.bodyLength += take
            remaining -= take
            self.compactBuffer()
        }
    }

    private func readChunkedBody(
        into response: inout RawHTTPResponse,
        collect: Bool,
        deadline: NIODeadline
    ) async throws {
        while true {
            let sizeLine = try await self.readLine(deadline: deadline, what: "a chunk size line")
            let sizeText = sizeLine.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
            guard let size = Int(sizeText.trimmingSpaces, radix: 16), size >= 0 else {
                throw RawHTTPClientError.malformed("chunk size line \(sizeLine.debugDescription)")
            }
            if size == 0 {
                var trailerLines: [String] = []
                while true {
                    let line = try await self.readLine(deadline: deadline, what: "chunked trailers")
                    if line.isEmpty { break }
                    trailerLines.append(line)
                }
                response.trailers = try Self.parseFields(trailerLines)
                return
            }
            response.chunkSizes.append(size)
            try await self.readBody(length: size, into: &response, collect: collect, deadline: deadline)
            let terminator = try await self.readLine(deadline: deadline, what: "a chunk's CRLF")
            guard terminator.isEmpty else {
                throw RawHTTPClientError.malformed("chunk not followed by CRLF: \(terminator.debugDescription)")
            }
        }
    }

    private func readBodyUntilClose(
        into response: inout RawHTTPResponse,
        collect: Bool,
        deadline: NIODeadline
    )
        async throws
    {
        repeat {
            var slice = self.buffer.readSlice(length: self.buffer.readableBytes)!
            response.bodyLength += slice.readableBytes
            if collect {
                response.body.writeBuffer(&slice)
            }
            self.compactBuffer()
        } while try await self.receiveMore(deadline: deadline, what: "the body to end at close")
    }

    private func compactBuffer() {
        if self.buffer.readableBytes == 0 {
            self.buffer.clear()
        } else if self.buffer.readerIndex > 1 << 20 {
            self.buffer.discardReadBytes()
        }
    }

    private static func parseFields(_ lines: [String]) throws -> RawHTTPHeaders {
        var headers = RawHTTPHeaders()
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else {
                throw RawHTTPClientError.malformed("header line \(line.debugDescription)")
            }
            let name = String(line[..<colon])
            let value = String(line[line.index(after: colon)...]).trimmingSpaces
            headers.fields.append((name, value))
        }
        return headers
    }

    private static func find(_ pattern: [UInt8], in buffer: ByteBuffer, from start: Int) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            guard bytes.count >= pattern.count else { return nil }
            var index = max(0, start)
            let last = bytes.count - pattern.count
            while index <= last {
                var matched = true
                for (offset, byte) in pattern.enumerated() where bytes[index + offset] != byte {
                    matched = false
                    break
                }
                if matched { return index }
                index += 1
            }
            return nil
        }
    }
}

extension StringProtocol {
    /// The string without leading and trailing spaces and tabs.
    fileprivate var trimmingSpaces: String {
        var scalars = Substring(self).unicodeScalars[...]
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}
