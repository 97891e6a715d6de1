import Testing

@testable import AuthGateCore

private func normalize(
    _ target: String,
    _ escapedSlashes: EscapedSlashHandling = .decode
) -> Result<String, PathNormalizationError> {
    PathNormalizer.normalize(target: target, escapedSlashes: escapedSlashes)
}

@Suite("PathNormalizer")
struct PathNormalizerTests {
    // MARK: Fast path

    @Test(
        "an already normal target is returned unchanged",
        arguments: [
            "/", "/api", "/api/", "/api/private", "/api/public/x/y/", "/.well-known/jwks.json", "/a/...", "/a/.b",
            "/a/b..", "/a/..b/c", "/x?", "/x?a=1&b=%2F", "/a-b_c~d/e.f", "/api/v1/users/42?x=//y/../z",
        ]
    )
    func alreadyNormal(target: String) {
        #expect(normalize(target) == .success(target))
        #expect(normalize(target, .reject) == .success(target))
    }

    @Test("the fast-path check accepts exactly the normal paths")
    func fastPathDecision() {
        for path in ["/", "/a", "/a/", "/a/b", "/.well-known", "/a/...", "/a/.b/", "/a/b.", "/a/b/", "/~user/x-y_z"] {
            #expect(PathNormalizer.isNormal(path: path[...].utf8), "\(path)")
        }
        for path in [
            "//", "/a//b", "/.", "/..", "/a/.", "/a/..", "/./a", "/../a", "/a/./b", "/%61", "/a\\b", "/a#b", "/a\u{1}",
        ] {
            #expect(!PathNormalizer.isNormal(path: path[...].utf8), "\(path)")
        }
    }

    @Test("an already normal target is the same string, not a copy")
    func fastPathSharesStorage() throws {
        let target = String(repeating: "/segment", count: 8) + "?q=1"
        let normalized = try normalize(target).get()
        var original = target
        var result = normalized
        let originalBase = original.withUTF8 { $0.baseAddress }
        let resultBase = result.withUTF8 { $0.baseAddress }
        #expect(originalBase == resultBase)
    }

    // MARK: Bypass attempts

    @Test(
        "bypass attempts all resolve to the path the backend will see",
        arguments: [
            ("//api//private", "/api/private"),
            ("/api/./private", "/api/private"),
            ("/api/public/../private", "/api/private"),
            ("/api/public/%2e%2e/private", "/api/private"),
            ("/api/public/%2E%2E/private", "/api/private"),
            ("/api/public/.%2e/private", "/api/private"),
            ("/api/public%2F..%2Fprivate", "/api/private"),
            ("/api/public%2f..%2fprivate", "/api/private"),
            ("/api/public/..%5Cprivate", "/api/private"),
            ("/api/public/..%5cprivate", "/api/private"),
            ("/api\\private", "/api/private"),
            ("/api/public\\..\\private", "/api/private"),
            ("/api/%70rivate", "/api/private"),
            ("/%61dmin", "/admin"),
            ("/api/%2e/private", "/api/private"),
            ("///api///public///..///private", "/api/private"),
        ]
    )
    func bypassAttempts(target: String, expected: String) {
        #expect(normalize(target) == .success(expected))
    }

    @Test(
        "encoded slashes and backslashes are refused when configured so",
        arguments: ["/api/public%2F..%2Fprivate", "/a%2fb", "/api/public/..%5Cprivate", "/a%5cb"]
    )
    func rejectEncodedSlashes(target: String) {
        #expect(normalize(target, .reject) == .failure(.encodedSlash))
    }

    @Test("a raw backslash is a separator even when encoded slashes are refused")
    func rawBackslashWithReject() {
        #expect(normalize("/api\\private", .reject) == .success("/api/private"))
    }

    // MARK: Dot segments and slashes

