/// Backend connections held per client IP in one pool, against a cap
/// (`upstream.max_connections_per_client_ip`).
///
/// A client over its cap is refused at once (503 `client_connection_limit`), like nginx's
/// `limit_conn`: it never waits in the pool's queue, so it cannot push other clients' requests
/// behind its own. Touched only on the pool's event loop; the cap is per pool, as the pool is.
public struct ClientConnectionCounts: Sendable {
    /// Connections one client may hold; 0 = no cap.
    public let limit: Int
    private var counts: [String: Int] = [:]

    public init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot for `client`; false (and nothing taken) when it holds `limit` already.
    public mutating func acquire(_ client: String) -> Bool {
        guard self.limit > 0 else { return true }
        let held = self.counts[client, default: 0]
        guard held < self.limit else { return false }
        self.counts[client] = held + 1
        return true
    }

    /// Gives back a slot taken by ``acquire(_:)``.
    public mutating func release(_ client: String) {
        guard self.limit > 0, let held = self.counts[client] else { return }
        if held <= 1 {
            self.counts.removeValue(forKey: client)
        } else {
            self.counts[client] = held - 1
        }
    }

    /// The slots `client` holds.
    public func count(of client: String) -> Int {
        self.counts[client, default: 0]
    }

    /// Clients holding at least one slot (entries are dropped at zero, so this stays bounded by
    /// the connections in use).
    public var trackedClients: Int { self.counts.count }
}
