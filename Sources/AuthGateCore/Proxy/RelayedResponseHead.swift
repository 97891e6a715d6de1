public import NIOCore
public import NIOHTTP1

extension HeaderPolicy {
    /// Writes the head the client receives for a backend's response, straight from the
    /// received bytes: the status line in the client's HTTP version, every field except the
    /// hop-by-hop ones and those the backend's `Connection` names (`Upgrade` kept on a 101),
    /// `X-Request-Id` unless the backend set one, then the framing and `Connection` fields
    /// the client needs.
    ///
    /// `keepAlive` is whether the client connection may stay open (false while draining).
    /// With `cors` (the gateway handles CORS on the route), the backend's `Access-Control-*`
    /// fields are dropped, the gateway's are added, and `Origin` is merged into the backend's
    /// `Vary` (or a `Vary: Origin` added) unless it already lists `Origin` or `*`.
    /// Returns how the body must be framed towards the client and whether the connection stays
    /// open after it.
    public static func writeRelayedHead(
        _ head: UpstreamResponseHead,
        requestMethod: HTTPMethod,
        clientVersion: HTTPVersion,
        keepAlive: Bool,
        requestID: String,
        cors: CORSResponseHeaders? = nil,
        into buffer: inout ByteBuffer
    ) -> (framing: ResponseBodyFraming, keepAlive: Bool) {
        // An upper bound of the head: a kept field line is copied or respelled as
        // `name: value` CRLF, at most 2 bytes longer than a line of 3 or more bytes, so twice the
        // received field bytes hold every field, plus the merged `Vary` (16); then the status
        // line, `X-Request-Id`, the CORS fields, and `Vary: Origin`, the framing and
        // `Connection` fields (at most 63 together; 128 leaves room).
        var capacity = 2 &* head.fields.readableBytes &+ 16
        capacity &+= 15 &+ head.status.reasonPhrase.utf8.count &+ 16 &+ requestID.utf8.count &+ 128
        cors?.forEachAllowField { name, value in capacity &+= name.utf8.count &+ value.utf8.count &+ 4 }
        return ReservedBytesWriter.write(into: &buffer, capacity: capacity) { out in
            Self.writeRelayedHead(
                head,
                requestMethod: requestMethod,
                clientVersion: clientVersion,
                keepAlive: keepAlive,
                requestID: requestID,
                cors: cors,
                into: &out
            )
        }
    }

