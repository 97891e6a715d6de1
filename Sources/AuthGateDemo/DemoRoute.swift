import NIOHTTP1

/// What the demo backend does with one request, decided from its head alone.
enum DemoRoute: Equatable, Sendable {
    /// Echo method, URI, headers and the body's byte count as JSON (the default route).
    case echo
    /// Stream `count` bytes of the demo pattern, framed by `Content-Length` or chunked encoding.
    case bytes(count: Int, chunked: Bool)
    /// Consume the body and answer its byte count (and, if asked, a SHA-256 prefix).
    case upload(digest: Bool)
    /// Answer after `milliseconds`.
    case slow(milliseconds: Int64)
    /// Answer with the given status code.
    case status(code: Int)
    /// Close the connection without answering.
    case close
    /// Reset the connection (`SO_LINGER` 0) without answering.
    case reset
    /// A request for `/ws` or `/upgrade-refused` that was not upgraded: answer 426.
    case upgradeRequired
    /// A malformed parameter: answer 400 with `reason`.
    case badRequest(reason: String)

    /// The largest body `/bytes/N` and `/chunked/N` will produce (1 TiB).
    static let maxGeneratedBytes = 1 << 40
    /// The longest delay `/slow/MS` accepts (10 minutes).
    static let maxDelayMilliseconds: Int64 = 600_000

    init(method: HTTPMethod, uri: String) {
        let path: Substring
        let query: Substring
        if let question = uri.firstIndex(of: "?") {
            path = uri[..<question]
            query = uri[uri.index(after: question)...]
        } else {
            path = uri[...]
            query = ""
        }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        // A path "/a/b" splits into ["", "a", "b"].
        guard segments.count >= 2, segments[0].isEmpty else {
            self = .echo
            return
        }
        let name = segments[1]
        let argument: Substring? = segments.count == 3 ? segments[2] : nil

        switch (name, segments.count) {
        case ("bytes", 3), ("chunked", 3):
            guard let argument, let count = Int(argument), count >= 0, count <= Self.maxGeneratedBytes else {
                self = .badRequest(reason: "expected /\(name)/N with 0 <= N <= \(Self.maxGeneratedBytes)")
                return
            }
            self = .bytes(count: count, chunked: name == "chunked")
        case ("upload", 2) where method == .POST || method == .PUT:
            let wantsDigest = query.split(separator: "&").contains { $0 == "sha256" || $0.hasPrefix("sha256=") }
            self = .upload(digest: wantsDigest)
        case ("slow", 3):
            guard let argument, let delay = Int64(argument), delay >= 0, delay <= Self.maxDelayMilliseconds else {
                self = .badRequest(reason: "expected /slow/MS with 0 <= MS <= \(Self.maxDelayMilliseconds)")
                return
            }
            self = .slow(milliseconds: delay)
        case ("status", 3):
            guard let argument, let code = Int(argument), (200...599).contains(code) else {
                self = .badRequest(reason: "expected /status/CODE with 200 <= CODE <= 599")
                return
            }
            self = .status(code: code)
        case ("close", 2):
            self = .close
        case ("reset", 2):
            self = .reset
        case ("ws", 2), ("upgrade-refused", 2):
            self = .upgradeRequired
        default:
            self = .echo
        }
    }
}
