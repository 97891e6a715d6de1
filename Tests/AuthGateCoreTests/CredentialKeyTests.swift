import Crypto
import Testing

@testable import AuthGateCore

/// The hex SHA-256 of `kind` followed by `credential`, computed independently of the key type.
private func expectedDigest(kind: UInt8, _ credential: String) -> String {
    let digest = SHA256.hash(data: [kind] + Array(credential.utf8))
    return digest.map { byte in
        let hex = String(byte, radix: 16)
        return hex.count == 1 ? "0" + hex : hex
    }.joined()
}

@Suite("CredentialKey")
struct CredentialKeyTests {
    private let token = "P9S8dUXDvN8WQd9qYw1Jm2dJ0qRZ3xq4.VGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSEhISEhISE="

    @Test("the key is SHA-256 of the kind byte followed by the credential")
    func knownAnswer() {
        let key = CredentialKey(kind: .bearer, credential: self.token)
        #expect(key.hexDigest == expectedDigest(kind: 2, self.token))
        let cookie = CredentialKey(kind: .sessionCookie, credential: self.token)
        #expect(cookie.hexDigest == expectedDigest(kind: 1, self.token))
        let empty = CredentialKey(kind: .introspection, credential: "")
        #expect(empty.hexDigest == expectedDigest(kind: 3, ""))
    }

    @Test("String, Substring, byte and buffer constructors agree")
    func constructorsAgree() {
        let fromString = CredentialKey(kind: .bearer, credential: self.token)
        // A substring that does not start at its base's first byte.
        let header = "Bearer " + self.token + " "
        let start = header.index(header.startIndex, offsetBy: 7)
        let end = header.index(before: header.endIndex)
        let fromSubstring = CredentialKey(kind: .bearer, credential: header[start..<end])
        let fromArray = CredentialKey(kind: .bearer, bytes: Array(self.token.utf8))
        // A sequence without contiguous storage takes the copying path.
        let fromLazy = CredentialKey(kind: .bearer, bytes: self.token.utf8.lazy.map { $0 })
        let fromBuffer = Array(self.token.utf8).withUnsafeBytes { CredentialKey(kind: .bearer, buffer: $0) }
        #expect(fromSubstring == fromString)
        #expect(fromArray == fromString)
        #expect(fromLazy == fromString)
        #expect(fromBuffer == fromString)
        #expect(fromSubstring.hashValue == fromString.hashValue)
    }

    @Test("the same bytes in two roles are two keys")
    func domainSeparation() {
        let kinds: [CredentialKey.Kind] = [.sessionCookie, .bearer, .introspection, .init(rawValue: 200)]
        let keys = Set(kinds.map { CredentialKey(kind: $0, credential: self.token) })
        #expect(keys.count == kinds.count)
        #expect(CredentialKey.Kind.sessionCookie != CredentialKey.Kind.bearer)
    }

    @Test("different credentials are different keys")
    func distinctCredentials() {
        let keys = Set((0..<1000).map { CredentialKey(kind: .bearer, credential: "token-\($0)") })
        #expect(keys.count == 1000)
        // One flipped character.
        var other = Array(self.token.utf8)
        other[other.count - 2] ^= 1
        #expect(CredentialKey(kind: .bearer, bytes: other) != CredentialKey(kind: .bearer, credential: self.token))
    }

    @Test("the key is 32 bytes of plain data")
    func layout() {
        #expect(MemoryLayout<CredentialKey>.size == 32)
        #expect(_isPOD(CredentialKey.self))
    }

    @Test("shortID is the digest's first 8 hex characters, zero-padded")
    func shortID() throws {
        let key = CredentialKey(kind: .bearer, credential: self.token)
        #expect(key.shortID == String(key.hexDigest.prefix(8)))
        #expect(key.shortID.count == 8)
        // Find a key whose digest starts with a zero nibble; the padding must keep it.
        let padded = (0..<1000).lazy
            .map { CredentialKey(kind: .bearer, credential: "pad-\($0)") }
            .first { $0.hexDigest.hasPrefix("0") }
        let found = try #require(padded)
        #expect(found.shortID.count == 8)
        #expect(found.shortID.hasPrefix("0"))
        #expect(found.shortID == String(found.hexDigest.prefix(8)))
    }

    @Test("the description shows the short id, never the credential")
    func descriptionHidesToken() {
        let key = CredentialKey(kind: .sessionCookie, credential: self.token)
        let printed = "\(key) \(String(reflecting: key))"
        #expect(printed.contains(key.shortID))
        #expect(!printed.contains(String(self.token.prefix(12))))
        #expect(!printed.contains(key.hexDigest))
    }

    @Test("kind descriptions name the roles")
    func kindDescription() {
        #expect(CredentialKey.Kind.sessionCookie.description == "sessionCookie")
        #expect(CredentialKey.Kind.bearer.description == "bearer")
        #expect(CredentialKey.Kind.introspection.description == "introspection")
        #expect(CredentialKey.Kind(rawValue: 9).description == "kind(9)")
    }
}
