/// Splits a SQL script into its statements.
///
/// postgres-nio speaks only PostgreSQL's extended query protocol, which takes one statement per
/// query, so a migration file is sent statement by statement (inside one transaction). The
/// splitter knows just enough of PostgreSQL's lexical rules to find the `;` that end
/// statements: `--` and (nested) `/* */` comments, `'…'` strings (with `''`), `E'…'` strings
/// (with `\'`), `"…"` identifiers and `$tag$…$tag$` dollar quotes (function bodies, `DO`
/// blocks). Comments are kept with the statement that follows them; statements that are only
/// comments and whitespace are dropped. The `;` itself is not part of a statement.
public enum SQLStatementSplitter {
    private enum State {
        case normal
        case lineComment
        case blockComment(depth: Int)
        case singleQuoted(backslashEscapes: Bool)
        case doubleQuoted
        case dollarQuoted(tag: [UInt8])
    }

    /// The statements of `script`, trimmed, without their terminating `;`.
    public static func split(_ script: String) -> [String] {
        let bytes = Array(script.utf8)
        var statements: [String] = []
        var state = State.normal
        var start = 0
        var hasCode = false  // the current statement has something besides comments and spaces
        var index = 0

        func finish(_ end: Int) {
            if hasCode {
                let text = String(decoding: bytes[start..<end], as: UTF8.self)
                statements.append(Self.trimmed(text))
            }
            start = end + 1
            hasCode = false
        }

        while index < bytes.count {
            let byte = bytes[index]
            let next: UInt8? = index + 1 < bytes.count ? bytes[index + 1] : nil
            switch state {
            case .normal:
                switch byte {
                case UInt8(ascii: "-") where next == UInt8(ascii: "-"):
                    state = .lineComment
                    index += 1
                case UInt8(ascii: "/") where next == UInt8(ascii: "*"):
                    state = .blockComment(depth: 1)
                    index += 1
                case UInt8(ascii: "'"):
                    hasCode = true
                    let previous: UInt8? = index > 0 ? bytes[index - 1] : nil
                    let escapes = previous == UInt8(ascii: "E") || previous == UInt8(ascii: "e")
                    state = .singleQuoted(backslashEscapes: escapes)
                case UInt8(ascii: "\""):
                    hasCode = true
                    state = .doubleQuoted
                case UInt8(ascii: "$"):
                    hasCode = true
                    if let tag = Self.dollarTag(bytes, at: index) {
                        state = .dollarQuoted(tag: tag)
                        index += tag.count - 1
                    }
                case UInt8(ascii: ";"):
                    finish(index)
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                    break
                default:
                    hasCode = true
                }
            case .lineComment:
                if byte == UInt8(ascii: "\n") { state = .normal }
            case .blockComment(let depth):
                if byte == UInt8(ascii: "*"), next == UInt8(ascii: "/") {
                    state = depth == 1 ? .normal : .blockComment(depth: depth - 1)
                    index += 1
                } else if byte == UInt8(ascii: "/"), next == UInt8(ascii: "*") {
                    state = .blockComment(depth: depth + 1)
                    index += 1
                }
            case .singleQuoted(let backslashEscapes):
                if backslashEscapes, byte == UInt8(ascii: "\\") {
                    index += 1
                } else if byte == UInt8(ascii: "'") {
                    if next == UInt8(ascii: "'") {
                        index += 1
                    } else {
                        state = .normal
                    }
                }
            case .doubleQuoted:
                if byte == UInt8(ascii: "\"") {
                    if next == UInt8(ascii: "\"") {
                        index += 1
                    } else {
                        state = .normal
                    }
                }
            case .dollarQuoted(let tag):
                if byte == UInt8(ascii: "$"), bytes[index...].starts(with: tag) {
                    state = .normal
                    index += tag.count - 1
                }
            }
            index += 1
        }
        finish(bytes.count)
        return statements
    }

    /// `$tag$` or `$$` starting at `index`, if it is one (a `$1` parameter is not).
    private static func dollarTag(_ bytes: [UInt8], at index: Int) -> [UInt8]? {
        var end = index + 1
        while end < bytes.count {
            let byte = bytes[end]
            if byte == UInt8(ascii: "$") { return Array(bytes[index...end]) }
            let isLetter = (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
            let isDigit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
            guard isLetter || byte == UInt8(ascii: "_") || byte >= 0x80 || (isDigit && end > index + 1) else {
                return nil
            }
            end += 1
        }
        return nil
    }

    private static func trimmed(_ text: String) -> String {
        let isSpace = { (c: Character) in c == " " || c == "\n" || c == "\t" || c == "\r" }
        guard let first = text.firstIndex(where: { !isSpace($0) }),
            let last = text.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(text[first...last])
    }
}
