/// Generates request ids: 32 lowercase hex characters from a fast non-cryptographic generator
/// seeded once from the system's random source.
///
/// Ids only need to be unique enough to correlate logs, so a `wyrand` stream per connection
/// avoids a system call per request.
public struct RequestIDGenerator: Sendable {
    private var state: UInt64

    public init() {
        var system = SystemRandomNumberGenerator()
        self.state = system.next()
    }

    public init(seed: UInt64) {
        self.state = seed
    }

    @inline(__always)
    mutating func nextWord() -> UInt64 {
        self.state &+= 0xa076_1d64_78bd_642f
        let product = self.state.multipliedFullWidth(by: self.state ^ 0xe703_7ed1_a0b4_28db)
        return product.high ^ product.low
    }

    /// The next id.
    public mutating func next() -> String {
        let high = self.nextWord()
        let low = self.nextWord()
        return String(unsafeUninitializedCapacity: 32) { buffer in
            let digits: StaticString = "0123456789abcdef"
            digits.withUTF8Buffer { hex in
                for i in 0..<16 {
                    buffer[i] = hex[Int((high >> (60 - UInt64(i) * 4)) & 0xF)]
                    buffer[16 + i] = hex[Int((low >> (60 - UInt64(i) * 4)) & 0xF)]
                }
            }
            return 32
        }
    }

    /// A client-supplied id is kept only if it is 1–128 characters of `[A-Za-z0-9._:-]`.
    public static func isWellFormed(_ value: String) -> Bool {
        let utf8 = value.utf8
        guard !utf8.isEmpty && utf8.count <= 128 else { return false }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: ":"):
                continue
            default:
                return false
            }
        }
        return true
    }
}
