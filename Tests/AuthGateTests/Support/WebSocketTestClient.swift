import NIOCore
import NIOPosix
import NIOWebSocket

/// Why a ``WebSocketTestClient`` operation failed.
enum WebSocketTestError: Error, CustomStringConvertible {
    /// The server answered the upgrade request with something other than 101.
    case notUpgraded(RawHTTPResponse)
    /// The 101 answer's `Sec-WebSocket-Accept` does not match the key sent.
    case badAccept(String?)
    /// A frame could not be parsed.
    case malformedFrame(String)

    var description: String {
        switch self {
        case .notUpgraded(let response): "upgrade refused: \(response)"
        case .badAccept(let accept): "unexpected Sec-WebSocket-Accept \(accept ?? "(none)")"
        case .malformedFrame(let reason): "malformed WebSocket frame: \(reason)"
        }
    }
}

/// One WebSocket frame as received.
struct WebSocketTestFrame: Sendable, Equatable {
    var fin: Bool
    var opcode: WebSocketOpcode
    /// The payload, unmasked.
    var payload: [UInt8]
    /// Whether the frame arrived masked (a server must never mask).
    var wasMasked = false

    /// The payload decoded as UTF-8.
    var text: String { String(decoding: self.payload, as: UTF8.self) }

    /// The status code of a close frame, if it has one.
    var closeCode: UInt16? {
        guard self.opcode == .connectionClose, self.payload.count >= 2 else { return nil }
        return UInt16(self.payload[0]) << 8 | UInt16(self.payload[1])
    }
}

/// A minimal WebSocket client for tests, on top of ``RawHTTPClient``: sends the upgrade request,
/// checks the 101, then writes masked frames and parses frames by hand (RFC 6455 §5).
struct WebSocketTestClient: Sendable {
    /// The key from RFC 6455 §1.3, whose accept value is known, so no SHA-1 is needed here.
    static let sampleKey = "dGhlIHNhbXBsZSBub25jZQ=="
    /// `Sec-WebSocket-Accept` for ``sampleKey``.
    static let sampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    /// The connection, for raw access (e.g. `isClosed(within:)`).
    let raw: RawHTTPClient
    /// The server's 101 answer.
    let upgradeResponse: RawHTTPResponse

    /// Connects to `host:port`, upgrades `path` and checks the 101 and its accept value.
    ///
    /// - Throws: ``WebSocketTestError/notUpgraded(_:)`` with the answer if it is not a 101.
    static func connect(
        host: String = "127.0.0.1",
        port: Int,
        path: String = "/ws",
        extraHeaders: [(String, String)] = [],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        timeout: Duration = .seconds(10)
    ) async throws -> WebSocketTestClient {
        let raw = try await RawHTTPClient.connect(host: host, port: port, group: group)
        do {
            let response = try await Self.sendUpgrade(
                over: raw,
                path: path,
                hostHeader: "\(host):\(port)",
                extraHeaders: extraHeaders,
                timeout: timeout
            )
            guard response.status == 101 else {
                throw WebSocketTestError.notUpgraded(response)
            }
            guard response.headers["sec-websocket-accept"] == Self.sampleAccept else {
                throw WebSocketTestError.badAccept(response.headers["sec-websocket-accept"])
            }
            return WebSocketTestClient(raw: raw, upgradeResponse: response)
        } catch {
            await raw.close()
            throw error
        }
    }

    /// Sends a WebSocket upgrade request for `path` over `raw` and returns the answer, whatever
    /// it is (a 101 leaves the connection ready for frames).
    static func sendUpgrade(
        over raw: RawHTTPClient,
        path: String,
        hostHeader: String,
        extraHeaders: [(String, String)] = [],
        timeout: Duration = .seconds(10)
    ) async throws -> RawHTTPResponse {
        var request = "GET \(path) HTTP/1.1\r\n"
        request += "Host: \(hostHeader)\r\n"
        request += "Upgrade: websocket\r\n"
        request += "Connection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: \(Self.sampleKey)\r\n"
        request += "Sec-WebSocket-Version: 13\r\n"
        for (name, value) in extraHeaders {
            request += "\(name): \(value)\r\n"
        }
        request += "\r\n"
        try await raw.send(request)
        return try await raw.readResponse(timeout: timeout)
    }

