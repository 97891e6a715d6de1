/// A parsed JSON value (RFC 8259), as produced by ``JSONParser``.
///
/// Used for JWT headers and claims, JWKs and the Better Auth server's answers: small documents
/// where a tree is the simplest correct model, parsed without Foundation so it can run on the
/// event loop.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The member named `key` when this is an object, else `nil`.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self {
            return members[key]
        }
        return nil
    }

    /// The string, when this is a string.
    public var stringValue: String? {
        if case .string(let value) = self {
            return value
        }
        return nil
    }

    /// The number as an `Int64`, when this is an integral number that fits; `1.5`, `"1"` and
    /// `1e30` give `nil`.
    ///
    /// JSON has one number type, so `1.0` counts as integral. Values beyond 2^53 have already
    /// lost precision as a `Double`; for timestamps (the use here) that is far beyond any date.
    public var int64Value: Int64? {
        if case .number(let value) = self {
            return Int64(exactly: value)
        }
        return nil
    }

    /// The number, when this is a number.
    public var doubleValue: Double? {
        if case .number(let value) = self {
            return value
        }
        return nil
    }

    /// The Boolean, when this is `true` or `false`.
    public var boolValue: Bool? {
        if case .bool(let value) = self {
            return value
        }
        return nil
    }

    /// The elements, when this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self {
            return value
        }
        return nil
    }

    /// The members, when this is an object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self {
            return value
        }
        return nil
    }

    /// Whether this is `null`.
    public var isNull: Bool {
        if case .null = self {
            return true
        }
        return false
    }
}

extension JSONValue {
    /// The compact JSON text of this value, object members sorted by key so the output is
    /// deterministic (for tests, `token inspect` and logs).
    public var jsonString: String {
        var output: [UInt8] = []
        output.reserveCapacity(64)
        self.append(to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Appends the compact JSON text of this value to `output`.
    public func append(to output: inout [UInt8]) {
        switch self {
        case .null:
            output.append(contentsOf: "null".utf8)
        case .bool(let value):
            output.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let value):
            JSONEncoding.appendNumber(value, to: &output)
        case .string(let value):
            JSONEncoding.appendString(value, to: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 {
                    output.append(UInt8(ascii: ","))
                }
                element.append(to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 {
                    output.append(UInt8(ascii: ","))
                }
                JSONEncoding.appendString(key, to: &output)
                output.append(UInt8(ascii: ":"))
                members[key]!.append(to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }
}

/// Helpers to write JSON text without Foundation, for the gateway's own JSON bodies.
public enum JSONEncoding {
    /// Appends `value` as a quoted JSON string, escaping `"`, `\` and control characters (as
    /// `\n`-style short forms where they exist, else `\u00XX`). Non-ASCII is written as UTF-8.
    public static func appendString(_ value: some StringProtocol, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""):
                output.append(UInt8(ascii: "\\"))
                output.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"):
                output.append(UInt8(ascii: "\\"))
                output.append(UInt8(ascii: "\\"))
            case 0x0A:
                output.append(UInt8(ascii: "\\"))
                output.append(UInt8(ascii: "n"))
            case 0x0D:
                output.append(UInt8(ascii: "\\"))
                output.append(UInt8(ascii: "r"))
            case 0x09:
                output.append(UInt8(ascii: "\\"))
                output.append(UInt8(ascii: "t"))
            case 0x08:
                output.append(UInt8(ascii: "\\"))
                output.append(UInt8(ascii: "b"))
            case 0x0C:
                output.append(UInt8(ascii: "\\"))
                output.append(UInt8(ascii: "f"))
            case 0x00..<0x20, 0x7F:
                let hex: StaticString = "0123456789abcdef"
                output.append(contentsOf: "\\u00".utf8)
                hex.withUTF8Buffer { digits in
                    output.append(digits[Int(byte >> 4)])
                    output.append(digits[Int(byte & 0x0F)])
                }
            default:
                output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }

    /// Appends `value` as a quoted, escaped JSON string to `output`.
    public static func appendString(_ value: some StringProtocol, to output: inout String) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(value.utf8.count + 2)
        Self.appendString(value, to: &bytes)
        output.append(String(decoding: bytes, as: UTF8.self))
    }

    /// Appends a JSON number: integral values within ±2^53 without a fraction, others in Swift's
    /// shortest round-trip form; non-finite values (which JSON cannot express) as `null`.
    public static func appendNumber(_ value: Double, to output: inout [UInt8]) {
        guard value.isFinite else {
            output.append(contentsOf: "null".utf8)
            return
        }
        if value == value.rounded(.towardZero) && abs(value) <= 9_007_199_254_740_992 {
            output.append(contentsOf: String(Int64(value)).utf8)
        } else {
            output.append(contentsOf: String(value).utf8)
        }
    }
}
