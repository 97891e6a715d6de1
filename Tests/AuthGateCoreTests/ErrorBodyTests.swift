import Foundation
import NIOHTTP1
import Testing

@testable import AuthGateCore

private func jsonString(_ value: String) -> String {
    var out = ""
    ErrorBody.appendJSONString(value, to: &out)
    return out
}

/// Parses a rendered body; nil when it is not a JSON object.
private func parse(_ body: String) -> [String: Any]? {
    guard let data = body.data(using: .utf8) else { return nil }
    return (try? JSONSerialization.jsonObject(with: data, options: [])) as? [String: Any]
}

private let allControlCharacters = String(
    String.UnicodeScalarView((0..<0x20).compactMap { Unicode.Scalar(UInt32($0)) })
)

@Suite("ErrorBody")
struct ErrorBodyTests {
    // MARK: String escaping

    @Test("plain text is quoted as is")
    func plain() {
        #expect(jsonString("hello world") == "\"hello world\"")
        #expect(jsonString("") == "\"\"")
    }

    @Test("quotes and backslashes are escaped")
    func quotesAndBackslashes() {
        #expect(jsonString(#"say "hi""#) == #""say \"hi\"""#)
        #expect(jsonString(#"C:\path\to"#) == #""C:\\path\\to""#)
        #expect(jsonString(#"\""#) == #""\\\"""#)
    }

    @Test("newline, carriage return and tab use their short escapes")
    func shortEscapes() {
        #expect(jsonString("a\nb\rc\td") == #""a\nb\rc\td""#)
    }

    @Test(
        "other control characters use \\u00XX with lowercase hex",
        arguments: [
            (0x00, #"\u0000"#), (0x01, #"\u0001"#), (0x08, #"\u0008"#), (0x0B, #"\u000b"#), (0x0C, #"\u000c"#),
            (0x1B, #"\u001b"#), (0x1F, #"\u001f"#),
        ]
    )
    func controlEscapes(code: UInt32, escaped: String) throws {
        let scalar = try #require(Unicode.Scalar(code))
        #expect(jsonString("x" + String(Character(scalar)) + "y") == "\"x" + escaped + "y\"")
    }

    @Test("no raw control character survives escaping")
    func noRawControl() {
        let escaped = jsonString(allControlCharacters)
        for scalar in escaped.unicodeScalars {
            #expect(scalar.value >= 0x20, "raw U+\(String(scalar.value, radix: 16)) in output")
        }
    }

    @Test("non-ASCII text passes through unescaped")
    func nonASCII() {
        #expect(
            jsonString("caf\u{E9} \u{65E5}\u{672C} \u{1F680} \u{2028}")
                == "\"caf\u{E9} \u{65E5}\u{672C} \u{1F680} \u{2028}\""
        )
    }

    @Test("DEL (0x7F) needs no escape and stays valid JSON")
    func delCharacter() throws {
        let body = ErrorBody.render(
            GatewayError(status: .badRequest, code: .badRequest, message: "a\u{7F}b"),
            requestID: "r"
        )
        let object = try #require(parse(body))
        #expect(object["message"] as? String == "a\u{7F}b")
    }

    @Test("appending keeps what was there")
    func appendKeepsPrefix() {
        var out = "prefix:"
        ErrorBody.appendJSONString("v", to: &out)
        #expect(out == "prefix:\"v\"")
    }

    // MARK: Render

    @Test("the body is the contract's JSON object, in key order")
    func renderExact() {
        let body = ErrorBody.render(.badRequest("The request target must be an absolute path."), requestID: "0123abcd")
        #expect(
            body
                == #"{"error":"bad_request","message":"The request target must be an absolute path.","request_id":"0123abcd"}"#
        )
    }

    @Test(
        "the rendered body parses into exactly error, message and request_id",
        arguments: [
            "simple",
            #"quotes " and \ backslashes \\ \""#,
            "line\nbreak\r\n\ttab",
            "caf\u{E9} \u{65E5}\u{672C}\u{8A9E} \u{1F510} \u{2028}\u{2029}",
            allControlCharacters,
            "</script><script>alert(1)</script>",
            "",
        ]
    )
    func renderParses(message: String) throws {
        let error = GatewayError(status: .unauthorized, code: .rejected(.badSignature), message: message)
        let requestID = "id\\with\u{01}odd\"chars"
        let body = ErrorBody.render(error, requestID: requestID)
        let object = try #require(parse(body), "not a JSON object: \(body)")
        #expect(Set(object.keys) == ["error", "message", "request_id"])
        #expect(object["error"] as? String == "bad_signature")
        #expect(object["message"] as? String == message)
        #expect(object["request_id"] as? String == requestID)
    }

