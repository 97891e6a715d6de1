/// Strict base64url decoding (RFC 4648 §5, no padding) for JWT segments and JWK members, and the
/// matching unpadded encoder.
///
/// JWS (RFC 7515 §2) uses base64url without padding, so the decoder rejects `=`, characters outside
/// the URL-safe alphabet, a length of `4n + 1`, and non-zero unused trailing bits. Rejecting
/// non-canonical encodings keeps exactly one textual form per token, which matters because the
/// credential cache is keyed by the token's bytes.
public enum Base64URL {
    /// Decodes unpadded base64url; `nil` if the input is not canonical base64url.
    public static func decode(_ encoded: UnsafeRawBufferPointer) -> [UInt8]? {
        Base64Tables.decode(encoded, urlSafe: true)
    }

    /// Decodes unpadded base64url; `nil` if the input is not canonical base64url.
    public static func decode(_ encoded: Substring) -> [UInt8]? {
        var encoded = encoded
        return encoded.withUTF8 { Base64Tables.decode(UnsafeRawBufferPointer($0), urlSafe: true) }
    }

    /// Decodes unpadded base64url; `nil` if the input is not canonical base64url.
    public static func decode(_ encoded: String) -> [UInt8]? {
        var encoded = encoded
        return encoded.withUTF8 { Base64Tables.decode(UnsafeRawBufferPointer($0), urlSafe: true) }
    }

    /// Encodes `bytes` as unpadded base64url.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Base64Tables.encode(Array(bytes), urlSafe: true, padded: false)
    }
}

/// Standard base64 (RFC 4648 §4, `+` and `/`, padded), as Better Auth uses for the session cookie
/// signature.
public enum Base64 {
    /// Encodes `bytes` as padded standard base64.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Base64Tables.encode(Array(bytes), urlSafe: false, padded: true)
    }

    /// Writes the padded standard base64 of `bytes` into `output`, which must hold
    /// `encodedLength(of: bytes.count)` bytes, without allocating.
    static func encode(_ bytes: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        Base64Tables.encode(bytes, into: output, urlSafe: false, padded: true)
    }

    /// The length of the padded encoding of `count` bytes.
    public static func encodedLength(of count: Int) -> Int {
        (count + 2) / 3 * 4
    }
}

