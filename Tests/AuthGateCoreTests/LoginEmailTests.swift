import NIOCore
import Testing

@testable import AuthGateCore

private func extract(
    _ body: String,
    _ contentType: String? = "application/json",
    field: String = "email",
    maxBytes: Int = 4_096
) -> String? {
    LoginEmail.extract(from: Array(body.utf8), contentType: contentType, field: field, maxBytes: maxBytes)
}

private let form = "application/x-www-form-urlencoded"

/// A small deterministic generator, so a fuzz failure can be replayed.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("LoginEmail")
struct LoginEmailTests {
    // MARK: JSON

    @Test("the email member of a JSON object, trimmed and lower-cased")
    func json() {
        #expect(extract(#"{"email":"alice@example.com","password":"x"}"#) == "alice@example.com")
        #expect(extract(#"{"password":"x","email":"  Alice@Example.COM\t"}"#) == "alice@example.com")
        #expect(extract(#"{"email":"\u00C9lise@example.com"}"#) == "\u{E9}lise@example.com")
    }

    @Test("JSON content types with parameters and +json suffixes are accepted")
    func jsonContentTypes() {
        let body = #"{"email":"a@b.c"}"#
        #expect(extract(body, "application/json; charset=utf-8") == "a@b.c")
        #expect(extract(body, " Application/JSON ") == "a@b.c")
        #expect(extract(body, "application/vnd.api+json") == "a@b.c")
        #expect(extract(body, "text/plain") == nil)
        #expect(extract(body, "application/jsonx") == nil)
        #expect(extract(body, nil) == nil)
    }

    @Test(
        "malformed, non-object, non-string, empty or missing JSON gives nil",
        arguments: [
            #"{"email":"a@b.c""#, #"{"email":"a@b.c",}"#, #"["a@b.c"]"#, #""a@b.c""#, #"{"email":42}"#,
            #"{"email":null}"#, #"{"email":["a@b.c"]}"#, #"{"email":""}"#, #"{"email":"   "}"#, #"{"mail":"a@b.c"}"#,
            #"{"email":"a@b.c","email":"x@y.z"}"#, "", "null",
        ]
    )
    func badJSON(body: String) {
        #expect(extract(body) == nil)
    }

    @Test("a nested email member is not looked for")
    func nestedJSON() {
        #expect(extract(#"{"user":{"email":"a@b.c"}}"#) == nil)
    }

    @Test("another field name can be asked for")
    func customField() {
        #expect(extract(#"{"username":"Bob"}"#, field: "username") == "bob")
        #expect(extract("username=Bob", form, field: "username") == "bob")
    }

    // MARK: Form

    @Test("the email field of a form body, percent-decoded with + as space")
    func formBody() {
        #expect(extract("email=alice%40example.com&password=x", form) == "alice@example.com")
        #expect(extract("password=x&email=Alice@Example.com", form) == "alice@example.com")
        #expect(extract("email=+alice%2Bsub%40example.com+", form) == "alice+sub@example.com")
        #expect(extract("email=%C3%89lise%40example.com", form + "; charset=UTF-8") == "\u{E9}lise@example.com")
        #expect(extract("&&email=a%40b.c&", form) == "a@b.c")
        #expect(extract("em%61il=a%40b.c", form) == "a@b.c")
    }

    @Test(
        "malformed, repeated, empty or missing form fields give nil",
        arguments: [
            "email=a%4", "email=a%zz%40b.c", "email=%FF%FE", "email=a@b.c&email=x@y.z", "email=", "email", "email=+++",
            "mail=a@b.c", "", "bad%=x&email=a@b.c",
        ]
    )
    func badForm(body: String) {
        #expect(extract(body, form) == nil)
    }

    // MARK: Size

    @Test("bodies over maxBytes are not looked at")
    func oversize() {
        let body = #"{"email":"a@b.c"}"#
        #expect(extract(body, maxBytes: body.utf8.count) == "a@b.c")
        #expect(extract(body, maxBytes: body.utf8.count - 1) == nil)
        #expect(extract("email=a@b.c", form, maxBytes: 3) == nil)
    }

    @Test("a ByteBuffer body reads only its readable bytes")
    func byteBuffer() {
        var buffer = ByteBuffer(string: "xxxx" + #"{"email":"A@B.C"}"#)
        buffer.moveReaderIndex(forwardBy: 4)
        #expect(LoginEmail.extract(from: buffer, contentType: "application/json", maxBytes: 64) == "a@b.c")
        #expect(LoginEmail.extract(from: buffer, contentType: "application/json", maxBytes: 10) == nil)
    }

    // MARK: Garbage

    @Test("random bytes never trap and give nil or a trimmed lower-cased string")
    func fuzz() {
        var generator = SplitMix64(state: 0x5EED)
        let alphabet = Array(#"{}[]":,=&%+@ .email0123456789abcdefABCDEF\u"#.utf8)
        for round in 0..<20_000 {
            let length = Int.random(in: 0..<64, using: &generator)
            let bytes: [UInt8] = (0..<length).map { _ in
                // Half the rounds draw from the syntax's own characters, to get deeper.
                round.isMultiple(of: 2)
                    ? UInt8.random(in: 0...255, using: &generator)
                    : alphabet[Int.random(in: 0..<alphabet.count, using: &generator)]
            }
            for contentType in ["application/json", form] {
                for prefix in [[], Array(#"{"email":""#.utf8), Array("email=".utf8)] as [[UInt8]] {
                    let body = prefix + bytes
                    if let email = LoginEmail.extract(from: body, contentType: contentType, maxBytes: 1_024) {
                        #expect(!email.isEmpty)
                        #expect(email == email.lowercased())
                        #expect(email.first?.isWhitespace != true && email.last?.isWhitespace != true)
                    }
                }
            }
        }
    }
}
