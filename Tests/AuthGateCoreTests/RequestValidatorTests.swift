import NIOHTTP1
import Testing

@testable import AuthGateCore

private let defaultLimits = RequestLimits(
    maxHeaderBytes: 8_192,
    maxHeaderCount: 50,
    maxURIBytes: 2_048,
    maxBodyBytes: 1_048_576
)

private func validate(
    _ headers: [(String, String)] = [("Host", "api.example.com")],
    method: HTTPMethod = .GET,
    uri: String = "/api/things",
    version: HTTPVersion = .http1_1,
    limits: RequestLimits = defaultLimits
) -> Result<RequestBodyFraming, GatewayError> {
    let head = HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(headers))
    return RequestValidator.validate(head, limits: limits)
}

private func expectSuccess(
    _ result: Result<RequestBodyFraming, GatewayError>,
    _ expected: RequestBodyFraming,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    switch result {
    case .success(let framing):
        #expect(framing == expected, sourceLocation: sourceLocation)
    case .failure(let error):
        Issue.record(
            "expected success \(expected), got \(error.status.code) \(error.code): \(error.message)",
            sourceLocation: sourceLocation
        )
    }
}

private func expectFailure(
    _ result: Result<RequestBodyFraming, GatewayError>,
    status: HTTPResponseStatus,
    code: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    switch result {
    case .success(let framing):
        Issue.record("expected \(status.code) \(code), got success \(framing)", sourceLocation: sourceLocation)
    case .failure(let error):
        #expect(error.status == status, sourceLocation: sourceLocation)
        #expect(error.code.rawValue == code, sourceLocation: sourceLocation)
        #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
    }
}

private func expectBadRequest(
    _ result: Result<RequestBodyFraming, GatewayError>,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    expectFailure(result, status: .badRequest, code: "bad_request", sourceLocation: sourceLocation)
}

@Suite("RequestValidator.validate")
struct RequestValidatorTests {
    // MARK: Success

    @Test("a plain GET has no body")
    func plainGet() {
        expectSuccess(validate(), .none)
    }

    @Test("Content-Length gives a length-framed body")
    func contentLengthFraming() {
        expectSuccess(validate([("Host", "h"), ("Content-Length", "12")], method: .POST), .contentLength(12))
    }

    @Test("Content-Length: 0 means no body")
    func zeroContentLength() {
        expectSuccess(validate([("Host", "h"), ("Content-Length", "0")], method: .POST), .none)
    }

    @Test(
        "Transfer-Encoding: chunked gives a chunked body",
        arguments: ["chunked", "Chunked", "CHUNKED", " chunked ", "\tchunked"]
    )
    func chunkedFraming(value: String) {
        expectSuccess(validate([("Host", "h"), ("Transfer-Encoding", value)], method: .POST), .chunked)
    }

    @Test("Content-Length with spaces around the digits is accepted")
    func contentLengthTrimmed() {
        expectSuccess(validate([("Host", "h"), ("content-length", "  42 ")], method: .PUT), .contentLength(42))
    }

    @Test("18-digit Content-Length parses when the body limit is off")
    func eighteenDigits() {
        let limits = RequestLimits(maxHeaderBytes: 8_192, maxHeaderCount: 50, maxURIBytes: 2_048, maxBodyBytes: 0)
        expectSuccess(
            validate([("Host", "h"), ("Content-Length", "999999999999999999")], method: .POST, limits: limits),
            .contentLength(999_999_999_999_999_999)
        )
    }

    @Test("an HTTP/1.0 request needs no Host")
    func http10WithoutHost() {
        expectSuccess(validate([], version: .http1_0), .none)
        expectSuccess(validate([("Content-Length", "3")], method: .POST, version: .http1_0), .contentLength(3))
    }

    @Test("OPTIONS * is accepted")
    func optionsStar() {
        expectSuccess(validate(method: .OPTIONS, uri: "*"), .none)
    }

    @Test("ordinary methods are accepted", arguments: [HTTPMethod.GET, .HEAD, .POST, .PUT, .PATCH, .DELETE, .OPTIONS])
    func ordinaryMethods(method: HTTPMethod) {
        expectSuccess(validate(method: method), .none)
    }

    @Test("non-ASCII bytes in the target are left to the router")
    func nonASCIITarget() {
        expectSuccess(validate(uri: "/api/caf\u{E9}?q=%20"), .none)
    }

    // MARK: URI

