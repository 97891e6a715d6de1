import Foundation
import Testing

@testable import AuthGateCore

/// Where ``JSONParser`` refuses a text that Foundation's `JSONDecoder` accepts. Each is a
/// deliberate strictness choice; the differential test fails on any other difference.
enum JSONStrictnessChoice: String, CaseIterable, Sendable {
    case duplicateKey
    case tooDeep
    case trailingComma
    case byteOrderMark
    case trailingNUL

    /// Why the parser is stricter here than Foundation.
    var why: String {
        switch self {
        case .duplicateKey:
            return "two members with one name: parsers disagree on which wins (a JWT with two alg or exp)"
        case .tooDeep:
            return "nesting is bounded (32) on the event loop; Foundation allows 512"
        case .trailingComma:
            return "RFC 8259 has no trailing comma ([1,] or {\"a\":1,}); Foundation takes one"
        case .byteOrderMark:
            return "RFC 8259 §8.1: no byte-order mark; Foundation skips one"
        case .trailingNUL:
            return "a NUL after the value is data after the value; Foundation stops reading at it"
        }
    }

    /// The choice behind `error` on `bytes`, or `nil` when it is none of them.
    init?(_ error: JSONParseError, in bytes: [UInt8]) {
        switch error.kind {
        case .duplicateKey: self = .duplicateKey
        case .tooDeep: self = .tooDeep
        case .trailingData where error.offset < bytes.count && bytes[error.offset] == 0:
            self = .trailingNUL
        case .unexpectedCharacter where error.offset == 0 && bytes.starts(with: [0xEF, 0xBB, 0xBF]):
            self = .byteOrderMark
        case .unexpectedCharacter
        where error.offset < bytes.count
            && (bytes[error.offset] == UInt8(ascii: "]") || bytes[error.offset] == UInt8(ascii: "}"))
            && bytes[..<error.offset].last(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: ","):
            self = .trailingComma
        default: return nil
        }
    }
}

/// Foundation's reading of a JSON text, as a ``JSONValue``.
private struct FoundationValue: Decodable {
    var value: JSONValue

