import NIOHTTP1
import Testing

@testable import AuthGateCore

private let signedCookie = "Zr3pQk8vXy1Lm0Nn2Bb4Cc6Dd8Ee0Ff2.wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxLg%3D"

@Suite("CredentialExtractor")
struct CredentialExtractorTests {
    let extractor = CredentialExtractor()

    @Test("cookie names derive from the prefix")
    func names() {
        #expect(self.extractor.cookieName == "better-auth.session_token")
        #expect(self.extractor.secureCookieName == "__Secure-better-auth.session_token")
        let custom = CredentialExtractor(cookiePrefix: "myapp")
        #expect(custom.cookieName == "myapp.session_token")
        #expect(custom.secureCookieName == "__Secure-myapp.session_token")
    }

    @Test("no credentials")
    func empty() {
        let found = self.extractor.extract(from: HTTPHeaders([("Accept", "*/*")]))
        #expect(found == ExtractedCredentials())
        #expect(found.isEmpty && !found.isMalformed)
    }

    @Test(
        "Bearer tokens: scheme in any case, one or more spaces, trailing whitespace trimmed",
        arguments: [
            "Bearer abc.def", "bearer abc.def", "BEARER abc.def", "BeArEr   abc.def", "Bearer\tabc.def",
            "Bearer abc.def  ",
            "  Bearer abc.def",
        ]
    )
    func bearer(value: String) {
        let found = self.extractor.extract(from: HTTPHeaders([("Authorization", value)]))
        #expect(found.bearer == "abc.def")
        #expect(!found.isMalformed && !found.isEmpty)
    }

    @Test("the header name is case-insensitive")
    func headerNameCase() {
        for name in ["authorization", "AUTHORIZATION", "AuThOrIzAtIoN"] {
            #expect(self.extractor.extract(from: HTTPHeaders([(name, "Bearer t")])).bearer == "t")
        }
        for name in ["cookie", "COOKIE"] {
            let found = self.extractor.extract(from: HTTPHeaders([(name, "better-auth.session_token=v")]))
            #expect(found.sessionCookie == "v")
        }
    }

    @Test(
        "other schemes are not bearer tokens and not malformed",
        arguments: [
            "Basic dXNlcjpwYXNz", "Bearerabc", "Token abc", "Digest username=x", "",
        ]
    )
    func otherSchemes(value: String) {
        let found = self.extractor.extract(from: HTTPHeaders([("Authorization", value)]))
        #expect(found.bearer == nil)
        #expect(!found.isMalformed)
    }

    @Test(
        "Bearer without a token or with whitespace inside is malformed",
        arguments: [
            "Bearer", "Bearer ", "Bearer    ", "Bearer a b", "Bearer a\tb", "Bearer a\u{1}b",
        ]
    )
    func malformedBearer(value: String) {
        let found = self.extractor.extract(from: HTTPHeaders([("Authorization", value)]))
        #expect(found.bearer == nil)
        #expect(found.malformedAuthorization)
        #expect(found.isMalformed)
    }

    @Test("two Authorization headers are a conflict")
    func conflict() {
        for second in ["Bearer b", "Basic x", "Bearer a"] {
            let found = self.extractor.extract(
                from: HTTPHeaders([("Authorization", "Bearer a"), ("X-Other", "1"), ("authorization", second)])
            )
            #expect(found.conflict)
            #expect(found.bearer == nil)
            #expect(found.isMalformed)
        }
    }

    @Test("the plain and __Secure- session cookies; __Secure- preferred")
    func cookies() {
        let plain = self.extractor.extract(
            from: HTTPHeaders([("Cookie", "theme=dark; better-auth.session_token=\(signedCookie)")])
        )
        #expect(plain.sessionCookie == signedCookie[...])
        #expect(plain.sessionCookieName == "better-auth.session_token")

        let secure = self.extractor.extract(
            from: HTTPHeaders([("Cookie", "__Secure-better-auth.session_token=s")])
        )
        #expect(secure.sessionCookie == "s")
        #expect(secure.sessionCookieName == "__Secure-better-auth.session_token")

        let both = self.extractor.extract(
            from: HTTPHeaders([
                ("Cookie", "better-auth.session_token=p; __Secure-better-auth.session_token=s")
            ])
        )
        #expect(both.sessionCookie == "s")
        #expect(both.sessionCookieName == "__Secure-better-auth.session_token")
    }