    // MARK: Sending

    /// Sends a text frame.
    func sendText(_ text: String, fin: Bool = true) async throws {
        try await self.send(opcode: .text, payload: Array(text.utf8), fin: fin)
    }

    /// Sends a binary frame.
    func sendBinary(_ bytes: [UInt8], fin: Bool = true) async throws {
        try await self.send(opcode: .binary, payload: bytes, fin: fin)
    }

    /// Sends a ping.
    func sendPing(_ payload: [UInt8] = []) async throws {
        try await self.send(opcode: .ping, payload: payload)
    }

    /// Sends a close frame with `code` and `reason`.
    func sendClose(code: UInt16 = 1000, reason: String = "") async throws {
        let payload = [UInt8(code >> 8), UInt8(code & 0xff)] + Array(reason.utf8)
        try await self.send(opcode: .connectionClose, payload: payload)
    }

    /// Sends one frame; masked unless `masked` is false (which a server must reject).
    func send(opcode: WebSocketOpcode, payload: [UInt8], fin: Bool = true, masked: Bool = true) async throws {
        var frame: [UInt8] = []
        frame.reserveCapacity(payload.count + 14)
        frame.append((fin ? 0x80 : 0) | UInt8(webSocketOpcode: opcode))
        let maskBit: UInt8 = masked ? 0x80 : 0
        switch payload.count {
        case 0..<126:
            frame.append(maskBit | UInt8(payload.count))
        case 126...0xffff:
            frame.append(maskBit | 126)
            frame.append(UInt8(payload.count >> 8))
            frame.append(UInt8(payload.count & 0xff))
        default:
            frame.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) {
                frame.append(UInt8(truncatingIfNeeded: UInt64(payload.count) >> UInt64(shift)))
            }
        }
        if masked {
            let key = (0..<4).map { _ in UInt8.random(in: 0...255) }
            frame.append(contentsOf: key)
            for (index, byte) in payload.enumerated() {
                frame.append(byte ^ key[index % 4])
            }
        } else {
            frame.append(contentsOf: payload)
        }
        try await self.raw.send(bytes: frame)
    }

    // MARK: Receiving

    /// Reads the next frame.
    func readFrame(timeout: Duration = .seconds(10)) async throws -> WebSocketTestFrame {
        var header = try await self.raw.readBytes(count: 2, timeout: timeout)
        let first = header.readInteger(as: UInt8.self)!
        let second = header.readInteger(as: UInt8.self)!
        guard let opcode = WebSocketOpcode(encodedWebSocketOpcode: first & 0x0f) else {
            throw WebSocketTestError.malformedFrame("opcode \(first & 0x0f)")
        }
        let masked = second & 0x80 != 0
        var length = Int(second & 0x7f)
        if length == 126 {
            var extended = try await self.raw.readBytes(count: 2, timeout: timeout)
            length = Int(extended.readInteger(as: UInt16.self)!)
        } else if length == 127 {
            var extended = try await self.raw.readBytes(count: 8, timeout: timeout)
            let long = extended.readInteger(as: UInt64.self)!
            guard long <= UInt64(Int32.max) else {
                throw WebSocketTestError.malformedFrame("payload length \(long)")
            }
            length = Int(long)
        }
        var key: [UInt8] = []
        if masked {
            var keyBytes = try await self.raw.readBytes(count: 4, timeout: timeout)
            key = keyBytes.readBytes(length: 4)!
        }
        var payloadBuffer = try await self.raw.readBytes(count: length, timeout: timeout)
        var payload = payloadBuffer.readBytes(length: length)!
        if masked {
            for index in payload.indices {
                payload[index] ^= key[index % 4]
            }
        }
        return WebSocketTestFrame(fin: first & 0x80 != 0, opcode: opcode, payload: payload, wasMasked: masked)
    }

    /// Closes the TCP connection.
    func close() async {
        await self.raw.close()
    }
}
