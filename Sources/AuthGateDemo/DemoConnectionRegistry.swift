import NIOCore

#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The set of open connections of one ``DemoBackend``, so that `shutdown()` can close them.
///
/// Touched from every event loop of the server (on accept and on close) and from `shutdown()`,
/// so it is guarded by a mutex; every critical section is a few dictionary operations.
final class DemoConnectionRegistry: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    // Guarded by `mutex`.
    private var channels: [ObjectIdentifier: any Channel] = [:]
    // Guarded by `mutex`.
    private var isClosed = false

    init() {
        self.mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        self.mutex.initialize(to: pthread_mutex_t())
        let rc = pthread_mutex_init(self.mutex, nil)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
    }

    deinit {
        pthread_mutex_destroy(self.mutex)
        self.mutex.deinitialize(count: 1)
        self.mutex.deallocate()
    }

    private func withLock<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(self.mutex)
        defer { pthread_mutex_unlock(self.mutex) }
        return body()
    }

    /// Registers `channel` until it closes. Returns `false` if the registry is already closed,
    /// in which case the caller should close the channel.
    func register(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let accepted = self.withLock { () -> Bool in
            guard !self.isClosed else { return false }
            self.channels[id] = channel
            return true
        }
        guard accepted else { return false }
        channel.closeFuture.whenComplete { _ in
            self.withLock { _ = self.channels.removeValue(forKey: id) }
        }
        return true
    }

    /// Refuses further registrations and returns the channels that are still open.
    func closeAndDrain() -> [any Channel] {
        self.withLock {
            self.isClosed = true
            return Array(self.channels.values)
        }
    }
}