    @Test("every built-in error renders to valid JSON with its code")
    func builtInErrors() throws {
        let errors: [GatewayError] = [
            .headersTooLarge, .uriTooLong, .payloadTooLarge, .methodNotAllowed, .upstreamUnavailable,
            .upstreamInvalidResponse, .upstreamTimeout, .upstreamBusy, .shuttingDown, .notFound, .badRequest("x"),
            .tooManyRequests(retryAfterSeconds: 30, reason: .rateLimited),
            .tooManyRequests(retryAfterSeconds: 900, reason: .lockedOut),
        ]
        for error in errors {
            let object = try #require(parse(ErrorBody.render(error, requestID: "r")))
            #expect(object["error"] as? String == error.code.rawValue)
            #expect(object["message"] as? String == error.message)
        }
    }

    // MARK: Response head

    @Test("the head carries the body's UTF-8 length, JSON type, request id and no-store")
    func responseHead() {
        let error = GatewayError(
            status: .badGateway,
            code: .upstreamUnavailable,
            message: "Backend \u{2014} down \u{1F4A5}"
        )
        let body = ErrorBody.render(error, requestID: "abc")
        #expect(body.utf8.count != body.count)  // the length must be in bytes, not characters
        let head = ErrorBody.responseHead(
            for: error,
            bodyLength: body.utf8.count,
            requestID: "abc",
            version: .http1_1,
            close: false
        )
        #expect(head.status == .badGateway)
        #expect(head.version == .http1_1)
        #expect(head.headers["Content-Length"] == [String(body.utf8.count)])
        #expect(head.headers["Content-Type"] == ["application/json"])
        #expect(head.headers["Cache-Control"] == ["no-store"])
        #expect(head.headers["X-Request-Id"] == ["abc"])
        #expect(!head.headers.contains(name: "Connection"))
        #expect(!head.headers.contains(name: "Transfer-Encoding"))
    }

    @Test("Connection: close when asked")
    func responseHeadClose() {
        let head = ErrorBody.responseHead(
            for: .payloadTooLarge,
            bodyLength: 10,
            requestID: "r",
            version: .http1_1,
            close: true
        )
        #expect(head.headers["Connection"] == ["close"])
        #expect(head.status == .payloadTooLarge)
    }

