import Testing

@testable import AuthGateCore

@Suite("Base64URL and Base64")
struct Base64URLTests {
    /// RFC 4648 §10, without padding.
    static let vectors: [(String, String)] = [
        ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy"),
    ]

    @Test("RFC 4648 vectors decode and encode")
    func rfc4648() {
        for (plain, encoded) in Self.vectors {
            #expect(Base64URL.decode(encoded) == Array(plain.utf8), "\(encoded)")
            #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        }
    }

    @Test("RFC 7636 appendix B vector (32 bytes, URL-safe characters)")
    func rfc7636() {
        let bytes: [UInt8] = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
            22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ]
        #expect(Base64URL.decode("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == bytes)
        #expect(Base64URL.encode(bytes) == "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    }

    @Test("the URL-safe alphabet is used and the standard one refused")
    func alphabet() {
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.decode("+/8") == nil)
        #expect(Base64URL.decode("ab+c") == nil)
        #expect(Base64URL.decode("ab/c") == nil)
    }

    @Test(
        "padding, bad characters and impossible lengths are refused",
        arguments: [
            "Zg==", "Zm8=", "Zg=", "=", "Zm9vY", "A", "Zm9v!", "Zm 9v", "Zm9v\n", "Zm9vYg\u{0}", "Zm9vé",
        ]
    )
    func refused(encoded: String) {
        #expect(Base64URL.decode(encoded) == nil, "\(encoded)")
    }

    @Test("non-canonical trailing bits are refused")
    func nonCanonical() {
        #expect(Base64URL.decode("Zg") == [0x66])
        #expect(Base64URL.decode("Zh") == nil)
        #expect(Base64URL.decode("Zv") == nil)
        #expect(Base64URL.decode("Zm8") == [0x66, 0x6F])
        #expect(Base64URL.decode("Zm9") == nil)
        #expect(Base64URL.decode("Zm-") == nil)
    }

    @Test("round trips for every length up to 100")
    func roundTrip() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...100 {
            let bytes = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let encoded = Base64URL.encode(bytes)
            #expect(!encoded.contains("=") && !encoded.contains("+") && !encoded.contains("/"))
            #expect(encoded.utf8.count == (length * 4 + 2) / 3)
            #expect(Base64URL.decode(encoded) == bytes, "\(length)")
            #expect(Base64URL.decode(Substring(encoded)) == bytes)
        }
    }

    @Test("decoding a substring uses only its bytes")
    func substring() {
        let text = "xx.Zm9vYmFy.yy"
        let slice = text.split(separator: ".")[1]
        #expect(Base64URL.decode(slice) == Array("foobar".utf8))
    }

    @Test("standard base64 encodes padded with + and /")
    func standard() {
        let padded = ["", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"]
        for ((plain, _), expected) in zip(Self.vectors, padded) {
            #expect(Base64.encode(Array(plain.utf8)) == expected)
        }
        #expect(Base64.encode([0xFB, 0xFF]) == "+/8=")
        #expect(Base64.encode([0xFB, 0xEF, 0xBE]) == "++++")
        #expect(Base64.encode([0xFF, 0xFF, 0xFF]) == "////")
        #expect(Base64.encodedLength(of: 32) == 44)
    }
}
