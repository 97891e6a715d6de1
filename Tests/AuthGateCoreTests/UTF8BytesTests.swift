import Testing

@testable import AuthGateCore

/// The route rule's comparison as it was written over `String.UTF8View` (before the byte
/// comparisons): the reference the buffer comparisons must agree with.
private func referenceMatches(rule: String, path: Substring, ignoringCase: Bool) -> Bool {
    let ruleBytes = rule.utf8
    let candidate = path.utf8
    let isPrefix = ruleBytes.last == UInt8(ascii: "/")
    guard ignoringCase else {
        if isPrefix { return candidate.starts(with: ruleBytes) || candidate.elementsEqual(ruleBytes.dropLast()) }
        return candidate.elementsEqual(ruleBytes)
    }
    if isPrefix {
        return candidate.prefix(ruleBytes.count).equalsIgnoringASCIICase(ruleBytes)
            || candidate.equalsIgnoringASCIICase(ruleBytes.dropLast())
    }
    return candidate.equalsIgnoringASCIICase(ruleBytes)
}

@Suite("UTF-8 byte comparisons")
struct UTF8BytesTests {
    @Test("utf8Equals compares bytes: lengths, substrings, non-ASCII, no Unicode normalisation")
    func equality() {
        let whole = "x/api/login?y"
        let path = whole.dropFirst().prefix(10)
        #expect(path == "/api/login")
        #expect("/api/login".utf8Equals(path))
        #expect(!"/api/logi".utf8Equals(path))
        #expect(!"/api/loginx".utf8Equals(path))
        #expect(!"/api/Login".utf8Equals(path))
        #expect("".utf8Equals(whole.prefix(0)))
        #expect("/caf\u{E9}".utf8Equals("/caf\u{E9}"))
        // "é" precomposed and decomposed are equal Strings but different bytes.
        #expect("/caf\u{E9}" == "/cafe\u{301}")
        #expect(!"/caf\u{E9}".utf8Equals("/cafe\u{301}"))
    }

    @Test("route rules match as the UTF8View comparison did, on 20,000 generated rule/path pairs (fixed seed)")
    func routeRulesAgreeWithTheReference() {
        var generator = ParserTestRandom(seed: 0x5eed_0001)
        let pieces = ["/", "api", "API", "Api", "public", "auth", "x", "é", "%2F", "-", ".", "a/b"]
        func make() -> String {
            (0..<Int.random(in: 0...5, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }
                .joined()
        }
        var matched = 0
        for _ in 0..<20_000 {
            let rulePath = "/" + make() + (Bool.random(using: &generator) ? "/" : "")
            // A path cut out of a longer string, as the normaliser hands them on.
            let full = "?" + "/" + make() + "?q"
            let path = full.dropFirst().dropLast(2)
            let ignoringCase = Bool.random(using: &generator)
            let rule = RouteTable.Rule(path: rulePath, access: .public)
            let expected = referenceMatches(rule: rulePath, path: path, ignoringCase: ignoringCase)
            #expect(
                rule.matches(path, ignoringCase: ignoringCase) == expected,
                "rule \(rulePath) path \(path) ignoringCase \(ignoringCase)"
            )
            if expected { matched += 1 }
        }
        #expect(matched > 500, "the generated pairs include matches (\(matched))")
    }
}