    @Test("the error's extra headers are added")
    func responseHeadExtraHeaders() {
        let busy = ErrorBody.responseHead(
            for: .upstreamBusy,
            bodyLength: 1,
            requestID: "r",
            version: .http1_1,
            close: false
        )
        #expect(busy.status == .serviceUnavailable)
        #expect(busy.headers["Retry-After"] == ["1"])

        let unauthorized = GatewayError(
            status: .unauthorized,
            code: .rejected(.expired),
            message: "expired",
            headers: [("WWW-Authenticate", #"Bearer error="invalid_token""#), ("Retry-After", "30")]
        )
        let head = ErrorBody.responseHead(
            for: unauthorized,
            bodyLength: 1,
            requestID: "r",
            version: .http1_0,
            close: true
        )
        #expect(head.headers["WWW-Authenticate"] == [#"Bearer error="invalid_token""#])
        #expect(head.headers["Retry-After"] == ["30"])
        #expect(head.headers["Connection"] == ["close"])
        #expect(head.version == .http1_0)
    }

    @Test("an error without extra headers adds none")
    func responseHeadNoExtras() {
        let head = ErrorBody.responseHead(
            for: .notFound,
            bodyLength: 0,
            requestID: "r",
            version: .http1_1,
            close: false
        )
        #expect(!head.headers.contains(name: "Retry-After"))
        #expect(!head.headers.contains(name: "WWW-Authenticate"))
        #expect(head.headers.count == 4)
    }

    // MARK: GatewayError

    @Test(
        "the contract's status codes and error codes are stable",
        arguments: [
            (GatewayError.headersTooLarge, 431, "request_header_fields_too_large"),
            (.uriTooLong, 414, "uri_too_long"),
            (.payloadTooLarge, 413, "payload_too_large"),
            (.methodNotAllowed, 405, "method_not_allowed"),
            (.upstreamUnavailable, 502, "upstream_unavailable"),
            (.upstreamInvalidResponse, 502, "upstream_invalid_response"),
            (.upstreamTimeout, 504, "upstream_timeout"),
            (.upstreamBusy, 503, "upstream_busy"),
            (.shuttingDown, 503, "shutting_down"),
            (.notFound, 404, "not_found"),
            (.badRequest("m"), 400, "bad_request"),
            (.invalidRequest("m"), 400, "invalid_request"),
            (.impersonationNotAllowed, 403, "impersonation_not_allowed"),
            (.tooManyRequests(retryAfterSeconds: 1, reason: .rateLimited), 429, "rate_limited"),
            (.tooManyRequests(retryAfterSeconds: 1, reason: .lockedOut), 429, "locked_out"),
        ]
    )
    func stableCodes(error: GatewayError, status: UInt, code: String) {
        #expect(error.status.code == status)
        #expect(error.code.rawValue == code)
    }

    @Test("429 errors carry Retry-After, clamped to at least 1 s, and a message without the key")
    func tooManyRequests() {
        let limited = GatewayError.tooManyRequests(retryAfterSeconds: 42, reason: .rateLimited)
        #expect(limited.status == .tooManyRequests)
        #expect(limited.code.rawValue == "rate_limited")
        #expect(limited.message == "Too many requests; try again in 42 seconds.")
        #expect(limited.headers.map { "\($0.0): \($0.1)" } == ["Retry-After: 42"])

        let locked = GatewayError.tooManyRequests(retryAfterSeconds: 0, reason: .lockedOut)
        #expect(locked.code.rawValue == "locked_out")
        #expect(locked.message == "Too many failed sign-in attempts; try again in 1 second.")
        #expect(locked.headers.map { "\($0.0): \($0.1)" } == ["Retry-After: 1"])
        #expect(GatewayError.tooManyRequests(retryAfterSeconds: -5, reason: .rateLimited).headers[0].1 == "1")

        let head = ErrorBody.responseHead(
            for: limited,
            bodyLength: 1,
            requestID: "r",
            version: .http1_1,
            close: false
        )
        #expect(head.status.code == 429)
        #expect(head.headers["Retry-After"] == ["42"])
        #expect(
            ErrorBody.render(locked, requestID: "r")
                == #"{"error":"locked_out","message":"Too many failed sign-in attempts; try again in 1 second.","request_id":"r"}"#
        )
    }

    @Test("GatewayError equality includes the message and the headers")
    func equality() {
        #expect(GatewayError.badRequest("a") == .badRequest("a"))
        #expect(GatewayError.badRequest("a") != .badRequest("b"))
        let withHeader = GatewayError(
            status: .serviceUnavailable,
            code: .upstreamBusy,
            message: GatewayError.upstreamBusy.message
        )
        #expect(withHeader != .upstreamBusy)
        #expect(Set([GatewayError.badRequest("a"), .badRequest("a"), .notFound]).count == 2)
    }

    @Test("every error code is distinct, snake_case and the README lists it")
    func codesAreClosedAndDistinct() throws {
        let fixed: [GatewayError.Code] = [
            .badRequest, .invalidRequest, .impersonationNotAllowed, .headersTooLarge, .uriTooLong, .payloadTooLarge,
            .methodNotAllowed, .httpVersionNotSupported, .upstreamUnavailable, .upstreamInvalidResponse,
            .upstreamTimeout, .upstreamBusy, .requestTimeout, .clientConnectionLimit, .shuttingDown,
            .authUnavailable, .notFound, .tooManyRequests(.rateLimited), .tooManyRequests(.lockedOut),
        ]
        let codes = fixed + RejectionReason.allCases.map(GatewayError.Code.rejected)
        let raw = codes.map(\.rawValue)
        #expect(Set(raw).count == raw.count)
        for code in raw {
            #expect(code.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }, "\(code) is not snake_case")
        }
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root = root.deletingLastPathComponent() }
        let readme = try String(contentsOfFile: root.path + "/README.md", encoding: .utf8)
        for code in raw where !readme.contains("`\(code)`") {
            Issue.record("README.md does not list the error code \(code)")
        }
    }
}
