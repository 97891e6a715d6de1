import Crypto
import Testing

@testable import AuthGateCore

private let secret = "better-auth-secret-12345678901234567890"
private let token = "Zr3pQk8vXy1Lm0Nn2Bb4Cc6Dd8Ee0Ff2"
private let signature = "wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxLg="
private let cookieValue = "Zr3pQk8vXy1Lm0Nn2Bb4Cc6Dd8Ee0Ff2.wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxLg%3D"

private func verify(_ value: String, secret: String = secret) -> Result<Substring, RejectionReason> {
    SessionTokenSigning.verify(signedValue: value[...], secret: Array(secret.utf8))
}

private func reason(_ result: Result<Substring, RejectionReason>) -> RejectionReason? {
    if case .failure(let reason) = result {
        return reason
    }
    return nil
}

/// The first token `prefix<n>` whose signature contains `character`.
private func findToken(withSignatureContaining character: Character) -> (token: String, signature: String) {
    for index in 0..<10_000 {
        let candidate = "tok\(index)"
        let signature = SessionTokenSigning.sign(token: candidate, secret: secret)
        if signature.contains(character) {
            return (candidate, signature)
        }
    }
    fatalError("no signature with \(character)")
}

@Suite("Better Auth session token signatures")
struct SessionCookieTests {
    @Test("the worked example from BETTER_AUTH_WIRE.md")
    func workedExample() throws {
        #expect(SessionTokenSigning.sign(token: token, secret: secret) == signature)
        #expect(SessionTokenSigning.sign(token: token, secret: SymmetricKey(data: Array(secret.utf8))) == signature)
        let signer = SessionTokenSigner(secret: secret)
        #expect(signer.signature(for: token) == signature)
        #expect(signer.signedValue(token: token) == token + "." + signature)
        #expect(signer.cookieValue(token: token) == cookieValue)
        #expect(try verify(cookieValue).get() == token[...])
        #expect(try verify(token + "." + signature).get() == token[...])
    }

    @Test("signatures are 44 characters of padded standard base64")
    func shape() {
        for index in 0..<50 {
            let signature = SessionTokenSigning.sign(token: "t\(index)", secret: "s")
            #expect(signature.utf8.count == 44)
            #expect(signature.hasSuffix("=") && !signature.hasSuffix("=="))
        }
    }

    @Test("all overloads agree")
    func overloads() throws {
        let bytes = Array(secret.utf8)
        #expect(
            try SessionTokenSigning.verify(signedValue: cookieValue[...], secret: SymmetricKey(data: bytes)).get()
                == token[...]
        )
        #expect(try SessionTokenSigner(secret: bytes).verify(signedValue: cookieValue[...]).get() == token[...])
        #expect(
            try SessionTokenSigner(secret: SymmetricKey(data: bytes)).verify(signedValue: cookieValue[...]).get()
                == token[...]
        )
    }

    @Test("a wrong secret, a changed token or a changed signature is a bad signature")
    func badSignature() {
        #expect(reason(verify(cookieValue, secret: secret + "x")) == .badSignature)
        #expect(reason(verify(cookieValue, secret: "")) == .badSignature)
        #expect(
            reason(verify("Zr3pQk8vXy1Lm0Nn2Bb4Cc6Dd8Ee0Ff3.wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxLg%3D"))
                == .badSignature
        )
        #expect(
            reason(verify("Zr3pQk8vXy1Lm0Nn2Bb4Cc6Dd8Ee0Ff2.wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxLh%3D"))
                == .badSignature
        )
        #expect(
            reason(verify("Zr3pQk8vXy1Lm0Nn2Bb4Cc6Dd8Ee0Ff2.Wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxLg%3D"))
                == .badSignature
        )
        // The raw token alone signed as if it were the whole value.
        #expect(reason(verify("x." + SessionTokenSigning.sign(token: "y", secret: secret))) == .badSignature)
    }

    @Test(
        "structural problems are malformed",
        arguments: [
            "", ".", token, token + ".", token + "." + String(signature.dropLast()), token + "." + signature + "=",
            token + "." + String(signature.dropLast()) + "A", "." + signature, token + ".%3D",
            token + "." + signature.replacingPercent(),
        ]
    )
    func malformed(value: String) {
        #expect(reason(verify(value)) == .malformed, "\(value)")
    }

    @Test(
        "bad percent escapes and non-UTF-8 results are malformed",
        arguments: [
            cookieValue + "%", cookieValue + "%3", cookieValue.replacingLast3D(with: "%3G"), "%zz" + cookieValue,
            "%FF" + cookieValue, "%C3%28" + cookieValue, "%ED%A0%80" + cookieValue,
        ]
    )
    func percentEscapes(value: String) {
        #expect(reason(verify(value)) == .malformed, "\(value)")
    }

    @Test("an encoded dot or a non-ASCII byte in the signature gets the same verdict as a decoded one")
    func escapesInSignature() {
        // An encoded `.` moves the split after decoding: the signature part is then too short.
        let encodedDot = token + "." + signature.prefix(20) + "%2E" + signature.dropFirst(21)
        #expect(reason(verify(encodedDot)) == .malformed)
        #expect(reason(verify(token + "." + signature.prefix(20) + "." + signature.dropFirst(21))) == .malformed)
        // A valid UTF-8 non-ASCII byte pair: 45 bytes once decoded.
        let accented = token + "." + signature.prefix(20) + "%C3%A9" + signature.dropFirst(21)
        #expect(reason(verify(accented)) == .malformed)
        // Invalid UTF-8 in the signature.
        #expect(reason(verify(token + "." + signature.prefix(20) + "%FF" + signature.dropFirst(21))) == .malformed)
        // One character changed, the rest encoded: a bad signature, not malformed.
        let changed = token + "." + "A" + signature.dropFirst().dropLast() + "%3D"
        #expect(reason(verify(changed)) == (signature.first == "A" ? nil : .badSignature))
    }

    @Test("percent-decoding happens exactly once")
    func decodeOnce() {
        let doubleEncoded = SessionTokenSigning.percentEncode(cookieValue)
        #expect(doubleEncoded.hasSuffix("%253D"))
        #expect(reason(verify(doubleEncoded)) == .malformed)
        #expect(SessionTokenSigning.percentDecode(doubleEncoded[...]) == cookieValue[...])
        #expect(SessionTokenSigning.percentDecode("a%2fb%2Fc"[...]) == "a/b/c")
    }

    @Test("a + stays a + and %2B decodes to +")
    func plus() throws {
        let (plusToken, plusSignature) = findToken(withSignatureContaining: "+")
        #expect(try verify(plusToken + "." + plusSignature).get() == plusToken[...])
        let encoded = SessionTokenSigning.percentEncode(plusToken + "." + plusSignature)
        #expect(encoded.contains("%2B"))
        #expect(try verify(encoded).get() == plusToken[...])
        // A literal + next to an escape (only the = encoded) is still a +.
        let partlyEncoded = plusToken + "." + plusSignature.dropLast() + "%3D"
        #expect(try verify(partlyEncoded).get() == plusToken[...])
        let asSpace = plusToken + "." + String(plusSignature.map { $0 == "+" ? " " : $0 })
        #expect(reason(verify(asSpace)) == .badSignature)
        let (slashToken, slashSignature) = findToken(withSignatureContaining: "/")
        #expect(
            try verify(SessionTokenSigning.percentEncode(slashToken + "." + slashSignature)).get() == slashToken[...]
        )
    }

    @Test("the value is split at its last dot")
    func lastDot() throws {
        let dotted = "a.b.c"
        let value = SessionTokenSigner(secret: secret).signedValue(token: dotted)
        #expect(try verify(value).get() == dotted[...])
        #expect(try verify(SessionTokenSigning.percentEncode(value)).get() == dotted[...])
    }

    @Test("percent-encoding matches encodeURIComponent")
    func percentEncode() {
        #expect(SessionTokenSigning.percentEncode("aZ09-_.!~*'()") == "aZ09-_.!~*'()")
        #expect(SessionTokenSigning.percentEncode("+/= ;é") == "%2B%2F%3D%20%3B%C3%A9")
        #expect(SessionTokenSigning.percentDecode("%2B%2F%3D%20%3B%C3%A9"[...]) == "+/= ;é")
        #expect(SessionTokenSigning.percentDecode("a+b"[...]) == "a+b")
        #expect(SessionTokenSigning.percentDecode("a+b%20c"[...]) == "a+b c")
    }
}