enum Base64Tables {
    /// 0...63 for alphabet characters, 0xFF otherwise. Both alphabets share one table with a
    /// separate check for the four alphabet-specific characters.
    static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        for (value, character) in alphabet.enumerated() {
            table[Int(character)] = UInt8(value)
        }
        table[Int(UInt8(ascii: "-"))] = 62
        table[Int(UInt8(ascii: "_"))] = 63
        table[Int(UInt8(ascii: "+"))] = 62
        table[Int(UInt8(ascii: "/"))] = 63
        return table
    }()

    static func decode(_ input: UnsafeRawBufferPointer, urlSafe: Bool) -> [UInt8]? {
        let count = input.count
        let remainder = count & 3
        if remainder == 1 {
            return nil
        }
        // The alphabet-specific characters the other alphabet uses.
        let foreign62 = urlSafe ? UInt8(ascii: "+") : UInt8(ascii: "-")
        let foreign63 = urlSafe ? UInt8(ascii: "/") : UInt8(ascii: "_")
        let fullGroups = count >> 2
        let outputCount = fullGroups * 3 + (remainder == 0 ? 0 : remainder - 1)
        if outputCount == 0 {
            return []
        }
        return Self.decodeTable.withUnsafeBufferPointer { table -> [UInt8]? in
            var valid = true
            let result = [UInt8](unsafeUninitializedCapacity: outputCount) { output, initialized in
                @inline(__always)
                func value(_ index: Int) -> UInt32 {
                    let byte = input[index]
                    let decoded = table[Int(byte)]
                    if decoded == 0xFF || byte == foreign62 || byte == foreign63 {
                        valid = false
                    }
                    return UInt32(decoded & 0x3F)
                }
                var inIndex = 0
                var outIndex = 0
                for _ in 0..<fullGroups {
                    let word =
                        value(inIndex) << 18 | value(inIndex + 1) << 12 | value(inIndex + 2) << 6
                        | value(inIndex + 3)
                    output[outIndex] = UInt8(truncatingIfNeeded: word >> 16)
                    output[outIndex + 1] = UInt8(truncatingIfNeeded: word >> 8)
                    output[outIndex + 2] = UInt8(truncatingIfNeeded: word)
                    inIndex += 4
                    outIndex += 3
                }
                switch remainder {
                case 2:
                    let last = value(inIndex + 1)
                    let word = value(inIndex) << 18 | last << 12
                    if last & 0x0F != 0 {
                        valid = false
                    }
                    output[outIndex] = UInt8(truncatingIfNeeded: word >> 16)
                case 3:
                    let last = value(inIndex + 2)
                    let word = value(inIndex) << 18 | value(inIndex + 1) << 12 | last << 6
                    if last & 0x03 != 0 {
                        valid = false
                    }
                    output[outIndex] = UInt8(truncatingIfNeeded: word >> 16)
                    output[outIndex + 1] = UInt8(truncatingIfNeeded: word >> 8)
                default:
                    break
                }
                initialized = outputCount
            }
            return valid ? result : nil
        }
    }

    static func encodedLength(of count: Int, padded: Bool) -> Int {
        padded ? (count + 2) / 3 * 4 : (count * 4 + 2) / 3
    }

    static func encode(_ bytes: [UInt8], urlSafe: Bool, padded: Bool) -> String {
        let length = Self.encodedLength(of: bytes.count, padded: padded)
        return bytes.withUnsafeBytes { input in
            String(unsafeUninitializedCapacity: length) { output in
                Self.encode(input, into: UnsafeMutableRawBufferPointer(output), urlSafe: urlSafe, padded: padded)
                return length
            }
        }
    }

    static func encode(
        _ input: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer,
        urlSafe: Bool,
        padded: Bool
    ) {
        let alphabet: StaticString =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        let char62 = urlSafe ? UInt8(ascii: "-") : UInt8(ascii: "+")
        let char63 = urlSafe ? UInt8(ascii: "_") : UInt8(ascii: "/")
        alphabet.withUTF8Buffer { table in
            @inline(__always)
            func character(_ value: UInt32) -> UInt8 {
                let index = Int(value & 0x3F)
                switch index {
                case 62: return char62
                case 63: return char63
                default: return table[index]
                }
            }
            var inIndex = 0
            var outIndex = 0
            let count = input.count
            while inIndex + 3 <= count {
                let word = UInt32(input[inIndex]) << 16 | UInt32(input[inIndex + 1]) << 8 | UInt32(input[inIndex + 2])
                output[outIndex] = character(word >> 18)
                output[outIndex + 1] = character(word >> 12)
                output[outIndex + 2] = character(word >> 6)
                output[outIndex + 3] = character(word)
                inIndex += 3
                outIndex += 4
            }
            switch count - inIndex {
            case 1:
                let word = UInt32(input[inIndex]) << 16
                output[outIndex] = character(word >> 18)
                output[outIndex + 1] = character(word >> 12)
                if padded {
                    output[outIndex + 2] = UInt8(ascii: "=")
                    output[outIndex + 3] = UInt8(ascii: "=")
                }
            case 2:
                let word = UInt32(input[inIndex]) << 16 | UInt32(input[inIndex + 1]) << 8
                output[outIndex] = character(word >> 18)
                output[outIndex + 1] = character(word >> 12)
                output[outIndex + 2] = character(word >> 6)
                if padded {
                    output[outIndex + 3] = UInt8(ascii: "=")
                }
            default:
                break
            }
        }
    }
}