    @Test("a target at the URI limit passes, one byte more is 414")
    func uriTooLong() {
        let limits = RequestLimits(maxHeaderBytes: 8_192, maxHeaderCount: 50, maxURIBytes: 16, maxBodyBytes: 0)
        let atLimit = "/" + String(repeating: "a", count: 15)
        expectSuccess(validate(uri: atLimit, limits: limits), .none)
        expectFailure(validate(uri: atLimit + "a", limits: limits), status: .uriTooLong, code: "uri_too_long")
    }

    @Test("the URI limit counts UTF-8 bytes")
    func uriLimitCountsBytes() {
        let limits = RequestLimits(maxHeaderBytes: 8_192, maxHeaderCount: 50, maxURIBytes: 8, maxBodyBytes: 0)
        // 5 characters, 9 bytes.
        expectFailure(
            validate(uri: "/\u{E9}\u{E9}\u{E9}\u{E9}", limits: limits),
            status: .uriTooLong,
            code: "uri_too_long"
        )
    }

    @Test(
        "a target that is not an absolute path is refused",
        arguments: [
            "http://evil.example/api", "https://backend.internal/", "evil.example:443", "api/things", "", "*", "?x=1",
        ]
    )
    func absoluteForm(uri: String) {
        expectBadRequest(validate(uri: uri))
    }

    @Test(
        "a target with a space or control character is refused",
        arguments: ["/a b", "/a\tb", "/a\u{7F}", "/a\u{01}", "/a\u{00}b"]
    )
    func controlInTarget(uri: String) {
        expectBadRequest(validate(uri: uri))
    }

    // MARK: Method and version

    @Test("CONNECT is 405")
    func connect() {
        expectFailure(validate(method: .CONNECT, uri: "/"), status: .methodNotAllowed, code: "method_not_allowed")
        expectFailure(
            validate(method: .CONNECT, uri: "backend:443"),
            status: .methodNotAllowed,
            code: "method_not_allowed"
        )
    }

    @Test("an unknown method is 405")
    func rawMethod() {
        expectFailure(validate(method: .RAW(value: "BREW")), status: .methodNotAllowed, code: "method_not_allowed")
    }

    @Test(
        "versions other than HTTP/1.x are 505",
        arguments: [HTTPVersion(major: 2, minor: 0), HTTPVersion(major: 3, minor: 0), HTTPVersion(major: 0, minor: 9)]
    )
    func unsupportedVersion(version: HTTPVersion) {
        expectFailure(validate(version: version), status: .httpVersionNotSupported, code: "http_version_not_supported")
    }

    // MARK: Header limits

    @Test("more headers than allowed is 431")
    func tooManyHeaders() {
        let limits = RequestLimits(maxHeaderBytes: 8_192, maxHeaderCount: 5, maxURIBytes: 2_048, maxBodyBytes: 0)
        var headers = [("Host", "h")]
        for i in 1...4 { headers.append(("X-H\(i)", "v")) }
        expectSuccess(validate(headers, limits: limits), .none)
        headers.append(("X-H5", "v"))
        expectFailure(
            validate(headers, limits: limits),
            status: .requestHeaderFieldsTooLarge,
            code: "request_header_fields_too_large"
        )
    }

    @Test("more header bytes than allowed is 431")
    func tooManyHeaderBytes() {
        // Name and value bytes are counted: "Host" + "h" = 5, "X-Big" + value = 5 + n.
        let limits = RequestLimits(maxHeaderBytes: 100, maxHeaderCount: 50, maxURIBytes: 2_048, maxBodyBytes: 0)
        let fits = [("Host", "h"), ("X-Big", String(repeating: "v", count: 90))]
        expectSuccess(validate(fits, limits: limits), .none)
        let over = [("Host", "h"), ("X-Big", String(repeating: "v", count: 91))]
        expectFailure(
            validate(over, limits: limits),
            status: .requestHeaderFieldsTooLarge,
            code: "request_header_fields_too_large"
        )
    }

    @Test("many small headers add up to 431")
    func headerBytesAddUp() {
        let limits = RequestLimits(maxHeaderBytes: 200, maxHeaderCount: 1_000, maxURIBytes: 2_048, maxBodyBytes: 0)
        var headers = [("Host", "h")]
        for i in 0..<30 { headers.append(("X-\(i)", "vvvv")) }
        expectFailure(
            validate(headers, limits: limits),
            status: .requestHeaderFieldsTooLarge,
            code: "request_header_fields_too_large"
        )
    }

    // MARK: Framing and smuggling

    @Test("Content-Length together with Transfer-Encoding is 400, in either order")
    func contentLengthAndTransferEncoding() {
        expectBadRequest(
            validate([("Host", "h"), ("Content-Length", "5"), ("Transfer-Encoding", "chunked")], method: .POST)
        )
        expectBadRequest(
            validate([("Host", "h"), ("Transfer-Encoding", "chunked"), ("Content-Length", "5")], method: .POST)
        )
        expectBadRequest(
            validate([("Host", "h"), ("Transfer-Encoding", "chunked"), ("Content-Length", "0")], method: .POST)
        )
    }

