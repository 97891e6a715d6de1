/// Whether a request body is read whole before a backend connection is leased
/// (`upstream.request_buffer_bytes`, like nginx's `proxy_request_buffering`).
///
/// A backend connection leased for a request whose body has not arrived yet is held for as long
/// as the client takes to send it: a dozen clients trickling small uploads would hold a whole
/// pool. A small body is read first, so the connection is held only for the exchange itself;
/// a large one streams as it comes (with backpressure, never held in memory), and the
/// per-client cap and the body timeout bound what a slow one can hold.
public enum RequestBuffering {
    /// Whether the body of a request framed so is buffered before the lease, given the limit in
    /// bytes (0 disables buffering): a `Content-Length` within the limit, or any chunked body
    /// (buffered until it ends or passes the limit, then the rest streams).
    public static func buffersBeforeLease(_ framing: RequestBodyFraming, limit: Int64) -> Bool {
        guard limit > 0 else { return false }
        switch framing {
        case .none: return false
        case .contentLength(let length): return length <= limit
        case .chunked: return true
        }
    }
}