    @Test(
        "dot segments are resolved and the trailing slash kept",
        arguments: [
            ("/a/b/", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/a/b/../", "/a/"),
            ("/a/.", "/a/"),
            ("/a/./", "/a/"),
            ("/a/..", "/"),
            ("/a/../", "/"),
            ("/.", "/"),
            ("/./", "/"),
            ("//", "/"),
            ("///", "/"),
            ("/a//", "/a/"),
            ("/a/b/../../c", "/c"),
            ("/a/./b/./c/.", "/a/b/c/"),
            ("/a/b/c/../../d/", "/a/d/"),
            ("/a/%2e", "/a/"),
            ("/a/b/%2e%2e", "/a/"),
            ("/a/...", "/a/..."),
            ("/a/.../", "/a/.../"),
            ("/a/.hidden/./x", "/a/.hidden/x"),
            ("/a/..b/../c", "/a/c"),
        ]
    )
    func dotSegments(target: String, expected: String) {
        #expect(normalize(target) == .success(expected))
    }

    @Test(
        "climbing above the root is refused, never clamped",
        arguments: [
            "/..", "/../", "/%2e%2e/", "/%2E%2E", "/../a", "/a/../..", "/a/../../b", "/./..", "//..//", "/a%2F..%2F..",
        ]
    )
    func escapesRoot(target: String) {
        #expect(normalize(target) == .failure(.escapesRoot))
    }

    // MARK: Percent-escapes

    @Test(
        "unreserved characters are decoded, other escapes kept with uppercase hex",
        arguments: [
            ("/%41%5a%61%7A%30%39", "/AZaz09"),
            ("/%2D%2e%5F%7e", "/-._~"),
            ("/a%20b", "/a%20b"),
            ("/a%3fb", "/a%3Fb"),
            ("/a%23b", "/a%23b"),
            ("/a%25b", "/a%25b"),
            ("/a%252e%252e", "/a%252e%252e"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a%3a%2c", "/a%3A%2C"),
        ]
    )
    func escapes(target: String, expected: String) {
        #expect(normalize(target) == .success(expected))
    }

    @Test("a decoded percent sign is never decoded again")
    func noDoubleDecoding() {
        #expect(normalize("/api/public/%252e%252e/private") == .success("/api/public/%252e%252e/private"))
    }

    @Test("malformed escapes are refused", arguments: ["/%", "/a%", "/%2", "/a%2/b", "/%G1", "/%1G", "/%%41", "/% 1"])
    func malformedEscape(target: String) {
        #expect(normalize(target) == .failure(.malformedEscape))
    }

    @Test(
        "control characters, raw or encoded, are refused",
        arguments: ["/%00", "/a%00b", "/%0a", "/%0D", "/%1f", "/%7F", "/a\u{0}b", "/a\nb", "/a\tb", "/a\u{7F}"]
    )
    func controlCharacters(target: String) {
        #expect(normalize(target) == .failure(.controlCharacter))
        #expect(normalize(target, .reject) == .failure(.controlCharacter))
    }

    @Test("non-ASCII bytes pass through")
    func nonASCII() {
        #expect(normalize("/café//x") == .success("/café/x"))
    }

    // MARK: Shape of the target

    @Test("a target that does not start with '/' is refused", arguments: ["", "*", "api", "http://h/a", "?x=1", "%2F"])
    func notAbsolute(target: String) {
        #expect(normalize(target) == .failure(.notAbsolute))
    }

    @Test(
        "a fragment is refused, in the path or after the query",
        arguments: ["/a#b", "/a/#", "/a//b#x", "/a?x=1#y", "/a?#"]
    )
    func fragment(target: String) {
        #expect(normalize(target) == .failure(.fragment))
    }

    @Test(
        "the query string is forwarded untouched",
        arguments: [
            ("/a//b?x=//y", "/a/b?x=//y"),
            ("/a/./b?x=%2e%2e&y=..", "/a/b?x=%2e%2e&y=.."),
            ("/a/%61?q=%61", "/a/a?q=%61"),
            ("/a/..?", "/?"),
            ("//?a?b", "/?a?b"),
            ("/a/b/../c?%zz", "/a/c?%zz"),
        ]
    )
    func query(target: String, expected: String) {
        #expect(normalize(target) == .success(expected))
    }

    @Test("an encoded question mark stays in the path")
    func encodedQuestionMark() {
        #expect(normalize("/a%3F/../b?c") == .success("/b?c"))
    }

    @Test("every error has a one-line message")
    func messages() {
        let errors: [PathNormalizationError] = [
            .notAbsolute, .malformedEscape, .encodedSlash, .controlCharacter, .escapesRoot, .fragment,
        ]
        for error in errors {
            #expect(!error.message.isEmpty)
            #expect(!error.message.contains("\n"))
        }
        #expect(Set(errors.map(\.message)).count == errors.count)
    }
}
