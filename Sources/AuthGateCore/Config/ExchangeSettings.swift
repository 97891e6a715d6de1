public import NIOCore

/// The settings one client exchange reads, compiled once per configuration generation so the
/// data path never converts a config field per request: the request limits, the timeouts as
/// `TimeAmount`s, retries and buffering, the refresh path and the access log switch.
public struct ExchangeSettings: Sendable {
    /// `limits.*`, as the validator reads them.
    public let requestLimits: RequestLimits
    /// `server.client_idle_timeout_ms`.
    public let clientIdleTimeout: TimeAmount
    /// `server.request_header_timeout_ms`.
    public let requestHeaderTimeout: TimeAmount
    /// `server.request_body_timeout_ms`.
    public let requestBodyTimeout: TimeAmount
    /// `upstream.response_timeout_ms`.
    public let responseTimeout: TimeAmount
    /// `upstream.retry_idempotent`.
    public let retryIdempotent: Bool
    /// `upstream.request_buffer_bytes`.
    public let requestBufferBytes: Int64
    /// `auth.legacy_refresh_path`.
    public let legacyRefreshPath: String
    /// `logging.access_log`.
    public let accessLog: Bool

    public init(config: GatewayConfig) {
        let limits = config.limits
        self.requestLimits = RequestLimits(
            maxHeaderBytes: limits.maxHeaderBytes,
            maxHeaderCount: limits.maxHeaderCount,
            maxURIBytes: limits.maxURIBytes,
            maxBodyBytes: limits.maxBodyBytes
        )
        self.clientIdleTimeout = .milliseconds(Int64(config.server.clientIdleTimeoutMs))
        self.requestHeaderTimeout = .milliseconds(Int64(config.server.requestHeaderTimeoutMs))
        self.requestBodyTimeout = .milliseconds(Int64(config.server.requestBodyTimeoutMs))
        self.responseTimeout = .milliseconds(Int64(config.upstream.responseTimeoutMs))
        self.retryIdempotent = config.upstream.retryIdempotent
        self.requestBufferBytes = Int64(config.upstream.requestBufferBytes)
        self.legacyRefreshPath = config.auth.legacyRefreshPath
        self.accessLog = config.logging.accessLog
    }
}
