/// The byte classes of the HTTP/1.1 grammar (RFC 9110 §5.6, RFC 9112 §3, RFC 3986 §3.3), as the
/// strict ``ClientRequestParser`` applies them; ``UpstreamResponseParser`` uses the token and
/// field-value classes too.
enum HTTPCharacterClass {
    /// `tchar`: the bytes of a method, a field name or a chunk extension's name.
    @inline(__always)
    static func isToken(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// The bytes of an origin-form request target's path: RFC 3986 `pchar`, `/`, `?` and `%`,
    /// plus `[` and `]` (browsers leave them unescaped, as HAProxy accepts them) and `\`.
    ///
    /// `\` is accepted because clients send it today and the gateway's path normalisation
    /// reads it as `/` before routing, so `/public/..\private` is routed (and forwarded) as
    /// `/private`: refusing it would turn those answers into 400s.
    ///
    /// Refused: controls, space, `"`, `<`, `>`, `^`, `` ` ``, `{`, `|`, `}`, DEL and every byte
    /// above it (a backend may decode non-ASCII differently); and `#`, since a fragment is never
    /// part of a request target and a backend might read the path differently from the gateway.
    /// The query accepts a few more (``isQueryTarget(_:)``).
    @inline(__always)
    static func isTarget(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),  // unreserved
            UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
            UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
            UInt8(ascii: "="),  // sub-delims
            UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "/"), UInt8(ascii: "?"), UInt8(ascii: "%"),
            UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "\\"):
            return true
        default:
            return false
        }
    }

    /// The bytes of a request target's query (after its first `?`): those of the path, plus
    /// `{`, `}`, `|`, `^` and `` ` ``, which browsers send unescaped in queries (the WHATWG
    /// URL standard's query set escapes only controls, space, `"`, `#`, `<`, `>` and `'` for
    /// special schemes) and which NIOHTTP1's decoder accepted. They delimit nothing in a query,
    /// so they cannot make a backend split the target differently. Controls, space, DEL,
    /// non-ASCII, `"`, `<`, `>` and `#` stay refused.
    @inline(__always)
    static func isQueryTarget(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "|"), UInt8(ascii: "^"), UInt8(ascii: "`"):
            return true
        default:
            return Self.isTarget(byte)
        }
    }

    /// `field-vchar`, SP and HTAB: what a field value (trimmed of OWS) may hold. Controls
    /// (NUL, CR, LF, ...) and DEL are refused; `obs-text` is kept, as RFC 9110 allows it.
    @inline(__always)
    static func isFieldValue(_ byte: UInt8) -> Bool {
        byte >= 0x20 ? byte != 0x7F : byte == ASCII.tab
    }

    /// `qdtext` of a quoted string (RFC 9110 §5.6.4).
    @inline(__always)
    static func isQuotedText(_ byte: UInt8) -> Bool {
        byte == ASCII.tab || byte == ASCII.space || byte == 0x21 || (byte >= 0x23 && byte <= 0x5B)
            || (byte >= 0x5D && byte != 0x7F)
    }

    /// What may follow a backslash in a quoted string: HTAB, SP, VCHAR, obs-text.
    @inline(__always)
    static func isQuotedPairText(_ byte: UInt8) -> Bool {
        byte == ASCII.tab || (byte >= 0x20 && byte != 0x7F)
    }
}
