import NIOHTTP1
import Testing

@testable import AuthGateCore

@Suite("CredentialForwarding")
struct CredentialForwardingTests {
    let names = ["better-auth.session_token", "__Secure-better-auth.session_token"]

    func pairs(_ headers: HTTPHeaders) -> [String] {
        headers.map { "\($0.name): \($0.value)" }
    }

    @Test("the session cookie is removed, the others kept byte for byte and in order")
    func middleCookie() {
        var headers = HTTPHeaders([("Cookie", "a=1; better-auth.session_token=x; b=2")])
        CredentialForwarding.strip(&headers, authorization: false, sessionCookieNames: self.names)
        #expect(self.pairs(headers) == ["Cookie: a=1; b=2"])
    }

    @Test(
        "position, spacing and quoting of the other cookies",
        arguments: [
            ("better-auth.session_token=x; a=1", "a=1"),
            ("a=1;better-auth.session_token=x", "a=1"),
            ("a=\"q v\";  b=%20x ; __Secure-better-auth.session_token=y;c", "a=\"q v\"; b=%20x; c"),
            (" better-auth.session_token = x ;a=1", "a=1"),
            ("better-auth.session_token.x=1; Better-Auth.session_token=2", nil),
            ("a=better-auth.session_token", nil),
        ]
    )
    func variants(value: String, expected: String?) {
        var headers = HTTPHeaders([("Cookie", value)])
        CredentialForwarding.strip(&headers, authorization: false, sessionCookieNames: self.names)
        #expect(self.pairs(headers) == ["Cookie: \(expected ?? value)"])
    }

    @Test("a Cookie header left empty is removed; every Cookie header is cleaned; order of headers kept")
    func emptyHeader() {
        var headers = HTTPHeaders([
            ("Host", "h"),
            ("cookie", "better-auth.session_token=x"),
            ("Accept", "*/*"),
            ("COOKIE", "__Secure-better-auth.session_token=y; theme=dark"),
            ("Cookie", "better-auth.session_token=z;"),
        ])
        CredentialForwarding.strip(&headers, authorization: false, sessionCookieNames: self.names)
        #expect(self.pairs(headers) == ["Host: h", "Accept: */*", "COOKIE: theme=dark"])
    }

    @Test("Authorization headers are removed only when asked")
    func authorization() {
        let original = HTTPHeaders([
            ("Authorization", "Bearer a"), ("X-Other", "1"), ("authorization", "Basic b"),
            ("Cookie", "a=1"),
        ])
        var stripped = original
        CredentialForwarding.strip(&stripped, authorization: true, sessionCookieNames: self.names)
        #expect(self.pairs(stripped) == ["X-Other: 1", "Cookie: a=1"])
        var kept = original
        CredentialForwarding.strip(&kept, authorization: false, sessionCookieNames: [])
        #expect(self.pairs(kept) == self.pairs(original))
    }
}
