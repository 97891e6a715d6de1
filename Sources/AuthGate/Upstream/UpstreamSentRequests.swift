import NIOCore
import NIOHTTP1

/// The methods of the requests written to one upstream connection whose responses have not
/// started yet, shared by the connection (which writes them) and its response decoder (which
/// frames each response against its request: a response to `HEAD` has no body).
///
/// Requests go down as bytes, so the decoder cannot observe their heads; this hand-over
/// replaces that. Used on the connection's event loop only (hence `@unchecked Sendable`: it
/// crosses the channel initializer, never a thread).
final class UpstreamSentRequests: @unchecked Sendable {
    private var methods = CircularBuffer<HTTPMethod>(initialCapacity: 2)

    init() {}

    func append(_ method: HTTPMethod) {
        self.methods.append(method)
    }

    /// The oldest method not yet handed to the parser.
    func popFirst() -> HTTPMethod? {
        self.methods.popFirst()
    }
}
