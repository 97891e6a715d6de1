import AuthGateCore
import NIOCore
import Testing

@Suite struct LoginBodyCheckTests {
    static func check(_ contentType: String? = "application/json", maxBytes: Int = 64) -> LoginBodyCheck {
        LoginBodyCheck(
            contentType: contentType,
            maxBytes: maxBytes,
            emailField: "email",
            allocator: ByteBufferAllocator()
        )
    }

    @Test func theAccountIsReadFromABodyInParts() throws {
        var check = Self.check()
        #expect(check.received(ByteBuffer(string: #"{"email":" Alice@Exa"#)) == .keepReading)
        #expect(check.received(ByteBuffer(string: #"mple.com ","password":"x"}"#)) == .keepReading)
        let account = try #require(check.account)
        #expect(account.email == "alice@example.com")
        #expect(account.key == RateLimitKey(namespace: "account", value: "alice@example.com"))
    }

    @Test func aFormBodyUsesItsField() throws {
        var check = Self.check("application/x-www-form-urlencoded")
        _ = check.received(ByteBuffer(string: "password=x&email=bob%40example.com"))
        #expect(check.account?.email == "bob@example.com")
    }

    @Test func aBodyOverTheBoundIsDecidedAtOnceWithNoAccount() {
        var check = Self.check(maxBytes: 16)
        #expect(check.received(ByteBuffer(string: #"{"email":"#)) == .keepReading)
        #expect(check.received(ByteBuffer(string: #""carol@example.com"}"#)) == .decide)
        #expect(check.account == nil)
        #expect(check.received(ByteBuffer(string: "more")) == .keepReading)
        #expect(check.account == nil)
    }

    @Test func aBodyWithoutTheFieldHasNoAccount() {
        var check = Self.check()
        _ = check.received(ByteBuffer(string: #"{"user":"dave"}"#))
        #expect(check.account == nil)
    }
}
