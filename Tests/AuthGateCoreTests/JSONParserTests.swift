import Testing

@testable import AuthGateCore

private func parse(_ text: String) -> Result<JSONValue, JSONParseError> {
    Result { () throws(JSONParseError) -> JSONValue in try JSONParser.parse(text) }
}

private func parse(bytes: [UInt8]) -> Result<JSONValue, JSONParseError> {
    Result { () throws(JSONParseError) -> JSONValue in try JSONParser.parse(bytes) }
}

private func errorKind(_ result: Result<JSONValue, JSONParseError>) -> JSONParseError.Kind? {
    if case .failure(let error) = result {
        return error.kind
    }
    return nil
}

private func nested(_ depth: Int, open: String = "[", close: String = "]") -> String {
    String(repeating: open, count: depth) + String(repeating: close, count: depth)
}

@Suite("JSONParser")
struct JSONParserTests {
    @Test("scalars, containers and whitespace")
    func values() throws {
        #expect(try JSONParser.parse("null") == .null)
        #expect(try JSONParser.parse(" true ") == .bool(true))
        #expect(try JSONParser.parse("\tfalse\r\n") == .bool(false))
        #expect(try JSONParser.parse("\"x\"") == .string("x"))
        #expect(try JSONParser.parse("[]") == .array([]))
        #expect(try JSONParser.parse("{}") == .object([:]))
        let value = try JSONParser.parse(#" { "a" : [1, "two", {"b": null}], "c": {"d": false} } "#)
        #expect(
            value
                == .object([
                    "a": .array([.number(1), .string("two"), .object(["b": .null])]),
                    "c": .object(["d": .bool(false)]),
                ])
        )
    }

    @Test(
        "numbers",
        arguments: [
            ("0", 0.0), ("-0", -0.0), ("7", 7), ("-12", -12), ("1700000000", 1_700_000_000),
            ("123456789012345", 123_456_789_012_345), ("12345678901234567890", 12_345_678_901_234_567_168),
            ("1.5", 1.5), ("-0.25", -0.25), ("1e3", 1000), ("1E+3", 1000), ("25e-1", 2.5), ("1.0", 1),
        ]
    )
    func numbers(text: String, expected: Double) throws {
        #expect(try JSONParser.parse(text) == .number(expected))
    }

    @Test(
        "invalid numbers",
        arguments: ["01", "-", "1.", ".5", "+1", "1e", "1e+", "-a", "0x10", "1.e3", "NaN", "Infinity", "--1"]
    )
    func invalidNumbers(text: String) {
        #expect(errorKind(parse(text)) != nil, "\(text)")
    }

    @Test("numbers that overflow a Double are refused")
    func hugeNumbers() {
        #expect(errorKind(parse("1e400")) == .numberOutOfRange)
        #expect(errorKind(parse("-1e400")) == .numberOutOfRange)
    }

    @Test("escapes decode")
    func escapes() throws {
        #expect(try JSONParser.parse(#""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{08}\u{0C}\n\r\t"))
        #expect(try JSONParser.parse(#""\u0041\u00e9\u20AC""#) == .string("Aé€"))
        #expect(try JSONParser.parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try JSONParser.parse(#""x\u0000y""#) == .string("x\u{0}y"))
    }

