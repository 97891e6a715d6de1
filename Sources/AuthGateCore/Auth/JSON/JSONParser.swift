/// Why a JSON text was rejected, and where.
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kinds of malformation the parser distinguishes.
    public enum Kind: String, Sendable, Hashable {
        case unexpectedEnd = "unexpected end of input"
        case unexpectedCharacter = "unexpected character"
        case invalidNumber = "invalid number"
        case numberOutOfRange = "number out of range"
        case invalidEscape = "invalid escape sequence"
        case loneSurrogate = "unpaired UTF-16 surrogate escape"
        case invalidUTF8 = "invalid UTF-8"
        case controlCharacter = "unescaped control character in string"
        case tooDeep = "nesting too deep"
        case duplicateKey = "duplicate object key"
        case trailingData = "data after the JSON value"
    }

    /// What was wrong.
    public var kind: Kind
    /// The byte offset at which it was found.
    public var offset: Int

    /// Creates an error of `kind` found at byte `offset`.
    public init(kind: Kind, offset: Int) {
        self.kind = kind
        self.offset = offset
    }

    /// The kind and offset, for logs and `check-config` messages.
    public var description: String {
        "\(self.kind.rawValue) at byte \(self.offset)"
    }
}

/// A strict RFC 8259 JSON parser that needs no Foundation and allocates only for the values it
/// returns.
///
/// It exists because tokens are verified on the event loop: JSON there must be cheap, bounded and
/// unambiguous. Strict means: exactly one value with only whitespace around it, no byte-order
/// mark, no comments or trailing commas, no leading zeros, only the RFC's escapes, no unpaired
/// surrogate escapes, valid UTF-8, no non-finite numbers, and no duplicate object keys. Duplicate
/// keys are rejected rather than resolved because parsers disagree on which one wins, and a JWT
/// with two `alg` or two `exp` members is a known way to make a verifier and a consumer see
/// different tokens.
public enum JSONParser {
    /// The deepest nesting of arrays and objects accepted by default.
    public static let defaultMaximumDepth = 32

    /// Parses one JSON text.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer,
        maximumDepth: Int = JSONParser.defaultMaximumDepth
    ) throws(JSONParseError) -> JSONValue {
        var reader = JSONReader(bytes: bytes, maximumDepth: maximumDepth)
        return try reader.parseDocument()
    }

    /// Parses one JSON text.
    public static func parse(
        _ bytes: [UInt8],
        maximumDepth: Int = JSONParser.defaultMaximumDepth
    ) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONParseError) -> JSONValue in
                try Self.parse(buffer, maximumDepth: maximumDepth)
            }
        }
        return try result.get()
    }

    /// Parses one JSON text.
    public static func parse(
        _ text: Substring.UTF8View,
        maximumDepth: Int = JSONParser.defaultMaximumDepth
    ) throws(JSONParseError) -> JSONValue {
        var text = Substring(text)
        let result: Result<JSONValue, JSONParseError> = text.withUTF8 { buffer in
            Result { () throws(JSONParseError) -> JSONValue in
                try Self.parse(UnsafeRawBufferPointer(buffer), maximumDepth: maximumDepth)
            }
        }
        return try result.get()
    }

    /// Parses one JSON text.
    public static func parse(
        _ text: String,
        maximumDepth: Int = JSONParser.defaultMaximumDepth
    ) throws(JSONParseError) -> JSONValue {
        try Self.parse(text[...].utf8, maximumDepth: maximumDepth)
    }
}

private let quote = UInt8(ascii: "\"")
private let backslash = UInt8(ascii: "\\")

private struct JSONReader {
    let bytes: UnsafeRawBufferPointer
    let maximumDepth: Int
    var index = 0
    var depth = 0