    private static func writeRelayedHead(
        _ head: UpstreamResponseHead,
        requestMethod: HTTPMethod,
        clientVersion: HTTPVersion,
        keepAlive: Bool,
        requestID: String,
        cors: CORSResponseHeaders?,
        into buffer: inout ReservedBytesWriter
    ) -> (framing: ResponseBodyFraming, keepAlive: Bool) {
        let code = head.status.code
        let switching = code == 101
        buffer.append(clientVersion.minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        buffer.append(UInt8(ascii: "0") + UInt8(code / 100 % 10))
        buffer.append(UInt8(ascii: "0") + UInt8(code / 10 % 10))
        buffer.append(UInt8(ascii: "0") + UInt8(code % 10))
        buffer.append(ASCII.space)
        buffer.append(head.status.reasonPhrase)
        buffer.append("\r\n")

        var hasContentLength = false
        var hasRequestID = false
        let handlesCORS = cors != nil
        var vary = VaryOrigin.absent
        head.fields.withUnsafeReadableBytes { bytes in
            let listed = head.hasConnectionOptions ? Self.connectionOptions(in: bytes) : []
            if cors?.varyOrigin == true { vary = Self.varyOrigin(in: bytes) }
            // Kept lines already in the form the client gets ("Name: value" CRLF) are copied
            // in runs, so a typical head goes out in a few copies.
            var run = 0..<0
            func flushRun() {
                if !run.isEmpty { buffer.append(UnsafeRawBufferPointer(rebasing: bytes[run])) }
                run = 0..<0
            }
            UpstreamResponseHead.forEachFieldLine(in: bytes) { line, nameRange, valueRange in
                let name = UnsafeRawBufferPointer(rebasing: bytes[nameRange])
                switch Self.classify(bytes: name) {
                case .hopByHop:
                    return flushRun()
                case .upgrade:
                    if !switching { return flushRun() }
                case .xRequestID:
                    hasRequestID = true
                case .other:
                    if name.count == 14 && name.equalsLowercaseASCII("content-length") {
                        hasContentLength = true
                    } else if handlesCORS && name.count > 15
                        && name.prefix(15).equalsLowercaseASCII("access-control-")
                    {
                        // The gateway owns the CORS fields of the route.
                        return flushRun()
                    } else if vary == .lacksOrigin && name.count == 4 && name.equalsLowercaseASCII("vary") {
                        // The first Vary field gets Origin appended; any others go as they are.
                        vary = .merged
                        flushRun()
                        buffer.append(name)
                        buffer.append(": ")
                        if !valueRange.isEmpty {
                            buffer.append(UnsafeRawBufferPointer(rebasing: bytes[valueRange]))
                            buffer.append(", ")
                        }
                        buffer.append("Origin\r\n")
                        return
                    } else if !listed.isEmpty
                        && listed.contains(where: { bytes[$0].equalsIgnoringASCIICase(name) })
                    {
                        return flushRun()
                    }
                default:
                    break
                }
                let canonical =
                    valueRange.lowerBound == nameRange.upperBound + 2
                    && bytes[nameRange.upperBound + 1] == ASCII.space
                    && line.upperBound == valueRange.upperBound + 2
                    && bytes[valueRange.upperBound] == ASCII.cr
                if canonical {
                    run = run.isEmpty ? line : run.lowerBound..<line.upperBound
                    return
                }
                flushRun()
                buffer.append(name)
                buffer.append(": ")
                buffer.append(UnsafeRawBufferPointer(rebasing: bytes[valueRange]))
                buffer.append("\r\n")
            }
            flushRun()
        }
        if !hasRequestID {
            buffer.append("X-Request-Id: ")
            buffer.append(requestID)
            buffer.append("\r\n")
        }
        if let cors {
            cors.forEachAllowField { name, value in
                buffer.append(name)
                buffer.append(": ")
                buffer.append(value)
                buffer.append("\r\n")
            }
            if vary == .absent && cors.varyOrigin {
                buffer.append("Vary: Origin\r\n")
            }
        }

        var keepAlive = keepAlive
        let framing: ResponseBodyFraming
        if switching {
            buffer.append("Connection: Upgrade\r\n\r\n")
            return (.none, false)
        } else if requestMethod == .HEAD || (100..<200).contains(code) || code == 204 || code == 304 {
            framing = .none
        } else if hasContentLength {
            framing = .contentLength
        } else if clientVersion.minor >= 1 {
            framing = .chunked
            buffer.append("Transfer-Encoding: chunked\r\n")
        } else {
            framing = .closeDelimited
            keepAlive = false
        }
        if !keepAlive {
            buffer.append("Connection: close\r\n")
        } else if clientVersion.minor == 0 {
            buffer.append("Connection: keep-alive\r\n")
        }
        buffer.append("\r\n")
        return (framing, keepAlive)
    }

    /// What a backend's `Vary` fields say about `Origin`.
    enum VaryOrigin {
        /// No `Vary` field.
        case absent
        /// A `Vary` field lists `Origin` or `*`: nothing to add.
        case listsOrigin
        /// `Vary` fields that do not list `Origin`: the first gets it appended.
        case lacksOrigin
        /// `Origin` was appended to the first `Vary` field.
        case merged
    }

    /// Looks at the `Vary` fields of the field lines `bytes`.
    static func varyOrigin(in bytes: UnsafeRawBufferPointer) -> VaryOrigin {
        var state = VaryOrigin.absent
        UpstreamResponseHead.forEachField(in: bytes) { name, value in
            guard state != .listsOrigin, name.count == 4, bytes[name].equalsLowercaseASCII("vary") else { return }
            state = .lacksOrigin
            forEachListElement(in: bytes, value) { token in
                let element = bytes[token]
                if element.equalsLowercaseASCII("origin") || (element.count == 1 && element.first == UInt8(ascii: "*"))
                {
                    state = .listsOrigin
                }
            }
        }
        return state
    }

    /// The header names a backend's `Connection` fields list, other than the `close`,
    /// `keep-alive` and `upgrade` every response may carry (those name hop-by-hop fields that
    /// are dropped anyway), as ranges of the field lines `bytes`.
    static func connectionOptions(in bytes: UnsafeRawBufferPointer) -> [Range<Int>] {
        var listed: [Range<Int>] = []
        UpstreamResponseHead.forEachField(in: bytes) { name, value in
            guard bytes[name].equalsLowercaseASCII("connection") else { return }
            forEachListElement(in: bytes, value) { token in
                let element = bytes[token]
                if !element.equalsLowercaseASCII("close") && !element.equalsLowercaseASCII("keep-alive")
                    && !element.equalsLowercaseASCII("upgrade")
                {
                    listed.append(token)
                }
            }
        }
        return listed
    }
}