    @Test("two Content-Length headers are 400, even when equal")
    func twoContentLengths() {
        expectBadRequest(validate([("Host", "h"), ("Content-Length", "5"), ("Content-Length", "5")], method: .POST))
        expectBadRequest(validate([("Host", "h"), ("Content-Length", "5"), ("content-length", "6")], method: .POST))
    }

    @Test(
        "a Content-Length that is not plain decimal is 400",
        arguments: [
            "abc", "-1", "+5", "1 2", "", " ", "0x10", "1.5", "5,5", "1e3", "\u{0665}",
            "1234567890123456789",  // 19 digits
            "99999999999999999999999",
        ]
    )
    func invalidContentLength(value: String) {
        let limits = RequestLimits(maxHeaderBytes: 8_192, maxHeaderCount: 50, maxURIBytes: 2_048, maxBodyBytes: 0)
        expectBadRequest(validate([("Host", "h"), ("Content-Length", value)], method: .POST, limits: limits))
    }

    @Test(
        "a Transfer-Encoding other than chunked is 400",
        arguments: ["gzip", "gzip, chunked", "chunked, chunked", "identity", "chunked;q=1", "", "xchunked"]
    )
    func unsupportedTransferEncoding(value: String) {
        expectBadRequest(validate([("Host", "h"), ("Transfer-Encoding", value)], method: .POST))
    }

    @Test("two Transfer-Encoding headers are 400")
    func twoTransferEncodings() {
        expectBadRequest(
            validate(
                [("Host", "h"), ("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")],
                method: .POST
            )
        )
        expectBadRequest(
            validate([("Host", "h"), ("Transfer-Encoding", "gzip"), ("Transfer-Encoding", "chunked")], method: .POST)
        )
        expectBadRequest(
            validate([("Host", "h"), ("Transfer-Encoding", "chunked"), ("transfer-encoding", "gzip")], method: .POST)
        )
    }

    @Test("Transfer-Encoding in an HTTP/1.0 request is 400")
    func transferEncodingHTTP10() {
        expectBadRequest(validate([("Host", "h"), ("Transfer-Encoding", "chunked")], method: .POST, version: .http1_0))
    }

    @Test("a body over the limit is 413; at the limit it passes; 0 disables the limit")
    func bodyLimit() {
        let limits = RequestLimits(maxHeaderBytes: 8_192, maxHeaderCount: 50, maxURIBytes: 2_048, maxBodyBytes: 1_000)
        expectSuccess(
            validate([("Host", "h"), ("Content-Length", "1000")], method: .POST, limits: limits),
            .contentLength(1_000)
        )
        expectFailure(
            validate([("Host", "h"), ("Content-Length", "1001")], method: .POST, limits: limits),
            status: .payloadTooLarge,
            code: "payload_too_large"
        )
        let unlimited = RequestLimits(maxHeaderBytes: 8_192, maxHeaderCount: 50, maxURIBytes: 2_048, maxBodyBytes: 0)
        expectSuccess(
            validate([("Host", "h"), ("Content-Length", "5000000000")], method: .POST, limits: unlimited),
            .contentLength(5_000_000_000)
        )
    }

    // MARK: Host

    @Test("an HTTP/1.1 request without Host is 400")
    func missingHost() {
        expectBadRequest(validate([("Accept", "*/*")]))
        expectBadRequest(validate([]))
    }

    @Test("a duplicate Host is 400 in HTTP/1.1 and HTTP/1.0", arguments: [HTTPVersion.http1_1, .http1_0])
    func duplicateHost(version: HTTPVersion) {
        expectBadRequest(validate([("Host", "a"), ("host", "b")], version: version))
        expectBadRequest(validate([("Host", "a"), ("HOST", "a")], version: version))
    }

    // MARK: Header values

    @Test("a header value with CR, LF or NUL is 400", arguments: ["a\rb", "a\nb", "a\u{00}b", "a\r\nX-Injected: 1"])
    func controlInHeaderValue(value: String) {
        expectBadRequest(validate([("Host", "h"), ("X-Thing", value)]))
        expectBadRequest(validate([("Host", value)]))
    }

    @Test("tabs and non-ASCII in header values are accepted")
    func tabAndNonASCIIValues() {
        expectSuccess(validate([("Host", "h"), ("X-Thing", "a\tb"), ("X-Name", "J\u{FC}rgen")]), .none)
    }
}