    @Test("without acceptSecureCookie only the plain name counts")
    func secureDisabled() {
        let extractor = CredentialExtractor(acceptSecureCookie: false)
        let secureOnly = extractor.extract(from: HTTPHeaders([("Cookie", "__Secure-better-auth.session_token=s")]))
        #expect(secureOnly.sessionCookie == nil)
        let both = extractor.extract(
            from: HTTPHeaders([("Cookie", "__Secure-better-auth.session_token=s; better-auth.session_token=p")])
        )
        #expect(both.sessionCookie == "p")
        #expect(both.sessionCookieName == "better-auth.session_token")
    }

    @Test("cookies are found across several Cookie headers, first occurrence wins")
    func severalCookieHeaders() {
        let found = self.extractor.extract(
            from: HTTPHeaders([
                ("Cookie", "a=1"), ("Cookie", "better-auth.session_token=first"),
                ("Cookie", "better-auth.session_token=second"),
            ])
        )
        #expect(found.sessionCookie == "first")
        let secureLater = self.extractor.extract(
            from: HTTPHeaders([
                ("Cookie", "better-auth.session_token=p"), ("Cookie", "__Secure-better-auth.session_token=s"),
            ])
        )
        #expect(secureLater.sessionCookie == "s")
    }

    @Test("a custom prefix ignores the default names")
    func customPrefix() {
        let extractor = CredentialExtractor(cookiePrefix: "myapp")
        let found = extractor.extract(
            from: HTTPHeaders([("Cookie", "better-auth.session_token=default; myapp.session_token=mine")])
        )
        #expect(found.sessionCookie == "mine")
        #expect(found.sessionCookieName == "myapp.session_token")
    }

    @Test("an empty cookie value is no credential")
    func emptyCookie() {
        let found = self.extractor.extract(from: HTTPHeaders([("Cookie", "better-auth.session_token=")]))
        #expect(found.sessionCookie == nil)
        #expect(found.isEmpty)
        let fallback = self.extractor.extract(
            from: HTTPHeaders([("Cookie", "__Secure-better-auth.session_token=; better-auth.session_token=p")])
        )
        #expect(fallback.sessionCookie == "p")
    }

    @Test("bearer and cookie together are both reported")
    func both() {
        let found = self.extractor.extract(
            from: HTTPHeaders([("Authorization", "Bearer t"), ("Cookie", "better-auth.session_token=c")])
        )
        #expect(found.bearer == "t" && found.sessionCookie == "c")
    }
}

@Suite("TokenShape")
struct TokenShapeTests {
    @Test("JWTs")
    func jwt() throws {
        let token = JWTFixtures.token(header: #"{"alg":"HS256"}"#, payload: "{}") { JWTFixtures.hs256($0) }
        #expect(TokenShape(classifying: token) == .jwt)
        #expect(TokenShape(classifying: "eyJhbGciOiJub25lIn0.e30.") == .jwt)
        #expect(TokenShape(classifying: "eyJ.e30.x") == .jwt)
    }

    @Test(
        "not JWTs",
        arguments: [
            "eyJhbGciOiJub25lIn0.e30", "eyJ.a.b.c", "abc.e30.x", "eyJ..x", "eyJ.e30.x=", "eyJ.e+0.x", "eyJ.e30.x y",
            ".eyJ.e30",
        ]
    )
    func notJWT(token: String) {
        #expect(TokenShape(classifying: token) != .jwt, "\(token)")
    }

    @Test("signed session values, encoded or not")
    func signedSession() {
        let signature = "wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxLg="
        #expect(TokenShape(classifying: "Zr3pQk8vXy1Lm0Nn2Bb4Cc6Dd8Ee0Ff2." + signature) == .signedSession)
        #expect(TokenShape(classifying: signedCookie) == .signedSession)
        #expect(TokenShape(classifying: "t." + "ab+/" + String(repeating: "A", count: 39) + "=") == .signedSession)
        #expect(
            TokenShape(classifying: "t." + "ab%2B%2f" + String(repeating: "A", count: 39) + "%3d") == .signedSession
        )
    }

    @Test(
        "raw or opaque tokens",
        arguments: [
            "Zr3pQk8vXy1Lm0Nn2Bb4Cc6Dd8Ee0Ff2", "", "abc.def",
            "t.wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxLg",  // 43 characters
            "t.wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxLgA",  // 44, no '='
            "t.wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxL==",  // '=' inside
            "t.wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxLg=x",
            "t.wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0Swx-g=",  // URL alphabet
            "t.wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxLg%3", "t.wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxLg%20",
            ".wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxLg=",
        ]
    )
    func raw(token: String) {
        #expect(TokenShape(classifying: token) == .rawOpaque, "\(token)")
    }
}
