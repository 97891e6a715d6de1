public import NIOHTTP1

/// A failure the gateway answers itself, with the status and the stable error code of the
/// `{"error","message","request_id"}` contract.
///
/// The codes are part of the contract: clients and dashboards match on them, so never rename one.
public struct GatewayError: Error, Sendable, Hashable {
    public var status: HTTPResponseStatus
    /// A stable, machine-readable code such as `bad_request` or `upstream_timeout`.
    public var code: Code
    /// A human-readable explanation; never contains a credential.
    public var message: String
    /// Extra response headers (`Retry-After`, `WWW-Authenticate`, ...).
    public var headers: [(String, String)] = []

    public init(status: HTTPResponseStatus, code: Code, message: String, headers: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public static func == (lhs: GatewayError, rhs: GatewayError) -> Bool {
        lhs.status == rhs.status && lhs.code == rhs.code && lhs.message == rhs.message
            && lhs.headers.elementsEqual(rhs.headers, by: { $0 == $1 })
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.status.code)
        hasher.combine(self.code)
        hasher.combine(self.message)
    }

    /// Every code the gateway answers with: a closed set, so a new one is a decision (and a line
    /// of the README's list), never a typo at a call site.
    public enum Code: Sendable, Hashable, CustomStringConvertible {
        case badRequest
        case invalidRequest
        case impersonationNotAllowed
        case headersTooLarge
        case uriTooLong
        case payloadTooLarge
        case methodNotAllowed
        case httpVersionNotSupported
        case upstreamUnavailable
        case upstreamInvalidResponse
        case upstreamTimeout
        case upstreamBusy
        case requestTimeout
        case clientConnectionLimit
        case shuttingDown
        case authUnavailable
        case notFound
        /// A credential was refused (401, or 429 for a spent API key): the reason is the code.
        case rejected(RejectionReason)
        /// A rate limit or a lockout (429).
        case tooManyRequests(TooManyRequestsReason)

        /// The code of the JSON body and of the metrics: never rename one.
        public var rawValue: String {
            switch self {
            case .badRequest: return "bad_request"
            case .invalidRequest: return "invalid_request"
            case .impersonationNotAllowed: return "impersonation_not_allowed"
            case .headersTooLarge: return "request_header_fields_too_large"
            case .uriTooLong: return "uri_too_long"
            case .payloadTooLarge: return "payload_too_large"
            case .methodNotAllowed: return "method_not_allowed"
            case .httpVersionNotSupported: return "http_version_not_supported"
            case .upstreamUnavailable: return "upstream_unavailable"
            case .upstreamInvalidResponse: return "upstream_invalid_response"
            case .upstreamTimeout: return "upstream_timeout"
            case .upstreamBusy: return "upstream_busy"
            case .requestTimeout: return "request_timeout"
            case .clientConnectionLimit: return "client_connection_limit"
            case .shuttingDown: return "shutting_down"
            case .authUnavailable: return "auth_unavailable"
            case .notFound: return "not_found"
            case .rejected(let reason): return reason.rawValue
            case .tooManyRequests(let reason): return reason.rawValue
            }
        }

        public var description: String { self.rawValue }
    }

