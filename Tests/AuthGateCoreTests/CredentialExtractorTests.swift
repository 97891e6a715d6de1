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

    @Test("every byte: a JWT segment takes exactly the base64url alphabet")
    func everyByteOfASegment() {
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        for byte in UInt8.min...UInt8.max where byte != UInt8(ascii: ".") {
            let token = Substring(decoding: Array("eyJ.e3".utf8) + [byte] + Array(".x".utf8), as: UTF8.self)
            guard token.utf8.count == 9 else { continue }  // a byte that is not UTF-8 alone
            #expect((TokenShape(classifying: token) == .jwt) == alphabet.contains(byte), "byte \(byte)")
        }
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

@Suite("CredentialExtractor WebSocket upgrades")
struct WebSocketCredentialTests {
    let extractor = CredentialExtractor()

    func extract(
        _ headers: [(String, String)],
        target: String = "/ws",
        marker: String? = "bearer",
        query: String? = "access_token"
    ) -> ExtractedCredentials {
        self.extractor.extractForUpgrade(
            from: HTTPHeaders(headers),
            target: target,
            subprotocolMarker: marker,
            queryParameter: query
        )
    }

    @Test("the element after the marker protocol is the token")
    func subprotocol() {
        let found = self.extract([("Sec-WebSocket-Protocol", "chat, bearer, eyJa.eyJb.sig")])
        #expect(found.bearer == "eyJa.eyJb.sig")
        #expect(found.bearerSource == .webSocketSubprotocol)
        #expect(!found.isMalformed)

        let split = self.extract([("sec-websocket-protocol", "chat,bearer"), ("Sec-WebSocket-Protocol", " tok ")])
        #expect(split.bearer == "tok")
    }

    @Test("the query parameter, percent-decoded, when there is no subprotocol token")
    func query() {
        let found = self.extract([], target: "/ws?room=1&access_token=abc.sig%3D&x")
        #expect(found.bearer == "abc.sig=")
        #expect(found.bearerSource == .queryParameter)
        #expect(!found.isMalformed)
        #expect(self.extract([], target: "/ws?access%5Ftoken=t").bearer == "t")
        #expect(self.extract([], target: "/ws?xaccess_token=t&access_tokenx=u").isEmpty)
    }

    @Test("Authorization wins; then the subprotocol; then the query")
    func precedence() {
        let all = self.extract(
            [("Authorization", "Bearer header"), ("Sec-WebSocket-Protocol", "bearer, proto")],
            target: "/ws?access_token=query"
        )
        #expect(all.bearer == "header")
        #expect(all.bearerSource == .authorization)
        let noHeader = self.extract([("Sec-WebSocket-Protocol", "bearer, proto")], target: "/ws?access_token=query")
        #expect(noHeader.bearer == "proto")
        #expect(noHeader.bearerSource == .webSocketSubprotocol)
        let basic = self.extract([("Authorization", "Basic dTpw")], target: "/ws?access_token=query")
        #expect(basic.bearer == "query")
    }

    @Test("both places are off unless configured, and cookies are still read")
    func disabled() {
        let found = self.extract(
            [("Sec-WebSocket-Protocol", "bearer, proto"), ("Cookie", "better-auth.session_token=c")],
            target: "/ws?access_token=query",
            marker: nil,
            query: nil
        )
        #expect(found.bearer == nil)
        #expect(found.bearerSource == nil)
        #expect(found.sessionCookie == "c")
        #expect(!found.isMalformed)
    }

    @Test(
        "missing, duplicated or ill-formed tokens are malformed",
        arguments: [
            ([("Sec-WebSocket-Protocol", "chat, bearer")], "/ws"),
            ([("Sec-WebSocket-Protocol", "bearer, a, bearer, b")], "/ws"),
            ([("Sec-WebSocket-Protocol", "bearer, a\u{7F}b")], "/ws"),
            ([], "/ws?access_token="),
            ([], "/ws?access_token"),
            ([], "/ws?access_token=a&access_token=b"),
            ([], "/ws?access_token=a%20b"),
            ([], "/ws?access_token=a%0Ab"),
            ([], "/ws?access_token=a%2"),
            ([], "/ws?access_token=%FF"),
            ([], "/ws?access_token=a\"b"),
        ]
    )
    func malformed(headers: [(String, String)], target: String) {
        let found = self.extract(headers, target: target)
        #expect(found.malformedUpgradeToken)
        #expect(found.isMalformed)
        #expect(found.bearer == nil)
    }

    @Test("a malformed Authorization is not rescued by another place")
    func malformedAuthorization() {
        let found = self.extract([("Authorization", "Bearer ")], target: "/ws?access_token=t")
        #expect(found.malformedAuthorization)
        #expect(found.bearer == nil)
    }

    @Test("the token element is removed from Sec-WebSocket-Protocol, the marker and the others kept")
    func removeSubprotocolToken() {
        var headers = HTTPHeaders([
            ("Host", "h"), ("Sec-WebSocket-Protocol", "chat, bearer, tok,  v2"), ("Upgrade", "websocket"),
        ])
        CredentialExtractor.removingSubprotocolToken(&headers, marker: "bearer")
        #expect(
            headers.map { "\($0.name): \($0.value)" } == [
                "Host: h", "Sec-WebSocket-Protocol: chat, bearer, v2", "Upgrade: websocket",
            ]
        )

        var split = HTTPHeaders([("Sec-WebSocket-Protocol", "bearer"), ("Sec-WebSocket-Protocol", "tok")])
        CredentialExtractor.removingSubprotocolToken(&split, marker: "bearer")
        #expect(split.map { "\($0.name): \($0.value)" } == ["Sec-WebSocket-Protocol: bearer"])

        let untouched = HTTPHeaders([("Sec-WebSocket-Protocol", "chat,  v2"), ("X", "1")])
        var copy = untouched
        CredentialExtractor.removingSubprotocolToken(&copy, marker: "bearer")
        #expect(copy.map { "\($0.name): \($0.value)" } == untouched.map { "\($0.name): \($0.value)" })
    }

    @Test(
        "the query parameter is removed, the others kept in order",
        arguments: [
            ("/ws?access_token=t", "/ws"),
            ("/ws?a=1&access_token=t&b=2", "/ws?a=1&b=2"),
            ("/ws?access_token=t&b=%20", "/ws?b=%20"),
            ("/ws?a=1&access%5Ftoken=t", "/ws?a=1"),
            ("/ws?a&access_token&access_token=u&c=", "/ws?a&c="),
            ("/ws?a=1&&access_token=t", "/ws?a=1"),
            ("/ws?a=1&b=2", "/ws?a=1&b=2"),
            ("/ws?a=1&&b", "/ws?a=1&&b"),
            ("/ws", "/ws"),
            ("/ws?", "/ws?"),
        ]
    )
    func removeQueryParameter(target: String, expected: String) {
        #expect(CredentialExtractor.removingQueryParameter("access_token", from: target) == expected)
    }

    @Test("both places are removed from a request head")
    func removeFromHead() {
        var head = HTTPRequestHead(
            version: .http1_1,
            method: .GET,
            uri: "/ws?access_token=t&room=2",
            headers: HTTPHeaders([("Sec-WebSocket-Protocol", "bearer, tok")])
        )
        CredentialExtractor.removingUpgradeTokens(&head, subprotocolMarker: "bearer", queryParameter: "access_token")
        #expect(head.uri == "/ws?room=2")
        #expect(head.headers["Sec-WebSocket-Protocol"] == ["bearer"])
    }
}

