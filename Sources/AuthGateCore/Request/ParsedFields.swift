public import NIOCore
public import NIOHTTP1

/// A field section (the header fields of a request, or its trailer fields) as it arrived: the
/// validated field lines, each ending in CRLF, read in place.
///
/// Lookups scan the lines and compare bytes: they build no `String` and allocate nothing, which
/// for the handful of fields a request carries is cheaper than an index would be to build.
public struct ParsedFields: Sendable, Equatable {
    /// The field lines, each `name ":" OWS value OWS CRLF`, as the parser validated them.
    public let bytes: ByteBuffer
    /// How many field lines there are.
    public let count: Int

    init(bytes: ByteBuffer, count: Int) {
        self.bytes = bytes
        self.count = count
    }

    /// Calls `body` with each field's name and value (trimmed of OWS), in order.
    public func forEachField(
        _ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void
    ) rethrows {
        try self.bytes.withUnsafeReadableBytes { bytes in
            try Self.forEachField(in: bytes) { name, value in
                try body(UnsafeRawBufferPointer(rebasing: bytes[name]), UnsafeRawBufferPointer(rebasing: bytes[value]))
            }
        }
    }

    /// The value of the first field called `name` (ASCII case-insensitive), trimmed of OWS.
    public func first(named name: String) -> ByteBufferView? {
        let range: Range<Int>? = self.bytes.withUnsafeReadableBytes { bytes in
            var found: Range<Int>?
            Self.forEachField(in: bytes) { fieldName, value in
                if found == nil && bytes[fieldName].equalsIgnoringASCIICase(name.utf8) { found = value }
            }
            return found
        }
        guard let range else { return nil }
        return self.bytes.viewBytes(at: self.bytes.readerIndex + range.lowerBound, length: range.count)
    }

    /// Whether a field called `name` (ASCII case-insensitive) is present.
    public func contains(_ name: String) -> Bool {
        self.count(named: name) > 0
    }

    /// How many field lines are called `name` (ASCII case-insensitive).
    public func count(named name: String) -> Int {
        self.bytes.withUnsafeReadableBytes { bytes in
            var count = 0
            Self.forEachField(in: bytes) { fieldName, _ in
                if bytes[fieldName].equalsIgnoringASCIICase(name.utf8) { count += 1 }
            }
            return count
        }
    }

    /// The fields as `HTTPHeaders`, the head admission reads and rewrites.
    ///
    /// Room is left for the fields the gateway adds (`X-Forwarded-*`, `X-Request-Id`, the
    /// identity headers), so that adding them does not grow and copy the array.
    public var headers: HTTPHeaders {
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(self.count &+ Self.addedFieldRoom)
        self.forEachField { name, value in
            pairs.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        return HTTPHeaders(pairs)
    }

    /// How many fields the gateway may add to a forwarded head without growing its array.
    static let addedFieldRoom = 10

    /// Name and trimmed value ranges of validated field lines. The parser checked each line, so
    /// this only splits them.
    static func forEachField(
        in bytes: UnsafeRawBufferPointer,
        _ body: (_ name: Range<Int>, _ value: Range<Int>) throws -> Void
    ) rethrows {
        var start = 0
        while start < bytes.count {
            var colon = start
            while bytes[colon] != UInt8(ascii: ":") { colon += 1 }
            var lineFeed = colon
            while bytes[lineFeed] != ASCII.lf { lineFeed += 1 }
            var valueStart = colon + 1
            var valueEnd = lineFeed - 1
            while valueStart < valueEnd && ASCII.isWhitespace(bytes[valueStart]) { valueStart += 1 }
            while valueEnd > valueStart && ASCII.isWhitespace(bytes[valueEnd - 1]) { valueEnd -= 1 }
            try body(start..<colon, valueStart..<valueEnd)
            start = lineFeed + 1
        }
    }
}