    public static func badRequest(_ message: String) -> GatewayError {
        .init(status: .badRequest, code: .badRequest, message: message)
    }
    /// A request the gateway understands but whose content is wrong (a refresh body without a
    /// `refresh_token`, say), as OAuth 2.0 names it.
    public static func invalidRequest(_ message: String) -> GatewayError {
        .init(status: .badRequest, code: .invalidRequest, message: message)
    }
    /// A session an admin opened as another user, on a route with `allow_impersonation: false`.
    public static let impersonationNotAllowed = GatewayError(
        status: .forbidden,
        code: .impersonationNotAllowed,
        message: "This route does not accept a session opened by an administrator as another user."
    )
    public static let headersTooLarge = GatewayError(
        status: .requestHeaderFieldsTooLarge,
        code: .headersTooLarge,
        message: "The request headers exceed the gateway's limit."
    )
    public static let uriTooLong = GatewayError(
        status: .uriTooLong,
        code: .uriTooLong,
        message: "The request target exceeds the gateway's limit."
    )
    public static let payloadTooLarge = GatewayError(
        status: .payloadTooLarge,
        code: .payloadTooLarge,
        message: "The request body exceeds the gateway's limit."
    )
    public static let methodNotAllowed = GatewayError(
        status: .methodNotAllowed,
        code: .methodNotAllowed,
        message: "This method is not accepted by the gateway."
    )
    public static let upstreamUnavailable = GatewayError(
        status: .badGateway,
        code: .upstreamUnavailable,
        message: "The backend could not be reached or closed the connection before answering."
    )
    public static let upstreamInvalidResponse = GatewayError(
        status: .badGateway,
        code: .upstreamInvalidResponse,
        message: "The backend sent a malformed response."
    )
    public static let upstreamTimeout = GatewayError(
        status: .gatewayTimeout,
        code: .upstreamTimeout,
        message: "The backend did not answer in time."
    )
    public static let upstreamBusy = GatewayError(
        status: .serviceUnavailable,
        code: .upstreamBusy,
        message: "All connections to the backend are busy; try again shortly.",
        headers: [("Retry-After", "1")]
    )
    /// The request head or body did not arrive within `server.request_header_timeout_ms` or
    /// `server.request_body_timeout_ms`; the connection closes.
    public static let requestTimeout = GatewayError(
        status: .requestTimeout,
        code: .requestTimeout,
        message: "The request was not received in time."
    )
    /// The client IP already holds `upstream.max_connections_per_client_ip` backend connections.
    public static let clientConnectionLimit = GatewayError(
        status: .serviceUnavailable,
        code: .clientConnectionLimit,
        message: "Too many requests from this client are in progress at once; try again shortly.",
        headers: [("Retry-After", "1")]
    )
    public static let shuttingDown = GatewayError(
        status: .serviceUnavailable,
        code: .shuttingDown,
        message: "The gateway is shutting down.",
        headers: [("Retry-After", "1")]
    )
    /// 401 with the rejection's reason code, as RFC 6750 asks; 429 for an API key that is
    /// valid but out of uses or over its own rate limit.
    public static func unauthorized(_ reason: RejectionReason) -> GatewayError {
        if reason == .apiKeyUsageExceeded || reason == .apiKeyRateLimited {
            // The key is good but spent: retrying with it later may work, signing in again won't.
            return GatewayError(status: .tooManyRequests, code: .rejected(reason), message: reason.message)
        }
        return GatewayError(
            status: .unauthorized,
            code: .rejected(reason),
            message: reason.message,
            headers: [("WWW-Authenticate", "Bearer error=\"invalid_token\"")]
        )
    }
    public static let authUnavailable = GatewayError(
        status: .serviceUnavailable,
        code: .authUnavailable,
        message: "The identity of the caller cannot be checked right now; try again shortly.",
        headers: [("Retry-After", "1")]
    )
    public static let notFound = GatewayError(status: .notFound, code: .notFound, message: "No such endpoint.")

    /// Why a request was refused with 429; the raw value is the error code.
    public enum TooManyRequestsReason: String, Sendable, Hashable {
        /// The client, user or route class is over its rate limit.
        case rateLimited = "rate_limited"
        /// Too many failed sign-in attempts from this client or for this account.
        case lockedOut = "locked_out"
    }

    /// 429 with `Retry-After`, for a rate limit or a sign-in lockout.
    ///
    /// The message names neither the limit nor the key (address, account) that tripped it, so a
    /// client learns nothing it did not send. `retryAfterSeconds` is clamped to at least 1.
    public static func tooManyRequests(retryAfterSeconds: Int, reason: TooManyRequestsReason) -> GatewayError {
        let seconds = max(1, retryAfterSeconds)
        let delay = seconds == 1 ? "1 second" : "\(seconds) seconds"
        let message: String
        switch reason {
        case .rateLimited:
            message = "Too many requests; try again in \(delay)."
        case .lockedOut:
            message = "Too many failed sign-in attempts; try again in \(delay)."
        }
        return GatewayError(
            status: .tooManyRequests,
            code: .tooManyRequests(reason),
            message: message,
            headers: [("Retry-After", String(seconds))]
        )
    }
}

/// Renders the JSON error body of the contract.
public enum ErrorBody {
    /// `{"error":"<code>","message":"…","request_id":"…"}` with JSON string escaping.
    public static func render(_ error: GatewayError, requestID: String) -> String {
        var out = "{\"error\":"
        appendJSONString(error.code.rawValue, to: &out)
        out += ",\"message\":"
        appendJSONString(error.message, to: &out)
        out += ",\"request_id\":"
        appendJSONString(requestID, to: &out)
        out += "}"
        return out
    }

    /// Appends `value` as a JSON string literal (RFC 8259 escaping).
    public static func appendJSONString(_ value: String, to out: inout String) {
        out.append("\"")
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        out.append("\"")
    }

    /// The complete response head for `error`, framed with `Content-Length`.
    public static func responseHead(
        for error: GatewayError,
        bodyLength: Int,
        requestID: String,
        version: HTTPVersion,
        close: Bool
    ) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(6 + error.headers.count)
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(bodyLength))
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "X-Request-Id", value: requestID)
        for (name, value) in error.headers {
            headers.add(name: name, value: value)
        }
        if close {
            headers.add(name: "Connection", value: "close")
        }
        return HTTPResponseHead(version: version, status: error.status, headers: headers)
    }
}