@Suite("Multi-session cookies (Better Auth's multiSession plugin)")
struct MultiSessionCookieTests {
    let extractor = CredentialExtractor()

    @Test(
        "only the exact session cookie name is the session: <name>_multi-… and other look-alikes are not",
        arguments: [
            "better-auth.session_token_multi-abc=\(signedCookie)",
            "better-auth.session_token_multi-Zr3pQk8vXy1Lm0Nn2Bb4Cc6Dd8Ee0Ff2=\(signedCookie)",
            "__Secure-better-auth.session_token_multi-abc=\(signedCookie)",
            "better-auth.session_tokenx=\(signedCookie)",
            "xbetter-auth.session_token=\(signedCookie)",
            "better-auth.session_token.sig=\(signedCookie)",
        ]
    )
    func lookAlikes(cookie: String) {
        let found = self.extractor.extract(from: HTTPHeaders([("Cookie", cookie)]))
        #expect(found.sessionCookie == nil)
        #expect(found.isEmpty)
    }

    @Test("beside multi-session cookies, the session cookie is the one with the exact name, wherever it is")
    func exactAmongMany() {
        let other = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxLg%3D"
        for header in [
            "better-auth.session_token_multi-a=\(other); better-auth.session_token=\(signedCookie)",
            "better-auth.session_token=\(signedCookie); better-auth.session_token_multi-a=\(other)",
        ] {
            let found = self.extractor.extract(from: HTTPHeaders([("Cookie", header)]))
            #expect(found.sessionCookie.map(String.init) == signedCookie)
            #expect(found.sessionCookieName == "better-auth.session_token")
        }
    }
}