@Suite("CookieHeader")
struct CookieHeaderTests {
    @Test("finds a cookie among others")
    func finds() {
        let header = "theme=dark; better-auth.session_token=\(cookieValue); other=1"
        #expect(CookieHeader.value(named: "better-auth.session_token", in: header[...]) == cookieValue[...])
        #expect(CookieHeader(header[...]).value(named: "theme") == "dark")
        #expect(CookieHeader.value(named: "other", in: header[...]) == "1")
    }

    @Test("names match exactly and case-sensitively")
    func exactNames() {
        let header = "xbetter-auth.session_token=a; better-auth.session_token2=b; Better-Auth.session_token=c"
        #expect(CookieHeader.value(named: "better-auth.session_token", in: header[...]) == nil)
        #expect(CookieHeader.value(named: "better-auth.session_token2", in: header[...]) == "b")
        #expect(CookieHeader.value(named: "session_token", in: header[...]) == nil)
    }

    @Test("whitespace, separators, quotes and empty values")
    func grammar() {
        #expect(CookieHeader.value(named: "b", in: "a=1;b=2"[...]) == "2")
        #expect(CookieHeader.value(named: "b", in: "a=1 ;  b = 2 ;"[...]) == "2")
        #expect(CookieHeader.value(named: "b", in: "\tb=2\t"[...]) == "2")
        #expect(CookieHeader.value(named: "b", in: #"b="quoted value""#[...]) == "quoted value")
        #expect(CookieHeader.value(named: "b", in: #"b=""#[...]) == #"""#)
        #expect(CookieHeader.value(named: "b", in: "a; b=2"[...]) == "2")
        #expect(CookieHeader.value(named: "b", in: "b; b=2"[...]) == "2")
        #expect(CookieHeader.value(named: "b", in: "b=; c=3"[...]) == "")
        #expect(CookieHeader.value(named: "b", in: "b=x=y"[...]) == "x=y")
        #expect(CookieHeader.value(named: "b", in: ""[...]) == nil)
        #expect(CookieHeader.value(named: "b", in: ";;;"[...]) == nil)
        #expect(CookieHeader.value(named: "b", in: "a=b"[...]) == nil)
    }

    @Test("the first of repeated cookies wins")
    func firstWins() {
        #expect(CookieHeader.value(named: "a", in: "a=1; a=2"[...]) == "1")
    }
}

extension String {
    /// The signature with its `=` already encoded, then encoded again: `%253D`.
    fileprivate func replacingPercent() -> String {
        String(self.dropLast()) + "%253D"
    }

    /// This cookie value with its final `%3D` replaced.
    fileprivate func replacingLast3D(with replacement: String) -> String {
        String(self.dropLast(3)) + replacement
    }
}