    init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            var values: [JSONValue] = []
            while !array.isAtEnd { values.append(try array.decode(FoundationValue.self).value) }
            self.value = .array(values)
            return
        }
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            var members: [String: JSONValue] = [:]
            for key in object.allKeys {
                members[key.stringValue] = try object.decode(FoundationValue.self, forKey: key).value
            }
            self.value = .object(members)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self.value = .null
        } else if let bool = try? single.decode(Bool.self) {
            self.value = .bool(bool)
        } else if let number = try? single.decode(Double.self) {
            self.value = .number(number)
        } else {
            self.value = .string(try single.decode(String.self))
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// Random JSON texts: valid documents with random whitespace, and the same with one mutation
/// from a list of classic malformations (and the parser's strictness cases).
private struct JSONTextGenerator {
    var rng: ParserTestRandom

    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &self.rng)] }
    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &self.rng) < percent }

    mutating func whitespace() -> String {
        self.chance(70) ? "" : self.pick([" ", "\n", "\t", "\r\n", "  "])
    }

    mutating func string() -> String {
        var out = "\""
        for _ in 0..<Int.random(in: 0...6, using: &self.rng) {
            out += self.pick([
                "a", "Z", "0", " ", "é", "€", "😀", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t",
                "\\u0041", "\\u00e9", "\\ud83d\\ude00", "\\u0000", "alg", "exp",
            ])
        }
        return out + "\""
    }

    mutating func number() -> String {
        self.pick([
            "0", "-0", "1", "-1", "42", "3.25", "-0.5", "1e3", "1E-3", "2.5e+10", "123456789012345678",
            "0.1", "1.7976931348623157e308", "5e-324", "9007199254740993", "1e22", "-12.75e-2",
        ])
    }

    mutating func value(depth: Int) -> String {
        let kind = depth > 3 ? Int.random(in: 0..<4, using: &self.rng) : Int.random(in: 0..<6, using: &self.rng)
        switch kind {
        case 0: return self.pick(["true", "false", "null"])
        case 1: return self.number()
        case 2, 3: return self.string()
        case 4:
            let count = Int.random(in: 0...4, using: &self.rng)
            let items = (0..<count).map { _ in self.whitespace() + self.value(depth: depth + 1) + self.whitespace() }
            return "[" + items.joined(separator: ",") + (count == 0 ? self.whitespace() : "") + "]"
        default:
            let count = Int.random(in: 0...4, using: &self.rng)
            var names = Set<String>()
            var members: [String] = []
            for _ in 0..<count {
                let name = self.string()
                // Equal escapes of one name are still one name: keep documents valid here.
                guard names.insert(Self.decodedName(name)).inserted else { continue }
                members.append(
                    self.whitespace() + name + self.whitespace() + ":" + self.whitespace()
                        + self.value(depth: depth + 1)
                        + self.whitespace()
                )
            }
            return "{" + members.joined(separator: ",") + (members.isEmpty ? self.whitespace() : "") + "}"
        }
    }

    static func decodedName(_ literal: String) -> String {
        (try? JSONParser.parse(literal))?.stringValue ?? literal
    }

    mutating func document() -> [UInt8] {
        let text = self.whitespace() + self.value(depth: 0) + self.whitespace()
        var bytes = Array(text.utf8)
        guard self.chance(55) else { return bytes }
        switch Int.random(in: 0..<14, using: &self.rng) {
        case 0:  // drop a byte
            if !bytes.isEmpty { bytes.remove(at: Int.random(in: 0..<bytes.count, using: &self.rng)) }
        case 1:  // insert a byte from the characters JSON cares about
            let byte = self.pick(Array("{}[]:,\"\\ \t\n0-+.eE/*'".utf8) + [0x00, 0x01, 0x7F, 0xC3, 0xFF])
            bytes.insert(byte, at: Int.random(in: 0...bytes.count, using: &self.rng))
        case 2:  // a trailing comma
            if let close = bytes.lastIndex(where: { $0 == UInt8(ascii: "]") || $0 == UInt8(ascii: "}") }) {
                bytes.insert(UInt8(ascii: ","), at: close)
            }
        case 3:  // a comment
            bytes = Array("/* c */".utf8) + bytes
        case 4:  // trailing data
            bytes += Array(self.pick([" 1", "x", "{}", " null", ",", "\u{0}"]).utf8)
        case 5:  // a duplicate key
            bytes = Array("{\"alg\":\"none\",\"alg\":\(text)}".utf8)
        case 6:  // leading zeros, bare signs and dots, non-finite numbers
            bytes = Array(
                "[\(self.pick(["01", "-01", "+1", ".5", "1.", "1e", "-", "NaN", "Infinity", "-Infinity", "0x10", "1e400", "-1e400"]))]"
                    .utf8
            )
        case 7:  // single quotes, unquoted names, literals in the wrong case
            bytes = Array(self.pick(["{'a':1}", "{a:1}", "[True]", "[NULL]", "['x']", "{\"a\" 1}", "{\"a\":}"]).utf8)
        case 8:  // escapes: invalid, lone surrogates, pairs in the wrong order
            bytes = Array(
                "[\"\(self.pick(["\\x41", "\\u12", "\\uZZZZ", "\\ud800", "\\udc00", "\\udc00\\ud800", "\\ud800x", "\\U0041", "\\'"]))\"]"
                    .utf8
            )
        case 9:  // raw control characters and invalid UTF-8 inside a string
            let inner: [UInt8] = self.pick([
                [0x09], [0x0A], [0x1F], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xFF], [0xC3],
            ])
            bytes = Array("[\"a".utf8) + inner + Array("\"]".utf8)
        case 10:  // a byte-order mark
            bytes = [0xEF, 0xBB, 0xBF] + bytes
        case 11:  // nesting at and past the bound
            let depth = self.pick([31, 32, 33, 40])
            bytes = Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8)
        case 12:  // empty and whitespace-only texts
            bytes = Array(self.pick(["", " ", "\n\t"]).utf8)
        default:  // cut short
            if !bytes.isEmpty { bytes.removeLast(Int.random(in: 1...bytes.count, using: &self.rng)) }
        }
        return bytes
    }
}

@Suite("JSONParser against Foundation's JSONDecoder")
struct JSONParserDifferentialTests {
    @Test("10,000 generated texts: the same values where both accept, and only listed strictness choices apart")
    func differential() throws {
        var generator = JSONTextGenerator(rng: ParserTestRandom(seed: 0x4A53_4F4E))
        let decoder = JSONDecoder()
        var bothAccept = 0
        var bothReject = 0
        var stricter: [JSONStrictnessChoice: Int] = [:]
        var failures: [String] = []
        for _ in 0..<10_000 {
            let bytes = generator.document()
            let ours = Result { () throws(JSONParseError) -> JSONValue in try JSONParser.parse(bytes) }
            let reference = Result { try decoder.decode(FoundationValue.self, from: Data(bytes)).value }
            let shown = String(decoding: bytes.prefix(120), as: UTF8.self).debugDescription
            switch (ours, reference) {
            case (.success(let value), .success(let expected)):
                bothAccept += 1
                if value != expected { failures.append("values differ for \(shown): \(value) vs \(expected)") }
            case (.failure, .failure):
                bothReject += 1
            case (.success, .failure(let error)):
                failures.append("accepted here, refused by Foundation (\(error)): \(shown)")
            case (.failure(let error), .success):
                if let choice = JSONStrictnessChoice(error, in: bytes) {
                    stricter[choice, default: 0] += 1
                } else {
                    failures.append("refused here (\(error)), accepted by Foundation: \(shown)")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) differences, first: \(failures.prefix(5))")
        print("JSON differential: \(bothAccept) accepted by both, \(bothReject) refused by both, stricter: \(stricter)")
        // The generator reaches every kind of outcome, so the comparison means something.
        #expect(bothAccept > 2_000)
        #expect(bothReject > 2_000)
        for choice in JSONStrictnessChoice.allCases {
            #expect(stricter[choice, default: 0] > 0, "no generated text exercised \(choice): \(choice.why)")
        }
    }
}