    @Test("bad escapes are refused", arguments: [#""\x""#, #""\u12""#, #""\u12G4""#, #""\'""#, #""\"#, #""\U0041""#])
    func badEscapes(text: String) {
        #expect(errorKind(parse(text)) == .invalidEscape || errorKind(parse(text)) == .unexpectedEnd, "\(text)")
    }

    @Test(
        "lone surrogates are refused",
        arguments: [#""\ud800""#, #""\udc00""#, #""\ud800x""#, #""\ud800\u0041""#, #""\ud800\ud800""#]
    )
    func loneSurrogates(text: String) {
        #expect(errorKind(parse(text)) == .loneSurrogate, "\(text)")
    }

    @Test("raw control characters in strings are refused")
    func controlCharacters() {
        #expect(errorKind(parse("\"a\nb\"")) == .controlCharacter)
        #expect(errorKind(parse(bytes: [0x22, 0x00, 0x22])) == .controlCharacter)
        #expect(errorKind(parse("\"a\\n\tb\"")) == .controlCharacter)
    }

    @Test("UTF-8 passes through and invalid UTF-8 is refused")
    func utf8() throws {
        #expect(try JSONParser.parse("\"héllo wörld 😀 日本\"") == .string("héllo wörld 😀 日本"))
        #expect(try JSONParser.parse("\"é\\n😀\"") == .string("é\n😀"))
        let invalid: [[UInt8]] = [
            [0x22, 0xC0, 0x80, 0x22],  // overlong NUL
            [0x22, 0xE0, 0x80, 0xAF, 0x22],  // overlong
            [0x22, 0xED, 0xA0, 0x80, 0x22],  // encoded surrogate
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
            [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22],
            [0x22, 0xC3, 0x22],  // truncated
            [0x22, 0x80, 0x22],  // stray continuation
            [0x22, 0x5C, 0x6E, 0xFF, 0x22],  // after an escape (slow path)
        ]
        for bytes in invalid {
            #expect(errorKind(parse(bytes: bytes)) == .invalidUTF8, "\(bytes)")
        }
    }

    @Test("trailing data is refused", arguments: ["{} x", "[]]", "1 2", "{}{}", "null,", "\"a\"\"b\""])
    func trailingData(text: String) {
        #expect(errorKind(parse(text)) == .trailingData, "\(text)")
    }

    @Test(
        "not JSON",
        arguments: [
            "", "   ", "{", "[1,]", "{\"a\":1,}", "{'a':1}", "[1 2]", "{\"a\" 1}", "{1:2}", "tru", "nul", "True",
            "// c\n1", "\u{FEFF}{}", "[,]",
        ]
    )
    func notJSON(text: String) {
        #expect(errorKind(parse(text)) != nil, "\(text)")
    }

    @Test("nesting up to 32 levels is accepted, 33 refused")
    func depth() throws {
        #expect(throws: Never.self) { try JSONParser.parse(nested(32)) }
        #expect(errorKind(parse(nested(33))) == .tooDeep)
        var objects = ""
        for _ in 0..<33 {
            objects += "{\"a\":"
        }
        objects += "1" + String(repeating: "}", count: 33)
        #expect(errorKind(parse(objects)) == .tooDeep)
        #expect(
            errorKind(
                Result { () throws(JSONParseError) -> JSONValue in try JSONParser.parse("[[1]]", maximumDepth: 1) }
            ) == .tooDeep
        )
    }

    @Test("duplicate keys are refused, at any depth")
    func duplicateKeys() {
        #expect(errorKind(parse(#"{"alg":"HS256","alg":"none"}"#)) == .duplicateKey)
        #expect(errorKind(parse(#"{"exp":1,"sub":"a","exp":2}"#)) == .duplicateKey)
        #expect(errorKind(parse(#"{"a":{"b":1,"b":1}}"#)) == .duplicateKey)
        #expect(errorKind(parse(#"[{"b":1},{"b":1}]"#)) == nil)
        // An escaped spelling of the same key is still the same key.
        #expect(errorKind(parse(#"{"alg":"HS256","\u0061lg":"none"}"#)) == .duplicateKey)
    }

    @Test("error offsets point at the problem")
    func offsets() {
        guard case .failure(let error) = parse(#"{"alg":"HS256","alg":"none"}"#) else {
            Issue.record("accepted a duplicate key")
            return
        }
        #expect(error.offset == 15)
        #expect(error.description.contains("duplicate"))
    }

    @Test("accessors")
    func accessors() throws {
        let value = try JSONParser.parse(
            #"{"s":"x","i":1700000000,"f":1.5,"big":1e30,"neg":-3,"b":true,"n":null,"a":[1],"o":{}}"#
        )
        #expect(value["s"]?.stringValue == "x")
        #expect(value["i"]?.int64Value == 1_700_000_000)
        #expect(value["neg"]?.int64Value == -3)
        #expect(value["f"]?.int64Value == nil)
        #expect(value["f"]?.doubleValue == 1.5)
        #expect(value["big"]?.int64Value == nil)
        #expect(value["s"]?.int64Value == nil)
        #expect(value["i"]?.stringValue == nil)
        #expect(value["b"]?.boolValue == true)
        #expect(value["n"]?.isNull == true)
        #expect(value["a"]?.arrayValue == [.number(1)])
        #expect(value["o"]?.objectValue == [:])
        #expect(value["missing"] == nil)
        #expect(value["a"]?["x"] == nil)
        #expect(JSONValue.number(1.0).int64Value == 1)
    }

    @Test("entry points agree")
    func entryPoints() throws {
        let text = #"xx{"k":[1,"v"]}yy"#
        let slice = text.dropFirst(2).dropLast(2)
        let expected = JSONValue.object(["k": .array([.number(1), .string("v")])])
        #expect(try JSONParser.parse(slice.utf8) == expected)
        #expect(try JSONParser.parse(Array(slice.utf8)) == expected)
        let fromBuffer = try Array(slice.utf8).withUnsafeBytes { buffer in try JSONParser.parse(buffer) }
        #expect(fromBuffer == expected)
    }

    @Test("encoding round-trips and escapes")
    func encoding() throws {
        let value = JSONValue.object([
            "z": .array([.number(1), .number(-2.5), .number(1e21), .bool(true), .null]),
            "a": .string("quote\" backslash\\ newline\n tab\t nul\u{0} é 😀"),
        ])
        let text = value.jsonString
        #expect(text.hasPrefix(#"{"a":"quote\" backslash\\ newline\n tab\t nul\u0000 é 😀","z":[1,-2.5,"#))
        #expect(try JSONParser.parse(text) == value)
        var output = ""
        JSONEncoding.appendString("a\u{1F}b", to: &output)
        #expect(output == #""a\u001fb""#)
    }
}
