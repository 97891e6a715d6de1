import Foundation
import Testing

@testable import AuthGateCore

/// Where ``Base64URL`` refuses a text that Foundation's base64 decoder accepts (once the text is
/// mapped to the standard alphabet and padded). Each is a deliberate strictness choice.
enum Base64StrictnessChoice: String, CaseIterable, Sendable {
    case padding
    case nonZeroTrailingBits

    var why: String {
        switch self {
        case .padding:
            return "JWS (RFC 7515 §2) is unpadded: a `=` is refused, so a token has one spelling"
        case .nonZeroTrailingBits:
            return
                "unused bits of the last character must be zero (RFC 4648 §3.5): otherwise two texts decode to one value and the cache, keyed by the text, sees two"
        }
    }
}

@Suite("Base64URL against Foundation's base64")
struct Base64URLDifferentialTests {
    /// Foundation's reading of a base64url text: alphabet mapped back, padding added.
    static func reference(_ text: String) -> [UInt8]? {
        var standard = String(
            text.map { character -> Character in
                switch character {
                case "-": return "+"
                case "_": return "/"
                case "+", "/": return "!"  // not base64url: must stay invalid
                default: return character
                }
            }
        )
        if !standard.contains("=") {
            standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        }
        return Data(base64Encoded: standard).map { Array($0) }
    }

    /// `text` with the bits of its last character that encode nothing set to zero.
    static func clearingUnusedBits(_ text: String, alphabet: [Character]) -> String? {
        guard let last = text.last, let value = alphabet.firstIndex(of: last) else { return nil }
        let unused: Int
        switch text.count % 4 {
        case 2: unused = 4
        case 3: unused = 2
        default: return nil
        }
        return String(text.dropLast()) + String(alphabet[(value >> unused) << unused])
    }

    @Test("10,000 random byte strings encode as Foundation encodes them, and decode back")
    func encoding() {
        var rng = ParserTestRandom(seed: 0xB64)
        for _ in 0..<10_000 {
            let bytes = (0..<Int.random(in: 0...70, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            let ours = Base64URL.encode(bytes)
            #expect(ours == expected)
            #expect(Base64URL.decode(ours) == bytes)
            #expect(Base64.encode(bytes) == Data(bytes).base64EncodedString())
        }
    }

    @Test("10,000 random texts decode as Foundation decodes them, but for the listed strictness choices")
    func decoding() {
        var rng = ParserTestRandom(seed: 0xDEC0DE)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let odd: [Character] = ["=", "+", "/", " ", "\n", ".", "%", "\u{0}", "é"]
        var bothAccept = 0
        var bothReject = 0
        var stricter: [Base64StrictnessChoice: Int] = [:]
        var failures: [String] = []
        for _ in 0..<10_000 {
            var text = String(
                (0..<Int.random(in: 0...24, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            )
            if Int.random(in: 0..<4, using: &rng) == 0 {
                let index = text.index(text.startIndex, offsetBy: Int.random(in: 0...text.count, using: &rng))
                text.insert(odd.randomElement(using: &rng)!, at: index)
            } else if Int.random(in: 0..<6, using: &rng) == 0 {
                text += String(repeating: "=", count: (4 - text.count % 4) % 4)
            }
            let ours = Base64URL.decode(text)
            let reference = Self.reference(text)
            switch (ours, reference) {
            case (let value?, let expected?):
                bothAccept += 1
                if value != expected { failures.append("values differ for \(text.debugDescription)") }
            case (nil, nil):
                bothReject += 1
            case (.some, nil):
                failures.append("accepted here, refused by Foundation: \(text.debugDescription)")
            case (nil, .some):
                if text.contains("=") {
                    stricter[.padding, default: 0] += 1
                } else if let canonical = Self.clearingUnusedBits(text, alphabet: alphabet),
                    Base64URL.decode(canonical) == reference
                {
                    // Foundation ignores the unused bits of the last character.
                    stricter[.nonZeroTrailingBits, default: 0] += 1
                } else {
                    failures.append("refused here, accepted by Foundation: \(text.debugDescription)")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) differences, first: \(failures.prefix(5))")
        print(
            "Base64URL differential: \(bothAccept) accepted by both, \(bothReject) refused by both, stricter: \(stricter)"
        )
        #expect(bothAccept > 2_000)
        #expect(bothReject > 500)
        for choice in Base64StrictnessChoice.allCases {
            #expect(stricter[choice, default: 0] > 0, "no generated text exercised \(choice): \(choice.why)")
        }
    }
}
