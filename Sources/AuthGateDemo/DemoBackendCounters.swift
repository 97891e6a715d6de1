import Atomics

/// The request and connection counters of one ``DemoBackend``, shared by all its connections.
final class DemoBackendCounters: Sendable {
    private let requests = ManagedAtomic<Int>(0)
    private let connections = ManagedAtomic<Int>(0)

    var requestCount: Int { self.requests.load(ordering: .acquiring) }
    var connectionCount: Int { self.connections.load(ordering: .acquiring) }

    func recordRequest() {
        self.requests.wrappingIncrement(ordering: .acquiringAndReleasing)
    }

    func recordConnection() {
        self.connections.wrappingIncrement(ordering: .acquiringAndReleasing)
    }
}
