import NIOHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The endpoints the gateway answers itself on the proxy listener.
enum GatewayEndpoints {
    enum Endpoint {
        case health
        /// `POST /api/auth-proxy/introspect` `{"token": "…"}` → RFC 7662-shaped answer.
        case introspect
        /// `POST /api/auth-proxy/refresh`: to the issuer of the credential.
        case refresh
        /// `GET /api/auth-proxy/flags`: the rollout flags the frontend needs, for this caller.
        case flags

        func respond() -> (HTTPResponseStatus, String) {
            switch self {
            case .health:
                return (.ok, "{\"status\":\"ok\",\"timestamp\":\"\(Timestamp.iso8601Now())\"}")
            case .introspect, .refresh, .flags:
                return (.methodNotAllowed, "{}")
            }
        }
    }

    /// The endpoint for this request, if the gateway answers it itself.
    static func match(method: HTTPMethod, uri: String) -> Endpoint? {
        // Cheap rejection first: every local endpoint path is short.
        guard uri.utf8.count >= 7, uri.utf8.count <= 64 else { return nil }
        let path = uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { uri[..<$0] } ?? Substring(uri)
        if path == "/health" && (method == .GET || method == .HEAD) {
            return .health
        }
        if path == "/api/auth-proxy/introspect" && method == .POST {
            return .introspect
        }
        if path == "/api/auth-proxy/refresh" && method == .POST {
            return .refresh
        }
        if path == "/api/auth-proxy/flags" && (method == .GET || method == .HEAD) {
            return .flags
        }
        return nil
    }
}

/// Wall-clock timestamps for JSON bodies.
enum Timestamp {
    /// Seconds since 1970.
    static func epochSeconds() -> Int {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int(spec.tv_sec)
    }

    /// Microseconds since 1970.
    static func epochMicros() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1_000
    }

    /// Milliseconds since 1970.
    static func epochMillis() -> Int64 {
        Self.epochMicros() / 1_000
    }

    /// The current UTC time as `2026-11-26T20:15:18.123Z`.
    static func iso8601Now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let millis = Int32(spec.tv_nsec / 1_000_000)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(millis, 3))Z"
    }
}
