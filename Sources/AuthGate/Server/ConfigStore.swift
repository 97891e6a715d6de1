import Atomics
public import AuthGateCore
import NIOConcurrencyHelpers

/// Publishes the current ``ConfigSnapshot`` to every event loop.
///
/// Readers keep their own reference and compare a generation counter (one relaxed atomic load
/// per request); only when it moved do they take the lock to fetch the new snapshot. A request
/// runs to its end under the snapshot it started with.
public final class ConfigStore: Sendable {
    private let generationCounter: ManagedAtomic<UInt64>
    private let box: NIOLockedValueBox<ConfigSnapshot>

    public init(_ snapshot: ConfigSnapshot) {
        self.generationCounter = ManagedAtomic(snapshot.generation)
        self.box = NIOLockedValueBox(snapshot)
    }

    /// The generation of the current snapshot.
    @inline(__always) public var generation: UInt64 {
        self.generationCounter.load(ordering: .acquiring)
    }

    /// The current snapshot.
    public var current: ConfigSnapshot {
        self.box.withLockedValue { $0 }
    }

    /// Validates `config` and, if it is valid, makes it current under the next generation.
    @discardableResult
    public func replace(with config: GatewayConfig) throws(ConfigError) -> ConfigSnapshot {
        let result: Result<ConfigSnapshot, ConfigError> = self.box.withLockedValue { current in
            do throws(ConfigError) {
                let next = try ConfigSnapshot(config: config, generation: current.generation + 1)
                current = next
                self.generationCounter.store(next.generation, ordering: .releasing)
                return .success(next)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
