public import NIOHTTP1

/// Why a client's request cannot be parsed; after any of them the connection is answered and
/// closed, since the bytes that follow can no longer be framed with certainty.
///
/// Each case has the status it is answered with: 400 for anything malformed or ambiguous,
/// 414 and 431 for the limits, 405 for `CONNECT` (the gateway never tunnels by method).
public enum ClientRequestParserError: Error, Equatable, Hashable, Sendable {
    /// A line ends in LF without CR, or a CR is not followed by LF.
    case bareLineEnding
    /// The request line is not `method SP request-target SP HTTP-version`.
    case requestLine
    /// The method is not a token, or not a method the gateway knows.
    case method
    /// `CONNECT`: answered 405, as before.
    case connectMethod
    /// A byte outside the request-target grammar, or a target in a form other than origin form
    /// (`OPTIONS *` aside).
    case target
    /// A version other than `HTTP/1.0` and `HTTP/1.1`.
    case version
    /// The request line is longer than ``ClientRequestParser/Limits/maxRequestLineBytes``, or
    /// its target longer than ``ClientRequestParser/Limits/maxTargetBytes``.
    case requestLineTooLong
    /// A field line is malformed: no colon, an empty name, a byte outside `tchar` in the name
    /// (whitespace before the colon included), or a control character in the value.
    case fieldLine
    /// A field line starting with whitespace (obs-fold, or whitespace before the first field).
    case obsoleteLineFolding
    /// The field section (or the trailer section) exceeds its byte or count limit.
    case fieldsTooLarge
    /// A `Content-Length` that is not 1 to 18 digits, or more than one `Content-Length` line.
    case contentLength
    /// `Content-Length` and `Transfer-Encoding` together.
    case conflictingFraming
    /// `Transfer-Encoding` other than one `chunked` line on an HTTP/1.1 request.
    case transferEncoding
    /// No `Host` on an HTTP/1.1 request, or more than one on any request.
    case host
    /// A chunk-size line that is not hex digits (with extensions), or a size past `Int64.max`.
    case chunkSize
    /// A chunk extension that is not `;name` or `;name=token` or `;name="quoted"`.
    case chunkExtension
    /// Chunk data not followed by CRLF.
    case chunkDataEnd
    /// A chunk-size line longer than ``ClientRequestParser/Limits/maxChunkLineBytes``.
    case chunkLineTooLong
    /// A trailer field that frames or routes a message (`Content-Length`,
    /// `Transfer-Encoding`, `Host`): a recipient merging trailers could be misled by it.
    case trailerField
    /// The connection ended inside a message.
    case incomplete

    /// The status the request is answered with.
    public var status: HTTPResponseStatus {
        switch self {
        case .requestLineTooLong: return .uriTooLong
        case .fieldsTooLarge: return .requestHeaderFieldsTooLarge
        case .connectMethod: return .methodNotAllowed
        default: return .badRequest
        }
    }

    /// The answer the gateway gives, with the codes of today's rejections.
    public var gatewayError: GatewayError {
        switch self {
        case .requestLineTooLong: return .uriTooLong
        case .fieldsTooLarge: return .headersTooLarge
        case .connectMethod: return .methodNotAllowed
        default: return .badRequest(self.message)
        }
    }

    /// A human-readable explanation for the error body.
    public var message: String {
        switch self {
        case .bareLineEnding: return "A line does not end in CRLF (bare CR or LF)."
        case .requestLine: return "Malformed request line."
        case .method: return "Unknown request method."
        case .connectMethod: return "This method is not accepted by the gateway."
        case .target: return "The request target must be an absolute path of valid characters."
        case .version: return "Unsupported HTTP version."
        case .requestLineTooLong: return "The request target exceeds the gateway's limit."
        case .fieldLine: return "Malformed header line (whitespace before the colon or an invalid character)."
        case .obsoleteLineFolding: return "A header line starts with whitespace (obs-fold)."
        case .fieldsTooLarge: return "The request headers exceed the gateway's limit."
        case .contentLength: return "Conflicting, duplicate or invalid Content-Length."
        case .conflictingFraming: return "Content-Length and Transfer-Encoding together."
        case .transferEncoding: return "Only 'Transfer-Encoding: chunked' on HTTP/1.1 is accepted."
        case .host: return "An HTTP/1.1 request needs exactly one Host header."
        case .chunkSize: return "Invalid chunk size in a chunked body."
        case .chunkExtension: return "Invalid chunk extension in a chunked body."
        case .chunkDataEnd: return "Chunk data is not followed by CRLF."
        case .chunkLineTooLong: return "A chunk-size line is too long."
        case .trailerField: return "A trailer field may not be Content-Length, Transfer-Encoding or Host."
        case .incomplete: return "The connection closed inside a request."
        }
    }
}