    init(bytes: UnsafeRawBufferPointer, maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    func error(_ kind: JSONParseError.Kind) -> JSONParseError {
        JSONParseError(kind: kind, offset: self.index)
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        self.skipWhitespace()
        let value = try self.parseValue()
        self.skipWhitespace()
        guard self.index == self.bytes.count else {
            throw self.error(.trailingData)
        }
        return value
    }

    mutating func skipWhitespace() {
        while self.index < self.bytes.count {
            switch self.bytes[self.index] {
            case 0x20, 0x09, 0x0A, 0x0D:
                self.index += 1
            default:
                return
            }
        }
    }

    /// The byte at the cursor; throws at the end of input.
    func peek() throws(JSONParseError) -> UInt8 {
        guard self.index < self.bytes.count else {
            throw self.error(.unexpectedEnd)
        }
        return self.bytes[self.index]
    }

    mutating func parseValue() throws(JSONParseError) -> JSONValue {
        switch try self.peek() {
        case UInt8(ascii: "{"):
            return try self.parseObject()
        case UInt8(ascii: "["):
            return try self.parseArray()
        case quote:
            return .string(try self.parseString())
        case UInt8(ascii: "t"):
            try self.expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try self.expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try self.expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try self.parseNumber())
        default:
            throw self.error(.unexpectedCharacter)
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let length = literal.utf8CodeUnitCount
        guard self.bytes.count - self.index >= length else {
            throw self.error(.unexpectedEnd)
        }
        let start = literal.utf8Start
        for offset in 0..<length where self.bytes[self.index + offset] != start[offset] {
            self.index += offset
            throw self.error(.unexpectedCharacter)
        }
        self.index += length
    }

    mutating func enterContainer() throws(JSONParseError) {
        self.depth += 1
        guard self.depth <= self.maximumDepth else {
            throw self.error(.tooDeep)
        }
        self.index += 1
        self.skipWhitespace()
    }

    mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try self.enterContainer()
        var elements: [JSONValue] = []
        if try self.peek() == UInt8(ascii: "]") {
            self.index += 1
            self.depth -= 1
            return .array(elements)
        }
        while true {
            elements.append(try self.parseValue())
            self.skipWhitespace()
            switch try self.peek() {
            case UInt8(ascii: ","):
                self.index += 1
                self.skipWhitespace()
            case UInt8(ascii: "]"):
                self.index += 1
                self.depth -= 1
                return .array(elements)
            default:
                throw self.error(.unexpectedCharacter)
            }
        }
    }

    mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try self.enterContainer()
        var members: [String: JSONValue] = [:]
        if try self.peek() == UInt8(ascii: "}") {
            self.index += 1
            self.depth -= 1
            return .object(members)
        }
        while true {
            guard try self.peek() == quote else {
                throw self.error(.unexpectedCharacter)
            }
            let keyOffset = self.index
            let key = try self.parseString()
            self.skipWhitespace()
            guard try self.peek() == UInt8(ascii: ":") else {
                throw self.error(.unexpectedCharacter)
            }
            self.index += 1
            self.skipWhitespace()
            let value = try self.parseValue()
            if members.updateValue(value, forKey: key) != nil {
                throw JSONParseError(kind: .duplicateKey, offset: keyOffset)
            }
            self.skipWhitespace()
            switch try self.peek() {
            case UInt8(ascii: ","):
                self.index += 1
                self.skipWhitespace()
            case UInt8(ascii: "}"):
                self.index += 1
                self.depth -= 1
                return .object(members)
            default:
                throw self.error(.unexpectedCharacter)
            }
        }
    }

    // MARK: Numbers

    mutating func parseNumber() throws(JSONParseError) -> Double {
        let start = self.index
        var negative = false
        if self.bytes[self.index] == UInt8(ascii: "-") {
            negative = true
            self.index += 1
        }
        let integerStart = self.index
        switch try self.peek() {
        case UInt8(ascii: "0"):
            self.index += 1
        case UInt8(ascii: "1")...UInt8(ascii: "9"):
            self.skipDigits()
        default:
            throw self.error(.invalidNumber)
        }
        let integerEnd = self.index
        var isInteger = true
        if self.index < self.bytes.count && self.bytes[self.index] == UInt8(ascii: ".") {
            isInteger = false
            self.index += 1
            try self.requireDigits()
        }
        if self.index < self.bytes.count && (self.bytes[self.index] | 0x20) == UInt8(ascii: "e") {
            isInteger = false
            self.index += 1
            if self.index < self.bytes.count
                && (self.bytes[self.index] == UInt8(ascii: "+") || self.bytes[self.index] == UInt8(ascii: "-"))
            {
                self.index += 1
            }
            try self.requireDigits()
        }
        // Up to 15 digits are exact in a Double: the common case (timestamps) needs no strtod.
        if isInteger && integerEnd - integerStart <= 15 {
            var value: Int64 = 0
            for offset in integerStart..<integerEnd {
                value = value * 10 + Int64(self.bytes[offset] &- UInt8(ascii: "0"))
            }
            return negative ? -Double(value) : Double(value)
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw JSONParseError(kind: .numberOutOfRange, offset: start)
        }
        return value
    }

    mutating func skipDigits() {
        while self.index < self.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self.bytes[self.index]) {
            self.index += 1
        }
    }

    mutating func requireDigits() throws(JSONParseError) {
        let start = self.index
        self.skipDigits()
        guard self.index > start else {
            throw self.error(self.index < self.bytes.count ? .invalidNumber : .unexpectedEnd)
        }
    }

    // MARK: Strings

    /// Parses a string starting at its opening quote.
    mutating func parseString() throws(JSONParseError) -> String {
        self.index += 1
        let start = self.index
        // Fast path: no escapes, so the result is a slice of the input.
        while true {
            let byte = try self.peek()
            switch byte {
            case quote:
                let string = String(
                    decoding: UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index]),
                    as: UTF8.self
                )
                self.index += 1
                return string
            case backslash:
                return try self.parseEscapedString(from: start)
            case 0x00..<0x20:
                throw self.error(.controlCharacter)
            case 0x20..<0x80:
                self.index += 1
            default:
                try self.skipUTF8Sequence()
            }
        }
    }

    /// The slow path once an escape is seen: copies into a buffer.
    mutating func parseEscapedString(from start: Int) throws(JSONParseError) -> String {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(self.index - start + 16)
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index]))
        while true {
            let byte = try self.peek()
            switch byte {
            case quote:
                self.index += 1
                return String(decoding: buffer, as: UTF8.self)
            case backslash:
                try self.parseEscape(into: &buffer)
            case 0x00..<0x20:
                throw self.error(.controlCharacter)
            case 0x20..<0x80:
                buffer.append(byte)
                self.index += 1
            default:
                let sequenceStart = self.index
                try self.skipUTF8Sequence()
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: self.bytes[sequenceStart..<self.index]))
            }
        }
    }

    mutating func parseEscape(into buffer: inout [UInt8]) throws(JSONParseError) {
        self.index += 1
        let escaped = try self.peek()
        let replacement: UInt8
        switch escaped {
        case quote: replacement = quote
        case backslash: replacement = backslash
        case UInt8(ascii: "/"): replacement = UInt8(ascii: "/")
        case UInt8(ascii: "b"): replacement = 0x08
        case UInt8(ascii: "f"): replacement = 0x0C
        case UInt8(ascii: "n"): replacement = 0x0A
        case UInt8(ascii: "r"): replacement = 0x0D
        case UInt8(ascii: "t"): replacement = 0x09
        case UInt8(ascii: "u"):
            try self.parseUnicodeEscape(into: &buffer)
            return
        default:
            throw self.error(.invalidEscape)
        }
        buffer.append(replacement)
        self.index += 1
    }

    /// Parses `uXXXX` (the cursor on the `u`), joining a surrogate pair.
    mutating func parseUnicodeEscape(into buffer: inout [UInt8]) throws(JSONParseError) {
        let escapeStart = self.index - 1
        let first = try self.readHex4()
        var scalarValue = UInt32(first)
        switch first {
        case 0xD800...0xDBFF:
            guard self.bytes.count - self.index >= 2,
                self.bytes[self.index] == backslash,
                self.bytes[self.index + 1] == UInt8(ascii: "u")
            else {
                throw JSONParseError(kind: .loneSurrogate, offset: escapeStart)
            }
            self.index += 1
            let second = try self.readHex4()
            guard (0xDC00...0xDFFF).contains(second) else {
                throw JSONParseError(kind: .loneSurrogate, offset: escapeStart)
            }
            scalarValue = 0x10000 + ((UInt32(first) - 0xD800) << 10) + (UInt32(second) - 0xDC00)
        case 0xDC00...0xDFFF:
            throw JSONParseError(kind: .loneSurrogate, offset: escapeStart)
        default:
            break
        }
        // Every value reaching here is a valid scalar.
        let scalar = Unicode.Scalar(scalarValue)!
        buffer.append(contentsOf: UTF8.encode(scalar)!)
    }

    /// Reads `uXXXX` with the cursor on the `u`, leaving it after the last digit.
    mutating func readHex4() throws(JSONParseError) -> UInt16 {
        self.index += 1
        guard self.bytes.count - self.index >= 4 else {
            throw self.error(.unexpectedEnd)
        }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = self.bytes[self.index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw self.error(.invalidEscape)
            }
            value = value << 4 | UInt16(digit)
            self.index += 1
        }
        return value
    }

    /// Validates one multi-byte UTF-8 sequence at the cursor (Unicode Table 3-7: no overlong
    /// forms, no surrogates, nothing above U+10FFFF) and moves past it.
    mutating func skipUTF8Sequence() throws(JSONParseError) {
        let lead = self.bytes[self.index]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF:
            length = 2
        case 0xE0:
            length = 3
            secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF:
            length = 3
        case 0xED:
            length = 3
            secondRange = 0x80...0x9F
        case 0xF0:
            length = 4
            secondRange = 0x90...0xBF
        case 0xF1...0xF3:
            length = 4
        case 0xF4:
            length = 4
            secondRange = 0x80...0x8F
        default:
            throw self.error(.invalidUTF8)
        }
        guard self.bytes.count - self.index >= length else {
            throw self.error(.invalidUTF8)
        }
        guard secondRange.contains(self.bytes[self.index + 1]) else {
            throw self.error(.invalidUTF8)
        }
        for offset in 2..<length where self.bytes[self.index + offset] & 0xC0 != 0x80 {
            throw self.error(.invalidUTF8)
        }
        self.index += length
    }
}
